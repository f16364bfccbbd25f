/**
 * Counters for hot paths (every APDU, every handshake): the SDK's synchronous counter hashes the
 * attribute object on every `add` (a string built per call). These accumulate in plain numbers
 * instead, keyed by the identity of the (cached) attribute object, and hand the totals to the SDK
 * through an observable instrument at collection time. Prometheus and OTLP see the same counter
 * (cumulative monotonic sum, or non-monotonic for up-down counters).
 *
 * Bounded: at most `limit` distinct attribute sets (series.ts).
 */
import type { Attributes, Counter, Meter, ObservableResult, UpDownCounter } from '@opentelemetry/api';
import { runBeforeCollect } from './before-collect.js';
import { SeriesTable } from './series.js';

interface Entry {
  readonly attributes: Attributes;
  value: number;
}

/** `add(v)` without attributes: the series of `{}` (an `add(v, {})` from elsewhere lands in it too). */
const NO_ATTRIBUTES: Attributes = {};

export class FastCounter implements Counter, UpDownCounter {
  private readonly series: SeriesTable<Entry>;

  constructor(
    private readonly monotonic: boolean,
    limit: number,
    /** A counter without labels reports its one series (0) from the start. */
    labelless = false,
  ) {
    this.series = new SeriesTable(limit, (attributes) => ({ attributes, value: 0 }));
    if (labelless) this.series.get(NO_ATTRIBUTES);
  }

  add(value: number, attributes: Attributes = NO_ATTRIBUTES): void {
    if (typeof value !== 'number' || !Number.isFinite(value) || (this.monotonic && value < 0)) return;
    this.series.get(attributes).value += value;
  }

  /** Report every series (a series seen once keeps being reported, as a synchronous counter would). */
  observe(result: ObservableResult): void {
    runBeforeCollect();
    for (const e of this.series.values()) result.observe(e.value, e.attributes);
  }
}

export function createFastCounter(
  meter: Meter,
  name: string,
  options: { description: string; unit: string },
  monotonic: boolean,
  limit: number,
  labelless: boolean,
): FastCounter {
  const counter = new FastCounter(monotonic, limit, labelless);
  const observable = monotonic ? meter.createObservableCounter(name, options) : meter.createObservableUpDownCounter(name, options);
  observable.addCallback((r) => counter.observe(r));
  return counter;
}
