import t from 'tap';
import { MeterProvider, MetricReader, AggregationTemporality, type HistogramMetricData, type MetricProducer, type SumMetricData } from '@opentelemetry/sdk-metrics';
import { createFastCounter } from '../src/metrics/fast-counter.js';
import { createFastHistogram, FastHistogramProducer } from '../src/metrics/fast-histogram.js';
import { onBeforeCollect, runBeforeCollect } from '../src/metrics/before-collect.js';

class Reader extends MetricReader {
  constructor(metricProducers: MetricProducer[] = []) {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE, metricProducers });
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
  g.add(2, {}); // no attributes given or an empty object: the same series
  t.same((await points(reader, 'g')).points, [[{}, 3]]);
});

t.test('alternating and rotating attribute objects (the recent-series shortcut) land in their own series', async (t) => {
  const reader = new Reader();
  const meter = new MeterProvider({ readers: [reader] }).getMeter('m');
  const c = createFastCounter(meter, 'c', { description: '', unit: '' }, true, 10, false);
  const sent = { direction: 'sent' };
  const received = { direction: 'received' };
  const other = { direction: 'other' };
  const expected = new Map<object, number>([
    [sent, 0],
    [received, 0],
    [other, 0],
  ]);
  // Alternating pairs, then a rotation through three (each evicting the oldest of the two remembered).
  const order = [sent, received, sent, received, sent, received, other, sent, received, other, sent, other, other, received];
  order.forEach((a, i) => {
    c.add(i + 1, a);
    expected.set(a, expected.get(a)! + i + 1);
  });
  t.same(
    (await points(reader, 'c')).points,
    [sent, received, other].map((a) => [a, expected.get(a)]),
  );
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

t.test('before-collect hooks run before counters and fast histograms are read; a throwing hook stops nothing', async (t) => {
  // Separate meters: each collection path must flush by itself (with both on one meter, the
  // counters' callbacks run first and would flush for the histograms).
  const counterReader = new Reader();
  const c = createFastCounter(new MeterProvider({ readers: [counterReader] }).getMeter('m'), 'batched', { description: '', unit: '' }, true, 10, false);
  const producer = new FastHistogramProducer();
  const histogramReader = new Reader([producer]);
  const meter = new MeterProvider({ readers: [histogramReader] }).getMeter('cardlink-otel');
  producer.bind(meter);
  const h = createFastHistogram(meter, 'batched.duration', { description: '', unit: 's' }, [1], 10);
  // A batching recorder: events wait in a journal until something flushes it.
  let pending = 0;
  onBeforeCollect(() => {
    throw new Error('a broken hook');
  });
  onBeforeCollect(() => {
    for (; pending > 0; pending--) {
      c.add(1, { k: 'x' });
      h.record(0.5, { k: 'x' });
    }
  });

  pending = 3;
  t.same((await points(counterReader, 'batched')).points, [[{ k: 'x' }, 3]], 'counter: flushed before it is read');
  pending = 2;
  const r = await histogramReader.collect();
  const hist = r.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'batched.duration') as HistogramMetricData | undefined;
  t.same(hist?.dataPoints.map((p) => p.value.count), [5], 'histogram: flushed before it is read');
});

t.test('before-collect: every record flush runs before any hand-over flush, whatever the order they were registered in', async (t) => {
  const ran: string[] = [];
  let held = 0;
  let handedOver = 0;
  // Registered first, as a module imported first would: hands over what is held.
  onBeforeCollect(() => {
    ran.push('hand-over');
    handedOver += held;
    held = 0;
  }, 'hand-over');
  // A batch that, when recorded, adds to what is held.
  onBeforeCollect(() => {
    ran.push('record');
    held += 2;
  });
  runBeforeCollect();
  t.same(ran.slice(-2), ['record', 'hand-over']);
  t.equal(handedOver, 2, 'what the batch added is handed over in the same collection');
});
