/**
 * Health endpoints end to end: a lab application under `node --import ./register.js` that registers
 * its own checks through `import { registerCheck } from 'cardlink-otel'`.
 *
 * (The serial-port variant of the acceptance test, with a socat pty that is stopped, needs the
 * serialport instrumentation's resource check and lives with that instrumentation.)
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, runNode, REPO_ROOT } from './helpers/child.js';
import { INSTRUMENTATION_FACTORIES } from '../src/instrumentation-registry.js';
import { connectionCap } from '../src/listen.js';
import { request as httpRequest, type Answer } from './helpers/http.js';

const APP = join(REPO_ROOT, 'test/fixtures/health/lab-app.mjs');

interface Report {
  status: string;
  timestamp: string;
  checks: Array<{ name: string; status: string; message: string; duration_ms: number; details: Record<string, unknown> }>;
}

/** The lab app's endpoints, each request bounded at 15 s (200 probes at once share the machine with the app). */
const request = (port: number, path: string, method = 'GET'): Promise<Answer> => httpRequest(port, path, { method, timeoutMs: 15_000 });

const parse = (a: Answer): Report => JSON.parse(a.body) as Report;
const check = (r: Report, name: string) => r.checks.find((c) => c.name === name);

/** The lab app under register.js; these tests read the checks' details, so they are shown unless `env` says otherwise. */
async function startApp(t: { teardown(fn: () => unknown): void }, env: Record<string, string>): Promise<number> {
  const port = await freePort();
  const child = runNode({
    t,
    importRegister: true,
    args: [APP],
    env: {
      CARDLINK_HEALTH_PORT: String(port),
      CARDLINK_HEALTH_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: '0',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      CARDLINK_HEALTH_DETAILS: 'true',
      ...env,
    },
  });
  await child.waitForLine(/^ready$/, 15_000);
  const until = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await request(port, '/health/live')).status === 200) return port;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > until) throw new Error(`no health endpoint on ${port}\n${child.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('healthy app: built-in and custom checks, 200; an unhealthy custom check: ready 503, live 200', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cardlink-health-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'reader-state');
  writeFileSync(state, 'healthy');
  const port = await startApp(t, { APP_STATE_FILE: state, CARDLINK_HEALTH_CACHE_MS: '0' });

  const ready = await request(port, '/health/ready');
  t.equal(ready.status, 200);
  const r = parse(ready);
  t.equal(r.status, 'healthy');
  t.same(
    r.checks.map((c) => c.name),
    ['disk', 'memory', 'descriptors', 'database', 'metrics_endpoint', 'card_reader', 'counted'],
    'built-in checks first (the SDK starts before the app), then the app in registration order',
  );
  for (const c of r.checks) t.same(Object.keys(c), ['name', 'status', 'message', 'duration_ms', 'details'], c.name);
  t.equal(check(r, 'card_reader')?.message, 'reader healthy');
  t.match(check(r, 'disk')?.details, { path: REPO_ROOT, threshold_percent: 90 });
  t.match(check(r, 'database'), { status: 'healthy', message: 'no open database' });
  t.equal((await request(port, '/health')).status, 200);
  const head = await request(port, '/health/ready', 'HEAD');
  t.equal(head.status, 200);
  t.equal(head.body, '');
  t.equal((await request(port, '/nope')).status, 404);
  t.equal((await request(port, '/health/ready', 'POST')).status, 405);

  writeFileSync(state, 'unhealthy');
  const down = await request(port, '/health/ready');
  t.equal(down.status, 503, 'readiness follows the check');
  t.equal(parse(down).status, 'unhealthy');
  t.equal(check(parse(down), 'card_reader')?.status, 'unhealthy');
  const live = await request(port, '/health/live');
  t.equal(live.status, 200, 'liveness does not depend on checks');
  t.equal(parse(live).status, 'healthy');

  writeFileSync(state, 'throw');
  const thrown = parse(await request(port, '/health'));
  t.match(check(thrown, 'card_reader'), { status: 'unhealthy', message: 'PC/SC reader unplugged' });

  writeFileSync(state, 'degraded');
  const degraded = await request(port, '/health/ready');
  t.equal(degraded.status, 200, 'degraded stays ready');
  t.equal(parse(degraded).status, 'degraded');
});

t.test('a hanging check is cut at its limit; the endpoint answers within limit + 1 s; live is immediate', async (t) => {
  const port = await startApp(t, { APP_HANG: '1', CARDLINK_HEALTH_CHECK_TIMEOUT_MS: '1000', CARDLINK_HEALTH_CACHE_MS: '0' });
  const pending = request(port, '/health/ready');
  await new Promise((r) => setTimeout(r, 100));
  const live = await request(port, '/health/live');
  t.equal(live.status, 200);
  t.ok(live.ms < 500, `live answered in ${live.ms} ms while a check hangs`);
  const ready = await pending;
  t.ok(ready.ms >= 900 && ready.ms < 2000, `ready answered in ${ready.ms} ms`);
  t.equal(ready.status, 503);
  const r = parse(ready);
  t.match(check(r, 'stuck_dependency'), { status: 'timeout', message: 'no answer within 1000 ms' });
  t.equal(check(r, 'card_reader')?.status, 'healthy', 'the other checks still report');
  const again = await request(port, '/health/ready');
  t.ok(again.ms < 2000, `the next probe is bounded too (${again.ms} ms)`);
  t.match(check(parse(again), 'stuck_dependency')?.message, /still running since/, 'the hanging call is not repeated');
});

// Nearly as many probes at once as the listener takes connections (the app inherits this
// process' limits): a few spare for the connections of earlier requests, still closing.
const PARALLEL = connectionCap() - 4;

t.test(`${PARALLEL} parallel probes (near the connection cap) cause one check run`, async (t) => {
  const port = await startApp(t, { APP_CHECK_DELAY_MS: '400', CARDLINK_HEALTH_CACHE_MS: '0' });
  const invocations = (r: Report): unknown => check(r, 'counted')?.details['invocations'];
  const before = invocations(parse(await request(port, '/health/ready')));
  t.equal(before, 1);
  const answers = await Promise.all(Array.from({ length: PARALLEL }, () => request(port, '/health/ready')));
  t.ok(answers.every((a) => a.status === 200), 'all answered');
  const seen = new Set(answers.map((a) => invocations(parse(a))));
  t.same([...seen], [2], 'every probe got the result of the same, single run');

  // With the default cache (1 s) a second storm right after is served without running anything.
  const cachedPort = await startApp(t, { APP_CHECK_DELAY_MS: '50' });
  await request(cachedPort, '/health/ready');
  const storm = await Promise.all(Array.from({ length: PARALLEL }, () => request(cachedPort, '/health/ready')));
  t.same([...new Set(storm.map((a) => invocations(parse(a))))], [1], 'served from the cache');
});

t.test('a bare probe learns the status and the check names; the /metrics credentials show the rest', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cardlink-health-details-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'lab.db');
  const auth = { CARDLINK_METRICS_USERNAME: 'ops', CARDLINK_METRICS_PASSWORD: 'lab-pass-7' };
  const port = await startApp(t, { ...auth, APP_SQLITE: file, CARDLINK_HEALTH_DETAILS: 'false', CARDLINK_HEALTH_CACHE_MS: '0' });
  const names = ['disk', 'memory', 'descriptors', 'database', 'metrics_endpoint', 'card_reader', 'counted'];

  const bare = await request(port, '/health/ready');
  t.equal(bare.status, 200);
  const r = JSON.parse(bare.body) as { status: string; timestamp: string; checks: Array<Record<string, unknown>> };
  t.same(Object.keys(r), ['status', 'timestamp', 'checks']);
  t.same(r.checks, names.map((name) => ({ name, status: 'healthy' })), 'name and status of each check, nothing else');
  for (const secret of [REPO_ROOT, file, 'heap', 'rss', '/metrics', 'reader healthy']) t.notOk(bare.body.includes(secret), `no ${secret}`);

  const basic = `Basic ${Buffer.from('ops:lab-pass-7').toString('base64')}`;
  const full = await httpRequest(port, '/health/ready', { headers: { authorization: basic }, timeoutMs: 15_000 });
  const fr = parse(full);
  t.match(check(fr, 'disk')?.details, { path: REPO_ROOT });
  t.match(check(fr, 'database')?.details, { databases: [{ namespace: file }] });
  t.equal(check(fr, 'card_reader')?.message, 'reader healthy');
  const wrong = await httpRequest(port, '/health', { headers: { authorization: `Basic ${Buffer.from('ops:nope').toString('base64')}` }, timeoutMs: 15_000 });
  t.equal(wrong.status, 401);
});

t.test(
  'a SQLite database the app opened is probed by the database check',
  { skip: INSTRUMENTATION_FACTORIES.sqlite === undefined ? 'the sqlite instrumentation is not in the registry yet' : false },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cardlink-health-db-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'lab.db');
    const port = await startApp(t, { APP_SQLITE: file, CARDLINK_HEALTH_CACHE_MS: '0' });
    const ready = await request(port, '/health/ready');
    t.equal(ready.status, 200);
    t.match(check(parse(ready), 'database'), {
      status: 'healthy',
      message: '1 database(s) answer',
      details: { databases: [{ system: 'sqlite', kind: 'database', namespace: file, status: 'ok' }] },
    });
  },
);

t.test('CARDLINK_HEALTH_ENABLED=false: no health port', async (t) => {
  const port = await freePort();
  const child = runNode({
    t,
    importRegister: true,
    args: [APP],
    env: { CARDLINK_HEALTH_ENABLED: 'false', CARDLINK_HEALTH_PORT: String(port), OTEL_EXPORTER_PROMETHEUS_PORT: '0' },
  });
  await child.waitForLine(/^ready$/, 15_000);
  await new Promise((r) => setTimeout(r, 300));
  await t.rejects(request(port, '/health/live'), /ECONNREFUSED/);
});
