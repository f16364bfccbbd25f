/**
 * Starting and stopping the SDK: one MeterProvider (Prometheus pull reader and, when configured, a
 * periodic OTLP reader, together), one TracerProvider with a batch OTLP exporter, an optional
 * LoggerProvider, the process metrics and the enabled instrumentations.
 *
 * Nothing here may break the application: every failure is one line on stderr and the app runs on.
 */
import { register as registerLoaderHook } from 'node:module';
import { metrics, trace, type Tracer, type Meter } from '@opentelemetry/api';
import { logs } from '@opentelemetry/api-logs';
import { registerInstrumentations, type Instrumentation } from '@opentelemetry/instrumentation';
import {
  ConsoleMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { LoggerProvider, LogRecordExporter, LogRecordProcessor } from '@opentelemetry/sdk-logs';
import type { Resource } from '@opentelemetry/resources';
import { parseConfig, type CardlinkConfig, type Env } from './config.js';
import { loadLayeredEnv } from './cli/config-file.js';
import { installDiag, printLine } from './diag.js';
import { resetExportStatuses, trackExporter } from './export-status.js';
import { registerBuiltinChecks } from './health/builtin-checks.js';
import { startHealthServer, type HealthServer } from './health/server.js';
import { configureLogging } from './logging/settings.js';
import { loadInstrumentations } from './instrumentation-registry.js';
import { getCardlinkMeter, getInstruments } from './metrics/instruments.js';
import { CardlinkPrometheusExporter } from './metrics/prometheus.js';
import { FastHistogramProducer } from './metrics/fast-histogram.js';
import { mergeScopes } from './metrics/merge-scopes.js';
import { runBeforeCollect } from './metrics/before-collect.js';
import { startMetricsServer, type MetricsServer } from './metrics/server.js';
import { startSystemMetrics } from './metrics/system.js';
import { catalogueViews } from './metrics/views.js';
import { histogramTemporality, temporalitySelector } from './metrics/temporality.js';
import { buildResource } from './resource.js';
import { VERSION } from './version.js';
import { setTracingEnabled } from './tracing-state.js';

/**
 * The exports of a CommonJS package loaded with `await import()`. Node gives named exports and a
 * `default` that is module.exports; a split chunk of the bundle (dist/bundle) gives only `default`.
 */
function commonJs<T extends object>(ns: T): T {
  return (ns as { default?: T }).default ?? ns;
}

export interface StartOptions {
  /** Variables layered over process.env (same names and rules as the environment). */
  env?: Env;
  /** Extra OTel instrumentations to register alongside ours. */
  instrumentations?: Instrumentation[];
  /** Register the import-in-the-middle loader hook so ESM imports are patched (what `register` does). */
  registerEsmHook?: boolean;
  /** Flush on SIGTERM/SIGINT/normal exit (default true). */
  handleSignals?: boolean;
}

export interface CardlinkSdk {
  readonly config: CardlinkConfig;
  readonly resource: Resource | undefined;
  readonly meterProvider: MeterProvider | undefined;
  readonly tracerProvider: NodeTracerProvider | undefined;
  readonly loggerProvider: LoggerProvider | undefined;
  /** The Prometheus pull reader, when enabled. */
  readonly prometheus: CardlinkPrometheusExporter | undefined;
  /** Resolves with the port /metrics listens on, or undefined when it is off or could not listen. */
  readonly metricsPort: Promise<number | undefined>;
  /** Resolves with the port the health endpoints listen on, or undefined when off or not listening. */
  readonly healthPort: Promise<number | undefined>;
  readonly instrumentations: readonly Instrumentation[];
  tracer(name?: string): Tracer;
  meter(): Meter;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

let running: Promise<CardlinkSdk> | undefined;
let current: CardlinkSdk | undefined;

/** The SDK started by `start()` / `register`, if any. */
export function getSdk(): CardlinkSdk | undefined {
  return current;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      printLine(`${what} did not finish within ${ms} ms; giving up so the process can exit.`);
      resolve(undefined);
    }, ms);
    timer.unref();
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        printLine(`${what} failed: ${err instanceof Error ? err.message : String(err)}`);
        resolve(undefined);
      },
    );
  });
}

function buildSampler(c: CardlinkConfig): Sampler {
  switch (c.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(c.samplerRatio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(c.samplerRatio) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

async function otlpMetricExporter(c: CardlinkConfig): Promise<PushMetricExporter> {
  const url = c.otlp.metrics.endpoint as string;
  const mod =
    c.otlp.metrics.protocol === 'grpc'
      ? commonJs(await import('@opentelemetry/exporter-metrics-otlp-grpc'))
      : commonJs(await import('@opentelemetry/exporter-metrics-otlp-proto'));
  const exporter = new mod.OTLPMetricExporter({ url });
  exporter.selectAggregationTemporality = temporalitySelector(c.metricsTemporality);
  const send = exporter.export.bind(exporter);
  // One ScopeMetrics per scope on the wire (the fast histograms arrive as a second one).
  exporter.export = (metrics, done) => send(mergeScopes(metrics), done);
  return trackExporter(exporter, 'metrics', url);
}

async function otlpSpanExporter(c: CardlinkConfig): Promise<SpanExporter> {
  const url = c.otlp.traces.endpoint as string;
  const mod =
    c.otlp.traces.protocol === 'grpc'
      ? commonJs(await import('@opentelemetry/exporter-trace-otlp-grpc'))
      : commonJs(await import('@opentelemetry/exporter-trace-otlp-proto'));
  return trackExporter(new mod.OTLPTraceExporter({ url }), 'traces', url);
}

async function otlpLogExporter(c: CardlinkConfig): Promise<LogRecordExporter> {
  const url = c.otlp.logs.endpoint as string;
  const mod =
    c.otlp.logs.protocol === 'grpc'
      ? commonJs(await import('@opentelemetry/exporter-logs-otlp-grpc'))
      : commonJs(await import('@opentelemetry/exporter-logs-otlp-proto'));
  return trackExporter(new mod.OTLPLogExporter({ url }), 'logs', url);
}

const disabledSdk = (config: CardlinkConfig): CardlinkSdk => ({
  config,
  resource: undefined,
  meterProvider: undefined,
  tracerProvider: undefined,
  loggerProvider: undefined,
  prometheus: undefined,
  metricsPort: Promise.resolve(undefined),
  healthPort: Promise.resolve(undefined),
  instrumentations: [],
  tracer: (name = 'cardlink-otel') => trace.getTracer(name, VERSION),
  meter: () => metrics.getMeter('cardlink-otel', VERSION),
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
});

/**
 * Start telemetry. Idempotent: a second call returns the SDK of the first. Never rejects: a failure
 * is reported on stderr and a disabled SDK is returned.
 */
export function start(options: StartOptions = {}): Promise<CardlinkSdk> {
  running ??= startOnce(options);
  return running;
}

async function startOnce(options: StartOptions): Promise<CardlinkSdk> {
  // The config file (`cardlink-metrics config set`, $CARDLINK_CONFIG_FILE or ./cardlink-otel.json)
  // under the environment, under the options given in code.
  const layered = loadLayeredEnv(process.env);
  const env: Env = options.env ? { ...layered.env, ...options.env } : layered.env;
  const { config, errors } = parseConfig(env);
  for (const e of [...layered.file.errors, ...errors]) process.stderr.write(`${e}\n`);
  // The application's loggers follow this configuration even when telemetry is disabled.
  configureLogging({ level: config.logLevel, componentLevels: config.componentLogLevels, format: config.logFormat });
  if (config.disabled) {
    current = disabledSdk(config);
    return current;
  }
  installDiag(env);
  try {
    current = await build(config, options);
  } catch (err) {
    printLine(`telemetry could not start (${err instanceof Error ? err.message : String(err)}); the application runs without it.`);
    current = disabledSdk(config);
  }
  return current;
}

async function build(config: CardlinkConfig, options: StartOptions): Promise<CardlinkSdk> {
  let waitForHooks: (() => Promise<void>) | undefined;
  const wantHook = config.esmHook === 'true' || (config.esmHook === 'auto' && config.extraInstrumentations.length > 0);
  if (options.registerEsmHook === true && wantHook) {
    // Only modules an instrumentation hooks are wrapped (cheaper start-up than wrapping every import).
    const iitm = await import('import-in-the-middle');
    const channel = iitm.createAddHookMessageChannel();
    registerLoaderHook('import-in-the-middle/hook.mjs', import.meta.url, channel.registerOptions);
    waitForHooks = channel.waitForAllMessagesAcknowledged;
  }

  const resource = buildResource(config);

  // Metrics: every reader on one provider, so Prometheus and OTLP see the same instruments.
  // The catalogue's histograms reach every reader through this producer (see fast-histogram.ts).
  const fastHistograms = new FastHistogramProducer();
  const readers: MetricReader[] = [];
  let prometheus: CardlinkPrometheusExporter | undefined;
  if (config.metricsExporters.includes('prometheus')) {
    prometheus = new CardlinkPrometheusExporter(fastHistograms);
    readers.push(prometheus);
  }
  // The OTLP reader's histograms follow its temporality preference (a producer of its own).
  const otlpHistograms = new FastHistogramProducer(histogramTemporality(config.metricsTemporality));
  if (config.metricsExporters.includes('otlp')) {
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: await otlpMetricExporter(config),
        exportIntervalMillis: config.metricExportIntervalMs,
        exportTimeoutMillis: Math.min(30_000, config.metricExportIntervalMs),
        metricProducers: [otlpHistograms],
      }),
    );
  }
  if (config.metricsExporters.includes('console')) {
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new ConsoleMetricExporter(),
        exportIntervalMillis: config.metricExportIntervalMs,
        metricProducers: [fastHistograms],
      }),
    );
  }
  const meterProvider = new MeterProvider({ resource, views: catalogueViews(), readers });
  fastHistograms.bindProvider(meterProvider);
  otlpHistograms.bindProvider(meterProvider);
  metrics.setGlobalMeterProvider(meterProvider);

  // Traces: batch export, bounded queue (spans beyond it are dropped and counted, never buffered without end).
  const spanProcessors: SpanProcessor[] = [];
  if (config.tracesExporters.includes('otlp')) {
    spanProcessors.push(new BatchSpanProcessor(await otlpSpanExporter(config), { maxQueueSize: 2048, maxExportBatchSize: 512 }));
  }
  if (config.tracesExporters.includes('console')) spanProcessors.push(new BatchSpanProcessor(new ConsoleSpanExporter()));
  // With nowhere to send spans, do not record them: non-recording spans still carry trace ids
  // (for log correlation and propagation) at a fraction of the cost.
  const sampler = spanProcessors.length > 0 ? buildSampler(config) : new AlwaysOffSampler();
  setTracingEnabled(spanProcessors.length > 0);
  const tracerProvider = new NodeTracerProvider({ resource, sampler, spanProcessors });
  tracerProvider.register();

  let loggerProvider: LoggerProvider | undefined;
  if (config.logsExporters.length > 0) {
    // Loaded only when logs are exported: most labs scrape metrics and never pay for it.
    const sdkLogs = commonJs(await import('@opentelemetry/sdk-logs'));
    const logProcessors: LogRecordProcessor[] = [];
    if (config.logsExporters.includes('otlp')) logProcessors.push(new sdkLogs.BatchLogRecordProcessor({ exporter: await otlpLogExporter(config) }));
    if (config.logsExporters.includes('console')) {
      logProcessors.push(new sdkLogs.BatchLogRecordProcessor({ exporter: new sdkLogs.ConsoleLogRecordExporter() }));
    }
    loggerProvider = new sdkLogs.LoggerProvider({ resource, processors: logProcessors });
    logs.setGlobalLoggerProvider(loggerProvider);
  }

  const stopSystem = config.instrumentations.includes('system') ? startSystemMetrics() : undefined;
  getInstruments();

  const instrumentations = [...(await loadInstrumentations(config)), ...(options.instrumentations ?? [])];
  const unregister =
    instrumentations.length > 0
      ? registerInstrumentations({ instrumentations, tracerProvider, meterProvider, ...(loggerProvider ? { loggerProvider } : {}) })
      : undefined;
  if (waitForHooks !== undefined) await waitForHooks();

  let server: MetricsServer | undefined;
  if (prometheus !== undefined) {
    const exporter = prometheus;
    server = startMetricsServer({
      ...config.prometheus,
      handler: (req, res) => exporter.getMetricsRequestHandler(req, res),
    });
  }

  let health: HealthServer | undefined;
  let removeBuiltinChecks: (() => void) | undefined;
  if (config.health.enabled) {
    const otlp = [config.metricsExporters, config.tracesExporters, config.logsExporters].some((l) => (l as readonly string[]).includes('otlp'));
    removeBuiltinChecks = registerBuiltinChecks({
      diskPath: config.health.diskPath,
      diskThresholdPercent: config.health.diskThresholdPercent,
      memoryThresholdPercent: config.health.memoryThresholdPercent,
      otlp,
      database: config.instrumentations.includes('sqlite') || config.instrumentations.includes('pg'),
      ...(server !== undefined ? { metrics: { server: server.server, path: config.prometheus.path } } : {}),
    });
    health = startHealthServer(config.health);
  }

  let shuttingDown: Promise<void> | undefined;
  const sdk: CardlinkSdk = {
    config,
    resource,
    meterProvider,
    tracerProvider,
    loggerProvider,
    prometheus,
    metricsPort: server?.listening ?? Promise.resolve(undefined),
    healthPort: health?.listening ?? Promise.resolve(undefined),
    instrumentations,
    tracer: (name = 'cardlink-otel') => tracerProvider.getTracer(name, VERSION),
    meter: () => getCardlinkMeter(),
    async forceFlush() {
      runBeforeCollect();
      await withTimeout(
        Promise.all([tracerProvider.forceFlush(), meterProvider.forceFlush(), loggerProvider?.forceFlush()]).then(() => undefined),
        config.shutdownTimeoutMs,
        'flushing telemetry',
      );
    },
    shutdown() {
      runBeforeCollect();
      shuttingDown ??= (async () => {
        removeExitHooks();
        // Let events already queued run first: an application that closed its servers just before
        // shutting us down has sockets whose 'close' (the end of an OTA session, of a connection)
        // fires on the next turn; it belongs in the final export.
        await new Promise<void>((resolve) => setImmediate(resolve));
        await new Promise<void>((resolve) => setTimeout(resolve, 0));
        unregister?.();
        stopSystem?.();
        removeBuiltinChecks?.();
        await withTimeout(
          Promise.all([
            tracerProvider.shutdown(),
            meterProvider.shutdown(),
            loggerProvider?.shutdown(),
            server?.close(),
            health?.close(),
          ]).then(() => undefined),
          config.shutdownTimeoutMs,
          'shutting down telemetry',
        );
        resetExportStatuses();
      })();
      return shuttingDown;
    },
  };
  if (options.handleSignals !== false) installExitHooks(sdk);
  return sdk;
}

/** Stop telemetry: flush every exporter (bounded by CARDLINK_SHUTDOWN_TIMEOUT_MS) and close our servers. */
export async function shutdown(): Promise<void> {
  const p = running;
  if (p === undefined) return;
  const sdk = await p;
  await sdk.shutdown();
}

// --- exit behaviour -------------------------------------------------------------------------
//
// A listener on SIGTERM/SIGINT replaces Node's default "terminate". So: when the application has
// its own handlers, we only flush and let them decide; when it has none, we flush (bounded) and
// re-raise the signal with our listener removed, so the process ends exactly as it would have
// (killed by that signal). On a natural end of the event loop we flush once from 'beforeExit'.

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;
let exitHooks: { onSignal: (s: NodeJS.Signals) => void; onBeforeExit: () => void } | undefined;

function installExitHooks(sdk: CardlinkSdk): void {
  if (exitHooks !== undefined) return;
  let flushedAtExit = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    const appHandlers = process.listenerCount(signal) - 1 - signalExitListeners();
    const done = sdk.shutdown();
    if (appHandlers > 0) return;
    void done.finally(() => {
      removeExitHooks();
      process.kill(process.pid, signal);
    });
  };
  const onBeforeExit = (): void => {
    if (flushedAtExit) return;
    flushedAtExit = true;
    void sdk.shutdown();
  };
  exitHooks = { onSignal, onBeforeExit };
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('beforeExit', onBeforeExit);
}

/**
 * Listeners installed by the `signal-exit` package (used by many libraries and test runners). They
 * only re-raise a signal when no other listener exists, so they must not count as the application
 * handling it: otherwise both sides wait for the other and SIGTERM would no longer end the process.
 */
function signalExitListeners(): number {
  // v4 keeps its emitter on globalThis under a registered symbol, v3 on process.
  const g = globalThis as unknown as Record<symbol, { count?: unknown } | undefined>;
  const p = process as unknown as Record<string, { count?: unknown } | undefined>;
  let n = 0;
  for (const e of [g[Symbol.for('signal-exit emitter')], p['__signal_exit_emitter__']]) {
    if (e !== undefined && typeof e.count === 'number') n += e.count;
  }
  return n;
}

function removeExitHooks(): void {
  if (exitHooks === undefined) return;
  for (const s of SIGNALS) process.removeListener(s, exitHooks.onSignal);
  process.removeListener('beforeExit', exitHooks.onBeforeExit);
  exitHooks = undefined;
}
