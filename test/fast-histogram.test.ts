import t from 'tap';
import { MeterProvider, MetricReader, AggregationTemporality, type HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { createFastHistogram, FastHistogramProducer } from '../src/metrics/fast-histogram.js';
import { mergeScopes } from '../src/metrics/merge-scopes.js';

class Reader extends MetricReader {
  constructor(p: FastHistogramProducer) {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE, metricProducers: [p] });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

async function setup(limit = 10) {
  const producer = new FastHistogramProducer();
  const reader = new Reader(producer);
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('cardlink-otel');
  producer.bind(meter);
  const h = createFastHistogram(meter, 'h', { description: 'd', unit: 's' }, [0.01, 0.1, 1], limit);
  const collect = async () => {
    const r = await reader.collect();
    return mergeScopes(r.resourceMetrics).scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'h') as
      | HistogramMetricData
      | undefined;
  };
  return { h, collect };
}

t.test('explicit buckets (upper bounds inclusive), sum, count, min, max, cumulative', async (t) => {
  const { h, collect } = await setup();
  const a = { command_type: 'SELECT' };
  for (const v of [0.005, 0.01, 0.05, 0.5, 5]) h.record(v, a);
  h.record(-1, a); // invalid: ignored, as the SDK does
  h.record(Number.NaN, a);
  const p = (await collect())?.dataPoints[0];
  t.same(p?.attributes, a);
  t.same(p?.value.buckets, { boundaries: [0.01, 0.1, 1], counts: [2, 1, 1, 1] });
  t.equal(p?.value.count, 5);
  t.ok(Math.abs((p?.value.sum ?? 0) - 5.565) < 1e-12);
  t.equal(p?.value.min, 0.005);
  t.equal(p?.value.max, 5);
  h.record(0.2, { command_type: 'SELECT' }); // another object, same labels: same series
  t.equal((await collect())?.dataPoints[0]?.value.count, 6, 'cumulative, keyed by value');
});

t.test('nothing recorded: no metric from the producer', async (t) => {
  const { collect } = await setup();
  t.equal(await collect(), undefined);
});

t.test('bounded: series past the limit fold into one overflow series, nothing lost', async (t) => {
  const { h, collect } = await setup(4);
  for (let i = 0; i < 1000; i++) h.record(0.001, { k: String(i) });
  const points = (await collect())?.dataPoints ?? [];
  t.equal(points.length, 4);
  t.same(points[3]?.attributes, { 'otel.metric.overflow': true });
  t.equal(points.reduce((n, p) => n + p.value.count, 0), 1000);
});
