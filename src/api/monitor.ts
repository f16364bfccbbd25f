/**
 * The performance monitor: time an operation (wall time, CPU time, heap delta) as a span and as
 * `cardlink_operation_duration_seconds{operation}`. Operation names are chosen in code and checked
 * (1-64 of A-Z a-z 0-9 _ . : -); the catalogue's cardinality limit bounds them anyway.
 *
 * Only `fn` decides what the caller gets: its value, its throw, its promise. Our own measurements
 * never fail the call (a process out of descriptors cannot read /proc, so `process.memoryUsage()`
 * throws EMFILE: the heap is read from V8 instead, and any failure is reported once).
 */
import { getHeapStatistics } from 'node:v8';
import { trace, SpanStatusCode, type Span } from '@opentelemetry/api';
import { reportOnce } from '../diag.js';
import { getInstruments } from '../metrics/instruments.js';
import { VERSION } from '../version.js';
import { callable, labelName } from './validate.js';

const attrs = new Map<string, { operation: string }>();

interface Start {
  t0: number;
  cpu0: NodeJS.CpuUsage | undefined;
  heap0: number | undefined;
}

function heapUsed(): number | undefined {
  try {
    return getHeapStatistics().used_heap_size;
  } catch (err) {
    reportOnce('monitor heap', err);
    return undefined;
  }
}

function begin(): Start {
  let cpu0: NodeJS.CpuUsage | undefined;
  try {
    cpu0 = process.cpuUsage();
  } catch (err) {
    reportOnce('monitor cpu', err);
  }
  return { t0: performance.now(), cpu0, heap0: heapUsed() };
}

function finish(span: Span, operation: string, s: Start, err?: { error: unknown }): void {
  try {
    const seconds = (performance.now() - s.t0) / 1000;
    if (err !== undefined) {
      const e = err.error;
      span.recordException(e instanceof Error ? e : String(e));
      span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
    }
    if (s.cpu0 !== undefined) {
      const cpu = process.cpuUsage(s.cpu0);
      span.setAttribute('cardlink.operation.cpu_ms', (cpu.user + cpu.system) / 1000);
    }
    const heap = heapUsed();
    if (heap !== undefined && s.heap0 !== undefined) span.setAttribute('cardlink.operation.heap_delta_bytes', heap - s.heap0);
    let a = attrs.get(operation);
    if (a === undefined) attrs.set(operation, (a = { operation }));
    getInstruments().operationDuration.record(seconds, a);
  } catch (e) {
    reportOnce('monitor', e);
  } finally {
    span.end();
  }
}

/**
 * Runs `fn` in a span named `name` and returns exactly what `fn` returns (a value, or a promise that
 * settles as `fn`'s does). An invalid name is a programming error: a CardlinkInputError thrown at
 * the call, before `fn` runs.
 */
export function monitor<T>(name: string, fn: () => T): T {
  const operation = labelName('name', name);
  callable('fn', fn);
  return trace.getTracer('cardlink-otel/api', VERSION).startActiveSpan(operation, { attributes: { 'cardlink.operation': operation } }, (span) => {
    const s = begin();
    let result: T;
    try {
      result = fn();
    } catch (error) {
      finish(span, operation, s, { error });
      throw error;
    }
    if (typeof (result as { then?: unknown })?.then === 'function') {
      return (result as unknown as Promise<unknown>).then(
        (v) => {
          finish(span, operation, s);
          return v;
        },
        (error: unknown) => {
          finish(span, operation, s, { error });
          throw error;
        },
      ) as T;
    }
    finish(span, operation, s);
    return result;
  });
}
