/**
 * Running out of file descriptors, in a child started as `bash -c 'ulimit -n 256; exec node
 * --import ./register.js app'` (test/fixtures/apps/fd-app.mjs, which has no handler for anything
 * thrown at it):
 *
 * - a flood of 300 idle connections on each of our ports: our listeners hold at most their cap
 *   (a thirty-second of 256), the application's own accept, open, spawn and monitor() go on,
 *   the process lives, and a scrape succeeds once the flood is gone;
 * - the application itself uses up its descriptors: monitor() then settles as the application's
 *   function does (resolves its value, or rejects with the function's own EMFILE), and never
 *   throws synchronously (process.memoryUsage() needs a descriptor to read /proc);
 * - while the application holds every descriptor, a scrape and a health report over connections
 *   opened before (Prometheus keeps its connection between scrapes) still carry the process's
 *   memory, its descriptor count (the limit itself) and its uptime; the memory check is not
 *   failed by EMFILE, and the descriptors check is unhealthy (none left).
 */
import http from 'node:http';
import t from 'tap';
import { request } from './helpers/http.js';
import { appCommand, appSession, floodBoth, startFdApp } from './helpers/flood.js';
import { LISTENER_BOUNDS, connectionCap } from '../src/listen.js';
import { getSample, parsePrometheusText } from '../src/prom/text-parser.js';

const LIMIT = 256;
const CAP = connectionCap(LIMIT);

t.test(`ulimit -n ${LIMIT} and 300 idle connections per port: the app lives, our listeners keep ${CAP} each, telemetry recovers`, async (t) => {
  const a = await startFdApp(t, LIMIT);
  t.equal(await appCommand(a.app, 'work'), 'ok', 'the app works before');
  const results: string[] = [];
  const r = await floodBoth(a, 300, CAP, LISTENER_BOUNDS.headersTimeoutMs + 10_000, async () => {
    for (let i = 0; i < 3; i++) results.push(await appCommand(a.app, 'work'));
  });
  t.comment(`metrics ${JSON.stringify(r.metrics)}, health ${JSON.stringify(r.health)}`);
  t.same(results, ['ok', 'ok', 'ok'], "the app's accept, open, spawn and monitor() while the flood holds");
  for (const [name, f] of Object.entries(r)) {
    t.ok(f.timedOut <= CAP, `${name}: at most ${CAP} connections kept (${f.timedOut})`);
    t.equal(f.stillOpen, 0, `${name}: every connection closed by the server`);
  }
  t.equal(a.child.child.exitCode, null, 'the process is alive');
  const scrape = await request(a.metrics, '/metrics');
  t.equal(scrape.status, 200, 'a scrape succeeds once the flood is gone');
  t.match(scrape.body, /cardlink_operation_duration_seconds_count\{operation="app\.work"[^}]*\} [4-9]/, 'with the monitored work in it');
  t.equal((await request(a.health, '/health/live')).status, 200, 'liveness too');
  t.equal(await appCommand(a.app, 'work'), 'ok', 'the app works after');
  t.notMatch(a.child.stderr(), /cannot serve/, 'no listener reported as not served');
});

t.test('no descriptor left: monitor() settles as the function does and never throws synchronously', async (t) => {
  const a = await startFdApp(t, LIMIT);
  const answer = JSON.parse(await appCommand(a.app, 'exhaust')) as Record<string, unknown>;
  t.same(answer, { filled: 'EMFILE', syncThrow: null, value: 42, rejected: 'EMFILE' }, JSON.stringify(answer));
  t.equal(a.child.child.exitCode, null, 'the process is alive');
  const scrape = await request(a.metrics, '/metrics');
  t.match(scrape.body, /cardlink_operation_duration_seconds_count\{operation="app\.exhausted"[^}]*\} 2/, 'both calls recorded');
});

/** The value of a sample in a scrape's text (the first whose labels include `labels`). */
function sample(text: string, name: string, labels?: Record<string, string>): number | undefined {
  return getSample(parsePrometheusText(text).families, name, labels)?.value;
}

t.test('every descriptor held by the app: a scrape and a health report on open connections still tell memory, descriptors and uptime', async (t) => {
  const a = await startFdApp(t, LIMIT, { CARDLINK_HEALTH_DETAILS: 'true', CARDLINK_HEALTH_CACHE_MS: '0' });
  const agents = [new http.Agent({ keepAlive: true, maxSockets: 1 }), new http.Agent({ keepAlive: true, maxSockets: 1 })];
  t.teardown(() => agents.forEach((x) => x.destroy()));
  const [metricsAgent, healthAgent] = agents as [http.Agent, http.Agent];
  const before = await request(a.metrics, '/metrics', { agent: metricsAgent });
  t.equal(before.status, 200);
  const fdsBefore = sample(before.body, 'cardlink_process_open_fds');
  t.ok(fdsBefore !== undefined && fdsBefore > 0 && fdsBefore < LIMIT, `open descriptors before: ${fdsBefore}`);
  const first = await request(a.health, '/health', { agent: healthAgent });
  t.equal(first.status, 200, 'health connection open');
  const firstChecks = (JSON.parse(first.body) as { checks: Array<{ name: string; status: string; details?: Record<string, unknown> }> }).checks;
  t.match(firstChecks.find((c) => c.name === 'descriptors'), { status: 'healthy', details: { limit: LIMIT } }, 'descriptors healthy before');

  const session = await appSession(a.app);
  t.teardown(() => session.close());
  t.equal(await session.send('hold'), 'held EMFILE', 'the app took every descriptor');
  const during = await request(a.metrics, '/metrics', { agent: metricsAgent });
  const report = await request(a.health, '/health', { agent: healthAgent });
  t.match(await session.send('release'), /^released [1-9]\d*$/, 'the app let them go');
  t.ok(during.reused && report.reused, 'both asked over the connections opened before');

  t.equal(during.status, 200, 'the scrape is answered');
  t.equal(sample(during.body, 'cardlink_process_open_fds'), LIMIT, 'open descriptors: the limit itself');
  for (const type of ['rss', 'vms', 'heap_used']) {
    const v = sample(during.body, 'cardlink_process_memory_bytes', { type });
    t.ok(v !== undefined && v > 1_000_000, `memory ${type}: ${v}`);
  }
  // A collection that failed part-way keeps reporting the values of the one before.
  t.ok((sample(during.body, 'cardlink_uptime_seconds') ?? 0) > (sample(before.body, 'cardlink_uptime_seconds') ?? Infinity), 'uptime read again');
  t.match(during.body, /cardlink_build_info\{/, 'build info');

  const health = JSON.parse(report.body) as { checks: Array<{ name: string; status: string; message?: string; details?: Record<string, unknown> }> };
  const memory = health.checks.find((c) => c.name === 'memory');
  t.not(memory?.status, 'unhealthy', `memory check: ${memory?.status} ${memory?.message ?? ''}`);
  t.ok(Number(memory?.details?.['rss_bytes']) > 1_000_000, `memory check rss: ${String(memory?.details?.['rss_bytes'])}`);

  const descriptors = health.checks.find((c) => c.name === 'descriptors');
  t.match(descriptors, { status: 'unhealthy', message: `no descriptor left (${LIMIT} of ${LIMIT} open)` }, 'the descriptors check says so');

  const after = await request(a.metrics, '/metrics');
  const fdsAfter = sample(after.body, 'cardlink_process_open_fds');
  t.ok(fdsAfter !== undefined && fdsAfter < LIMIT, `descriptors counted again after release: ${fdsAfter}`);
  t.equal(a.child.child.exitCode, null, 'the process is alive');
});
