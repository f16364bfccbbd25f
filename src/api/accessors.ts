import { metrics, trace, type Meter, type Tracer } from '@opentelemetry/api';
import { getCardlinkMeter } from '../metrics/instruments.js';
import { getSdk } from '../sdk.js';
import { VERSION } from '../version.js';

/** A tracer of the running SDK (or of the global provider when telemetry was started elsewhere). */
export function getTracer(name = 'cardlink-otel'): Tracer {
  return getSdk()?.tracer(name) ?? trace.getTracer(name, VERSION);
}

/** The CardLink meter (scope `cardlink-otel`), or a named meter for the application's own instruments. */
export function getMeter(name?: string): Meter {
  return name === undefined ? getCardlinkMeter() : metrics.getMeter(name);
}
