/**
 * Every setting (the README's variable table), parsed and validated in one place.
 *
 * A bad value never stops the application: it yields one specific line in `errors` (naming the
 * variable, the bad value and what is accepted) and the default is used instead.
 */

import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { redactEndpoint } from './logging/sanitize.js';

export const INSTRUMENTATION_NAMES = ['tls', 'serialport', 'adb', 'sqlite', 'pg', 'system'] as const;
export type InstrumentationName = (typeof INSTRUMENTATION_NAMES)[number];

/** The instrumentation scope (tracer and diag name) of an instrumentation: `cardlink-otel/tls`. */
export function instrumentationScopeName(name: InstrumentationName): string {
  return `cardlink-otel/${name}`;
}

export const METRICS_EXPORTERS = ['prometheus', 'otlp', 'console', 'none'] as const;
export type MetricsExporterName = (typeof METRICS_EXPORTERS)[number];
export const SIGNAL_EXPORTERS = ['otlp', 'console', 'none'] as const;
export type SignalExporterName = (typeof SIGNAL_EXPORTERS)[number];
export const OTLP_PROTOCOLS = ['grpc', 'http/protobuf'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];
export const TEMPORALITY_PREFERENCES = ['cumulative', 'delta', 'lowmemory'] as const;
export type TemporalityPreference = (typeof TEMPORALITY_PREFERENCES)[number];
export const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type SamplerName = (typeof SAMPLERS)[number];
/** OTEL_LOG_LEVEL values (the OTel diag levels), for cardlink-otel's own diagnostics. */
export const DIAG_LOG_LEVELS = ['none', 'error', 'warn', 'info', 'debug', 'verbose', 'all'] as const;
export type DiagLogLevelName = (typeof DIAG_LOG_LEVELS)[number];
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** OTEL_NODE_RESOURCE_DETECTORS values (NodeSDK's names). */
export const RESOURCE_DETECTORS = ['env', 'host', 'os', 'process', 'serviceinstance', 'all', 'none'] as const;
export type ResourceDetectorName = (typeof RESOURCE_DETECTORS)[number];
/** OTEL_PROPAGATORS values NodeSDK knows. */
export const PROPAGATORS = ['tracecontext', 'baggage', 'b3', 'b3multi', 'jaeger', 'none'] as const;
export type PropagatorName = (typeof PROPAGATORS)[number];
/** What OTEL_PROPAGATORS unset means (NodeSDK's default). */
export const DEFAULT_PROPAGATORS: readonly PropagatorName[] = ['tracecontext', 'baggage'];

export type Env = Readonly<Record<string, string | undefined>>;

export interface OtlpSignalConfig {
  /** Endpoint for this signal, or undefined when OTLP is not configured for it. */
  endpoint: string | undefined;
  protocol: OtlpProtocol;
}

export interface CardlinkConfig {
  disabled: boolean;
  serviceName: string;
  resourceAttributes: Record<string, string>;
  metricsExporters: MetricsExporterName[];
  tracesExporters: SignalExporterName[];
  logsExporters: SignalExporterName[];
  otlp: { traces: OtlpSignalConfig; metrics: OtlpSignalConfig; logs: OtlpSignalConfig };
  metricExportIntervalMs: number;
  /**
   * Longest string a span attribute or event attribute keeps (OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT,
   * else OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT): an exception of megabytes must not make one OTLP batch
   * too big for the collector to take.
   */
  attributeValueLengthLimit: number;
  /** OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE (src/metrics/temporality.ts). */
  metricsTemporality: TemporalityPreference;
  sampler: SamplerName;
  samplerRatio: number;
  prometheus: {
    host: string;
    port: number;
    path: string;
    /**
     * `basic`: username and password both set (and valid); `none`: neither; `misconfigured`: one
     * without the other or an invalid username, and then /metrics is not served at all (fail closed).
     */
    auth: MetricsAuth;
    username?: string;
    password?: string;
  };
  health: HealthConfig;
  instrumentations: InstrumentationName[];
  /** Module specifiers whose default export is an Instrumentation, an array of them, or a factory. */
  extraInstrumentations: string[];
  /**
   * Register the import-in-the-middle ESM loader hook: `auto` (default) only when extra
   * instrumentations are loaded (ours patch prototypes, internal CommonJS files and builtins, which
   * ESM applications share, and so do not need it; the hook's loader thread costs ~70 ms of start-up).
   */
  esmHook: 'auto' | 'true' | 'false';
  /** OTEL_LOG_LEVEL: cardlink-otel's own diagnostics on stderr (src/diag.ts). */
  diagLogLevel: DiagLogLevelName;
  logLevel: LogLevel;
  componentLogLevels: Record<string, LogLevel>;
  logFormat: 'json' | 'pretty';
  captureApduData: boolean;
  /**
   * A database query that takes at least this many ms is slow: logged (component `db`, warn) and
   * marked on its span (CARDLINK_DB_SLOW_QUERY_MS; 0 marks every query).
   */
  dbSlowQueryMs: number;
  /**
   * 0 (default): the tls instrumentation records SCP81 traffic as it happens; a positive value,
   * without a trace exporter, records it in batches at most this many ms late (CARDLINK_TLS_RECORDING_DELAY_MS).
   */
  tlsRecordingDelayMs: number;
  /**
   * OTEL_NODE_RESOURCE_DETECTORS: detectors NodeSDK runs over our resource; undefined (unset): none,
   * our resource is complete and synchronous and holds no command line.
   */
  resourceDetectors: ResourceDetectorName[] | undefined;
  /** OTEL_PROPAGATORS, validated here (NodeSDK builds them); undefined: tracecontext and baggage. */
  propagators: PropagatorName[] | undefined;
  /** The adb instrumentation's options (CARDLINK_ADB_PATH, CARDLINK_ADB_PROPAGATE_TRACE_CONTEXT). */
  adb: { path: string | undefined; propagateTraceContext: boolean };
  shutdownTimeoutMs: number;
  /** A trigger with no OTA session within this many ms counts as `no_session` (CARDLINK_TRIGGER_WINDOW_S, in seconds). */
  triggerWindowMs: number;
}

export type MetricsAuth = 'none' | 'basic' | 'misconfigured';

export interface HealthConfig {
  enabled: boolean;
  host: string;
  port: number;
  /** Time limit of each check (CARDLINK_HEALTH_CHECK_TIMEOUT_MS). */
  checkTimeoutMs: number;
  /** How long a finished run of the checks answers later probes (CARDLINK_HEALTH_CACHE_MS). */
  cacheMs: number;
  /** Disk usage (percent) from which the disk check is degraded (CARDLINK_HEALTH_DISK_THRESHOLD). */
  diskThresholdPercent: number;
  /** Memory usage (percent) from which the memory check is degraded (CARDLINK_HEALTH_MEMORY_THRESHOLD). */
  memoryThresholdPercent: number;
  /** Open descriptors (percent of the soft limit) from which the descriptors check is degraded (CARDLINK_HEALTH_FD_THRESHOLD). */
  fdThresholdPercent: number;
  /** A path on the filesystem the disk check watches (CARDLINK_HEALTH_DISK_PATH). */
  diskPath: string;
  /** Check messages and details for callers without credentials (CARDLINK_HEALTH_DETAILS). */
  details: boolean;
}

export interface ParsedConfig {
  config: CardlinkConfig;
  /** One line each, ready for stderr. */
  errors: string[];
}

const PREFIX = 'cardlink-otel:';

function trimmed(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

class Reader {
  readonly errors: string[] = [];
  constructor(private readonly env: Env) {}

  str(name: string, dflt: string): string {
    return trimmed(this.env, name) ?? dflt;
  }

  bool(name: string, dflt: boolean): boolean {
    const v = trimmed(this.env, name);
    if (v === undefined) return dflt;
    const l = v.toLowerCase();
    if (l === 'true' || l === '1' || l === 'yes' || l === 'on') return true;
    if (l === 'false' || l === '0' || l === 'no' || l === 'off') return false;
    this.bad(name, v, 'true or false');
    return dflt;
  }

  int(name: string, dflt: number, min: number, max: number): number {
    const v = trimmed(this.env, name);
    if (v === undefined) return dflt;
    const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      this.bad(name, v, `an integer from ${min} to ${max}`);
      return dflt;
    }
    return n;
  }

  /** An integer percentage from 1 to 100; a trailing `%` is accepted (`85` or `85%`). */
  percent(name: string, dflt: number): number {
    const v = trimmed(this.env, name);
    if (v === undefined) return dflt;
    const digits = v.endsWith('%') ? v.slice(0, -1).trim() : v;
    const n = /^\d+$/.test(digits) ? Number(digits) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < 1 || n > 100) {
      this.bad(name, v, 'a percentage from 1 to 100');
      return dflt;
    }
    return n;
  }

  port(name: string, dflt: number): number {
    return this.int(name, dflt, 0, 65535);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], dflt: T): T {
    const v = trimmed(this.env, name);
    if (v === undefined) return dflt;
    const l = v.toLowerCase() as T;
    if (allowed.includes(l)) return l;
    this.bad(name, v, `one of ${allowed.join(', ')}`);
    return dflt;
  }

  /**
   * A comma list whose every element must be in `allowed`: unknown elements are dropped with an
   * error, and a list of nothing but unknown ones (a typo: `prometeus`) is the default, not an
   * empty list that would switch the feature off.
   */
  list<T extends string>(name: string, allowed: readonly T[], dflt: T[]): T[] {
    const v = trimmed(this.env, name);
    if (v === undefined) return dflt;
    const out: T[] = [];
    const unknown: string[] = [];
    for (const part of v.split(',')) {
      const p = part.trim().toLowerCase();
      if (p === '') continue;
      if (allowed.includes(p as T)) {
        if (!out.includes(p as T)) out.push(p as T);
      } else unknown.push(part.trim());
    }
    if (unknown.length > 0) {
      const kept = out.length > 0 ? 'ignored' : `using the default (${dflt.length > 0 ? dflt.join(',') : 'none'})`;
      this.errors.push(`${PREFIX} ${name}: unknown value ${JSON.stringify(unknown.join(','))}; valid values are ${allowed.join(', ')}; ${kept}.`);
      if (out.length === 0) return dflt;
    } else if (out.length === 0) {
      // Only commas: nothing was asked for (`none` is how to ask for nothing).
      this.errors.push(`${PREFIX} ${name}=${JSON.stringify(v)} names no value; valid values are ${allowed.join(', ')}; using the default (${dflt.length > 0 ? dflt.join(',') : 'none'}).`);
      return dflt;
    }
    return out;
  }

  /** `list` for a variable whose default is decided elsewhere: undefined when unset, or when nothing in it is valid. */
  listOrUnset<T extends string>(name: string, allowed: readonly T[]): T[] | undefined {
    if (trimmed(this.env, name) === undefined) return undefined;
    const unset: T[] = [];
    const out = this.list(name, allowed, unset);
    return out === unset ? undefined : out;
  }

  bad(name: string, value: string, expected: string): void {
    this.errors.push(`${PREFIX} ${name}=${JSON.stringify(value)} is not valid: expected ${expected}; using the default.`);
  }
}

/** `key1=value1,key2=value2` with percent-encoded values (W3C Baggage octets), per the OTel spec. */
export function parseResourceAttributes(raw: string | undefined, errors?: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === undefined) return out;
  for (const pair of raw.split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq).trim() : '';
    if (key === '') {
      errors?.push(`${PREFIX} OTEL_RESOURCE_ATTRIBUTES entry ${JSON.stringify(pair.trim())} is not key=value; ignored.`);
      continue;
    }
    let value = pair.slice(eq + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      /* keep the raw text: a stray % is not worth losing the attribute for */
    }
    out[key] = value;
  }
  return out;
}

/** `info,tls=debug,modem=warn`: a bare level is the default, `component=level` overrides one component. */
function parseLogLevels(r: Reader, env: Env): { level: LogLevel; components: Record<string, LogLevel> } {
  const raw = trimmed(env, 'CARDLINK_LOG_LEVEL');
  const result = { level: 'info' as LogLevel, components: {} as Record<string, LogLevel> };
  // Unconfigured, the instrumentations report what needs attention (failures, timeouts, slow
  // queries) and not every completed session: an application's stdout is not flooded by default.
  const unconfigured = (): { level: LogLevel; components: Record<string, LogLevel> } => ({
    level: 'info',
    components: { tls: 'warn', modem: 'warn', adb: 'warn', db: 'warn' },
  });
  if (raw === undefined) return unconfigured();
  let valid = 0;
  for (const part of raw.split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    const component = eq >= 0 ? p.slice(0, eq).trim() : undefined;
    const level = (eq >= 0 ? p.slice(eq + 1) : p).trim().toLowerCase() as LogLevel;
    if (!LOG_LEVELS.includes(level) || component === '') {
      r.bad('CARDLINK_LOG_LEVEL', p, `a level (${LOG_LEVELS.join(', ')}) or component=level`);
      continue;
    }
    valid++;
    if (component === undefined) result.level = level;
    else result.components[component] = level;
  }
  // Nothing usable (`verbose`): the default, as the error line says, per-component levels included.
  return valid === 0 ? unconfigured() : result;
}

/** `base`: OTEL_EXPORTER_OTLP_ENDPOINT, checked once for the three signals (undefined: unset or invalid). */
function otlpSignal(
  r: Reader,
  env: Env,
  signal: 'TRACES' | 'METRICS' | 'LOGS',
  fallbackProtocol: OtlpProtocol,
  base: string | undefined,
): OtlpSignalConfig {
  const protocol = r.oneOf(`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`, OTLP_PROTOCOLS, fallbackProtocol);
  const specific = trimmed(env, `OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`);
  let endpoint: string | undefined;
  if (specific !== undefined) endpoint = checkUrl(r, `OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`, specific);
  // gRPC uses the base endpoint as is; http/protobuf appends the signal path (OTel spec).
  else if (base !== undefined) endpoint = protocol === 'grpc' ? base : `${base.replace(/\/+$/, '')}/v1/${signal.toLowerCase()}`;
  return { endpoint, protocol };
}

function checkUrl(r: Reader, name: string, value: string): string | undefined {
  try {
    const u = new URL(value);
    if (u.protocol === 'http:' || u.protocol === 'https:') return value;
  } catch {
    /* reported below */
  }
  r.bad(name, redactEndpoint(value), 'an http:// or https:// URL such as http://alloy:4317');
  return undefined;
}

function exportersFor(
  r: Reader,
  name: string,
  allowed: readonly SignalExporterName[],
  otlpConfigured: boolean,
): SignalExporterName[] {
  const list = r.list(name, allowed, otlpConfigured ? ['otlp'] : []);
  return list.filter((e) => e !== 'none');
}

export function parseConfig(env: Env = process.env): ParsedConfig {
  const r = new Reader(env);
  const disabled = r.bool('OTEL_SDK_DISABLED', false);

  const baseProtocol = r.oneOf('OTEL_EXPORTER_OTLP_PROTOCOL', OTLP_PROTOCOLS, 'grpc');
  const rawBase = trimmed(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  const base = rawBase === undefined ? undefined : checkUrl(r, 'OTEL_EXPORTER_OTLP_ENDPOINT', rawBase);
  const otlp = {
    traces: otlpSignal(r, env, 'TRACES', baseProtocol, base),
    metrics: otlpSignal(r, env, 'METRICS', baseProtocol, base),
    logs: otlpSignal(r, env, 'LOGS', baseProtocol, base),
  };

  const metricsExporters = r
    .list('OTEL_METRICS_EXPORTER', METRICS_EXPORTERS, otlp.metrics.endpoint ? ['prometheus', 'otlp'] : ['prometheus'])
    .filter((e) => e !== 'none');
  const tracesExporters = exportersFor(r, 'OTEL_TRACES_EXPORTER', SIGNAL_EXPORTERS, otlp.traces.endpoint !== undefined);
  const logsExporters = exportersFor(r, 'OTEL_LOGS_EXPORTER', SIGNAL_EXPORTERS, otlp.logs.endpoint !== undefined);
  for (const [list, signal, cfg] of [
    [metricsExporters, 'METRICS', otlp.metrics],
    [tracesExporters, 'TRACES', otlp.traces],
    [logsExporters, 'LOGS', otlp.logs],
  ] as const) {
    if ((list as readonly string[]).includes('otlp') && cfg.endpoint === undefined) {
      // The OTel default endpoint is localhost:4317; say so instead of failing silently later.
      cfg.endpoint = cfg.protocol === 'grpc' ? 'http://localhost:4317' : `http://localhost:4318/v1/${signal.toLowerCase()}`;
    }
  }

  const sampler = r.oneOf('OTEL_TRACES_SAMPLER', SAMPLERS, 'parentbased_always_on');
  let samplerRatio = 1;
  const ratioRaw = trimmed(env, 'OTEL_TRACES_SAMPLER_ARG');
  // Checked whatever the sampler: a value saved now (`config set`) is used once a ratio sampler is chosen.
  if (ratioRaw !== undefined) {
    const n = Number(ratioRaw);
    if (!(Number.isFinite(n) && n >= 0 && n <= 1)) r.bad('OTEL_TRACES_SAMPLER_ARG', ratioRaw, 'a number from 0 to 1');
    else if (sampler.endsWith('traceidratio')) samplerRatio = n;
  }

  const all = INSTRUMENTATION_NAMES.slice();
  const enabled = r.list('CARDLINK_INSTRUMENTATIONS', [...all, 'all' as InstrumentationName], all);
  const wanted = enabled.includes('all' as InstrumentationName) ? all : enabled;
  const off = r.list('CARDLINK_DISABLED_INSTRUMENTATIONS', [...all, 'none' as InstrumentationName], []);

  // Fail closed: a half or invalid credential pair must not leave /metrics open, so it is not served.
  const username = trimmed(env, 'CARDLINK_METRICS_USERNAME');
  const password = env['CARDLINK_METRICS_PASSWORD'];
  const hasPassword = password !== undefined && password !== '';
  let metricsAuth: MetricsAuth = username === undefined && !hasPassword ? 'none' : 'basic';
  if (username !== undefined && username.includes(':')) {
    // Basic auth splits at the first `:`: `a:b` + `c` and `a` + `b:c` would both pass.
    r.errors.push(
      `${PREFIX} CARDLINK_METRICS_USERNAME=${JSON.stringify(maskedUsername(username))} is not valid: expected a name without ":"; /metrics is not served.`,
    );
    metricsAuth = 'misconfigured';
  } else if ((username === undefined) !== !hasPassword) {
    r.errors.push(
      `${PREFIX} CARDLINK_METRICS_USERNAME and CARDLINK_METRICS_PASSWORD must be set together; /metrics is not served until both are (or neither is).`,
    );
    metricsAuth = 'misconfigured';
  }
  const auth = metricsAuth === 'basic' && username !== undefined && password !== undefined ? { username, password } : {};

  let path = r.str('CARDLINK_METRICS_PATH', '/metrics');
  if (!path.startsWith('/') || /[\s?#]/.test(path)) {
    r.bad('CARDLINK_METRICS_PATH', path, 'a path starting with / (no spaces, ? or #)');
    path = '/metrics';
  }

  const levels = parseLogLevels(r, env);
  const config: CardlinkConfig = {
    disabled,
    serviceName: r.str('OTEL_SERVICE_NAME', ''),
    resourceAttributes: parseResourceAttributes(trimmed(env, 'OTEL_RESOURCE_ATTRIBUTES'), r.errors),
    metricsExporters,
    tracesExporters,
    logsExporters,
    otlp,
    metricExportIntervalMs: r.int('OTEL_METRIC_EXPORT_INTERVAL', 60_000, 100, 86_400_000),
    attributeValueLengthLimit: r.int(
      env['OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT'] !== undefined ? 'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT' : 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT',
      DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT,
      16,
      1_000_000_000,
    ),
    metricsTemporality: r.oneOf('OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE', TEMPORALITY_PREFERENCES, 'cumulative'),
    sampler,
    samplerRatio,
    prometheus: {
      host: r.str('OTEL_EXPORTER_PROMETHEUS_HOST', '0.0.0.0'),
      port: r.port('OTEL_EXPORTER_PROMETHEUS_PORT', 9464),
      path,
      auth: metricsAuth,
      ...auth,
    },
    health: {
      enabled: r.bool('CARDLINK_HEALTH_ENABLED', true),
      host: r.str('CARDLINK_HEALTH_HOST', '0.0.0.0'),
      port: r.port('CARDLINK_HEALTH_PORT', 8081),
      checkTimeoutMs: r.int('CARDLINK_HEALTH_CHECK_TIMEOUT_MS', 5_000, 1, 300_000),
      cacheMs: r.int('CARDLINK_HEALTH_CACHE_MS', 1_000, 0, 300_000),
      diskThresholdPercent: r.percent('CARDLINK_HEALTH_DISK_THRESHOLD', 90),
      memoryThresholdPercent: r.percent('CARDLINK_HEALTH_MEMORY_THRESHOLD', 90),
      fdThresholdPercent: r.percent('CARDLINK_HEALTH_FD_THRESHOLD', 90),
      diskPath: r.str('CARDLINK_HEALTH_DISK_PATH', '.'),
      details: r.bool('CARDLINK_HEALTH_DETAILS', false),
    },
    instrumentations: wanted.filter((n) => !off.includes(n)),
    esmHook: r.oneOf('CARDLINK_ESM_HOOK', ['auto', 'true', 'false'] as const, 'auto'),
    extraInstrumentations: (trimmed(env, 'CARDLINK_EXTRA_INSTRUMENTATIONS') ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== ''),
    diagLogLevel: r.oneOf('OTEL_LOG_LEVEL', DIAG_LOG_LEVELS, 'warn'),
    logLevel: levels.level,
    componentLogLevels: levels.components,
    logFormat: r.oneOf('CARDLINK_LOG_FORMAT', ['json', 'pretty'] as const, 'json'),
    captureApduData: r.bool('CARDLINK_CAPTURE_APDU_DATA', false),
    // 250 is DEFAULT_SLOW_QUERY_MS of instrumentations/db/types.ts (not imported: config stays dependency-free).
    dbSlowQueryMs: r.int('CARDLINK_DB_SLOW_QUERY_MS', 250, 0, 3_600_000),
    // 0 is DEFAULT_RECORDING_DELAY_MS of instrumentations/tls/types.ts (test/config checks they agree).
    tlsRecordingDelayMs: r.int('CARDLINK_TLS_RECORDING_DELAY_MS', 0, 0, 60_000),
    resourceDetectors: r.listOrUnset('OTEL_NODE_RESOURCE_DETECTORS', RESOURCE_DETECTORS),
    // Set but with nothing valid: the default named (undefined would let NodeSDK read the bad value again).
    propagators: trimmed(env, 'OTEL_PROPAGATORS') === undefined ? undefined : r.list('OTEL_PROPAGATORS', PROPAGATORS, [...DEFAULT_PROPAGATORS]),
    adb: {
      path: trimmed(env, 'CARDLINK_ADB_PATH'),
      propagateTraceContext: r.bool('CARDLINK_ADB_PROPAGATE_TRACE_CONTEXT', false),
    },
    shutdownTimeoutMs: r.int('CARDLINK_SHUTDOWN_TIMEOUT_MS', 5_000, 0, 60_000),
    triggerWindowMs: r.int('CARDLINK_TRIGGER_WINDOW_S', 60, 1, 86_400) * 1000,
  };
  if (config.serviceName === '') config.serviceName = config.resourceAttributes[ATTR_SERVICE_NAME] ?? 'cardlink';
  return { config, errors: r.errors };
}

/**
 * A username as it may be printed: what follows a `:` is masked, because `user:password` in the
 * username is the usual mistake the check for `:` catches.
 */
export function maskedUsername(username: string): string {
  const i = username.indexOf(':');
  return i < 0 ? username : `${username.slice(0, i)}:***`;
}

/** The default of `attributeValueLengthLimit`: an exception's stack and message fit, a log file does not. */
export const DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT = 8192;
