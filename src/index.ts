/** The public API of cardlink-otel. */
export { start, shutdown, getSdk, type CardlinkSdk, type StartOptions } from './sdk.js';
export { parseConfig, INSTRUMENTATION_NAMES, type CardlinkConfig, type InstrumentationName } from './config.js';
export { METRICS, METER_NAME, type MetricDefinition, type MetricKey } from './metrics/catalogue.js';
export { getInstruments, instrumentsFor, type CardlinkInstruments } from './metrics/instruments.js';
export * from './instrumentations.js';
export { exportStatuses, type ExportStatus } from './export-status.js';
export { VERSION } from './version.js';
export * from './api/index.js';
export * from './decoders.js';
export { registerCheck, unregisterCheck } from './health/registry.js';
export type { HealthCheckFn, CheckResult, CheckReturn, CheckContext, CheckOptions, HealthStatus, HealthReport, CheckReport } from './health/types.js';
export { createLogger, type Logger, type LogFields, type LogMethod } from './logging/logger.js';
export { recordTestResult, type TestResultInput, type TestStatus } from './test-reporter/record.js';
