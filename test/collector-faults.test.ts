/**
 * The telemetry path misbehaves; the application must not notice. A steady workload runs under
 * `--import ./register.js` against an OTLP endpoint that refuses connections, hangs, answers
 * UNAVAILABLE / RESOURCE_EXHAUSTED, is slow, and comes back later.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { runNode, freePort, REPO_ROOT } from './helpers/child.js';
import { scrape } from './helpers/scrape.js';
import { startOtlpReceiver, type FaultMode } from './fixtures/otlp-receiver.js';

const APP = join(REPO_ROOT, 'test/fixtures/apps/steady-app.mjs');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Summary {
  units: number;
  checksum: number;
  p50: number;
  p99: number;
  max: number;
  unhandled: number;
}

async function runWorkload(t: Test, endpoint: string | undefined, during: (metricsPort: number) => Promise<void>) {
  const metricsPort = await freePort();
  const env: Record<string, string> = {
    OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
    OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_METRIC_EXPORT_INTERVAL: '300',
    OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
    CARDLINK_HEALTH_ENABLED: 'false',
  };
  if (endpoint !== undefined) env['OTEL_EXPORTER_OTLP_ENDPOINT'] = endpoint;
  const child = runNode({ t, importRegister: true, args: [APP], env, timeoutMs: 60_000 });
  await child.waitForLine(/^ready/, 15_000);
  await during(metricsPort);
  child.kill('SIGUSR2');
  const line = await child.waitForLine(/^\{/, 10_000);
  await child.waitForExit(10_000);
  return { summary: JSON.parse(line) as Summary, stderr: child.stderr() };
}

t.test('baseline: no collector configured', async (t) => {
  const { summary, stderr } = await runWorkload(t, undefined, () => sleep(1500));
  t.ok(summary.units > 100);
  t.equal(summary.unhandled, 0);
  t.equal(stderr.trim(), '', 'nothing printed');
});

const modes: Array<[string, FaultMode | 'refused']> = [
  ['refusing connections', 'refused'],
  ['accepting and never answering', 'hang'],
  ['answering UNAVAILABLE', 'unavailable'],
  ['answering RESOURCE_EXHAUSTED', 'resource_exhausted'],
  ['slow (2 s per export)', { delayMs: 2000 }],
];

for (const [label, mode] of modes) {
  t.test(`collector ${label}: the app is unaffected, /metrics serves, one warning per signal`, async (t) => {
    let endpoint: string;
    let receiver: Awaited<ReturnType<typeof startOtlpReceiver>> | undefined;
    if (mode === 'refused') endpoint = `http://127.0.0.1:${await freePort()}`;
    else {
      receiver = await startOtlpReceiver({ mode });
      t.teardown(() => receiver?.close());
      endpoint = receiver.endpoint;
    }
    let scrapes = 0;
    const { summary, stderr } = await runWorkload(t, endpoint, async (port) => {
      const until = Date.now() + 2500;
      while (Date.now() < until) {
        // The first attempt may race the server's listen(); every later one must succeed.
        const r = await scrape(`http://127.0.0.1:${port}/metrics`, { timeoutMs: 2000 }).catch(() => undefined);
        if (r?.status === 200 && r.families.has('cardlink_uptime_seconds')) scrapes++;
        await sleep(250);
      }
    });
    t.ok(scrapes >= 5, `/metrics kept serving (${scrapes} scrapes)`);
    t.equal(summary.unhandled, 0, 'no unhandled rejection or exception');
    t.ok(summary.units > 200, `the workload kept its pace (${summary.units} units)`);
    // A stall detector, not a timing goal: an export that blocked the event loop would hold timers
    // for seconds; a loaded 2-core machine delays them by tens of ms.
    t.ok(summary.p99 < 500, `no event-loop stall (timer p99 lateness ${summary.p99.toFixed(1)} ms)`);
    const lines = stderr.split('\n').filter((l) => l.trim() !== '');
    t.ok(lines.every((l) => l.startsWith('cardlink-otel:')), `only our own lines:\n${stderr}`);
    for (const signal of ['traces', 'metrics']) {
      t.ok(lines.filter((l) => l.includes(`OTLP ${signal} export`)).length <= 1, `at most one ${signal} warning`);
    }
    if (typeof mode === 'string') {
      t.ok(lines.some((l) => /OTLP (traces|metrics) export .* failed/.test(l)), 'the failure is visible');
    }
  });
}

t.test('the collector comes back: exports resume', async (t) => {
  const port = await freePort();
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>> | undefined;
  t.teardown(() => receiver?.close());
  const { summary, stderr } = await runWorkload(t, `http://127.0.0.1:${port}`, async () => {
    await sleep(1500); // nothing listening yet: exports fail
    receiver = await startOtlpReceiver({ port });
    await receiver.waitFor((r) => r.spans.some((s) => s.name === 'unit'), 15_000, 'spans after the collector came back');
    await receiver.waitFor((r) => r.metrics.some((m) => m.name === 'cardlink.uptime'), 15_000, 'metrics after it came back');
  });
  t.equal(summary.unhandled, 0);
  t.ok(receiver !== undefined && receiver.spans.length > 0, 'spans exported once the collector returned');
  t.match(stderr, /OTLP (traces|metrics) export .* failed/, 'the outage was reported');
});

t.test('an outage is visible in health: otlp_export degraded with dropped counts, readiness still 200', async (t) => {
  const healthPort = await freePort();
  const child = runNode({
    t,
    importRegister: true,
    args: [APP],
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRIC_EXPORT_INTERVAL: '200',
      CARDLINK_HEALTH_PORT: String(healthPort),
      CARDLINK_HEALTH_HOST: '127.0.0.1',
      CARDLINK_HEALTH_CACHE_MS: '0',
      CARDLINK_HEALTH_DETAILS: 'true',
    },
    timeoutMs: 30_000,
  });
  await child.waitForLine(/^ready/, 15_000);
  const http = await import('node:http');
  const get = () =>
    new Promise<{ status: number; body: { status: string; checks: Array<{ name: string; status: string; details?: Record<string, { dropped?: number }> }> } }>(
      (resolve, reject) =>
        http
          .get({ host: '127.0.0.1', port: healthPort, path: '/health/ready' }, (res) => {
            let b = '';
            res.setEncoding('utf8').on('data', (d: string) => (b += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(b) }));
          })
          .on('error', reject),
    );
  let r = await get().catch(() => undefined);
  for (let i = 0; i < 50 && (r?.body.checks.find((c) => c.name === 'otlp_export')?.details?.['traces']?.dropped ?? 0) === 0; i++) {
    await sleep(200);
    r = await get().catch(() => undefined);
  }
  const check = r?.body.checks.find((c) => c.name === 'otlp_export');
  t.equal(r?.status, 200, 'telemetry never makes the application unready');
  t.equal(r?.body.status, 'degraded');
  t.equal(check?.status, 'degraded');
  t.ok((check?.details?.['traces']?.dropped ?? 0) > 0, `dropped spans counted (${check?.details?.['traces']?.dropped})`);
  child.kill('SIGUSR2');
  await child.waitForExit(10_000);
});
