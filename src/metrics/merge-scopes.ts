import type { ResourceMetrics, ScopeMetrics } from '@opentelemetry/sdk-metrics';

/**
 * The SDK's own instruments and the fast histograms (a MetricProducer) arrive as two ScopeMetrics
 * of the same scope; exporters get them as one.
 */
export function mergeScopes(rm: ResourceMetrics): ResourceMetrics {
  const seen = new Map<string, ScopeMetrics>();
  let merged = false;
  const out: ScopeMetrics[] = [];
  for (const sm of rm.scopeMetrics) {
    // By name: the producer cannot know the version a meter was created with.
    const key = `${sm.scope.name}\u0000${sm.scope.schemaUrl ?? ''}`;
    const prev = seen.get(key);
    if (prev === undefined) {
      const copy = { scope: sm.scope, metrics: [...sm.metrics] };
      seen.set(key, copy);
      out.push(copy);
    } else {
      prev.metrics.push(...sm.metrics);
      merged = true;
    }
  }
  return merged ? { resource: rm.resource, scopeMetrics: out } : rm;
}
