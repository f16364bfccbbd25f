/**
 * The database instrumentations (`sqlite`: better-sqlite3, `pg`: node-postgres and pg-pool), their
 * pure SQL classifier and the health hooks.
 */
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { CardlinkConfig } from '../../src/config.js';
import { SqliteInstrumentation } from './sqlite-instrumentation.js';
import { PgInstrumentation } from './pg-instrumentation.js';

export { SqliteInstrumentation } from './sqlite-instrumentation.js';
export { PgInstrumentation } from './pg-instrumentation.js';
export type { DbInstrumentationConfig, DbSystem, SlowQueryInfo } from './types.js';
export { DEFAULT_SLOW_QUERY_MS } from './types.js';
export { describeDbError, sqlstateName, type DbErrorInfo } from './db-errors.js';
export {
  openDatabases,
  pingDatabases,
  pingHandle,
  DEFAULT_PING_TIMEOUT_MS,
  type OpenDatabase,
  type DbPingResult,
  type DbHandleKind,
} from './health.js';
export { classifySql, queryType, mainTable, sanitizeSql, redactConnectionString, SqlSummaryCache, QUERY_TYPES } from './sql.js';
export type { QueryType, SqlSummary } from './sql.js';

/** What the registry loads for `sqlite` in CARDLINK_INSTRUMENTATIONS. */
// eslint-disable-next-line @typescript-eslint/no-unused-vars
export function createSqliteInstrumentations(_config?: CardlinkConfig): Instrumentation[] {
  return [new SqliteInstrumentation()];
}

/** What the registry loads for `pg` in CARDLINK_INSTRUMENTATIONS. */
// eslint-disable-next-line @typescript-eslint/no-unused-vars
export function createPgInstrumentations(_config?: CardlinkConfig): Instrumentation[] {
  return [new PgInstrumentation()];
}
