/**
 * PromQL building blocks for the dashboards, typed against the catalogue so that a misspelt metric
 * name fails to compile, plus a small scanner that lists the metric and label names an expression
 * uses (tests check those against the catalogue for dashboards and alert rules alike).
 */
import { METRICS } from '../metrics/catalogue.js';

export type PromName = (typeof METRICS)[number]['prometheusName'];
type HistogramMetric = Extract<(typeof METRICS)[number], { prometheusType: 'histogram' }>;
export type HistogramName = HistogramMetric['prometheusName'];

/** The dashboard-wide series filter: Grafana's `job` and `instance` variables (multi-value, regex). */
export const SCOPE = 'job=~"$job",instance=~"$instance"';

/** `name{scope,extra}` */
export function sel(name: PromName | `${HistogramName}_${'bucket' | 'sum' | 'count'}`, extra = ''): string {
  return `${name}{${SCOPE}${extra === '' ? '' : `,${extra}`}}`;
}

/** `rate(name{...}[window])`, the window being Grafana's `$__rate_interval` unless given. */
export function rate(name: Parameters<typeof sel>[0], extra = '', window = '$__rate_interval'): string {
  return `rate(${sel(name, extra)}[${window}])`;
}

/**
 * How much a counter grew over `window`, series born within it included: a labelled series
 * appears at its first increment with no earlier 0 sample (a burst of a new failure reason shows
 * up as 8 at once), which `increase()` alone cannot see. Such a series counts its whole value (it
 * started from 0); every other series its increase. `selector` is `name{labels}`.
 */
export function increaseFromZero(selector: string, window: string): string {
  return `(${selector} unless ${selector} offset ${window}) or increase(${selector}[${window}])`;
}

/**
 * `increaseFromZero` for alerts: a series missing at the window's start counts as born only when
 * its target was scraped then (`target_info`, which every instrumented process serves, present at
 * the start). After a gap in scraping (Prometheus down for more than its 5-minute lookback) every
 * series is missing at the start, and counting each one's lifetime total would fire every count
 * alert at once.
 */
export function increaseInWindow(selector: string, window: string): string {
  return `((${selector} unless ${selector} offset ${window}) and on (job, instance) (target_info offset ${window})) or increase(${selector}[${window}])`;
}

/** Totals over the dashboard's time range (`increaseFromZero` over `$__range`). */
export function increaseOverRange(name: Parameters<typeof sel>[0], extra = ''): string {
  return increaseFromZero(sel(name, extra), '$__range');
}

/** `sum by (labels) (inner)`, or `sum(inner)` without labels. */
export function sumBy(labels: readonly string[], inner: string): string {
  return labels.length === 0 ? `sum(${inner})` : `sum by (${labels.join(', ')}) (${inner})`;
}

/** `histogram_quantile(q, sum by (le, ...) (rate(name_bucket{...}[$__rate_interval])))` */
export function quantile(q: number, name: HistogramName, by: readonly string[] = [], extra = '', window = '$__rate_interval'): string {
  return `histogram_quantile(${q}, ${sumBy(['le', ...by], rate(`${name}_bucket`, extra, window))})`;
}

// ---------------------------------------------------------------------------------------------
// Scanner: which metric names and label names does an expression use?
// ---------------------------------------------------------------------------------------------

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
]);

// Aggregation operators: followed by `(` or by a `by (...)` / `without (...)` clause.
const AGGREGATIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
]);

export interface PromqlNames {
  /** Metric names as written (`x_bucket` included). */
  metrics: string[];
  /** Label names in matchers and in by/without/on/ignoring/group_* clauses. */
  labels: string[];
  /** `label op "value"` matchers, as written. */
  matchers: Array<{ label: string; op: string; value: string }>;
}

function isIdentStart(c: string): boolean {
  return /[A-Za-z_:]/.test(c);
}
function isIdentChar(c: string): boolean {
  return /[A-Za-z0-9_:]/.test(c);
}

/**
 * Lists the names an expression uses. A lexical pass, enough for the expressions we write:
 * identifiers followed by `(` are functions or aggregations, identifiers inside `{...}` and inside
 * the parentheses of a grouping clause are labels, `$variables` and `[ranges]` are skipped.
 */
export function promqlNames(expr: string): PromqlNames {
  const metrics = new Set<string>();
  const labels = new Set<string>();
  const matchers: PromqlNames['matchers'] = [];
  let i = 0;
  let groupingDepth = -1; // paren depth at which a grouping clause's label list started
  let depth = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === '"' || c === "'" || c === '`') {
      const end = expr.indexOf(c, i + 1);
      i = end < 0 ? expr.length : end + 1;
      continue;
    }
    if (c === '[') {
      const end = expr.indexOf(']', i);
      i = end < 0 ? expr.length : end + 1;
      continue;
    }
    if (c === '$') {
      i++;
      while (i < expr.length && isIdentChar(expr[i]!)) i++;
      continue;
    }
    if (c === '{') {
      // Label matchers: name op "value", separated by commas.
      const end = expr.indexOf('}', i);
      const body = expr.slice(i + 1, end < 0 ? expr.length : end);
      for (const m of body.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
        labels.add(m[1]!);
        matchers.push({ label: m[1]!, op: m[2]!, value: m[3]! });
      }
      i = end < 0 ? expr.length : end + 1;
      continue;
    }
    if (c === '(') {
      depth++;
      i++;
      continue;
    }
    if (c === ')') {
      if (depth === groupingDepth) groupingDepth = -1;
      depth--;
      i++;
      continue;
    }
    if (/[0-9.]/.test(c)) {
      // Numbers and durations (5m, 1e3): skip the whole token.
      while (i < expr.length && /[0-9A-Za-z_.]/.test(expr[i]!)) i++;
      continue;
    }
    if (isIdentStart(c)) {
      const start = i;
      while (i < expr.length && isIdentChar(expr[i]!)) i++;
      const word = expr.slice(start, i);
      let j = i;
      while (j < expr.length && /\s/.test(expr[j]!)) j++;
      const next = expr[j];
      if (groupingDepth >= 0 && depth === groupingDepth) {
        labels.add(word);
        continue;
      }
      const lower = word.toLowerCase();
      if (KEYWORDS.has(lower)) {
        if (['by', 'without', 'on', 'ignoring', 'group_left', 'group_right'].includes(lower) && next === '(') {
          // The next '(' opens a label list.
          i = j + 1;
          depth++;
          groupingDepth = depth;
        }
        continue;
      }
      if (next === '(' || AGGREGATIONS.has(lower)) continue; // a function or aggregation
      metrics.add(word);
      continue;
    }
    i++;
  }
  return { metrics: [...metrics], labels: [...labels], matchers };
}

// ---------------------------------------------------------------------------------------------
// Checking an expression against the catalogue
// ---------------------------------------------------------------------------------------------

/** Labels every series has besides the catalogue's (added by the scrape or the OTLP translation). */
const TARGET_LABELS = new Set(['job', 'instance', '__name__']);
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;
const PLAIN_ALTERNATIVES = /^[A-Za-z0-9_.+-]+(\|[A-Za-z0-9_.+-]+)*$/;

/**
 * What is wrong with an expression in terms of the catalogue (empty when nothing): metric names
 * that do not exist (or a histogram without its `_bucket`/`_sum`/`_count` suffix), label names no
 * metric of the expression has, and label values outside a fixed domain (`status="aborted"`).
 */
export function catalogueProblems(expr: string): string[] {
  const names = promqlNames(expr);
  const problems: string[] = [];
  const labelDomains = new Map<string, Set<string> | null>();
  const allow = (label: string, domain: readonly string[] | undefined): void => {
    const prev = labelDomains.get(label);
    if (domain === undefined || prev === null) labelDomains.set(label, null);
    else labelDomains.set(label, new Set([...(prev ?? []), ...domain]));
  };
  for (const m of names.metrics) {
    if (m === 'target_info') continue; // every instrumented process serves it (its resource): job and instance only here
    let def: (typeof METRICS)[number] | undefined = METRICS.find((d) => d.prometheusName === m);
    let bucket = false;
    if (def?.prometheusType === 'histogram') {
      problems.push(`histogram ${m} used without _bucket, _sum or _count`);
    }
    if (def === undefined) {
      for (const suffix of HISTOGRAM_SUFFIXES) {
        if (!m.endsWith(suffix)) continue;
        def = METRICS.find((d) => d.prometheusType === 'histogram' && d.prometheusName === m.slice(0, -suffix.length));
        bucket = suffix === '_bucket';
        if (def) break;
      }
    }
    if (def === undefined) {
      problems.push(`unknown metric ${m}`);
      continue;
    }
    const domains = 'labelValues' in def ? (def.labelValues as Readonly<Record<string, readonly string[]>>) : undefined;
    for (const l of def.labels) allow(l, domains?.[l]);
    if (bucket) allow('le', undefined);
  }
  for (const l of names.labels) {
    if (TARGET_LABELS.has(l) || labelDomains.has(l)) continue;
    problems.push(`label ${l} belongs to none of ${names.metrics.join(', ') || 'the metrics'}`);
  }
  for (const mt of names.matchers) {
    const domain = labelDomains.get(mt.label);
    if (!domain || mt.value.includes('$')) continue;
    const values = mt.op === '=' || mt.op === '!=' ? [mt.value] : PLAIN_ALTERNATIVES.test(mt.value) ? mt.value.split('|') : [];
    for (const v of values) if (!domain.has(v)) problems.push(`${mt.label}="${v}" is outside its domain (${[...domain].join(', ')})`);
  }
  return problems;
}
