/** docs/metrics.md, generated from the catalogue (a test fails when the committed file drifts). */
import { METRICS, type MetricDefinition } from '../metrics/catalogue.js';

function labels(m: MetricDefinition): string {
  if (m.labels.length === 0) return '';
  return m.labels
    .map((l) => {
      const domain = m.labelValues?.[l];
      return domain ? `${l} (${domain.join(', ')})` : l;
    })
    .join(', ');
}

export function renderMetricsDoc(): string {
  const rows = METRICS.map(
    (m) =>
      `| \`${m.prometheusName}\` | ${m.prometheusType} | ${labels(m)} | \`${m.name}\` (${m.unit}) | ${
        'buckets' in m ? m.buckets.join(' ') : ''
      } | ${m.cardinalityLimit} | ${m.description} |`,
  );
  return [
    '# Metrics',
    '',
    '<!-- generated from src/metrics/catalogue.ts by `npm run gen`; do not edit by hand -->',
    '',
    'Every metric is an OpenTelemetry instrument on the meter `cardlink-otel`. The Prometheus name is what',
    '`/metrics` serves and what an OTLP->Prometheus translation (Alloy, OpenTelemetry Collector) produces from',
    'the OTel name and unit. The cardinality limit is the number of distinct label sets kept; further ones are',
    'folded into the SDK overflow series (`otel_metric_overflow="true"`).',
    '',
    '| Prometheus name | type | labels | OTel name (unit) | buckets (s) | limit | description |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
