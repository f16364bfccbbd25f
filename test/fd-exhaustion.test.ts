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
 *   throws synchronously (process.memoryUsage() needs a descriptor to read /proc).
 */
import t from 'tap';
import { request } from './helpers/http.js';
import { appCommand, floodBoth, startFdApp } from './helpers/flood.js';
import { LISTENER_BOUNDS, connectionCap } from '../src/listen.js';

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
