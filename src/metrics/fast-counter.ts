/**
 * Counters for hot paths (every APDU, every handshake): the SDK's synchronous counter hashes the
 * attribute object on every `add` (a string built per call). These accumulate in plain numbers
 * instead, keyed by the identity of the (cached) attribute object, and hand the totals to the SDK
 * through an observable instrument at collection time. Prometheus and OTLP see the same counter
 * (cumulative monotonic sum, or non-monotonic for up-down counters).
 *
 * Bounded: at most `limit` distinct attribute sets; further ones are folded into one overflow
 * series (`otel.metric.overflow=true`, as the SDK does), and at most IDENTITY_CACHE objects are
 * remembered by identity (callers that build a fresh object per call pay one key build per call).
 */
import type { Attributes, Counter, Meter, ObservableResult, UpDownCounter } from '@opentelemetry/api';

const IDENTITY_CACHE = 4096;
const OVERFLOW: Attributes = { 'otel.metric.overflow': true };

interface Entry {
  readonly attributes: Attributes;
  value: number;
}

function keyOf(a: Attributes): string {
  const keys = Object.keys(a).sort();
  let s = '';
  for (const k of keys) s += `${k}\u0000${String(a[k])}\u0001`;
  return s;
}

export class FastCounter implements Counter, UpDownCounter {
  private readonly byRef = new Map<Attributes, Entry>();
  private readonly byKey = new Map<string, Entry>();
  private readonly empty: Entry = { attributes: {}, value: 0 };
  private emptyUsed: boolean;

  constructor(
    private readonly monotonic: boolean,
    private readonly limit: number,
    /** A counter without labels reports its one series (0) from the start. */
    labelless = false,
  ) {
    this.emptyUsed = labelless;
  }

  add(value: number, attributes?: Attributes): void {
    if (typeof value !== 'number' || !Number.isFinite(value) || (this.monotonic && value < 0)) return;
    if (attributes === undefined) {
      this.empty.value += value;
      this.emptyUsed = true;
      return;
    }
    let e = this.byRef.get(attributes);
    if (e === undefined) {
      e = this.entryFor(attributes);
      if (this.byRef.size < IDENTITY_CACHE) this.byRef.set(attributes, e);
    }
    e.value += value;
  }

  private entryFor(attributes: Attributes): Entry {
    const key = keyOf(attributes);
    let e = this.byKey.get(key);
    if (e !== undefined) return e;
    if (this.byKey.size >= this.limit - 1) {
      e = this.byKey.get('\u0002overflow');
      if (e === undefined) this.byKey.set('\u0002overflow', (e = { attributes: OVERFLOW, value: 0 }));
      return e;
    }
    e = { attributes: { ...attributes }, value: 0 };
    this.byKey.set(key, e);
    return e;
  }

  /** Report every series (a series seen once keeps being reported, as a synchronous counter would). */
  observe(result: ObservableResult): void {
    if (this.emptyUsed) result.observe(this.empty.value);
    for (const e of this.byKey.values()) result.observe(e.value, e.attributes);
  }

  /** Drop everything (tests, and a provider change). */
  reset(): void {
    this.byRef.clear();
    this.byKey.clear();
    this.empty.value = 0;
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
