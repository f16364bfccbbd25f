/**
 * OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE on the wire: the lab under register exports to
 * our own OTLP/gRPC decoder with each preference. Every catalogue counter and histogram goes out
 * with the preferred temporality (histograms included), up-down counters stay cumulative, and the
 * delta points of a histogram add up to what /metrics (always cumulative) serves. Two processes
 * of one service carry two service.instance.id values.
 */
import t, { type Test } from 'tap';
import { freePort } from './helpers/child.js';
import { startLab } from './helpers/lab.js';
import { scrape } from './helpers/scrape.js';
import { startOtlpReceiver, type ReceivedMetric } from './fixtures/otlp-receiver.js';
import { METRICS } from '../src/metrics/catalogue.js';
import { getSample } from '../src/prom/text-parser.js';

const BY_NAME = new Map<string, (typeof METRICS)[number]>(METRICS.map((m) => [m.name, m]));

async function runLab(t: Test, endpoint: string, env: Record<string, string>) {
  const metricsPort = await freePort();
  const app = await startLab(t, {
    LAB_ROUNDS: '2',
    OTEL_SERVICE_NAME: 'cardlink-lab',
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_METRIC_EXPORT_INTERVAL: '300',
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
    OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
    CARDLINK_INSTRUMENTATIONS: 'tls,serialport,system',
    ...env,
  });
  await app.waitForLine(/^done$/, 30_000);
  return { app, metricsPort };
}

const expected = (pref: string, m: ReceivedMetric): string | undefined => {
  const def = BY_NAME.get(m.name);
  if (def === undefined || m.type === 'gauge') return undefined;
  const cumulative = pref === 'cumulative' || def.prometheusType === 'gauge';
  return cumulative ? 'CUMULATIVE' : 'DELTA';
};

for (const pref of ['cumulative', 'delta', 'lowmemory'] as const) {
  t.test(`${pref}: every catalogue counter and histogram as preferred`, async (t) => {
    const receiver = await startOtlpReceiver();
    t.teardown(() => receiver.close());
    const { app, metricsPort } = await runLab(t, receiver.endpoint, { OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: pref });
    // Two exports after the work: the last points hold every change.
    const after = receiver.requestCounts.metrics;
    await receiver.waitFor((r) => r.requestCounts.metrics >= after + 2, 10_000, 'two more exports');
    const prom = await scrape(`http://127.0.0.1:${metricsPort}/metrics`);
    app.kill('SIGTERM');
    await app.waitForExit(10_000);

    const seen = new Map<string, Set<string>>();
    for (const m of receiver.metrics) {
      const want = expected(pref, m);
      if (want === undefined) continue;
      let s = seen.get(m.name);
      if (s === undefined) seen.set(m.name, (s = new Set()));
      s.add(m.temporality ?? 'none');
    }
    for (const name of ['cardlink.apdu.commands', 'cardlink.apdu.duration', 'cardlink.tls.handshakes', 'cardlink.at.command.duration', 'cardlink.sessions.active']) {
      t.ok(seen.has(name) || [...seen.keys()].some((k) => k === name), `${name} exported`);
    }
    for (const [name, temporalities] of seen) {
      const m = receiver.latestMetric(name)!;
      t.same([...temporalities], [expected(pref, m)], `${name} (${m.type}${m.isMonotonic === false ? ', up-down' : ''}): ${expected(pref, m)}`);
    }

    // Whatever the temporality, the points add up to the cumulative /metrics.
    const total = (name: string, labels: Record<string, string>, field: 'count' | 'value'): number => {
      const points = receiver.metrics
        .filter((m) => m.name === name)
        .flatMap((m) => m.dataPoints)
        .filter((p) => Object.entries(labels).every(([k, v]) => p.attributes[k] === v));
      if (pref === 'cumulative') return Math.max(0, ...points.map((p) => p[field] ?? 0));
      return points.reduce((n, p) => n + (p[field] ?? 0), 0);
    };
    const checks: Array<[string, string, Record<string, string>, 'count' | 'value']> = [
      ['cardlink.apdu.duration', 'cardlink_apdu_duration_seconds_count', { command_type: 'SELECT' }, 'count'],
      ['cardlink.at.command.duration', 'cardlink_at_command_duration_seconds_count', { command: '+CSIM' }, 'count'],
      ['cardlink.apdu.commands', 'cardlink_apdu_commands_total', { command_type: 'SELECT', device_type: 'modem' }, 'value'],
      ['cardlink.tls.handshakes', 'cardlink_tls_handshakes_total', { result: 'failed' }, 'value'],
    ];
    for (const [otel, promName, labels, field] of checks) {
      const want = getSample(prom.families, promName, labels)?.value;
      t.ok(want !== undefined && want > 0, `${promName}${JSON.stringify(labels)} on /metrics: ${want}`);
      t.equal(total(otel, labels, field), want, `${otel}: the OTLP points add up to /metrics`);
    }
    if (pref !== 'cumulative') {
      // Each delta point starts where the previous one of its series ended (no gap, no overlap).
      const points = receiver.metrics.filter((m) => m.name === 'cardlink.apdu.duration').flatMap((m) => m.dataPoints.filter((p) => p.attributes['command_type'] === 'SELECT'));
      for (let i = 1; i < points.length; i++) {
        if (points[i]!.startTimeUnixNano !== points[i - 1]!.timeUnixNano) {
          t.fail(`delta point ${i} starts at ${points[i]!.startTimeUnixNano}, the previous ended at ${points[i - 1]!.timeUnixNano}`);
          break;
        }
      }
      t.ok(points.length > 2, `contiguous delta points (${points.length})`);
    }
  });
}

t.test('two processes of one service: two service.instance.id values, overridable', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const a = await runLab(t, receiver.endpoint, {});
  const b = await runLab(t, receiver.endpoint, {});
  const c = await runLab(t, receiver.endpoint, { OTEL_RESOURCE_ATTRIBUTES: 'service.instance.id=bench-7' });
  await receiver.waitFor((r) => new Set(r.metrics.map((m) => m.resource['service.instance.id'])).size >= 3, 10_000, 'three instances');
  const ids = [...new Set(receiver.metrics.map((m) => String(m.resource['service.instance.id'])))];
  t.equal(ids.length, 3, `three instance ids: ${ids.join(', ')}`);
  t.ok(ids.includes('bench-7'), 'OTEL_RESOURCE_ATTRIBUTES sets it');
  t.equal(ids.filter((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)).length, 2, 'the others are random UUIDs');
  t.ok(receiver.metrics.every((m) => m.resource['service.name'] === 'cardlink-lab'), 'one service');
  for (const { app } of [a, b, c]) {
    app.kill('SIGTERM');
    await app.waitForExit(10_000);
  }
});
