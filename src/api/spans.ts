/** Spans from code: a generic wrapper, a method decorator, the CardLink span shapes, and W3C context crossing. */
import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { getInstruments } from '../metrics/instruments.js';
import { VERSION } from '../version.js';
import { recordApdu, type ApduResult } from './recorders.js';
import { apduDeviceType, attributesOf, callable, deviceType as checkDeviceType, oneOf, spanName, toBytes, withSessionDevice, type DeviceType, type SessionType } from './validate.js';
import { SESSION_TYPES } from '../metrics/catalogue.js';
import { nowMs } from '../clock.js';

const tracer = () => trace.getTracer('cardlink-otel/api', VERSION);
const propagator = new W3CTraceContextPropagator();

function isPromise(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as PromiseLike<unknown>).then === 'function';
}

function fail(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/**
 * Run `fn` inside a new active span. Sync or async: returns what `fn` returns; a throw or a
 * rejection is recorded on the span (status ERROR) and passed on unchanged.
 */
export function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => T): T {
  // Checked before a span exists: bad input records nothing.
  spanName('name', name);
  const attrs = attributesOf('attributes', attributes) as Attributes | undefined;
  callable('fn', fn);
  return tracer().startActiveSpan(name, attrs === undefined ? {} : { attributes: attrs }, (span) => {
    let result: T;
    try {
      result = fn(span);
    } catch (err) {
      fail(span, err);
      span.end();
      throw err;
    }
    if (isPromise(result)) {
      return (result as PromiseLike<unknown>).then(
        (v) => {
          span.end();
          return v;
        },
        (err: unknown) => {
          fail(span, err);
          span.end();
          throw err;
        },
      ) as T;
    }
    span.end();
    return result;
  });
}

/**
 * Method decorator (TypeScript 5 standard decorators): each call runs in a span named `name` or
 * `<Class>.<method>`.
 */
export function traced(name?: string) {
  // Checked where the decorator is applied, not at every call of the method.
  if (name !== undefined) spanName('name', name);
  return function <This, Args extends unknown[], R>(
    target: (this: This, ...args: Args) => R,
    ctx: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => R>,
  ): (this: This, ...args: Args) => R {
    const method = String(ctx.name);
    return function (this: This, ...args: Args): R {
      // A static method's `this` is the class itself.
      const cls = ctx.static ? (this as { name?: string } | undefined)?.name : (this as { constructor?: { name?: string } } | undefined)?.constructor?.name;
      return withSpan(name ?? (cls ? `${cls}.${method}` : method), {}, () => target.apply(this, args));
    };
  };
}

export interface ApduSpanInput {
  command: Uint8Array | string;
  /** Default: the device type of the `sessionSpan` the call runs in, else `unknown`. */
  deviceType?: DeviceType;
}

/**
 * Time one APDU exchange done by `send` (which returns the R-APDU as bytes or hex) and record it
 * exactly like the automatic paths. Returns what `send` returned.
 */
export async function apduSpan<R extends Uint8Array | string>(
  input: ApduSpanInput,
  send: () => Promise<R> | R,
): Promise<{ response: R } & ApduResult> {
  toBytes('command', input.command, 4);
  callable('send', send);
  const device = apduDeviceType(input.deviceType);
  const t0 = nowMs();
  const response = await send();
  // Whatever the card answered goes back to the application; one that is no R-APDU (fewer than 2
  // bytes, not bytes) is recorded as a command without a status word.
  const result = recordApdu({ command: input.command, response: isResponse(response) ? response : undefined, deviceType: device, durationMs: nowMs() - t0 });
  return { response, ...result };
}

export interface SessionSpanInput {
  identity?: string;
  deviceType?: DeviceType;
  sessionType?: SessionType;
}

/**
 * An `ota.session` span (SERVER) around `fn`, with the session gauges and counters: `completed`
 * when `fn` resolves, `timeout` when it throws an error named TimeoutError, else `failed`.
 * APDUs recorded inside become its children, of its device type unless they name their own.
 */
export async function sessionSpan<T>(input: SessionSpanInput, fn: (span: Span) => Promise<T> | T): Promise<T> {
  callable('fn', fn);
  const device = checkDeviceType(input.deviceType);
  const sessionType = oneOf('sessionType', input.sessionType, SESSION_TYPES, 'polled');
  const m = getInstruments();
  const attributes: Attributes = { 'cardlink.session.type': sessionType, 'cardlink.device.type': device };
  if (input.identity !== undefined) attributes['cardlink.psk.identity'] = String(input.identity).slice(0, 128);
  const span = tracer().startSpan('ota.session', { kind: SpanKind.SERVER, attributes });
  const start = nowMs();
  m.sessionsActive.add(1, { device_type: device });
  const end = (status: 'completed' | 'failed' | 'timeout'): void => {
    m.sessionsActive.add(-1, { device_type: device });
    m.sessions.add(1, { status, session_type: sessionType, device_type: device });
    m.sessionDuration.record((nowMs() - start) / 1000, { status });
    span.setAttribute('cardlink.session.status', status);
    span.end();
  };
  try {
    const result = await context.with(withSessionDevice(trace.setSpan(context.active(), span), device), () => fn(span));
    end('completed');
    return result;
  } catch (err) {
    fail(span, err);
    end(err instanceof Error && err.name === 'TimeoutError' ? 'timeout' : 'failed');
    throw err;
  }
}

/** Write the active trace context into `carrier` as W3C `traceparent` (and `tracestate`). */
export function injectContext<C extends Record<string, string>>(carrier: C, ctx: Context = context.active()): C {
  propagator.inject(ctx, carrier, defaultTextMapSetter);
  return carrier;
}

/** Reads `traceparent` or, as environment variables are spelled, `TRACEPARENT`. */
const anyCaseGetter = {
  keys: defaultTextMapGetter.keys,
  get(carrier: Record<string, string | undefined>, key: string): string | undefined {
    return carrier[key] ?? carrier[key.toUpperCase()];
  },
};

/**
 * The context carried by `carrier` (HTTP headers, or `process.env` with `TRACEPARENT` set by the
 * parent from `injectContext`); run code in it with `context.with(ctx, fn)`.
 */
export function extractContext(carrier: Record<string, string | undefined>, ctx: Context = context.active()): Context {
  return propagator.extract(ctx, carrier, anyCaseGetter);
}

function isResponse(value: unknown): boolean {
  try {
    toBytes('response', value, 2);
    return true;
  } catch {
    return false;
  }
}
