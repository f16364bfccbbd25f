import type { InstrumentationConfig } from '@opentelemetry/instrumentation';

/** `db.system.name` of the two drivers. */
export type DbSystem = 'sqlite' | 'postgresql';

/** What a slow-query hook is told (never bound values: only the sanitised text). */
export interface SlowQueryInfo {
  readonly system: DbSystem;
  /** `db.operation.name`: the first keyword (`SELECT`, `SAVEPOINT` ...), undefined when there is none. */
  readonly operation: string | undefined;
  /** `db.collection.name`: the main table, when simple to find. */
  readonly table: string | undefined;
  /** `db.namespace`: SQLite file (`:memory:`), PostgreSQL database name. */
  readonly namespace: string | undefined;
  /** Literal-free statement text (see sql.ts), whatever `captureQueryText` says. */
  readonly sanitizedText: string;
  readonly durationMs: number;
  /** `error.type` when the query failed. */
  readonly errorType: string | undefined;
}

/**
 * Public configuration of the `sqlite` (better-sqlite3) and `pg` instrumentations. Both read the
 * same options; each instance has its own copy.
 */
export interface DbInstrumentationConfig extends InstrumentationConfig {
  /**
   * A query that takes at least this many milliseconds is slow: its span gets
   * `cardlink.db.slow_query = true` and `onSlowQuery` is called. Default 250; 0 marks every query,
   * a negative number or Infinity none.
   */
  slowQueryThresholdMs?: number;
  /** Called once per slow query (errors thrown by the hook are caught and reported once). */
  onSlowQuery?: (info: SlowQueryInfo) => void;
  /** Put the sanitised statement on spans as `db.query.text` (default true). Literals never appear. */
  captureQueryText?: boolean;
  /** Longest `db.query.text`, in characters (default 2048, at least 16). */
  maxQueryTextLength?: number;
  /**
   * Only create query spans when a span is already active (e.g. an OTA session), so background
   * polling does not produce root spans. Metrics are recorded either way. Default false.
   */
  requireParentSpan?: boolean;
}

export const DEFAULT_SLOW_QUERY_MS = 250;
