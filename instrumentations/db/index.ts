/**
 * The database instrumentations (`sqlite`: better-sqlite3, `pg`: node-postgres and pg-pool), their
 * pure SQL classifier and the health hooks.
 */
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { CardlinkConfig } from '../../src/config.js';
import { SqliteInstrumentation } from './sqlite-instrumentation.js';
import { PgInstrumentation } from './pg-instrumentation.js';
import type { DbInstrumentationConfig } from './types.js';

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

/** The options both factories take from the configuration: the slow-query threshold (CARDLINK_DB_SLOW_QUERY_MS). */
function dbConfig(config: CardlinkConfig | undefined): DbInstrumentationConfig {
  return config === undefined ? {} : { slowQueryThresholdMs: config.dbSlowQueryMs };
}

/** What the registry loads for `sqlite` in CARDLINK_INSTRUMENTATIONS. */
export function createSqliteInstrumentations(config?: CardlinkConfig): Instrumentation[] {
  return [new SqliteInstrumentation(dbConfig(config))];
}

/** What the registry loads for `pg` in CARDLINK_INSTRUMENTATIONS. */
export function createPgInstrumentations(config?: CardlinkConfig): Instrumentation[] {
  return [new PgInstrumentation(dbConfig(config))];
}
