/**
 * Starting and stopping the SDK: a NodeSDK (getSdk().nodeSdk) owning one MeterProvider (Prometheus
 * pull reader and, when configured, a periodic OTLP reader, together), one TracerProvider with a
 * batch OTLP exporter, an optional LoggerProvider, resource detection and propagators; then the
 * process metrics, the enabled instrumentations and our two listeners.
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
  NoopSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
  type BasicTracerProvider as TracerProvider,
} from '@opentelemetry/sdk-trace-base';
import type { NodeSDK } from '@opentelemetry/sdk-node';
import type { LoggerProvider, LogRecordExporter, LogRecordProcessor } from '@opentelemetry/sdk-logs';
import {
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  serviceInstanceIdDetector,
  type Resource,
  type ResourceDetector,
} from '@opentelemetry/resources';
import { parseConfig, type CardlinkConfig, type Env } from './config.js';
import { loadLayeredEnv } from './cli/config-file.js';
import { parseOtlpHeaders } from './cli/otlp-probe.js';
import { installDiag, printLine, withoutDiag } from './diag.js';
import { exportFailureText, exportOutage, resetExportStatuses, trackExporter } from './export-status.js';
import { registerBuiltinChecks, watchableDiskPath } from './health/builtin-checks.js';
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
import { propagatorOf } from './propagators.js';

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
  /** The NodeSDK that owns the providers below (undefined when telemetry is disabled). */
  readonly nodeSdk: NodeSDK | undefined;
  /** Ours, before NodeSDK merged the detected attributes into it. */
  readonly resource: Resource | undefined;
  readonly meterProvider: MeterProvider | undefined;
  readonly tracerProvider: TracerProvider | undefined;
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

/**
 * The values of the OTLP header variables (the exporters read them from the environment
 * themselves): credentials that no message of ours may print.
 */
function otlpHeaderValues(env: Env): string[] {
  const out: string[] = [];
  for (const signal of ['', 'TRACES_', 'METRICS_', 'LOGS_']) {
    for (const v of Object.values(parseOtlpHeaders(env[`OTEL_EXPORTER_OTLP_${signal}HEADERS`]))) out.push(v);
  }
  return out;
}

async function otlpMetricExporter(c: CardlinkConfig, secrets: readonly string[]): Promise<PushMetricExporter> {
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
  return trackExporter(exporter, 'metrics', url, secrets);
}

async function otlpSpanExporter(c: CardlinkConfig, secrets: readonly string[]): Promise<SpanExporter> {
  const url = c.otlp.traces.endpoint as string;
  const mod =
    c.otlp.traces.protocol === 'grpc'
      ? commonJs(await import('@opentelemetry/exporter-trace-otlp-grpc'))
      : commonJs(await import('@opentelemetry/exporter-trace-otlp-proto'));
  return trackExporter(new mod.OTLPTraceExporter({ url }), 'traces', url, secrets);
}

async function otlpLogExporter(c: CardlinkConfig, secrets: readonly string[]): Promise<LogRecordExporter> {
  const url = c.otlp.logs.endpoint as string;
  const mod =
    c.otlp.logs.protocol === 'grpc'
      ? commonJs(await import('@opentelemetry/exporter-logs-otlp-grpc'))
      : commonJs(await import('@opentelemetry/exporter-logs-otlp-proto'));
  return trackExporter(new mod.OTLPLogExporter({ url }), 'logs', url, secrets);
}

const disabledSdk = (config: CardlinkConfig): CardlinkSdk => ({
  config,
  nodeSdk: undefined,
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
  installDiag(config.diagLogLevel);
  try {
    current = await build(config, options, otlpHeaderValues({ ...process.env, ...env }));
  } catch (err) {
    printLine(`telemetry could not start (${err instanceof Error ? err.message : String(err)}); the application runs without it.`);
    current = disabledSdk(config);
  }
  return current;
}

async function build(config: CardlinkConfig, options: StartOptions, secrets: readonly string[]): Promise<CardlinkSdk> {
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
        exporter: await otlpMetricExporter(config, secrets),
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

  // Traces: batch export, bounded queue (spans beyond it are dropped and counted, never buffered without end).
  const spanProcessors: SpanProcessor[] = [];
  if (config.tracesExporters.includes('otlp')) {
    spanProcessors.push(new BatchSpanProcessor(await otlpSpanExporter(config, secrets), { maxQueueSize: 2048, maxExportBatchSize: 512 }));
  }
  if (config.tracesExporters.includes('console')) spanProcessors.push(new BatchSpanProcessor(new ConsoleSpanExporter()));
  // With nowhere to send spans, do not record them: non-recording spans still carry trace ids
  // (for log correlation and propagation) at a fraction of the cost. NodeSDK registers a
  // TracerProvider only when it has a span processor, hence the no-op one.
  const tracing = spanProcessors.length > 0;
  const sampler = tracing ? buildSampler(config) : new AlwaysOffSampler();
  setTracingEnabled(tracing);

  const logProcessors: LogRecordProcessor[] = [];
  if (config.logsExporters.length > 0) {
    // Loaded only when logs are exported: most labs scrape metrics and never pay for it.
    const sdkLogs = commonJs(await import('@opentelemetry/sdk-logs'));
    if (config.logsExporters.includes('otlp')) logProcessors.push(new sdkLogs.BatchLogRecordProcessor({ exporter: await otlpLogExporter(config, secrets) }));
    if (config.logsExporters.includes('console')) {
      logProcessors.push(new sdkLogs.BatchLogRecordProcessor({ exporter: new sdkLogs.ConsoleLogRecordExporter() }));
    }
  }

  // NodeSDK owns the providers: resource detection (OTEL_NODE_RESOURCE_DETECTORS, over our
  // resource), propagators (OTEL_PROPAGATORS), context manager, span limits and shutdown. Every
  // exporter, reader and processor is ours, so it reads no exporter variable itself; the
  // detectors and the propagator come from our configuration, which includes the config file.
  const { NodeSDK } = commonJs(await import('@opentelemetry/sdk-node'));
  // Without our diag logger while NodeSDK installs its own for OTEL_LOG_LEVEL (src/diag.ts).
  const nodeSdk = withoutDiag(
    () =>
      new NodeSDK({
        resource,
        serviceName: config.serviceName,
        ...resourceDetection(config),
        textMapPropagator: propagatorOf(config.propagators),
        metricReaders: readers,
        views: catalogueViews(),
        spanProcessors: tracing ? spanProcessors : [new NoopSpanProcessor()],
        sampler,
        spanLimits: { attributeValueLengthLimit: config.attributeValueLengthLimit },
        // Always given: without it NodeSDK makes an exporter from OTEL_LOGS_EXPORTER (OTLP by default).
        logRecordProcessors: logProcessors,
      }),
  );
  startNodeSdk(nodeSdk, logProcessors.length === 0);
  const providers = nodeSdkProviders(nodeSdk);
  const meterProvider = providers.meterProvider;
  const tracerProvider = providers.tracerProvider as TracerProvider;
  const loggerProvider = providers.loggerProvider;
  // Before any instrument is made on it: the catalogue's histograms are then the fast ones.
  if (meterProvider !== undefined) {
    fastHistograms.bindProvider(meterProvider);
    otlpHistograms.bindProvider(meterProvider);
  }

  const stopSystem = config.instrumentations.includes('system') ? startSystemMetrics() : undefined;
  getInstruments();

  // Registered here rather than by NodeSDK, which enables instrumentations before it has made the
  // MeterProvider (and our histogram producer is bound to it).
  const instrumentations = [...(await loadInstrumentations(config)), ...(options.instrumentations ?? [])];
  const unregister =
    instrumentations.length > 0
      ? registerInstrumentations({
          instrumentations,
          tracerProvider,
          ...(meterProvider ? { meterProvider } : {}),
          ...(loggerProvider ? { loggerProvider } : {}),
        })
      : undefined;
  if (waitForHooks !== undefined) await waitForHooks();

  let server: MetricsServer | undefined;
  // Misconfigured Basic auth (reported by parseConfig): /metrics is not served rather than served open.
  if (prometheus !== undefined && config.prometheus.auth !== 'misconfigured') {
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
      diskPath: watchableDiskPath(config.health.diskPath),
      diskThresholdPercent: config.health.diskThresholdPercent,
      memoryThresholdPercent: config.health.memoryThresholdPercent,
      fdThresholdPercent: config.health.fdThresholdPercent,
      otlp,
      database: config.instrumentations.includes('sqlite') || config.instrumentations.includes('pg'),
      ...(server !== undefined
        ? { metrics: { server: server.server, path: config.prometheus.path } }
        : prometheus !== undefined
          ? { metrics: { server: undefined, path: config.prometheus.path, notServed: 'CARDLINK_METRICS_USERNAME / CARDLINK_METRICS_PASSWORD are not a valid pair (see the line on stderr)' } }
          : {}),
    });
    health = startHealthServer({ ...config.health, credentials: config.prometheus });
  }

  let shuttingDown: Promise<void> | undefined;
  const sdk: CardlinkSdk = {
    config,
    nodeSdk,
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
        Promise.all([tracerProvider.forceFlush(), meterProvider?.forceFlush(), loggerProvider?.forceFlush()]).then(() => undefined),
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
            nodeSdk.shutdown().catch((err: unknown) => {
              // An exporter in an outage was reported once already, its data said to be dropped.
              if (!exportOutage()) throw new Error(exportFailureText(err instanceof Error ? err.message : String(err)));
            }),
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

const DETECTORS = { env: envDetector, host: hostDetector, os: osDetector, process: processDetector, serviceinstance: serviceInstanceIdDetector };

/** NodeSDK's detection options for OTEL_NODE_RESOURCE_DETECTORS (from the config, so the config file counts too). */
function resourceDetection(config: CardlinkConfig): { autoDetectResources: boolean; resourceDetectors?: ResourceDetector[] } {
  const names = config.resourceDetectors;
  if (names === undefined || names.length === 0 || names.includes('none')) return { autoDetectResources: false };
  const all = names.includes('all');
  const user = new Set(Object.keys(config.resourceAttributes));
  const resourceDetectors = Object.entries(DETECTORS).flatMap(([name, d]) =>
    all || (names as string[]).includes(name) ? [user.size > 0 ? leavingUserAttributes(d, user) : d] : [],
  );
  return { autoDetectResources: true, resourceDetectors };
}

/**
 * NodeSDK merges what detectors find over our resource: an attribute the user set
 * (OTEL_RESOURCE_ATTRIBUTES, e.g. `service.instance.id=lab-a`) is left out of their findings so it wins.
 */
function leavingUserAttributes(d: ResourceDetector, user: ReadonlySet<string>): ResourceDetector {
  return {
    detect(options) {
      const found = d.detect(options);
      const attributes = found.attributes;
      if (attributes === undefined) return found;
      return { ...found, attributes: Object.fromEntries(Object.entries(attributes).filter(([k]) => !user.has(k))) };
    },
  };
}

/**
 * NodeSDK.start(); without a log exporter, the LoggerProvider it registers has no processor and is
 * unregistered again, so log lines do not build records for nobody.
 */
function startNodeSdk(nodeSdk: NodeSDK, noLogs: boolean): void {
  nodeSdk.start();
  if (noLogs) logs.disable();
}

/** NodeSDK keeps its providers in fields without getters. */
function nodeSdkProviders(nodeSdk: NodeSDK): {
  meterProvider: MeterProvider | undefined;
  tracerProvider: TracerProvider | undefined;
  loggerProvider: LoggerProvider | undefined;
} {
  const f = nodeSdk as unknown as { _meterProvider?: MeterProvider; _tracerProvider?: TracerProvider; _loggerProvider?: LoggerProvider };
  return { meterProvider: f._meterProvider, tracerProvider: f._tracerProvider, loggerProvider: f._loggerProvider };
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
