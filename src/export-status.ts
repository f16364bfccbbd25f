/**
 * Wraps every OTLP exporter to know how exporting goes: the health check reads it, and the first
 * failure of each outage prints one clear line (not one per batch). Items dropped by failed exports
 * are counted so the loss is visible.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { printLine } from './diag.js';

export interface ExportStatus {
  readonly signal: 'traces' | 'metrics' | 'logs';
  readonly endpoint: string;
  lastSuccessMs: number | undefined;
  lastFailureMs: number | undefined;
  lastError: string | undefined;
  consecutiveFailures: number;
  exported: number;
  dropped: number;
}

const statuses: ExportStatus[] = [];

/** The state of every OTLP exporter of the running SDK. */
export function exportStatuses(): readonly ExportStatus[] {
  return statuses;
}

export function resetExportStatuses(): void {
  statuses.length = 0;
}

interface AnyExporter<T> {
  export(items: T, resultCallback: (result: ExportResult) => void): void;
}

/** Count of items in one export call: spans/log records are arrays, metrics a ResourceMetrics. */
function countItems(items: unknown): number {
  if (Array.isArray(items)) return items.length;
  const sm = (items as { scopeMetrics?: Array<{ metrics: unknown[] }> }).scopeMetrics;
  if (Array.isArray(sm)) return sm.reduce((n, s) => n + s.metrics.length, 0);
  return 1;
}

/**
 * Patch `exporter.export` in place (keeping its class, so SDK type checks and other methods stay
 * as they are) to record outcomes.
 */
export function trackExporter<T, E extends AnyExporter<T>>(exporter: E, signal: ExportStatus['signal'], endpoint: string): E {
  const status: ExportStatus = {
    signal,
    endpoint,
    lastSuccessMs: undefined,
    lastFailureMs: undefined,
    lastError: undefined,
    consecutiveFailures: 0,
    exported: 0,
    dropped: 0,
  };
  statuses.push(status);
  // One line per outage: a success re-arms the warning for the next one.
  let reported = false;
  const original = exporter.export.bind(exporter);
  exporter.export = (items: T, cb: (result: ExportResult) => void): void => {
    const n = countItems(items);
    original(items, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        status.lastSuccessMs = Date.now();
        status.consecutiveFailures = 0;
        status.exported += n;
        reported = false;
      } else {
        status.lastFailureMs = Date.now();
        status.consecutiveFailures++;
        status.dropped += n;
        const reason = conciseReason(result.error?.message);
        status.lastError = reason;
        if (!reported) {
          reported = true;
          printLine(
            `OTLP ${signal} export to ${endpoint} failed: ${reason}. The application is unaffected; ` +
              `${signal} are dropped while the collector is unreachable (reported once per outage).`,
          );
        }
      }
      cb(result);
    });
  };
  return exporter;
}

/** gRPC errors carry resolver notes after the reason; keep the part an operator needs. */
function conciseReason(message: string | undefined): string {
  if (message === undefined || message === '') return 'unknown error';
  let m = message.split('\n')[0] as string;
  const cut = m.search(/\. (Last error|Resolution note):|,name resolution:/);
  if (cut > 0) m = m.slice(0, cut);
  return m.length > 200 ? `${m.slice(0, 200)}...` : m;
}
