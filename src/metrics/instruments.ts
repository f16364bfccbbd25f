/**
 * The CardLink instruments, created from the catalogue on one meter per MeterProvider.
 *
 * Every instrumentation records through these shared objects rather than creating instruments on its
 * own meter: the same metric fed from two places (APDUs from TLS and from a modem) must stay one
 * series family on /metrics, which needs one instrumentation scope (`cardlink-otel`).
 */
import {
  metrics,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  type ObservableCounter,
  type ObservableGauge,
  type UpDownCounter,
} from '@opentelemetry/api';
import { METER_NAME, METRICS, type InstrumentKind } from './catalogue.js';
import { createFastCounter } from './fast-counter.js';
import { createFastHistogram, hasFastHistogramProducer } from './fast-histogram.js';
import { VERSION } from '../version.js';

type InstrumentOf<K extends InstrumentKind> = K extends 'counter'
  ? Counter
  : K extends 'histogram'
    ? Histogram
    : K extends 'updowncounter'
      ? UpDownCounter
      : K extends 'observable_counter'
        ? ObservableCounter
        : ObservableGauge;

export type CardlinkInstruments = {
  readonly [M in (typeof METRICS)[number] as M['key']]: InstrumentOf<M['kind']>;
};

export function createInstruments(meter: Meter): CardlinkInstruments {
  const out: Record<string, unknown> = {};
  for (const m of METRICS) {
    const opts = { description: m.description, unit: m.unit };
    switch (m.kind) {
      // Counters are fed on hot paths: accumulated without per-call attribute hashing (fast-counter.ts).
      case 'counter':
        out[m.key] = createFastCounter(meter, m.name, opts, true, m.cardinalityLimit, (m.labels as readonly string[]).length === 0);
        break;
      case 'updowncounter':
        out[m.key] = createFastCounter(meter, m.name, opts, false, m.cardinalityLimit, (m.labels as readonly string[]).length === 0);
        break;
      // Histograms too, when a reader of this meter's provider takes them from our MetricProducer
      // (fast-histogram.ts); on a provider we did not build, the SDK's histogram with the buckets as advice.
      case 'histogram': {
        const buckets = 'buckets' in m ? m.buckets : [];
        out[m.key] = hasFastHistogramProducer(meter)
          ? createFastHistogram(meter, m.name, opts, buckets, m.cardinalityLimit)
          : meter.createHistogram(m.name, { ...opts, advice: { explicitBucketBoundaries: [...buckets] } });
        break;
      }
      case 'observable_counter':
        out[m.key] = meter.createObservableCounter(m.name, opts);
        break;
      case 'observable_gauge':
        out[m.key] = meter.createObservableGauge(m.name, opts);
        break;
    }
  }
  return out as CardlinkInstruments;
}

/** One set of instruments per MeterProvider: register's, a user's NodeSDK's, a test's. */
const byProvider = new WeakMap<MeterProvider, { meter: Meter; instruments: CardlinkInstruments }>();

function setOf(provider: MeterProvider): { meter: Meter; instruments: CardlinkInstruments } {
  let s = byProvider.get(provider);
  if (s === undefined) {
    const meter = provider.getMeter(METER_NAME, VERSION);
    s = { meter, instruments: createInstruments(meter) };
    byProvider.set(provider, s);
  }
  return s;
}

/**
 * The instruments on `provider` (made once per provider, on its `cardlink-otel` meter). What an
 * instrumentation's `_updateMetricInstruments()` uses with the provider it was given.
 */
export function instrumentsFor(provider: MeterProvider): CardlinkInstruments {
  return setOf(provider).instruments;
}

/** The one meter (scope `cardlink-otel`) of `provider`, by default the global one. */
export function getCardlinkMeter(provider: MeterProvider = metrics.getMeterProvider()): Meter {
  return setOf(provider).meter;
}

let lastProvider: MeterProvider | undefined;
let last: CardlinkInstruments | undefined;

/**
 * The instruments on the current global MeterProvider, for the API's recorders. Cheap to call (a
 * pointer comparison when the provider has not changed).
 */
export function getInstruments(): CardlinkInstruments {
  const provider = metrics.getMeterProvider();
  if (last === undefined || provider !== lastProvider) {
    lastProvider = provider;
    last = instrumentsFor(provider);
  }
  return last;
}
