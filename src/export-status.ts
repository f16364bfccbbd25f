/**
 * Wraps every OTLP exporter to know how exporting goes: the health check reads it, and the first
 * failure of each outage prints one clear line (not one per batch). Items dropped by failed exports
 * are counted so the loss is visible.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { printLine } from './diag.js';
import { redactEndpoint, redactString } from './logging/sanitize.js';

export interface ExportStatus {
  readonly signal: 'traces' | 'metrics' | 'logs';
  /** The endpoint as it may be shown: its userinfo (credentials) masked. */
  readonly endpoint: string;
  lastSuccessMs: number | undefined;
  lastFailureMs: number | undefined;
  lastError: string | undefined;
  consecutiveFailures: number;
  exported: number;
  dropped: number;
}

const statuses: ExportStatus[] = [];
/** The credentials of every tracked exporter (endpoint userinfo, header values), for exportFailureText. */
const allCredentials = new Set<string>();

/** The state of every OTLP exporter of the running SDK. */
export function exportStatuses(): readonly ExportStatus[] {
  return statuses;
}

export function resetExportStatuses(): void {
  statuses.length = 0;
  allCredentials.clear();
}

/** Some exporter's last export failed: its outage was reported, and its data said to be dropped. */
export function exportOutage(): boolean {
  return statuses.some((s) => s.consecutiveFailures > 0);
}

/** An exporter's error (a failed final flush) as it may be printed: concise, no credential of any exporter. */
export function exportFailureText(message: string): string {
  return scrub(conciseReason(message), [...allCredentials].sort((a, b) => b.length - a.length));
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
 * The credentials an exporter's messages could echo: the endpoint's userinfo (as written and
 * decoded) and `secrets` (OTLP header values). Empty and one-character values are left out.
 */
function credentialsOf(endpoint: string, secrets: readonly string[]): string[] {
  const out = new Set<string>();
  const add = (v: string): void => {
    if (v.length < 2) return;
    out.add(v);
    try {
      out.add(decodeURIComponent(v));
    } catch {
      /* as written only */
    }
  };
  try {
    const u = new URL(endpoint);
    add(u.username);
    add(u.password);
  } catch {
    /* not a URL: nothing to take apart */
  }
  for (const s of secrets) add(s);
  // Longest first, so a secret containing a shorter one is replaced whole.
  return [...out].sort((a, b) => b.length - a.length);
}

/** `text` with every credential replaced by `***` (split/join: no pattern to escape). */
function scrub(text: string, credentials: readonly string[]): string {
  let out = redactString(redactEndpoint(text));
  for (const c of credentials) if (out.includes(c)) out = out.split(c).join('***');
  return out;
}

/**
 * Patch `exporter.export` in place (keeping its class, so SDK type checks and other methods stay
 * as they are) to record outcomes. `endpoint` is kept and printed with its userinfo masked, and
 * an error reason never shows the userinfo or one of `secrets` (the OTLP header values).
 */
export function trackExporter<T, E extends AnyExporter<T>>(
  exporter: E,
  signal: ExportStatus['signal'],
  endpoint: string,
  secrets: readonly string[] = [],
): E {
  const credentials = credentialsOf(endpoint, secrets);
  for (const c of credentials) allCredentials.add(c);
  const shown = scrub(endpoint, credentials);
  const status: ExportStatus = {
    signal,
    endpoint: shown,
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
        const reason = scrub(conciseReason(result.error?.message), credentials);
        status.lastError = reason;
        if (!reported) {
          reported = true;
          printLine(
            `OTLP ${signal} export to ${shown} failed: ${reason}. The application is unaffected; ` +
              `${signal} are dropped while exports fail (reported once per outage).`,
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
