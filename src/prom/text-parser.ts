/**
 * A pure, defensive parser for the Prometheus text exposition format (version 0.0.4), plus the
 * few query helpers the tests and the `cardlink-metrics` CLI need (sample lookup, sums,
 * histogram_quantile).
 *
 * Defensive because the input is whatever an endpoint served: the parser never throws, collects
 * errors per line instead, skips lines it cannot read and does linear, bounded work per line
 * (a hand-written scanner: no backtracking regex on untrusted text).
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The full sample name as written, suffix included (`x_bucket`, `x_sum`, `x_count`, `x_total`). */
  name: string;
  labels: Record<string, string>;
  value: number;
  /** Milliseconds since the epoch, when the line carried one. */
  timestamp?: number;
}

export interface MetricFamily {
  name: string;
  help?: string;
  type: MetricType;
  unit?: string;
  samples: Sample[];
}

export interface ParseResult {
  /** Families by name, in order of first appearance. */
  families: Map<string, MetricFamily>;
  /** `line N: ...` messages; the lines they name were skipped. */
  errors: string[];
}

export interface ParseOptions {
  /** Lines longer than this are skipped with an error (default 65536 characters). */
  maxLineLength?: number;
  /** Errors kept in full; past this only a count is added (default 100). */
  maxErrors?: number;
}

export interface HistogramBucket {
  /** Upper bound (the `le` label); +Inf for the last bucket. */
  le: number;
  /** Cumulative count of observations <= le. */
  count: number;
}

const METRIC_TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

// Suffixes a sample may carry on top of its family's name, and the family types they belong to.
const SUFFIX_TYPES: ReadonlyArray<readonly [string, ReadonlySet<MetricType>]> = [
  ['_bucket', new Set<MetricType>(['histogram'])],
  ['_count', new Set<MetricType>(['histogram', 'summary'])],
  ['_sum', new Set<MetricType>(['histogram', 'summary'])],
  ['_total', new Set<MetricType>(['counter'])],
  ['_created', new Set<MetricType>(['counter', 'histogram', 'summary'])],
];

// ---------------------------------------------------------------------------------------------
// Character classes (char codes, to avoid per-character string allocation)
// ---------------------------------------------------------------------------------------------

const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const EQUALS = 0x3d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB;
}
function isLetterOrUnderscore(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f;
}
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
/** Metric names: [a-zA-Z_:][a-zA-Z0-9_:]* */
function isMetricNameChar(c: number, first: boolean): boolean {
  return isLetterOrUnderscore(c) || c === 0x3a || (!first && isDigit(c));
}
/** Label names: [a-zA-Z_][a-zA-Z0-9_]* */
function isLabelNameChar(c: number, first: boolean): boolean {
  return isLetterOrUnderscore(c) || (!first && isDigit(c));
}

export function isValidMetricName(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isMetricNameChar(s.charCodeAt(i), i === 0)) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/**
 * A sample value as Prometheus (Go's ParseFloat) reads it: decimal floats with optional exponent,
 * `NaN`, `+Inf`/`-Inf`/`Inf` (any case, `Infinity` too). Anything else is undefined — notably
 * the forms JavaScript's Number() would also accept ('', '0x10', ' 1').
 */
export function parsePromValue(s: string): number | undefined {
  const n = s.length;
  if (n === 0 || n > 64) return undefined;
  let i = 0;
  const c0 = s.charCodeAt(0);
  if (c0 === 0x2b || c0 === 0x2d) i = 1; // + -
  const rest = s.slice(i).toLowerCase();
  if (rest === 'inf' || rest === 'infinity') return c0 === 0x2d ? -Infinity : Infinity;
  if (rest === 'nan') return i === 0 ? NaN : undefined;
  let digits = 0;
  while (i < n && isDigit(s.charCodeAt(i))) {
    i++;
    digits++;
  }
  if (i < n && s.charCodeAt(i) === 0x2e) {
    i++;
    while (i < n && isDigit(s.charCodeAt(i))) {
      i++;
      digits++;
    }
  }
  if (digits === 0) return undefined;
  if (i < n && (s.charCodeAt(i) | 0x20) === 0x65) {
    i++;
    if (i < n && (s.charCodeAt(i) === 0x2b || s.charCodeAt(i) === 0x2d)) i++;
    let expDigits = 0;
    while (i < n && isDigit(s.charCodeAt(i))) {
      i++;
      expDigits++;
    }
    if (expDigits === 0) return undefined;
  }
  return i === n ? Number(s) : undefined;
}

function parseTimestamp(s: string): number | undefined {
  if (s.length === 0 || s.length > 20) return undefined;
  let i = s.charCodeAt(0) === 0x2d || s.charCodeAt(0) === 0x2b ? 1 : 0;
  if (i === s.length) return undefined;
  for (; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return undefined;
  return Number(s);
}

// ---------------------------------------------------------------------------------------------
// Line scanners
// ---------------------------------------------------------------------------------------------

/** Own-property assignment that is safe for the label name `__proto__`. */
function setOwn(obj: Record<string, string>, key: string, value: string): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/** HELP text: `\\` and `\n` are escapes; any other backslash is kept as written. */
function unescapeHelp(s: string): string {
  if (s.indexOf('\\') < 0) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) {
      const next = s[i + 1];
      if (next === '\\') {
        out += '\\';
        i++;
        continue;
      }
      if (next === 'n') {
        out += '\n';
        i++;
        continue;
      }
    }
    out += c;
  }
  return out;
}

type SampleScan = { ok: true; sample: Sample } | { ok: false; error: string };

/** Reads `name [{labels}] value [timestamp]`; linear in the line length. */
function scanSample(line: string): SampleScan {
  const n = line.length;
  let i = 0;
  while (i < n && isBlank(line.charCodeAt(i))) i++;
  const nameStart = i;
  while (i < n && isMetricNameChar(line.charCodeAt(i), i === nameStart)) i++;
  if (i === nameStart) return { ok: false, error: 'invalid metric name' };
  const name = line.slice(nameStart, i);
  const labels: Record<string, string> = {};
  while (i < n && isBlank(line.charCodeAt(i))) i++;

  if (i < n && line.charCodeAt(i) === LBRACE) {
    i++;
    for (;;) {
      while (i < n && isBlank(line.charCodeAt(i))) i++;
      if (i >= n) return { ok: false, error: 'unterminated label set' };
      if (line.charCodeAt(i) === RBRACE) {
        i++;
        break;
      }
      const labelStart = i;
      while (i < n && isLabelNameChar(line.charCodeAt(i), i === labelStart)) i++;
      if (i === labelStart) return { ok: false, error: `invalid label name at column ${i + 1}` };
      const labelName = line.slice(labelStart, i);
      while (i < n && isBlank(line.charCodeAt(i))) i++;
      if (line.charCodeAt(i) !== EQUALS) return { ok: false, error: `expected '=' after label ${labelName}` };
      i++;
      while (i < n && isBlank(line.charCodeAt(i))) i++;
      if (line.charCodeAt(i) !== QUOTE) return { ok: false, error: `expected '"' to open the value of label ${labelName}` };
      i++;
      // Label value: copy runs between escapes in slices rather than char by char.
      let value = '';
      let runStart = i;
      let closed = false;
      while (i < n) {
        const c = line.charCodeAt(i);
        if (c === QUOTE) {
          value += line.slice(runStart, i);
          i++;
          closed = true;
          break;
        }
        if (c === BACKSLASH) {
          value += line.slice(runStart, i);
          const e = line.charCodeAt(i + 1);
          if (e === BACKSLASH) value += '\\';
          else if (e === QUOTE) value += '"';
          else if (e === 0x6e) value += '\n';
          else return { ok: false, error: `invalid escape sequence in the value of label ${labelName}` };
          i += 2;
          runStart = i;
          continue;
        }
        i++;
      }
      if (!closed) return { ok: false, error: `unterminated value of label ${labelName}` };
      if (Object.prototype.hasOwnProperty.call(labels, labelName)) {
        return { ok: false, error: `duplicate label ${labelName}` };
      }
      setOwn(labels, labelName, value);
      while (i < n && isBlank(line.charCodeAt(i))) i++;
      const sep = line.charCodeAt(i);
      if (sep === COMMA) {
        i++;
        continue;
      }
      if (sep === RBRACE) {
        i++;
        break;
      }
      return { ok: false, error: `expected ',' or '}' after the value of label ${labelName}` };
    }
    if (i < n && !isBlank(line.charCodeAt(i))) return { ok: false, error: 'expected a blank after the label set' };
    while (i < n && isBlank(line.charCodeAt(i))) i++;
  } else if (i < n && i === nameStart + name.length) {
    // Neither a blank nor '{' right after the name (e.g. `bad-name 1`).
    return { ok: false, error: 'invalid metric name' };
  }

  const valueStart = i;
  while (i < n && !isBlank(line.charCodeAt(i))) i++;
  const valueText = line.slice(valueStart, i);
  if (valueText.length === 0) return { ok: false, error: `missing value for ${name}` };
  const value = parsePromValue(valueText);
  if (value === undefined) return { ok: false, error: `invalid value ${JSON.stringify(valueText.slice(0, 40))} for ${name}` };
  const sample: Sample = { name, labels, value };

  while (i < n && isBlank(line.charCodeAt(i))) i++;
  if (i < n) {
    const tsStart = i;
    while (i < n && !isBlank(line.charCodeAt(i))) i++;
    const tsText = line.slice(tsStart, i);
    const ts = parseTimestamp(tsText);
    if (ts === undefined) return { ok: false, error: `invalid timestamp ${JSON.stringify(tsText.slice(0, 40))} for ${name}` };
    sample.timestamp = ts;
    while (i < n && isBlank(line.charCodeAt(i))) i++;
    if (i < n) return { ok: false, error: `unexpected text after the timestamp of ${name}` };
  }
  return { ok: true, sample };
}

/** Splits `# KEYWORD rest` into its first blank-separated tokens without regex. */
function nextToken(line: string, from: number): { token: string; end: number } {
  let i = from;
  while (i < line.length && isBlank(line.charCodeAt(i))) i++;
  const start = i;
  while (i < line.length && !isBlank(line.charCodeAt(i))) i++;
  return { token: line.slice(start, i), end: i };
}

// ---------------------------------------------------------------------------------------------
// The parser
// ---------------------------------------------------------------------------------------------

/** Parses a whole exposition. Never throws; unreadable lines are skipped and reported. */
export function parsePrometheusText(text: string, opts: ParseOptions = {}): ParseResult {
  const families = new Map<string, MetricFamily>();
  const errors: string[] = [];
  const maxErrors = opts.maxErrors ?? 100;
  const maxLineLength = opts.maxLineLength ?? 65536;
  let suppressed = 0;
  const fail = (lineNo: number, msg: string): void => {
    if (errors.length < maxErrors) errors.push(`line ${lineNo}: ${msg}`);
    else suppressed++;
  };
  if (typeof text !== 'string') {
    return { families, errors: ['input is not a string'] };
  }

  // Families whose type came from a TYPE line (a HELP line alone creates an untyped family).
  const typed = new Set<string>();
  const family = (name: string): MetricFamily => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: 'untyped', samples: [] };
      families.set(name, f);
    }
    return f;
  };
  /** The family a sample belongs to: exact TYPE name first, then a typed base name + suffix. */
  const familyOf = (sampleName: string): MetricFamily => {
    if (typed.has(sampleName)) return family(sampleName);
    for (const [suffix, types] of SUFFIX_TYPES) {
      if (sampleName.length > suffix.length && sampleName.endsWith(suffix)) {
        const base = families.get(sampleName.slice(0, -suffix.length));
        if (base && typed.has(base.name) && types.has(base.type)) return base;
      }
    }
    return family(sampleName);
  };

  let lineNo = 0;
  let pos = 0;
  while (pos <= text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    lineNo++;
    let line = text.slice(pos, end);
    pos = end + 1;
    if (line.length > 0 && line.charCodeAt(line.length - 1) === 0x0d) line = line.slice(0, -1);
    if (line.length > maxLineLength) {
      fail(lineNo, `line longer than ${maxLineLength} characters skipped`);
      continue;
    }
    let first = 0;
    while (first < line.length && isBlank(line.charCodeAt(first))) first++;
    if (first === line.length) continue; // blank line

    if (line.charCodeAt(first) === 0x23) {
      // '#': HELP / TYPE / UNIT need a blank after '#'; everything else is a comment.
      if (!isBlank(line.charCodeAt(first + 1))) continue;
      const kw = nextToken(line, first + 1);
      if (kw.token !== 'HELP' && kw.token !== 'TYPE' && kw.token !== 'UNIT') continue;
      const nameTok = nextToken(line, kw.end);
      if (!isValidMetricName(nameTok.token)) {
        fail(lineNo, `${kw.token} line with an invalid metric name`);
        continue;
      }
      const name = nameTok.token;
      if (kw.token === 'HELP') {
        // The docstring is everything after the blanks that follow the name.
        let s = nameTok.end;
        while (s < line.length && isBlank(line.charCodeAt(s))) s++;
        const f = family(name);
        if (f.help !== undefined) fail(lineNo, `second HELP line for ${name}`);
        else f.help = unescapeHelp(line.slice(s));
      } else if (kw.token === 'TYPE') {
        const typeTok = nextToken(line, nameTok.end);
        const extra = nextToken(line, typeTok.end);
        if (!METRIC_TYPES.has(typeTok.token) || extra.token !== '') {
          fail(lineNo, `invalid TYPE for ${name}: ${JSON.stringify(line.slice(nameTok.end).trim().slice(0, 40))}`);
          continue;
        }
        const existing = families.get(name);
        if (typed.has(name)) fail(lineNo, `second TYPE line for ${name}`);
        else if (existing && existing.samples.length > 0) fail(lineNo, `TYPE line for ${name} after its samples`);
        else {
          family(name).type = typeTok.token as MetricType;
          typed.add(name);
        }
      } else {
        const unitTok = nextToken(line, nameTok.end);
        const f = family(name);
        if (f.unit !== undefined) fail(lineNo, `second UNIT line for ${name}`);
        else f.unit = unitTok.token;
      }
      continue;
    }

    const scanned = scanSample(line);
    if (!scanned.ok) {
      fail(lineNo, scanned.error);
      continue;
    }
    familyOf(scanned.sample.name).samples.push(scanned.sample);
  }
  if (suppressed > 0) errors.push(`${suppressed} more error(s) not shown`);
  return { families, errors };
}

// ---------------------------------------------------------------------------------------------
// Query helpers
// ---------------------------------------------------------------------------------------------

/** True when every key of `filter` is a label of `labels` with exactly that value. */
export function labelsMatch(labels: Record<string, string>, filter?: Record<string, string>): boolean {
  if (!filter) return true;
  for (const k of Object.keys(filter)) {
    if (!Object.prototype.hasOwnProperty.call(labels, k) || labels[k] !== filter[k]) return false;
  }
  return true;
}

/**
 * The first sample named `sampleName` whose labels match `labelFilter`, searched in one family or
 * in every family of a parse result.
 */
export function getSample(
  source: Map<string, MetricFamily> | MetricFamily | undefined,
  sampleName: string,
  labelFilter?: Record<string, string>,
): Sample | undefined {
  if (!source) return undefined;
  const fams = source instanceof Map ? source.values() : [source];
  for (const f of fams) {
    for (const s of f.samples) if (s.name === sampleName && labelsMatch(s.labels, labelFilter)) return s;
  }
  return undefined;
}

/**
 * Sum of the values of matching samples (like PromQL `sum(x{filter})`). By default the samples
 * summed are the family's value samples: `<name>_count` for histograms and summaries, every
 * sample but `*_created` otherwise; `sampleName` picks another (e.g. `x_sum`). 0 when none match.
 */
export function sumSamples(
  family: MetricFamily | undefined,
  labelFilter?: Record<string, string>,
  sampleName?: string,
): number {
  if (!family) return 0;
  const wanted =
    sampleName ?? (family.type === 'histogram' || family.type === 'summary' ? `${family.name}_count` : undefined);
  let sum = 0;
  for (const s of family.samples) {
    if (wanted !== undefined ? s.name !== wanted : s.name.endsWith('_created')) continue;
    if (labelsMatch(s.labels, labelFilter)) sum += s.value;
  }
  return sum;
}

/**
 * The `_bucket` samples of a histogram family matching `labelFilter`, summed per `le` across
 * series (PromQL `sum by (le) (x_bucket{filter})`), sorted by upper bound.
 */
export function histogramBuckets(family: MetricFamily | undefined, labelFilter?: Record<string, string>): HistogramBucket[] {
  if (!family) return [];
  const bucketName = `${family.name}_bucket`;
  const byLe = new Map<number, number>();
  for (const s of family.samples) {
    if (s.name !== bucketName || !labelsMatch(s.labels, labelFilter)) continue;
    const leText = s.labels['le'];
    const le = leText === undefined ? undefined : parsePromValue(leText);
    if (le === undefined || Number.isNaN(le)) continue;
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  return [...byLe.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/**
 * PromQL `histogram_quantile(q, ...)` on classic buckets (cumulative counts), with Prometheus'
 * rules: linear interpolation inside the bucket holding rank q*total, a lower bound of 0 for the
 * first bucket (unless its bound is <= 0), the second-highest bound when the rank falls into the
 * +Inf bucket; NaN without a +Inf bucket, with fewer than 2 buckets or 0 observations; -Inf/+Inf
 * for q < 0 / q > 1. Non-monotonic counts are smoothed as Prometheus does.
 */
export function histogramQuantile(buckets: readonly HistogramBucket[], q: number): number {
  if (Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const sorted = buckets.filter((b) => !Number.isNaN(b.le)).map((b) => ({ le: b.le, count: b.count }));
  sorted.sort((a, b) => a.le - b.le);
  const last = sorted[sorted.length - 1];
  if (!last || last.le !== Infinity) return NaN;

  // Coalesce equal bounds (summed, as Prometheus does for duplicate series).
  const bs: HistogramBucket[] = [];
  for (const b of sorted) {
    const prev = bs[bs.length - 1];
    if (prev && prev.le === b.le) prev.count += b.count;
    else bs.push(b);
  }
  // Float noise (relative 1e-12) must not read as a decrease.
  let prevCount = bs[0]?.count ?? 0;
  for (let i = 1; i < bs.length; i++) {
    const b = bs[i]!;
    const delta = Math.abs(b.count - prevCount);
    if (delta === 0) continue;
    if (delta / b.count <= 1e-12) b.count = prevCount;
    else prevCount = b.count;
  }
  // Counts must not decrease with the bound: take the running maximum.
  let max = bs[0]?.count ?? 0;
  for (let i = 1; i < bs.length; i++) {
    const b = bs[i]!;
    if (b.count > max) max = b.count;
    else if (b.count < max) b.count = max;
  }
  if (bs.length < 2) return NaN;
  const observations = bs[bs.length - 1]!.count;
  if (observations === 0 || Number.isNaN(observations)) return NaN;

  let rank = q * observations;
  // First bucket (excluding +Inf) whose cumulative count reaches the rank.
  let lo = 0;
  let hi = bs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (bs[mid]!.count >= rank) hi = mid;
    else lo = mid + 1;
  }
  const b = lo;
  if (b === bs.length - 1) return bs[bs.length - 2]!.le;
  if (b === 0 && bs[0]!.le <= 0) return bs[0]!.le;
  let bucketStart = 0;
  const bucketEnd = bs[b]!.le;
  let count = bs[b]!.count;
  if (b > 0) {
    bucketStart = bs[b - 1]!.le;
    count -= bs[b - 1]!.count;
    rank -= bs[b - 1]!.count;
  }
  return bucketStart + (bucketEnd - bucketStart) * (rank / count);
}
