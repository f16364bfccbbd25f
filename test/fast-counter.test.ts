import t from 'tap';
import { MeterProvider, MetricReader, AggregationTemporality, type SumMetricData } from '@opentelemetry/sdk-metrics';
import { createFastCounter } from '../src/metrics/fast-counter.js';

class Reader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

async function points(reader: Reader, name: string) {
  const r = await reader.collect();
  const m = r.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((x) => x.descriptor.name === name) as SumMetricData | undefined;
  return { monotonic: m?.isMonotonic, points: (m?.dataPoints ?? []).map((p) => [p.attributes, p.value]) };
}

t.test('accumulates by attribute identity and by value, reports cumulative sums', async (t) => {
  const reader = new Reader();
  const meter = new MeterProvider({ readers: [reader] }).getMeter('m');
  const c = createFastCounter(meter, 'c', { description: '', unit: '' }, true, 10, false);
  const a = { k: 'x' };
  c.add(1, a);
  c.add(2, a);
  c.add(4, { k: 'x' }); // a different object with the same value: the same series
  c.add(1, { k: 'y' });
  c.add(-5, a); // a monotonic counter ignores negative values, as the SDK does
  c.add(Number.NaN, a);
  t.same(await points(reader, 'c'), { monotonic: true, points: [[{ k: 'x' }, 7], [{ k: 'y' }, 1]] });
  c.add(1, a);
  t.same((await points(reader, 'c')).points[0], [{ k: 'x' }, 8], 'cumulative across collections');
});

t.test('up-down counters go both ways; a label-less one reports 0 from the start', async (t) => {
  const reader = new Reader();
  const meter = new MeterProvider({ readers: [reader] }).getMeter('m');
  const g = createFastCounter(meter, 'g', { description: '', unit: '' }, false, 10, true);
  t.same(await points(reader, 'g'), { monotonic: false, points: [[{}, 0]] });
  g.add(3);
  g.add(-2);
  t.same((await points(reader, 'g')).points, [[{}, 1]]);
});

t.test('bounded: distinct attribute sets past the limit fold into one overflow series', async (t) => {
  const reader = new Reader();
  const meter = new MeterProvider({ readers: [reader] }).getMeter('m');
  const c = createFastCounter(meter, 'c', { description: '', unit: '' }, true, 5, false);
  for (let i = 0; i < 10_000; i++) c.add(1, { sw: i.toString(16) });
  const { points: p } = await points(reader, 'c');
  t.equal(p.length, 5);
  t.same(p[4], [{ 'otel.metric.overflow': true }, 10_000 - 4]);
  t.equal(p.reduce((s, x) => s + (x[1] as number), 0), 10_000, 'nothing lost');
});
