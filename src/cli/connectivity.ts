/**
 * `cardlink-metrics test [--otlp] [--metrics] [--health]`: real connectivity checks with one
 * verdict per target. PASS: it works. WARN: reachable but not well (a degraded health status).
 * FAIL: unreachable, refused or unhealthy. SKIP: not configured and not asked for explicitly.
 */
import type { Palette } from './color.js';
import { CliError, oneLine } from './errors.js';
import { formatCount, safeUrl, table } from './format.js';
import { fetchHealth } from './health.js';
import { parseHttpUrl } from './http.js';
import { parseOtlpHeaders, probeOtlpGrpc, probeOtlpHttp } from './otlp-probe.js';
import { fetchMetrics } from './scrape.js';
import { authFor, withAuth, type Targets } from './targets.js';

export type Verdict = 'PASS' | 'WARN' | 'FAIL' | 'SKIP';

export interface CheckResult {
  target: 'otlp' | 'metrics' | 'health';
  verdict: Verdict;
  url: string | null;
  detail: string;
  durationMs: number | null;
}

export interface ConnectivityOptions {
  otlp: boolean;
  metrics: boolean;
  health: boolean;
  /** The targets were named on the command line (an unconfigured one then fails instead of being skipped). */
  explicit: boolean;
  metricsUrl: string;
  healthUrl: string;
  otlpEndpoint?: string;
  timeoutMs: number;
}

const ms = (n: number): string => `${Math.round(n)} ms`;

export async function checkOtlp(t: Targets, o: ConnectivityOptions): Promise<CheckResult> {
  const signal = t.config.otlp.traces;
  // --otlp-endpoint is a base endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT is: http/protobuf posts to its /v1/traces.
  const given = o.otlpEndpoint;
  const endpoint =
    given === undefined
      ? signal.endpoint
      : signal.protocol === 'grpc' || /\/v1\/traces\/?$/.test(given)
        ? given
        : `${given.replace(/\/+$/, '')}/v1/traces`;
  if (endpoint === undefined) {
    return {
      target: 'otlp',
      verdict: o.explicit ? 'FAIL' : 'SKIP',
      url: null,
      detail: 'no OTLP endpoint configured (set OTEL_EXPORTER_OTLP_ENDPOINT, or pass --otlp-endpoint)',
      durationMs: null,
    };
  }
  const headers = {
    ...parseOtlpHeaders(t.env['OTEL_EXPORTER_OTLP_HEADERS']),
    ...parseOtlpHeaders(t.env['OTEL_EXPORTER_OTLP_TRACES_HEADERS']),
  };
  const r =
    signal.protocol === 'grpc'
      ? await probeOtlpGrpc(endpoint, headers, o.timeoutMs)
      : await probeOtlpHttp(endpoint, headers, o.timeoutMs);
  return {
    target: 'otlp',
    verdict: r.ok ? 'PASS' : 'FAIL',
    url: safeUrl(endpoint),
    detail: `${signal.protocol}: ${r.outcome}, ${r.detail} (${ms(r.durationMs)})`,
    durationMs: r.durationMs,
  };
}

export async function checkMetrics(t: Targets, o: ConnectivityOptions): Promise<CheckResult> {
  try {
    const url = parseHttpUrl(o.metricsUrl, '--metrics-url');
    const s = await fetchMetrics({ url, timeoutMs: o.timeoutMs, ...withAuth(authFor(t, url)) });
    let samples = 0;
    for (const f of s.families.values()) samples += f.samples.length;
    const cardlink = [...s.families.keys()].filter((n) => n.startsWith('cardlink_')).length;
    const problems = s.errors.length > 0 ? `, ${s.errors.length} unreadable line(s)` : '';
    return {
      target: 'metrics',
      verdict: cardlink > 0 && s.errors.length === 0 ? 'PASS' : 'WARN',
      url: s.url,
      detail: `HTTP 200, ${formatCount(s.families.size)} families (${cardlink} cardlink_*), ${formatCount(samples)} samples${problems} (${ms(s.durationMs)})`,
      durationMs: s.durationMs,
    };
  } catch (e) {
    return { target: 'metrics', verdict: 'FAIL', url: safeUrl(o.metricsUrl), detail: oneLine(e), durationMs: null };
  }
}

export async function checkHealth(o: ConnectivityOptions): Promise<CheckResult> {
  try {
    const url = parseHttpUrl(o.healthUrl, '--health-url');
    const h = await fetchHealth(url, o.timeoutMs);
    const bad = h.doc.checks.filter((c) => c.status !== 'healthy').map((c) => `${c.name} ${c.status}`);
    return {
      target: 'health',
      verdict: h.doc.status === 'healthy' ? 'PASS' : h.doc.status === 'degraded' ? 'WARN' : 'FAIL',
      url: h.url,
      detail: `HTTP ${h.httpStatus}, ${h.doc.status}${bad.length > 0 ? ` (${bad.join(', ')})` : ''} (${ms(h.durationMs)})`,
      durationMs: h.durationMs,
    };
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    return { target: 'health', verdict: 'FAIL', url: safeUrl(o.healthUrl), detail: oneLine(e), durationMs: null };
  }
}

export async function runConnectivity(t: Targets, o: ConnectivityOptions): Promise<CheckResult[]> {
  const checks: Array<Promise<CheckResult>> = [];
  if (o.otlp) checks.push(checkOtlp(t, o));
  if (o.metrics) checks.push(checkMetrics(t, o));
  if (o.health) checks.push(checkHealth(o));
  return Promise.all(checks);
}

export function renderConnectivity(results: readonly CheckResult[], p: Palette): string {
  const paint = (v: Verdict): string => (v === 'PASS' ? p.green(v) : v === 'WARN' ? p.yellow(v) : v === 'FAIL' ? p.red(v) : p.dim(v));
  const rows = results.map((r) => [paint(r.verdict), r.target, r.url ?? '-', r.detail]);
  return `${table(rows)}\n`;
}
