/**
 * The instrumentations, for an application that composes its own OpenTelemetry SDK:
 *
 *     new NodeSDK({ instrumentations: [new CardlinkTlsInstrumentation({ sessionHook }), ...] })
 *
 * Exported under `Cardlink*` names so that they sit beside the contrib classes of the same targets
 * (`PgInstrumentation` of `@opentelemetry/instrumentation-pg`) without renaming on import.
 */
export { TlsInstrumentation as CardlinkTlsInstrumentation } from '../instrumentations/tls/instrumentation.js';
export type { TlsInstrumentationConfig, SessionHookInfo } from '../instrumentations/tls/types.js';
export { SerialportInstrumentation as CardlinkSerialportInstrumentation } from '../instrumentations/serialport/instrumentation.js';
export type { SerialportInstrumentationConfig } from '../instrumentations/serialport/types.js';
export { AdbInstrumentation as CardlinkAdbInstrumentation } from '../instrumentations/adb/instrumentation.js';
export type { AdbInstrumentationConfig } from '../instrumentations/adb/types.js';
export { SqliteInstrumentation as CardlinkSqliteInstrumentation } from '../instrumentations/db/sqlite-instrumentation.js';
export { PgInstrumentation as CardlinkPgInstrumentation } from '../instrumentations/db/pg-instrumentation.js';
export type { DbInstrumentationConfig, SlowQueryInfo, DbSystem } from '../instrumentations/db/types.js';
