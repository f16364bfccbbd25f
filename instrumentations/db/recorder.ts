/**
 * What both database instrumentations record for one query: the CLIENT span (named per the DB
 * semantic conventions, `SELECT ota_sessions`), `cardlink_db_query_duration_seconds{query_type}`,
 * and the slow-query hook. Everything that can be decided before the query runs is decided once
 * and cached: a statement's `QueryInfo` (span name, frozen attribute object, metric attributes)
 * hangs off the (frozen, cached) SqlSummary per target database, so a repeated statement costs a
 * WeakMap lookup, two clock reads, the span and the histogram record.
 *
 * Spans are created when the query has finished, with the start time and parent context taken
 * when it began: no span is ever made active, so nothing of ours leaks into the driver's async
 * context (a pg socket created under an active span would run every later callback in it).
 */
import { tracingEnabled } from '../../src/tracing-state.js';
import { TIME_ORIGIN } from '../../src/clock.js';
import { SpanKind, SpanStatusCode, trace, type Attributes, type Context, type HrTime, type Span, type Tracer } from '@opentelemetry/api';
import { isTracingSuppressed, millisToHrTime } from '@opentelemetry/core';
import type { CardlinkInstruments } from '../../src/metrics/instruments.js';
import { reportOnce } from '../../src/diag.js';
import { DEFAULT_SANITIZED_LENGTH, QUERY_TYPES, SqlSummaryCache, type QueryType, type SqlSummary } from './sql.js';
import { describeDbError } from './db-errors.js';
import { DEFAULT_SLOW_QUERY_MS, type DbInstrumentationConfig, type DbSystem, type SlowQueryInfo } from './types.js';
import { createLogger, type LogFields } from '../../src/logging/logger.js';
import { logInSpan, roundMs } from '../../src/logging/in-span.js';
import { ATTR_DB_COLLECTION_NAME, ATTR_DB_NAMESPACE, ATTR_DB_OPERATION_NAME, ATTR_DB_QUERY_TEXT, ATTR_DB_RESPONSE_STATUS_CODE, ATTR_DB_SYSTEM_NAME, ATTR_ERROR_TYPE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import { DB_ATTR } from './spans.js';

const log = createLogger('db');

export interface RecorderHost {
  tracer(): Tracer;
  instruments(): CardlinkInstruments;
  config(): DbInstrumentationConfig;
}

/** Everything about one statement text on one database that does not change between runs. */
export interface QueryInfo {
  readonly spanName: string;
  /** Frozen span attributes: the target's plus operation, collection and (sanitised) text. */
  readonly attributes: Attributes;
  /** `{ query_type }`, one shared object per type. */
  readonly metricAttributes: Attributes;
  readonly queryType: QueryType;
  readonly operation: string | undefined;
  readonly table: string | undefined;
  readonly sanitized: string;
  readonly target: DbTarget;
  /** The recorder settings this was built with (see DbRecorder.configure). */
  readonly epoch: number;
}

const METRIC_ATTRIBUTES: Readonly<Record<QueryType, Attributes>> = Object.freeze(
  Object.fromEntries(QUERY_TYPES.map((q) => [q, Object.freeze({ query_type: q })])) as unknown as Record<QueryType, Attributes>,
);

const MAX_NAMESPACE = 256;

/**
 * A performance.now() value as HrTime. Given as a number, the SDK would read the clock again to
 * tell a performance timestamp from an epoch one; as HrTime it takes it as is.
 */
export function perfToHrTime(t: number): HrTime {
  return millisToHrTime(TIME_ORIGIN + t);
}
const MAX_KEYWORD = 32;

/**
 * `db.operation.name` for statements whose query_type is OTHER (SAVEPOINT, VACUUM, SET ...):
 * the first keyword, bounded; undefined when the text does not start with one.
 */
export function firstKeyword(text: string): string | undefined {
  const n = Math.min(text.length, 4096);
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x28 || c === 0x3b) i++;
    else if (c === 0x2d && text.charCodeAt(i + 1) === 0x2d) {
      const nl = text.indexOf('\n', i + 2);
      i = nl < 0 ? n : nl + 1;
    } else if (c === 0x2f && text.charCodeAt(i + 1) === 0x2a) {
      const close = text.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
    } else break;
  }
  let j = i;
  while (j < n && j - i <= MAX_KEYWORD) {
    const c = text.charCodeAt(j) | 0x20;
    if (c < 0x61 || c > 0x7a) break;
    j++;
  }
  if (j === i || j - i > MAX_KEYWORD) return undefined;
  const next = j < text.length ? text.charCodeAt(j) : 0x20;
  if ((next >= 0x30 && next <= 0x39) || next === 0x5f || next === 0x24) return undefined; // not a plain keyword
  return text.slice(i, j).toUpperCase();
}

/** `db.namespace` from a SQLite file name: `file:` URI parameters dropped (SQLCipher keys live there), bounded. */
export function sqliteNamespace(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return undefined;
  let s = name;
  if (s.startsWith('file:')) {
    const q = s.search(/[?#]/);
    if (q >= 0) s = s.slice(0, q);
  }
  return s.length > MAX_NAMESPACE ? `${s.slice(0, MAX_NAMESPACE - 1)}…` : s;
}

/** One database as spans see it: `db.system.name`, `db.namespace`, `server.*`. */
export class DbTarget {
  readonly base: Attributes;
  private infos = new WeakMap<SqlSummary, QueryInfo>();
  private epoch = -1;

  constructor(
    readonly system: DbSystem,
    readonly namespace: string | undefined,
    readonly serverAddress: string | undefined,
    readonly serverPort: number | undefined,
  ) {
    const base: Attributes = { [ATTR_DB_SYSTEM_NAME]: system };
    if (namespace !== undefined) base[ATTR_DB_NAMESPACE] = namespace;
    if (serverAddress !== undefined) base[ATTR_SERVER_ADDRESS] = serverAddress;
    if (serverPort !== undefined) base[ATTR_SERVER_PORT] = serverPort;
    this.base = Object.freeze(base);
  }

  info(summary: SqlSummary, text: string | undefined, epoch: number, captureText: boolean): QueryInfo {
    if (epoch !== this.epoch) {
      this.infos = new WeakMap();
      this.epoch = epoch;
    }
    let info = this.infos.get(summary);
    if (info === undefined) {
      info = this.build(summary, text, epoch, captureText);
      this.infos.set(summary, info);
    }
    return info;
  }

  build(summary: SqlSummary, text: string | undefined, epoch: number, captureText: boolean): QueryInfo {
    const type = summary.queryType;
    const operation = type !== 'OTHER' ? type : text === undefined ? undefined : firstKeyword(text);
    const table = summary.table;
    const attributes: Attributes = { ...this.base };
    if (operation !== undefined) attributes[ATTR_DB_OPERATION_NAME] = operation;
    if (table !== undefined) attributes[ATTR_DB_COLLECTION_NAME] = table;
    if (captureText && summary.sanitized !== '') attributes[ATTR_DB_QUERY_TEXT] = summary.sanitized;
    const spanName = operation === undefined ? this.system : table === undefined ? operation : `${operation} ${table}`;
    return Object.freeze({
      spanName,
      attributes: Object.freeze(attributes),
      metricAttributes: METRIC_ATTRIBUTES[type],
      queryType: type,
      operation,
      table,
      sanitized: summary.sanitized,
      target: this,
      epoch,
    });
  }
}

const NO_TEXT: SqlSummary = Object.freeze({ queryType: 'OTHER', sanitized: '' });
const MAX_TARGETS = 128;
const MAX_STATEMENT_NAME = 64;

export class DbRecorder {
  /** Bumped whenever settings change: QueryInfos of an older epoch are rebuilt on next use. */
  epoch = 0;
  private summaries!: SqlSummaryCache;
  private captureText = true;
  private slowMs = DEFAULT_SLOW_QUERY_MS;
  private requireParent = false;
  private readonly targets = new Map<string, DbTarget>();

  constructor(
    readonly system: DbSystem,
    private readonly host: RecorderHost,
  ) {
    this.configure();
  }

  /** Re-reads the configuration (call from setConfig). */
  configure(): void {
    const c = this.host.config() ?? {};
    this.captureText = c.captureQueryText !== false;
    const max = typeof c.maxQueryTextLength === 'number' ? c.maxQueryTextLength : DEFAULT_SANITIZED_LENGTH;
    this.summaries = new SqlSummaryCache(512, 4096, max);
    const slow = c.slowQueryThresholdMs;
    this.slowMs = typeof slow === 'number' && !Number.isNaN(slow) ? (slow < 0 ? Infinity : slow) : DEFAULT_SLOW_QUERY_MS;
    this.requireParent = c.requireParentSpan === true;
    this.epoch++;
  }

  /** The (shared, cached) target for a database; never throws. */
  target(namespace: string | undefined, serverAddress?: string, serverPort?: number): DbTarget {
    const key = `${namespace ?? ''}\u0000${serverAddress ?? ''}\u0000${serverPort ?? ''}`;
    let t = this.targets.get(key);
    if (t === undefined) {
      t = new DbTarget(this.system, namespace, serverAddress, serverPort);
      if (this.targets.size < MAX_TARGETS) this.targets.set(key, t);
    }
    return t;
  }

  /** The QueryInfo of a statement text (unknown text: query_type OTHER, no operation). */
  info(target: DbTarget, text: string | undefined): QueryInfo {
    if (typeof text !== 'string') return target.info(NO_TEXT, undefined, this.epoch, this.captureText);
    return target.info(this.summaries.get(text), text, this.epoch, this.captureText);
  }

  /** The summary cache, for callers that keep summaries themselves (pg named statements). */
  summary(text: string): SqlSummary {
    return this.summaries.get(text);
  }

  infoFromSummary(target: DbTarget, summary: SqlSummary | undefined): QueryInfo {
    return target.info(summary ?? NO_TEXT, undefined, this.epoch, this.captureText);
  }

  /** A finished query that succeeded. `t0`/`t1` are performance.now() values. */
  ok(info: QueryInfo, t0: number, t1: number, parent: Context, statementName?: string): void {
    try {
      const ms = t1 - t0;
      this.host.instruments().dbQueryDuration.record(ms / 1000, info.metricAttributes);
      const slow = ms >= this.slowMs;
      if (!this.wantSpan(parent)) {
        if (slow) this.slowQuery(info, ms, undefined, parent, undefined);
        return;
      }
      const span = this.host.tracer().startSpan(info.spanName, { kind: SpanKind.CLIENT, startTime: perfToHrTime(t0), attributes: info.attributes }, parent);
      if (slow) {
        span.setAttribute(DB_ATTR.slowQuery, true);
        this.slowQuery(info, ms, undefined, parent, span);
      }
      if (statementName !== undefined) span.setAttribute(DB_ATTR.statementName, boundName(statementName));
      span.end(perfToHrTime(t1));
    } catch (err) {
      reportOnce(`${this.system} record`, err);
    }
  }

  /** A finished query that failed with `error` (whatever the driver threw or passed on). */
  fail(info: QueryInfo, t0: number, t1: number, error: unknown, parent: Context, statementName?: string): void {
    try {
      const ms = t1 - t0;
      this.host.instruments().dbQueryDuration.record(ms / 1000, info.metricAttributes);
      const slow = ms >= this.slowMs;
      // Described only for a span or a slow query: without tracing, an expected failure (a unique
      // violation used as control flow) costs the histogram record alone, like a success.
      if (!this.wantSpan(parent)) {
        if (slow) this.slowQuery(info, ms, describeDbError(error).type, parent, undefined);
        return;
      }
      const e = describeDbError(error);
      const span = this.host.tracer().startSpan(info.spanName, { kind: SpanKind.CLIENT, startTime: perfToHrTime(t0), attributes: info.attributes }, parent);
      span.setAttribute(ATTR_ERROR_TYPE, e.type);
      if (e.statusCode !== undefined) span.setAttribute(ATTR_DB_RESPONSE_STATUS_CODE, e.statusCode);
      if (slow) {
        span.setAttribute(DB_ATTR.slowQuery, true);
        this.slowQuery(info, ms, e.type, parent, span);
      }
      if (statementName !== undefined) span.setAttribute(DB_ATTR.statementName, boundName(statementName));
      span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
      span.end(perfToHrTime(t1));
    } catch (err) {
      reportOnce(`${this.system} record`, err);
    }
  }

  /** A connect-like span (`pg.connect`, `pg-pool.connect`): no metric, error.type on failure. */
  operation(name: string, kind: SpanKind, target: DbTarget, t0: number, t1: number, parent: Context, error?: unknown): void {
    try {
      if (!this.wantSpan(parent)) return;
      const span = this.host.tracer().startSpan(name, { kind, startTime: perfToHrTime(t0), attributes: target.base }, parent);
      if (error !== undefined && error !== null) {
        const e = describeDbError(error);
        span.setAttribute(ATTR_ERROR_TYPE, e.type);
        if (e.statusCode !== undefined) span.setAttribute(ATTR_DB_RESPONSE_STATUS_CODE, e.statusCode);
        span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
      }
      span.end(perfToHrTime(t1));
    } catch (err) {
      reportOnce(`${this.system} record ${name}`, err);
    }
  }

  private wantSpan(parent: Context): boolean {
    // No trace exporter configured: no span work at all on the per-query path.
    if (!tracingEnabled() || isTracingSuppressed(parent)) return false;
    return !this.requireParent || trace.getSpan(parent) !== undefined;
  }

  /** A slow query: the warn line (in the context of its span, when there is one), then the hook. */
  private slowQuery(info: QueryInfo, ms: number, errorType: string | undefined, parent: Context, span: Span | undefined): void {
    if (log.isLevelEnabled('warn')) {
      // The sanitised text only (no literals, whatever captureQueryText says), as the hook gets it.
      const fields: LogFields = { db_system: this.system, query_type: info.queryType };
      if (info.operation !== undefined && info.operation !== info.queryType) fields['operation'] = info.operation;
      if (info.table !== undefined) fields['table'] = info.table;
      if (info.target.namespace !== undefined) fields['database'] = info.target.namespace;
      fields['sql'] = info.sanitized;
      fields['duration_ms'] = roundMs(ms);
      fields['threshold_ms'] = this.slowMs;
      if (errorType !== undefined) fields['error_type'] = errorType;
      logInSpan(log.warn, span, 'slow query', fields, parent);
    }
    this.slowHook(info, ms, errorType);
  }

  private slowHook(info: QueryInfo, ms: number, errorType: string | undefined): void {
    const hook = this.host.config()?.onSlowQuery;
    if (typeof hook !== 'function') return;
    const event: SlowQueryInfo = {
      system: this.system,
      operation: info.operation,
      table: info.table,
      namespace: info.target.namespace,
      sanitizedText: info.sanitized,
      durationMs: ms,
      errorType,
    };
    try {
      hook(event);
    } catch (err) {
      reportOnce(`${this.system} onSlowQuery (user code)`, err);
    }
  }
}

function boundName(name: string): string {
  return name.length > MAX_STATEMENT_NAME ? `${name.slice(0, MAX_STATEMENT_NAME - 1)}…` : name;
}
