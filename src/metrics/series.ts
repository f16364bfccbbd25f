/**
 * Bounded series bookkeeping shared by FastCounter and FastHistogram: one entry per distinct
 * attribute set, found by the identity of the (usually cached) attribute object first and by value
 * otherwise; past `limit` distinct sets, new ones fold into a single overflow series
 * (`otel.metric.overflow=true`, as the SDK does), so a hostile peer cannot grow memory.
 */
import type { Attributes } from '@opentelemetry/api';

/** Attribute objects remembered by identity (callers building a fresh object per call pay a key build). */
const IDENTITY_CACHE = 4096;
const OVERFLOW_KEY = '\u0002overflow';
export const OVERFLOW_ATTRIBUTES: Attributes = { 'otel.metric.overflow': true };

function keyOf(a: Attributes): string {
  const keys = Object.keys(a).sort();
  let s = '';
  for (const k of keys) s += `${k}\u0000${String(a[k])}\u0001`;
  return s;
}

export class SeriesTable<E> {
  private readonly byRef = new Map<Attributes, E>();
  private readonly byKey = new Map<string, E>();
  // The last two attribute objects seen and their entries: recording alternates between few
  // series (sent / received, one command type after another), and a comparison is cheaper than a
  // Map lookup on a hot path that runs cold between the application's own work.
  private a0: Attributes | undefined;
  private e0: E | undefined;
  private a1: Attributes | undefined;
  private e1: E | undefined;

  constructor(
    private readonly limit: number,
    /** A new entry for these attributes (a copy the caller may keep). */
    private readonly create: (attributes: Attributes) => E,
  ) {}

  get(attributes: Attributes): E {
    if (attributes === this.a0) return this.e0 as E;
    if (attributes === this.a1) return this.e1 as E;
    let e = this.byRef.get(attributes);
    if (e === undefined) {
      e = this.entryFor(attributes);
      if (this.byRef.size < IDENTITY_CACHE) this.byRef.set(attributes, e);
      else return e; // not cached by identity: neither here (a fresh object per call)
    }
    this.a1 = this.a0;
    this.e1 = this.e0;
    this.a0 = attributes;
    this.e0 = e;
    return e;
  }

  private entryFor(attributes: Attributes): E {
    const key = keyOf(attributes);
    let e = this.byKey.get(key);
    if (e !== undefined) return e;
    if (this.byKey.size >= this.limit - 1) {
      e = this.byKey.get(OVERFLOW_KEY);
      if (e === undefined) this.byKey.set(OVERFLOW_KEY, (e = this.create(OVERFLOW_ATTRIBUTES)));
      return e;
    }
    e = this.create({ ...attributes });
    this.byKey.set(key, e);
    return e;
  }

  get size(): number {
    return this.byKey.size;
  }

  values(): IterableIterator<E> {
    return this.byKey.values();
  }
}

/**
 * A bounded cache of attribute objects by one label value (a command name, a device type, a cipher
 * suite), for label sets bounded by design: recording passes the same object every time and
 * builds no key or closure per call. Past `max` distinct values a fresh object is made per call
 * (correct, only not cached), so a misbehaving peer cannot grow it.
 */
export function labelCache(make: (value: string) => Attributes, max = 4096): (value: string) => Attributes {
  const cache = new Map<string, Attributes>();
  return (value) => {
    let a = cache.get(value);
    if (a === undefined) {
      a = make(value);
      if (cache.size < max) cache.set(value, a);
    }
    return a;
  };
}
