/**
 * The configuration variables a config file may set and `config show` lists: exactly the ones
 * `parseConfig` (src/config.ts) reads (a test keeps the two in step), with their defaults as
 * the README's variable table states them.
 */
import { parseConfig, type Env } from '../config.js';

export interface ConfigVariable {
  name: string;
  /** The default in words (some defaults depend on other variables). */
  default: string;
  description: string;
  /** Never printed in clear. */
  secret?: boolean;
}

export const CONFIG_VARIABLES: readonly ConfigVariable[] = [
  { name: 'OTEL_SDK_DISABLED', default: 'false', description: 'true: nothing is patched, no port is opened' },
  { name: 'OTEL_LOG_LEVEL', default: 'warn', description: "cardlink-otel's own diagnostics on stderr: none, error, warn, info, debug, verbose, all" },
  { name: 'OTEL_SERVICE_NAME', default: 'cardlink', description: 'service.name resource attribute' },
  { name: 'OTEL_RESOURCE_ATTRIBUTES', default: '', description: 'extra resource attributes, k=v,k2=v2' },
  { name: 'OTEL_METRICS_EXPORTER', default: 'prometheus (+ otlp with an OTLP endpoint)', description: 'prometheus, otlp, console, none' },
  { name: 'OTEL_TRACES_EXPORTER', default: 'otlp with an OTLP endpoint, else none', description: 'otlp, console, none' },
  { name: 'OTEL_LOGS_EXPORTER', default: 'otlp with an OTLP endpoint, else none', description: 'otlp, console, none' },
  { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', default: '', description: 'OTLP endpoint of every signal, e.g. http://alloy:4317' },
  { name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', default: '', description: 'OTLP endpoint for traces only' },
  { name: 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', default: '', description: 'OTLP endpoint for metrics only' },
  { name: 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT', default: '', description: 'OTLP endpoint for logs only' },
  { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', default: 'grpc', description: 'grpc or http/protobuf' },
  { name: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', default: 'OTEL_EXPORTER_OTLP_PROTOCOL', description: 'protocol for traces only' },
  { name: 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', default: 'OTEL_EXPORTER_OTLP_PROTOCOL', description: 'protocol for metrics only' },
  { name: 'OTEL_EXPORTER_OTLP_LOGS_PROTOCOL', default: 'OTEL_EXPORTER_OTLP_PROTOCOL', description: 'protocol for logs only' },
  { name: 'OTEL_METRIC_EXPORT_INTERVAL', default: '60000', description: 'ms between OTLP metric exports' },
  { name: 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', default: '8192', description: 'longest span (and span event) attribute string; OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT wins' },
  { name: 'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE', default: 'cumulative', description: 'cumulative, delta or lowmemory (OTLP metrics)' },
  { name: 'OTEL_TRACES_SAMPLER', default: 'parentbased_always_on', description: 'always_on, always_off, traceidratio, parentbased_*' },
  { name: 'OTEL_TRACES_SAMPLER_ARG', default: '1', description: 'ratio for the traceidratio samplers' },
  { name: 'OTEL_EXPORTER_PROMETHEUS_HOST', default: '0.0.0.0', description: 'where /metrics listens' },
  { name: 'OTEL_EXPORTER_PROMETHEUS_PORT', default: '9464', description: 'port of /metrics (0: any free port)' },
  { name: 'CARDLINK_METRICS_PATH', default: '/metrics', description: 'path of the Prometheus endpoint' },
  { name: 'CARDLINK_METRICS_USERNAME', default: '', description: 'HTTP Basic auth user on /metrics (with the password; no ":")' },
  { name: 'CARDLINK_METRICS_PASSWORD', default: '', description: 'HTTP Basic auth password on /metrics', secret: true },
  { name: 'CARDLINK_HEALTH_ENABLED', default: 'true', description: 'serve the health endpoints' },
  { name: 'CARDLINK_HEALTH_HOST', default: '0.0.0.0', description: 'where the health endpoints listen' },
  { name: 'CARDLINK_HEALTH_PORT', default: '8081', description: 'port of the health endpoints' },
  { name: 'CARDLINK_HEALTH_CHECK_TIMEOUT_MS', default: '5000', description: 'time limit of each health check' },
  { name: 'CARDLINK_HEALTH_CACHE_MS', default: '1000', description: 'how long a finished health run answers later probes' },
  { name: 'CARDLINK_HEALTH_DISK_THRESHOLD', default: '90', description: 'disk usage percent from which the disk check is degraded' },
  { name: 'CARDLINK_HEALTH_MEMORY_THRESHOLD', default: '90', description: 'memory usage percent from which the memory check is degraded' },
  { name: 'CARDLINK_HEALTH_FD_THRESHOLD', default: '90', description: 'open descriptors, percent of the soft limit, from which the descriptors check is degraded' },
  { name: 'CARDLINK_HEALTH_DISK_PATH', default: '.', description: 'filesystem path the disk check watches' },
  { name: 'CARDLINK_HEALTH_DETAILS', default: 'false', description: 'show check messages and details to callers without the /metrics credentials' },
  { name: 'CARDLINK_INSTRUMENTATIONS', default: 'all', description: 'tls, serialport, adb, sqlite, pg, system' },
  { name: 'CARDLINK_DISABLED_INSTRUMENTATIONS', default: 'none', description: 'wins over CARDLINK_INSTRUMENTATIONS' },
  { name: 'CARDLINK_EXTRA_INSTRUMENTATIONS', default: '', description: 'modules whose default export is an instrumentation (loads and runs code)' },
  { name: 'CARDLINK_LOG_LEVEL', default: 'info (tls, modem, adb, db: warn)', description: 'level, or per component: info,tls=debug' },
  { name: 'CARDLINK_DB_SLOW_QUERY_MS', default: '250', description: 'ms from which a database query is slow (logged, marked on its span)' },
  { name: 'CARDLINK_LOG_FORMAT', default: 'json', description: 'json or pretty' },
  { name: 'CARDLINK_CAPTURE_APDU_DATA', default: 'false', description: 'APDU payloads on spans (PUT KEY, STORE DATA and PIN commands never)' },
  { name: 'CARDLINK_TRIGGER_WINDOW_S', default: '60', description: 'seconds after which a trigger with no OTA session counts as no_session' },
  { name: 'CARDLINK_SHUTDOWN_TIMEOUT_MS', default: '5000', description: 'bound on the final flush at exit' },
  { name: 'CARDLINK_ESM_HOOK', default: 'auto', description: 'install the ESM loader hook: auto, true, false' },
  { name: 'OTEL_NODE_RESOURCE_DETECTORS', default: '', description: 'detectors over our resource: env, host, os, process (adds the command line), serviceinstance, all, none' },
  { name: 'OTEL_PROPAGATORS', default: 'tracecontext,baggage', description: 'tracecontext, baggage, b3, b3multi, jaeger, none' },
  { name: 'CARDLINK_ADB_PATH', default: '', description: 'the adb executable when it is not called adb' },
  { name: 'CARDLINK_ADB_PROPAGATE_TRACE_CONTEXT', default: 'false', description: 'TRACEPARENT / TRACESTATE in adb children\'s environment' },
];

/** The variable names parseConfig reads, observed by handing it an environment that records lookups. */
export function variablesReadByParseConfig(): string[] {
  const seen = new Set<string>();
  const env = new Proxy({} as Env, {
    get(_t, key) {
      if (typeof key === 'string') seen.add(key);
      return undefined;
    },
  });
  parseConfig(env);
  return [...seen];
}

let known: ConfigVariable[] | undefined;

/**
 * Exactly the variables parseConfig reads, in the table's order, described from the table; a
 * variable the table does not know yet is still listed (no default shown), and a table entry
 * parseConfig no longer reads is left out. So the config file accepts what the runtime reads.
 */
export function knownVariables(): ConfigVariable[] {
  if (known) return known;
  const read = new Set(variablesReadByParseConfig());
  const out = CONFIG_VARIABLES.filter((v) => read.has(v.name));
  const names = new Set(out.map((v) => v.name));
  for (const n of read) {
    if (!names.has(n)) out.push({ name: n, default: '', description: '', secret: /PASSWORD|SECRET|TOKEN|KEY/.test(n) });
  }
  known = out;
  return out;
}
