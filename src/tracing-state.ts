/**
 * Whether spans go anywhere. When the SDK has no trace exporter it samples nothing; instrumentations
 * then skip building span attributes and span objects on their hot paths altogether (the trace
 * context of the application is untouched). True unless our SDK said otherwise, so an application
 * that installs its own TracerProvider keeps every span.
 */
let enabled = true;

export function tracingEnabled(): boolean {
  return enabled;
}

export function setTracingEnabled(value: boolean): void {
  enabled = value;
}
