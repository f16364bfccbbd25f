/**
 * In-process OpenTelemetry for instrumentation tests: the real SDK (a MeterProvider with the
 * catalogue views and an on-demand reader, a tracer provider with an in-memory span exporter),
 * installed as the global providers. One per test process.
 */
import { context, metrics, trace, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { registerInstrumentations, type Instrumentation } from '@opentelemetry/instrumentation';
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  MetricReader,
  type HistogramMetricData,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { logs } from '@opentelemetry/api-logs';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { resetLogging } from '../../src/logging/index.js';
import { catalogueViews } from '../../src/metrics/views.js';
import { FastHistogramProducer } from '../../src/metrics/fast-histogram.js';
import { mergeScopes } from '../../src/metrics/merge-scopes.js';
import { METRICS } from '../../src/metrics/catalogue.js';
import { OTHER_SPAN_TABLES, SPAN_TABLES } from '../../src/span-tables.js';
import { instrumentationScopeName } from '../../src/config.js';
import { spanShapeErrors } from '../../instrumentations/shared/span-catalogue.js';

/** The span tables by scope name (`cardlink-otel/tls` ...). */
const TABLES = new Map([
  ...SPAN_TABLES.map((t) => [instrumentationScopeName(t.instrumentation), t.spans] as const),
  ...OTHER_SPAN_TABLES.filter((t) => t.everySpan).map((t) => [t.scope, t.spans] as const),
]);

/**
 * Checks every span an instrumentation of ours ends against its span table (instrumentations/<x>/spans.ts,
 * docs/spans.md): the harness's shutdown fails on a span name, kind, attribute, event or link the
 * table does not list.
 */
/** The API's spans with a fixed shape (`sessionSpan`, `apduSpan` / `recordApdu`, `monitor`); withSpan's are the caller's. */
const API_TABLE = OTHER_SPAN_TABLES.find((t) => t.scope === 'cardlink-otel/api')?.spans;
const hasFixedShape = (span: ReadableSpan): boolean =>
  span.name === 'ota.session' || span.name.startsWith('apdu.') || span.attributes['cardlink.operation'] !== undefined;

class SpanShapeCheck implements SpanProcessor {
  readonly errors = new Set<string>();
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    const scope = span.instrumentationScope.name;
    const table = TABLES.get(scope) ?? (scope === 'cardlink-otel/api' && hasFixedShape(span) ? API_TABLE : undefined);
    if (table === undefined) return;
    for (const e of spanShapeErrors(span, table)) this.errors.add(`${span.instrumentationScope.name}: ${e}`);
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

class OnDemandReader extends MetricReader {
  constructor(producer: FastHistogramProducer) {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE, metricProducers: [producer] });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

export interface Harness {
  readonly spans: InMemorySpanExporter;
  collect(): Promise<MetricData[]>;
  /** Sum of a counter / up-down counter (by Prometheus or OTel name) over points matching `attrs`. */
  value(name: string, attrs?: Attributes): Promise<number>;
  /** Histogram count and sum over points matching `attrs`. */
  histogram(name: string, attrs?: Attributes): Promise<{ count: number; sum: number; buckets: number[] }>;
  finished(): ReadableSpan[];
  shutdown(): Promise<void>;
}

function otelName(name: string): string {
  return METRICS.find((m) => m.prometheusName === name)?.name ?? name;
}

function matches(point: Attributes, want: Attributes | undefined): boolean {
  if (want === undefined) return true;
  return Object.entries(want).every(([k, v]) => point[k] === v);
}

export function setupHarness(instrumentations: Instrumentation[]): Harness {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const spans = new InMemorySpanExporter();
  const shapes = new SpanShapeCheck();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [shapes, new SimpleSpanProcessor(spans)] });
  trace.setGlobalTracerProvider(tracerProvider);
  const producer = new FastHistogramProducer();
  const reader = new OnDemandReader(producer);
  const meterProvider = new MeterProvider({ views: catalogueViews(), readers: [reader] });
  producer.bindProvider(meterProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  const unregister = registerInstrumentations({ instrumentations, tracerProvider, meterProvider });

  const collect = async (): Promise<MetricData[]> => {
    const r = await reader.collect();
    return mergeScopes(r.resourceMetrics).scopeMetrics.flatMap((s) => s.metrics);
  };
  const find = async (name: string): Promise<MetricData | undefined> => (await collect()).find((m) => m.descriptor.name === otelName(name));
  return {
    spans,
    collect,
    async value(name, attrs) {
      const m = await find(name);
      if (m === undefined || m.dataPointType === DataPointType.HISTOGRAM) return 0;
      return (m.dataPoints as Array<{ attributes: Attributes; value: number }>)
        .filter((p) => matches(p.attributes, attrs))
        .reduce((s, p) => s + p.value, 0);
    },
    async histogram(name, attrs) {
      const m = (await find(name)) as HistogramMetricData | undefined;
      const out = { count: 0, sum: 0, buckets: [] as number[] };
      for (const p of m?.dataPoints ?? []) {
        if (!matches(p.attributes, attrs)) continue;
        out.count += p.value.count;
        out.sum += p.value.sum ?? 0;
        p.value.buckets.counts.forEach((c, i) => (out.buckets[i] = (out.buckets[i] ?? 0) + c));
      }
      return out;
    },
    finished: () => spans.getFinishedSpans(),
    async shutdown() {
      unregister();
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
      if (shapes.errors.size > 0) {
        throw new Error(`spans that their table does not describe (add them to the instrumentation's spans.ts, then npm run gen):\n${[...shapes.errors].join('\n')}`);
      }
    },
  };
}

/** Poll `fn` until it returns true (bounded), for events that land a tick after the app sees them. */
export async function eventually(fn: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * OTel log records in memory (a global LoggerProvider), for tests of the logger's OTLP bridge; at
 * teardown the logging settings are reset and the log and harness providers shut down.
 */
export function setupLogRecords(t: { teardown(fn: () => unknown): void }, h: Harness): InMemoryLogRecordExporter {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] });
  logs.setGlobalLoggerProvider(provider);
  t.teardown(async () => {
    resetLogging();
    await provider.shutdown();
    await h.shutdown();
  });
  return exporter;
}
