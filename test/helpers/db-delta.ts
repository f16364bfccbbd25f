/**
 * What a piece of code adds to `cardlink_db_query_duration_seconds` (count per query_type) and
 * which spans it finishes: the measure of the sqlite and pg instrumentation tests.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { METRICS } from '../../src/metrics/catalogue.js';
import type { Harness } from './otel-harness.js';

const QUERY_DURATION = METRICS.find((m) => m.key === 'dbQueryDuration')?.name;

/**
 * Histogram count per recorded query_type. Every point counts, not a fixed list of types: a query
 * recorded under a type the test does not expect (or with no type) shows up in the comparison.
 */
export async function queryCounts(h: Harness): Promise<Record<string, number>> {
  const m = (await h.collect()).find((x) => x.descriptor.name === QUERY_DURATION) as HistogramMetricData | undefined;
  const out: Record<string, number> = {};
  for (const p of m?.dataPoints ?? []) {
    const q = String(p.attributes['query_type']);
    if (p.value.count > 0) out[q] = (out[q] ?? 0) + p.value.count;
  }
  return out;
}

export interface Delta<T> {
  readonly result: T;
  /** Queries `fn` added, per query_type (types it added none to are absent). */
  readonly counts: Record<string, number>;
  /** The spans finished while `fn` ran (the exporter is reset before). */
  spans: ReadableSpan[];
}

/**
 * `delta(fn)` for a harness. The spans finished before are dropped from the exporter, after being
 * appended to `seen` when given (for checks over every span of a file).
 */
export function deltaFor(h: Harness, seen?: ReadableSpan[]): <T>(fn: () => T | Promise<T>) => Promise<Delta<T>> {
  return async <T>(fn: () => T | Promise<T>): Promise<Delta<T>> => {
    const before = await queryCounts(h);
    seen?.push(...h.finished());
    h.spans.reset();
    const result = await fn();
    const after = await queryCounts(h);
    const counts: Record<string, number> = {};
    for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) counts[k] = v - (before[k] ?? 0);
    return { result, counts, spans: h.finished() };
  };
}
