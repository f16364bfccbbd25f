/**
 * The performance monitor: time an operation (wall time, CPU time, heap delta) as a span and as
 * `cardlink_operation_duration_seconds{operation}`. Operation names are chosen in code and checked
 * (1-64 of A-Z a-z 0-9 _ . : -); the catalogue's cardinality limit bounds them anyway.
 */
import { trace, SpanStatusCode, type Span } from '@opentelemetry/api';
import { getInstruments } from '../metrics/instruments.js';
import { VERSION } from '../version.js';
import { labelName } from './validate.js';

const attrs = new Map<string, { operation: string }>();

function finish(span: Span, operation: string, t0: number, cpu0: NodeJS.CpuUsage, heap0: number): void {
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  span.setAttribute('cardlink.operation.cpu_ms', (cpu.user + cpu.system) / 1000);
  span.setAttribute('cardlink.operation.heap_delta_bytes', process.memoryUsage().heapUsed - heap0);
  let a = attrs.get(operation);
  if (a === undefined) attrs.set(operation, (a = { operation }));
  getInstruments().operationDuration.record(seconds, a);
  span.end();
}

export function monitor<T>(name: string, fn: () => T): T {
  const operation = labelName('name', name);
  return trace.getTracer('cardlink-otel/api', VERSION).startActiveSpan(operation, { attributes: { 'cardlink.operation': operation } }, (span) => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const heap0 = process.memoryUsage().heapUsed;
    const failed = (err: unknown): void => {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      finish(span, operation, t0, cpu0, heap0);
    };
    let result: T;
    try {
      result = fn();
    } catch (err) {
      failed(err);
      throw err;
    }
    if (typeof (result as { then?: unknown })?.then === 'function') {
      return (result as unknown as Promise<unknown>).then(
        (v) => {
          finish(span, operation, t0, cpu0, heap0);
          return v;
        },
        (err: unknown) => {
          failed(err);
          throw err;
        },
      ) as T;
    }
    finish(span, operation, t0, cpu0, heap0);
    return result;
  });
}
