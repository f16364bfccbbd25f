/**
 * Helpers for the instrumentations' own log lines (handshake failures, session ends, modem
 * timeouts, adb errors, slow queries).
 *
 * The logger takes `trace_id` / `span_id` from the ACTIVE span, but the span an instrumentation
 * wants on its line (the `tls.handshake` it just ended, the `at +CSQ` that timed out) is never
 * active: instrumentations start and end their spans without entering them. `logInSpan` writes the
 * line with that span made active for the duration of the one call (the JSON line and the OTel log
 * record then both carry its ids). No closure: `context.with` passes the arguments through.
 */
import { context, trace, type Context, type Span } from '@opentelemetry/api';
import type { LogFields, LogMethod } from './logger.js';

/**
 * Writes `message` with `fields` through `log` (e.g. `logger.warn`) with `span` as the active
 * span, in `parent` (default: the active context). Without a span, the line is written in `parent`
 * (whatever span that context holds, if any).
 */
export function logInSpan(log: LogMethod, span: Span | undefined, message: string, fields: LogFields, parent?: Context): void {
  if (span === undefined) {
    if (parent === undefined) log(message, fields);
    else context.with(parent, log, undefined, message, fields);
    return;
  }
  context.with(trace.setSpan(parent ?? context.active(), span), log, undefined, message, fields);
}

/** A duration for a log field: milliseconds with one decimal (no float noise such as 12.300000001). */
export function roundMs(ms: number): number {
  return Number.isFinite(ms) ? Math.round(ms * 10) / 10 : 0;
}
