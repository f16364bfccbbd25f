/**
 * `cardlink-metrics health`: one call to the health endpoint (docs/architecture.md, "Settings and endpoints"), its status in
 * colour, the checks with --verbose, and the exit code an orchestrator or a shell script can use:
 * 0 healthy, 1 degraded, 2 unhealthy, 3 unreachable or no health document.
 */
import type { Palette } from './color.js';
import { CliError, EXIT } from './errors.js';
import { safeUrl, table, targetText } from './format.js';
import { httpGet, type Credentials } from './http.js';

export const HEALTH_STATUSES = ['healthy', 'degraded', 'unhealthy'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];
/** A check's status: one of the document's, or `timeout` (the check did not finish in its time limit). */
export type CheckStatus = HealthStatus | 'timeout';

export interface HealthCheck {
  name: string;
  status: CheckStatus;
  message: string | null;
  duration_ms: number | null;
  details: unknown;
}

export interface HealthDocument {
  status: HealthStatus;
  timestamp: string | null;
  checks: HealthCheck[];
}

const isStatus = (v: unknown): v is HealthStatus => typeof v === 'string' && (HEALTH_STATUSES as readonly string[]).includes(v);
const isCheckStatus = (v: unknown): v is CheckStatus => v === 'timeout' || isStatus(v);

/** The health document in `body`, or undefined when it is not one (checks that are not objects are dropped). */
export function parseHealthDocument(body: string): HealthDocument | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const o = raw as Record<string, unknown>;
  if (!isStatus(o['status'])) return undefined;
  const checks: HealthCheck[] = [];
  for (const c of Array.isArray(o['checks']) ? o['checks'] : []) {
    if (typeof c !== 'object' || c === null) continue;
    const r = c as Record<string, unknown>;
    checks.push({
      name: typeof r['name'] === 'string' ? targetText(r['name'], 64) : '(unnamed)',
      status: isCheckStatus(r['status']) ? r['status'] : 'unhealthy',
      message: typeof r['message'] === 'string' ? targetText(r['message']) : null,
      duration_ms: typeof r['duration_ms'] === 'number' ? r['duration_ms'] : null,
      details: r['details'] ?? null,
    });
  }
  return { status: o['status'], timestamp: typeof o['timestamp'] === 'string' ? targetText(o['timestamp'], 64) : null, checks };
}

export function healthExitCode(status: HealthStatus): number {
  return status === 'healthy' ? EXIT.OK : status === 'degraded' ? EXIT.DEGRADED : EXIT.UNHEALTHY;
}

export interface HealthResult {
  url: string;
  httpStatus: number;
  doc: HealthDocument;
  durationMs: number;
}

/**
 * Calls the endpoint; no document (unreachable, 404, not JSON) is CliError(UNREACHABLE). With
 * `auth` (the /metrics credentials) the checks come with their messages and details.
 */
export async function fetchHealth(url: URL, timeoutMs: number, auth?: Credentials): Promise<HealthResult> {
  const shown = safeUrl(url.toString());
  const res = await httpGet(url, { timeoutMs, accept: 'application/json', notHttpExit: EXIT.UNREACHABLE, ...(auth ? { auth } : {}) });
  const doc = parseHealthDocument(res.body);
  if (doc === undefined) {
    if (res.status === 401) throw new CliError(`${shown} refused the credentials (HTTP 401): check CARDLINK_METRICS_USERNAME / CARDLINK_METRICS_PASSWORD`, EXIT.REJECTED);
    throw new CliError(`${shown} answered HTTP ${res.status} without a health document`, EXIT.UNREACHABLE);
  }
  return { url: shown, httpStatus: res.status, doc, durationMs: res.durationMs };
}

export function paintStatus(p: Palette, s: CheckStatus): string {
  const text = s.toUpperCase();
  return s === 'healthy' ? p.green(text) : s === 'degraded' || s === 'timeout' ? p.yellow(text) : p.red(text);
}

function detailsText(d: unknown): string {
  if (d === null || d === undefined) return '';
  return targetText(typeof d === 'string' ? d : JSON.stringify(d));
}

export function renderHealth(r: HealthResult, verbose: boolean, p: Palette): string {
  const lines = [`${paintStatus(p, r.doc.status)} ${r.url} (HTTP ${r.httpStatus}${r.doc.timestamp ? `, ${r.doc.timestamp}` : ''})`];
  if (verbose) {
    if (r.doc.checks.length === 0) lines.push('  no checks reported');
    else {
      const rows = r.doc.checks.map((c) => [
        `  ${paintStatus(p, c.status)}`,
        c.name,
        c.duration_ms !== null ? `${Math.round(c.duration_ms)} ms` : '',
        [c.message ?? '', detailsText(c.details)].filter((x) => x !== '').join(' '),
      ]);
      lines.push(table(rows));
    }
  } else {
    const bad = r.doc.checks.filter((c) => c.status !== 'healthy');
    for (const c of bad) lines.push(`  ${paintStatus(p, c.status)} ${c.name}${c.message ? `: ${c.message}` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}
