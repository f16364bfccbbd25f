/**
 * The propagator OTEL_PROPAGATORS names, built from our validated configuration and handed to
 * NodeSDK: NodeSDK reads the variable from the process environment only, and ours includes the
 * config file.
 *
 * Same rules as NodeSDK: unset is its default (W3C trace context and baggage), `none` anywhere is
 * no propagator, names are deduplicated and kept in order, one name is that propagator, several a
 * composite.
 */
import { diag, type TextMapPropagator } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';
import { JaegerPropagator } from '@opentelemetry/propagator-jaeger';
import type { PropagatorName } from './config.js';

const FACTORIES: Record<Exclude<PropagatorName, 'none'>, () => TextMapPropagator> = {
  tracecontext: () => new W3CTraceContextPropagator(),
  baggage: () => new W3CBaggagePropagator(),
  b3: () => new B3Propagator(),
  b3multi: () => new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER }),
  jaeger: () => {
    diag.warn('OTEL_PROPAGATORS: the Jaeger propagator is deprecated; "tracecontext" is its successor');
    return new JaegerPropagator();
  },
};

/** undefined: NodeSDK's default; null: none at all (NodeSDK's own meaning of null). */
export function propagatorOf(names: readonly PropagatorName[] | undefined): TextMapPropagator | null | undefined {
  if (names === undefined) return undefined;
  if (names.includes('none')) return null;
  const list = [...new Set(names)].map((n) => FACTORIES[n as Exclude<PropagatorName, 'none'>]());
  if (list.length === 0) return null;
  return list.length === 1 ? list[0] : new CompositePropagator({ propagators: list });
}
