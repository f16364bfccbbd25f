/** Health endpoints and checks (see server.ts, runner.ts, registry.ts). */
export { registerCheck, unregisterCheck, checkNames } from './registry.js';
export { registerResourceCheck, trackedResources, MAX_RESOURCES_PER_GROUP, type ResourceProbe } from './resource-checks.js';
export { createHealthRunner, runChecks, aggregate, normaliseResult, type HealthRunner, type HealthRunnerOptions } from './runner.js';
export { startHealthServer, handleHealthRequest, summarise, HEALTH_PATHS, type HealthServer, type HealthServerOptions, type DetailsPolicy } from './server.js';
export {
  registerBuiltinChecks,
  diskCheck,
  memoryCheck,
  descriptorsCheck,
  otlpExportCheck,
  metricsEndpointCheck,
  readMemory,
  readDescriptors,
  databaseCheck,
  type DatabasePing,
  type PingDatabases,
  type BuiltinChecksOptions,
  type MemoryReading,
  type DescriptorsReading,
  type StatFs,
} from './builtin-checks.js';
export type {
  HealthStatus,
  CheckStatus,
  CheckResult,
  CheckReturn,
  CheckContext,
  HealthCheckFn,
  CheckOptions,
  CheckReport,
  HealthReport,
  CheckSummary,
  HealthSummary,
} from './types.js';
