/**
 * OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE for the OTLP metrics reader, applied to every
 * catalogue metric. The catalogue's counters are observable instruments under the hood
 * (fast-counter.ts) and its histograms come from a MetricProducer (fast-histogram.ts), so the
 * SDK's own selectors, which go by instrument type, would leave them cumulative under `lowmemory`
 * (and the histograms under every preference): here they follow what the catalogue says they are.
 */
import { AggregationTemporality, InstrumentType, type AggregationTemporalitySelector } from '@opentelemetry/sdk-metrics';
import type { TemporalityPreference } from '../config.js';

/**
 * cumulative: everything cumulative. delta and lowmemory: counters and histograms delta, up-down
 * counters and gauges cumulative (a gauge's temporality means nothing; an up-down counter's delta
 * would lose its level). lowmemory differs from delta in the spec only for asynchronous counters,
 * and every catalogue counter is one, so the two agree here.
 */
export function temporalitySelector(preference: TemporalityPreference): AggregationTemporalitySelector {
  if (preference === 'cumulative') return () => AggregationTemporality.CUMULATIVE;
  return (type) =>
    type === InstrumentType.COUNTER || type === InstrumentType.OBSERVABLE_COUNTER || type === InstrumentType.HISTOGRAM
      ? AggregationTemporality.DELTA
      : AggregationTemporality.CUMULATIVE;
}

/** The temporality the fast histograms are handed to a reader with. */
export function histogramTemporality(preference: TemporalityPreference): AggregationTemporality {
  return temporalitySelector(preference)(InstrumentType.HISTOGRAM);
}
