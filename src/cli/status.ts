/**
 * `cardlink-metrics status`: one scrape turned into what an operator asks first. Counters are
 * totals since the process started (one scrape has no rate); percentiles come from the histogram
 * buckets with Prometheus' histogram_quantile rules.
 */
import {
  histogramBuckets,
  histogramQuantile,
  sumSamples,
  type MetricFamily,
} from '../prom/text-parser.js';
import type { Palette } from './color.js';
import { formatCount, formatRatio, formatSeconds, formatUptime, table, targetText } from './format.js';

export interface LatencySummary {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface StatusSummary {
  process: { version: string | null; nodeVersion: string | null; uptimeSeconds: number | null };
  sessions: {
    active: number;
    activeByDeviceType: Record<string, number>;
    ended: number;
    byStatus: Record<string, number>;
    /** completed / ended; null before any session ended. */
    successRate: number | null;
    duration: LatencySummary;
  };
  tls: {
    connectionsActive: number;
    handshakes: number;
    failed: number;
    failuresByReason: Record<string, number>;
  };
  apdu: {
    commands: number;
    responses: number;
    errors: number;
    /** error responses / responses; null before any response. */
    errorRate: number | null;
    latency: LatencySummary;
  };
  devices: {
    connected: Record<string, number>;
    topErrors: Array<{ deviceType: string; errorType: string; count: number }>;
  };
  triggers: Record<string, number>;
}

/** Sums a family's value samples per value of one label (zeros dropped), sorted by count. */
function sumByLabel(family: MetricFamily | undefined, label: string, filter?: Record<string, string>): Record<string, number> {
  const out = new Map<string, number>();
  if (family) {
    for (const s of family.samples) {
      if (s.name.endsWith('_created') || s.name.endsWith('_bucket') || s.name.endsWith('_sum')) continue;
      if (filter && !Object.entries(filter).every(([k, v]) => s.labels[k] === v)) continue;
      const key = shown(s.labels[label] ?? '');
      out.set(key, (out.get(key) ?? 0) + s.value);
    }
  }
  return Object.fromEntries([...out.entries()].filter(([, v]) => v !== 0).sort((a, b) => b[1] - a[1]));
}

const finiteOrNull = (n: number): number | null => (Number.isFinite(n) ? n : null);

function latency(family: MetricFamily | undefined): LatencySummary {
  const buckets = histogramBuckets(family);
  return {
    p50: finiteOrNull(histogramQuantile(buckets, 0.5)),
    p95: finiteOrNull(histogramQuantile(buckets, 0.95)),
    p99: finiteOrNull(histogramQuantile(buckets, 0.99)),
  };
}

const ratio = (part: number, whole: number): number | null => (whole > 0 ? part / whole : null);

/** A label value of the scraped target, as the terminal may show it. */
const shown = (v: string): string => targetText(v, 64);

export function summarize(families: Map<string, MetricFamily>): StatusSummary {
  const f = (name: string): MetricFamily | undefined => families.get(name);
  const rawBuild = f('cardlink_build_info')?.samples[0]?.labels;
  const build = rawBuild === undefined ? undefined : Object.fromEntries(Object.entries(rawBuild).map(([k, v]) => [k, shown(v)]));
  const uptime = f('cardlink_uptime_seconds')?.samples[0]?.value;

  const sessions = f('cardlink_sessions_total');
  const byStatus = sumByLabel(sessions, 'status');
  const ended = sumSamples(sessions);
  const handshakes = f('cardlink_tls_handshakes_total');
  const failed = sumSamples(handshakes, { result: 'failed' });
  const responses = f('cardlink_apdu_responses_total');
  const responseCount = sumSamples(responses);
  const errors = sumSamples(responses, { status_category: 'error' });

  const deviceErrors = f('cardlink_device_errors_total');
  const topErrors: StatusSummary['devices']['topErrors'] = [];
  for (const s of deviceErrors?.samples ?? []) {
    if (s.name.endsWith('_created') || s.value === 0) continue;
    topErrors.push({ deviceType: shown(s.labels['device_type'] ?? ''), errorType: shown(s.labels['error_type'] ?? ''), count: s.value });
  }
  topErrors.sort((a, b) => b.count - a.count);

  return {
    process: {
      version: build?.['version'] ?? null,
      nodeVersion: build?.['node_version'] ?? null,
      uptimeSeconds: uptime ?? null,
    },
    sessions: {
      active: sumSamples(f('cardlink_sessions_active')),
      activeByDeviceType: sumByLabel(f('cardlink_sessions_active'), 'device_type'),
      ended,
      byStatus,
      successRate: ratio(byStatus['completed'] ?? 0, ended),
      duration: latency(f('cardlink_session_duration_seconds')),
    },
    tls: {
      connectionsActive: sumSamples(f('cardlink_tls_connections_active')),
      handshakes: sumSamples(handshakes),
      failed,
      failuresByReason: sumByLabel(handshakes, 'failure_reason', { result: 'failed' }),
    },
    apdu: {
      commands: sumSamples(f('cardlink_apdu_commands_total')),
      responses: responseCount,
      errors,
      errorRate: ratio(errors, responseCount),
      latency: latency(f('cardlink_apdu_duration_seconds')),
    },
    devices: {
      connected: sumByLabel(f('cardlink_devices_connected'), 'device_type'),
      topErrors: topErrors.slice(0, 5),
    },
    triggers: sumByLabel(f('cardlink_triggers_sent_total'), 'trigger_type'),
  };
}

function list(rec: Record<string, number>, empty = 'none'): string {
  const parts = Object.entries(rec).map(([k, v]) => `${k === '' ? '(none)' : k} ${formatCount(v)}`);
  return parts.length === 0 ? empty : parts.join(', ');
}

function rateColor(p: Palette, r: number | null, warn: number, bad: number, higherIsWorse = true): (s: string) => string {
  if (r === null) return p.dim;
  const worse = higherIsWorse ? r : 1 - r;
  if (worse >= bad) return p.red;
  if (worse >= warn) return p.yellow;
  return p.green;
}

function latencyText(l: LatencySummary): string {
  return `p50 ${formatSeconds(l.p50)}, p95 ${formatSeconds(l.p95)}, p99 ${formatSeconds(l.p99)}`;
}

/** The human summary (lines end with \n). */
export function renderStatus(s: StatusSummary, url: string, p: Palette): string {
  const head = [
    `${p.bold(`cardlink-otel ${s.process.version ?? '(version unknown)'}`)} at ${url}`,
    s.process.uptimeSeconds !== null ? `up ${formatUptime(s.process.uptimeSeconds)}` : '',
    s.process.nodeVersion !== null ? `Node.js ${s.process.nodeVersion}` : '',
  ]
    .filter((x) => x !== '')
    .join(', ');
  const sessionsColor = rateColor(p, s.sessions.successRate, 0.02, 0.1, false);
  const apduColor = rateColor(p, s.apdu.errorRate, 0.01, 0.05);
  const tlsRate = s.tls.handshakes > 0 ? s.tls.failed / s.tls.handshakes : null;
  const tlsColor = rateColor(p, tlsRate, 0.05, 0.25);
  const rows: string[][] = [
    [p.cyan('Sessions'), `active ${formatCount(s.sessions.active)}${Object.keys(s.sessions.activeByDeviceType).length > 0 ? ` (${list(s.sessions.activeByDeviceType)})` : ''}`],
    ['', `ended ${formatCount(s.sessions.ended)}: ${list(s.sessions.byStatus)}; success ${sessionsColor(formatRatio(s.sessions.successRate))}`],
    ['', `duration ${latencyText(s.sessions.duration)}`],
    [p.cyan('TLS'), `open connections ${formatCount(s.tls.connectionsActive)}; handshakes ${formatCount(s.tls.handshakes)}, failed ${tlsColor(formatCount(s.tls.failed))}`],
    ['', `failures by reason: ${list(s.tls.failuresByReason)}`],
    [p.cyan('APDU'), `commands ${formatCount(s.apdu.commands)}, responses ${formatCount(s.apdu.responses)}, errors ${formatCount(s.apdu.errors)} (error rate ${apduColor(formatRatio(s.apdu.errorRate))})`],
    ['', `latency ${latencyText(s.apdu.latency)}`],
    [p.cyan('Devices'), `connected: ${list(s.devices.connected)}`],
    [
      '',
      `top errors: ${
        s.devices.topErrors.length === 0
          ? 'none'
          : s.devices.topErrors.map((e) => `${e.deviceType} ${e.errorType} ${formatCount(e.count)}`).join(', ')
      }`,
    ],
    [p.cyan('Triggers'), `sent: ${list(s.triggers)}`],
  ];
  return `${head}\n${p.dim('Counts are totals since the process started.')}\n${table(rows)}\n`;
}
