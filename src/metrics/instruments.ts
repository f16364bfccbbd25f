/**
 * The CardLink instruments, created from the catalogue on one meter.
 *
 * Every instrumentation records through these shared objects rather than creating instruments on its
 * own meter: the same metric fed from two places (APDUs from TLS and from a modem) must stay one
 * series family on /metrics, which needs one instrumentation scope.
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
import { createFastHistogram } from './fast-histogram.js';
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
      // Histograms too: bucket counts kept in plain arrays, handed over by a MetricProducer (fast-histogram.ts).
      case 'histogram':
        out[m.key] = createFastHistogram(meter, m.name, opts, 'buckets' in m ? m.buckets : [], m.cardinalityLimit);
        break;
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

let cachedProvider: MeterProvider | undefined;
let cached: CardlinkInstruments | undefined;
let cachedMeter: Meter | undefined;

/** The one meter (scope `cardlink-otel`) of the current global MeterProvider. */
export function getCardlinkMeter(): Meter {
  getInstruments();
  return cachedMeter as Meter;
}

/**
 * The instruments on the current global MeterProvider. Cheap to call (a pointer comparison); call it
 * again when the provider may have changed (an instrumentation's `_updateMetricInstruments()`).
 */
export function getInstruments(): CardlinkInstruments {
  const provider = metrics.getMeterProvider();
  if (cached === undefined || provider !== cachedProvider) {
    cachedProvider = provider;
    cachedMeter = provider.getMeter(METER_NAME, VERSION);
    cached = createInstruments(cachedMeter);
  }
  return cached;
}
