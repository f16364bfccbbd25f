import { AggregationType, type ViewOptions } from '@opentelemetry/sdk-metrics';
import { METER_NAME, METRICS } from './catalogue.js';

/** Bucket boundaries and cardinality limits of the catalogue as SDK views (they apply to every reader). */
export function catalogueViews(): ViewOptions[] {
  return METRICS.map((m): ViewOptions => {
    const view: ViewOptions = {
      instrumentName: m.name,
      meterName: METER_NAME,
      aggregationCardinalityLimit: m.cardinalityLimit,
    };
    if ('buckets' in m) {
      view.aggregation = { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: [...m.buckets] } };
    }
    return view;
  });
}
