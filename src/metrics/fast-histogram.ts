/**
 * Histograms for hot paths (every APDU, every query, every AT command). The SDK's synchronous
 * histogram hashes the attribute object and reads the clock on every record; these keep bucket
 * counts in plain arrays keyed by the identity of the (cached) attribute object, and hand cumulative
 * histogram points to every reader through a MetricProducer at collection time. Prometheus and OTLP
 * see the same explicit-bucket histogram: cumulative, or delta for an OTLP reader that prefers it
 * (each producer then keeps what it last reported, so readers never disturb one another).
 *
 * Bounded like FastCounter (series.ts): at most `limit` attribute sets, then one overflow series.
 */
import { runBeforeCollect } from './before-collect.js';
import { ValueType, type Attributes, type HrTime, type Histogram, type Meter } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type HistogramMetricData,
  type MetricCollectOptions,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import { METER_NAME } from './catalogue.js';
import { SeriesTable } from './series.js';
import { VERSION } from '../version.js';


interface Entry {
  readonly attributes: Attributes;
  readonly counts: Float64Array;
  sum: number;
  count: number;
  min: number;
  max: number;
}

export class FastHistogram implements Histogram {
  private readonly series: SeriesTable<Entry>;
  private readonly boundaries: readonly number[];
  private readonly startTime = hrTime();

  constructor(
    readonly name: string,
    readonly description: string,
    readonly unit: string,
    boundaries: readonly number[],
    limit: number,
  ) {
    this.boundaries = [...boundaries];
    const buckets = boundaries.length + 1;
    this.series = new SeriesTable(limit, (attributes) => ({
      attributes,
      counts: new Float64Array(buckets),
      sum: 0,
      count: 0,
      min: Infinity,
      max: -Infinity,
    }));
  }

  record(value: number, attributes: Attributes = EMPTY): void {
    if (typeof value !== 'number' || !(value >= 0) || value === Infinity) return;
    const e = this.series.get(attributes);
    // Buckets are few (<= 11): a linear scan beats a binary search here. Upper bounds inclusive.
    const b = this.boundaries;
    let i = 0;
    while (i < b.length && value > (b[i] as number)) i++;
    (e.counts[i] as number)++;
    e.sum += value;
    e.count++;
    if (value < e.min) e.min = value;
    if (value > e.max) e.max = value;
  }

  /** Cumulative points of every series seen (none: the SDK side announces the empty family). */
  collect(): HistogramMetricData | undefined {
    if (this.series.size === 0) return undefined;
    const endTime = hrTime();
    return {
      descriptor: { name: this.name, description: this.description, unit: this.unit, valueType: ValueType.DOUBLE },
      dataPointType: DataPointType.HISTOGRAM,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPoints: [...this.series.values()].map((e) => ({
        attributes: e.attributes,
        startTime: this.startTime,
        endTime,
        value: {
          buckets: { boundaries: [...this.boundaries], counts: Array.from(e.counts) },
          sum: e.sum,
          count: e.count,
          min: e.min,
          max: e.max,
        },
      })),
    };
  }
}

const EMPTY: Attributes = {};

/** What one delta producer last reported for one series. */
interface Reported {
  counts: number[];
  sum: number;
  count: number;
  time: HrTime;
}

/**
 * Delta points from cumulative ones: the change since `last` (per series, keyed by the series'
 * attribute object, which the histogram keeps for the series' life). Every series is reported at
 * every collection, zero changes included, so each point starts where the previous one ended:
 * backends that turn delta back into cumulative (the Collector's prometheus exporter) treat a gap
 * as a restart. min/max are absent: they are known for the whole life of a series, not for one
 * interval.
 */
function toDelta(m: HistogramMetricData, last: Map<Attributes, Reported>): HistogramMetricData | undefined {
  const dataPoints: HistogramMetricData['dataPoints'] = [];
  for (const p of m.dataPoints) {
    const prev = last.get(p.attributes);
    const counts = p.value.buckets.counts;
    last.set(p.attributes, { counts, sum: p.value.sum ?? 0, count: p.value.count, time: p.endTime });
    const count = p.value.count - (prev?.count ?? 0);
    dataPoints.push({
      attributes: p.attributes,
      startTime: prev?.time ?? p.startTime,
      endTime: p.endTime,
      value: {
        buckets: { boundaries: p.value.buckets.boundaries, counts: counts.map((c, i) => c - (prev?.counts[i] ?? 0)) },
        sum: (p.value.sum ?? 0) - (prev?.sum ?? 0),
        count,
      },
    });
  }
  return dataPoints.length === 0 ? undefined : { ...m, aggregationTemporality: AggregationTemporality.DELTA, dataPoints };
}

/** Histograms created per meter (the catalogue creates one set per MeterProvider). */
const byMeter = new WeakMap<Meter, FastHistogram[]>();

export function createFastHistogram(
  meter: Meter,
  name: string,
  options: { description: string; unit: string },
  boundaries: readonly number[],
  limit: number,
): FastHistogram {
  const h = new FastHistogram(name, options.description, options.unit, boundaries, limit);
  let list = byMeter.get(meter);
  if (list === undefined) byMeter.set(meter, (list = []));
  list.push(h);
  return h;
}

/** Meters whose provider has a reader fed by a FastHistogramProducer. */
const produced = new WeakSet<Meter>();

/**
 * Whether histograms made on `meter` can be fast ones: a reader that never asks our producer (a
 * user's own MeterProvider) would never see them.
 */
export function hasFastHistogramProducer(meter: Meter): boolean {
  return produced.has(meter);
}

/**
 * Hands the fast histograms of one meter to a MetricReader. Give it to every reader of a
 * MeterProvider (`metricProducers`), then `bind` it to that provider's CardLink meter.
 */
export class FastHistogramProducer implements MetricProducer {
  private meter: Meter | undefined;
  /** Delta only: what this producer last reported, per histogram. */
  private readonly reported = new WeakMap<FastHistogram, Map<Attributes, Reported>>();

  constructor(private readonly temporality: AggregationTemporality = AggregationTemporality.CUMULATIVE) {}

  /** Before the meter's instruments are made: only then are its histograms fast ones. */
  bind(meter: Meter): void {
    this.meter = meter;
    produced.add(meter);
  }

  /** Binds to the CardLink meter of `provider` (the one `instrumentsFor(provider)` uses). */
  bindProvider(provider: { getMeter(name: string, version?: string): Meter }): void {
    this.bind(provider.getMeter(METER_NAME, VERSION));
  }

  async collect(_options?: MetricCollectOptions): Promise<CollectionResult> {
    runBeforeCollect();
    const list = this.meter ? byMeter.get(this.meter) : undefined;
    const metrics: HistogramMetricData[] = [];
    for (const h of list ?? []) {
      let m = h.collect();
      if (m !== undefined && this.temporality === AggregationTemporality.DELTA) {
        let last = this.reported.get(h);
        if (last === undefined) this.reported.set(h, (last = new Map()));
        m = toDelta(m, last);
      }
      if (m !== undefined) metrics.push(m);
    }
    return {
      // The reader keeps the SDK's resource; only the scope metrics are merged in.
      resourceMetrics: { resource: undefined as never, scopeMetrics: metrics.length ? [{ scope: { name: METER_NAME, version: VERSION }, metrics }] : [] },
      errors: [],
    };
  }
}
