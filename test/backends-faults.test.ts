/**
 * Outages of real peers: a lab under `--import ./register.js` sends traces to Jaeger and metrics
 * to a Collector while it works without pause. Jaeger stops and comes back, then the Collector
 * does: the lab's work goes on with the same results throughout, exports resume after each
 * outage, the `otlp_export` health check is degraded during it and healthy after, and each outage
 * prints at most one line per signal.
 */
import t from 'tap';
import { freePort } from './helpers/child.js';
import { getJson } from './helpers/http.js';
import { startLab } from './helpers/lab.js';
import { startCollector, startJaeger, type Peer } from './helpers/peers.js';

const SERVICE = 'cardlink-lab-faults';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Health {
  status: string;
  checks: Array<{ name: string; status: string; details?: Record<string, { exported?: number; dropped?: number }> }>;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function jaegerSessions(jaeger: Peer): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${jaeger.ports['query']}/api/traces?service=${SERVICE}&operation=ota.session&limit=1000&lookback=1h`);
  if (!r.ok) return 0;
  return ((await r.json()) as { data: unknown[] }).data.length;
}

/** The lab's APDU counter as the Collector's prometheus exporter serves it (0 when absent). */
async function collectorApdus(collector: Peer): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${collector.ports['promExporter']}/metrics`)).text();
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith('cardlink_apdu_commands_total{')) n += Number(line.split(' ').pop());
  return n;
}

t.test('Jaeger, then the Collector, stopped and started again mid-run', async (t) => {
  const jaeger = await startJaeger(t);
  const collector = await startCollector(t);
  const healthPort = await freePort();
  const app = await startLab(
    t,
    {
      LAB_ROUNDS: '0',
      LAB_PAUSE_MS: '50',
      OTEL_SERVICE_NAME: SERVICE,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${jaeger.ports['otlp']}`,
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `http://127.0.0.1:${collector.ports['otlp']}`,
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_METRIC_EXPORT_INTERVAL: '500',
      OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
      CARDLINK_HEALTH_ENABLED: 'true',
      CARDLINK_HEALTH_HOST: '127.0.0.1',
      CARDLINK_HEALTH_PORT: String(healthPort),
      CARDLINK_HEALTH_CACHE_MS: '0',
      CARDLINK_HEALTH_DETAILS: 'true', // the check's details (dropped counts) are read below
      CARDLINK_INSTRUMENTATIONS: 'tls,serialport',
    },
    120_000,
  );
  await app.waitForLine(/^round 1 /, 30_000);
  const otlpCheck = async (): Promise<Health['checks'][number] | undefined> =>
    (await getJson<Health>(healthPort, '/health')).body.checks.find((c) => c.name === 'otlp_export');
  const rounds = (): number => app.stdout().split('\n').filter((l) => l.startsWith('round ')).length;
  const warnings = (signal: string): number => app.stderr().split('\n').filter((l) => l.includes(`OTLP ${signal} export`)).length;

  await until('sessions in Jaeger', async () => (await jaegerSessions(jaeger)) > 0);
  await until('APDU counts at the Collector', async () => (await collectorApdus(collector)) > 0);
  await until('otlp_export healthy', async () => (await otlpCheck())?.status === 'healthy');

  for (const [peer, signal] of [
    [jaeger, 'traces'],
    [collector, 'metrics'],
  ] as const) {
    const before = rounds();
    await peer.stop();
    await until(`otlp_export degraded while ${peer.name} is down`, async () => (await otlpCheck())?.status === 'degraded');
    const check = await otlpCheck();
    t.ok((check?.details?.[signal]?.dropped ?? 0) > 0, `${peer.name} down: dropped ${signal} counted`);
    // The outage lasts a few export intervals and several rounds of work.
    const during = rounds();
    await sleep(2000);
    t.ok(rounds() > during, `${peer.name} down: the lab keeps working (${rounds() - before} rounds so far)`);
    t.equal(warnings(signal), 1, `${peer.name} down: one ${signal} warning for this outage`);

    await peer.start();
    if (peer === jaeger) await until('new sessions in the restarted Jaeger', async () => (await jaegerSessions(jaeger)) > 0);
    else await until('APDU counts at the restarted Collector', async () => (await collectorApdus(collector)) > 0);
    await until(`otlp_export healthy after ${peer.name} came back`, async () => (await otlpCheck())?.status === 'healthy');
    t.pass(`${peer.name} back: exports resumed and otlp_export is healthy again`);
  }
  t.equal(warnings('traces'), 1, 'one traces warning in all (Jaeger\'s outage)');
  t.equal(warnings('metrics'), 1, 'one metrics warning in all (the Collector\'s outage)');

  app.kill('SIGUSR2');
  const line = await app.waitForLine(/^summary /, 20_000);
  const summary = JSON.parse(line.slice('summary '.length)) as { rounds: number; differing: number; unhandled: number };
  t.ok(summary.rounds > 5, `rounds done: ${summary.rounds}`);
  t.equal(summary.differing, 0, 'every round had the results of the first, outages or not');
  t.equal(summary.unhandled, 0, 'no unhandled rejection or exception');
  const lines = app.stderr().split('\n').filter((l) => l.trim() !== '');
  t.ok(lines.every((l) => l.startsWith('cardlink-otel:')), `only our own lines on stderr:\n${app.stderr()}`);
  t.equal(lines.length, 2, 'nothing else printed');
  await app.waitForExit(15_000);
});
