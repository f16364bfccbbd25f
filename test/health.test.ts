/**
 * Health checks in-process: the registry, the runner (concurrency, time limits, throwing checks,
 * shared in-flight runs, cache, aggregation), resource groups (the instrumentations' hook) and the
 * built-in disk / memory / OTLP / metrics-endpoint checks with injected readings.
 */
import t from 'tap';
import { createServer } from 'node:net';
import {
  aggregate,
  checkNames,
  createHealthRunner,
  databaseCheck,
  diskCheck,
  memoryCheck,
  descriptorsCheck,
  metricsEndpointCheck,
  normaliseResult,
  otlpExportCheck,
  registerCheck,
  registerResourceCheck,
  trackedResources,
  unregisterCheck,
  MAX_RESOURCES_PER_GROUP,
  type CheckReport,
  type HealthReport,
} from '../src/health/index.js';
import type { ExportStatus } from '../src/export-status.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every test starts from an empty registry. */
t.beforeEach(() => {
  for (const n of checkNames()) unregisterCheck(n);
});

const byName = (r: HealthReport, name: string): CheckReport => {
  const c = r.checks.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no check ${name} in ${JSON.stringify(r)}`);
  return c;
};

t.test('no checks: healthy, and the report has the contract shape', async (t) => {
  const r = await createHealthRunner({ timeoutMs: 1000, cacheMs: 0 }).ready();
  t.same(Object.keys(r).sort(), ['checks', 'status', 'timestamp']);
  t.equal(r.status, 'healthy');
  t.same(r.checks, []);
  t.match(r.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
});

t.test('return values: result object, bare status, boolean, nothing, garbage', async (t) => {
  registerCheck('object', () => ({ status: 'degraded', message: 'slow', details: { latency_ms: 900 } }));
  registerCheck('bare', async () => 'healthy' as const);
  registerCheck('true', () => true);
  registerCheck('false', () => false);
  registerCheck('void', () => undefined);
  registerCheck('garbage', () => ({ status: 'fine' }) as never);
  const r = await createHealthRunner({ timeoutMs: 1000, cacheMs: 0 }).ready();
  t.same(
    r.checks.map((c) => [c.name, c.status]),
    [
      ['object', 'degraded'],
      ['bare', 'healthy'],
      ['true', 'healthy'],
      ['false', 'unhealthy'],
      ['void', 'healthy'],
      ['garbage', 'unhealthy'],
    ],
    'registration order, normalised statuses',
  );
  const o = byName(r, 'object');
  t.same(Object.keys(o).sort(), ['details', 'duration_ms', 'message', 'name', 'status']);
  t.equal(o.message, 'slow');
  t.same(o.details, { latency_ms: 900 });
  t.equal(byName(r, 'bare').message, 'ok');
  t.same(byName(r, 'bare').details, {});
  t.type(o.duration_ms, 'number');
  t.equal(r.status, 'unhealthy');
  t.same(normaliseResult('nope'), { status: 'unhealthy', message: 'check returned an unknown status "nope"' });
});

t.test('a throwing or rejecting check is unhealthy with its message, never its stack', async (t) => {
  registerCheck('sync-throw', () => {
    throw new Error('serial port /dev/ttyUSB2 vanished');
  });
  registerCheck('async-reject', async () => {
    await sleep(5);
    throw new Error('connect ECONNREFUSED postgres://lab:hunter2@db:5432');
  });
  registerCheck('throws-string', () => {
    throw 'plain string';
  });
  const r = await createHealthRunner({ timeoutMs: 1000, cacheMs: 0 }).ready();
  t.equal(byName(r, 'sync-throw').status, 'unhealthy');
  t.equal(byName(r, 'sync-throw').message, 'serial port /dev/ttyUSB2 vanished');
  t.equal(byName(r, 'async-reject').message, 'connect ECONNREFUSED postgres://lab:***@db:5432', 'password redacted');
  t.equal(byName(r, 'throws-string').message, 'plain string');
  t.notMatch(JSON.stringify(r), /at .*health\.test/, 'no stack trace');
});

t.test('checks run concurrently; a hanging one is cut at its limit and reported as timeout', async (t) => {
  let aborted = false;
  registerCheck('slow-a', () => sleep(300).then(() => 'healthy' as const));
  registerCheck('slow-b', () => sleep(300).then(() => 'healthy' as const));
  registerCheck('hangs', ({ signal }) => {
    signal.addEventListener('abort', () => (aborted = true));
    return new Promise(() => undefined);
  });
  registerCheck('own-limit', () => sleep(1000).then(() => 'healthy' as const), { timeoutMs: 100 });
  const started = Date.now();
  const r = await createHealthRunner({ timeoutMs: 500, cacheMs: 0 }).ready();
  const took = Date.now() - started;
  t.ok(took >= 480 && took < 800, `done after the longest limit (${took} ms), not the sum`);
  t.equal(byName(r, 'slow-a').status, 'healthy');
  t.equal(byName(r, 'slow-b').status, 'healthy');
  t.ok(byName(r, 'slow-a').duration_ms < 450, 'ran concurrently');
  t.equal(byName(r, 'hangs').status, 'timeout');
  t.equal(byName(r, 'hangs').message, 'no answer within 500 ms');
  t.ok(byName(r, 'hangs').duration_ms >= 490);
  t.equal(byName(r, 'own-limit').status, 'timeout');
  t.ok(byName(r, 'own-limit').duration_ms < 300, 'per-check limit');
  t.ok(aborted, 'the signal told the check to stop');
  t.equal(r.status, 'unhealthy', 'a critical timeout is unhealthy');
});

t.test('a hanging check is not started again while it hangs', async (t) => {
  let calls = 0;
  let release: (() => void) | undefined;
  registerCheck('stuck', () => {
    calls++;
    return new Promise<void>((resolve) => (release = resolve));
  });
  const runner = createHealthRunner({ timeoutMs: 100, cacheMs: 0 });
  const first = await runner.ready();
  const second = await runner.ready();
  t.equal(calls, 1, 'joined the hanging invocation');
  t.equal(byName(first, 'stuck').status, 'timeout');
  t.equal(byName(second, 'stuck').status, 'timeout');
  t.match(byName(second, 'stuck').message, /^no answer within 100 ms \(still running since \d+ ms\)$/);
  t.ok(byName(second, 'stuck').duration_ms < 200, 'still bounded by the limit');
  release?.();
  await sleep(10);
  const third = await runner.ready();
  t.equal(calls, 2, 'a fresh invocation once the old one settled');
  t.equal(byName(third, 'stuck').status, 'timeout');
  release?.();
});

t.test('concurrent probes share one in-flight run; the cache answers for cacheMs', async (t) => {
  let calls = 0;
  registerCheck('counted', async () => {
    calls++;
    await sleep(50);
    return { status: 'healthy', details: { calls } };
  });
  const runner = createHealthRunner({ timeoutMs: 1000, cacheMs: 0 });
  const reports = await Promise.all(Array.from({ length: 200 }, () => runner.ready()));
  t.equal(calls, 1, '200 concurrent probes, one run');
  t.equal(runner.runs, 1);
  t.ok(reports.every((r) => r === reports[0]), 'the same report');
  await runner.ready();
  t.equal(calls, 2, 'no cache: the next probe runs again');

  const cached = createHealthRunner({ timeoutMs: 1000, cacheMs: 300 });
  const a = await cached.ready();
  const b = await cached.ready();
  t.equal(a, b, 'served from the cache');
  t.equal(calls, 3);
  await sleep(320);
  await cached.ready();
  t.equal(calls, 4, 'cache expired');
});

t.test('liveness never runs a check', async (t) => {
  let calls = 0;
  registerCheck('never-for-live', () => {
    calls++;
    return false;
  });
  const runner = createHealthRunner({ timeoutMs: 1000, cacheMs: 0 });
  const live = runner.live();
  t.equal(live.status, 'healthy');
  t.same(live.checks, []);
  t.equal(calls, 0);
});

t.test('aggregation: unhealthy > degraded > healthy; non-critical failures only degrade', async (t) => {
  const rep = (status: CheckReport['status']): CheckReport => ({ name: 'x', status, message: '', duration_ms: 0, details: {} });
  t.equal(aggregate([]), 'healthy');
  t.equal(aggregate([{ report: rep('healthy'), critical: true }]), 'healthy');
  t.equal(aggregate([{ report: rep('degraded'), critical: true }, { report: rep('healthy'), critical: true }]), 'degraded');
  t.equal(aggregate([{ report: rep('degraded'), critical: true }, { report: rep('unhealthy'), critical: true }]), 'unhealthy');
  t.equal(aggregate([{ report: rep('timeout'), critical: true }]), 'unhealthy');
  t.equal(aggregate([{ report: rep('unhealthy'), critical: false }]), 'degraded');
  t.equal(aggregate([{ report: rep('timeout'), critical: false }, { report: rep('healthy'), critical: true }]), 'degraded');

  registerCheck('optional-modem', () => false, { critical: false });
  const r = await createHealthRunner({ timeoutMs: 1000, cacheMs: 0 }).ready();
  t.equal(byName(r, 'optional-modem').status, 'unhealthy', 'the check itself says what it is');
  t.equal(r.status, 'degraded', 'but readiness stays up');
});

t.test('registry: replace, unregister, disposer only removes its own registration, bad input', async (t) => {
  const undoFirst = registerCheck('db', () => false);
  registerCheck('other', () => true);
  registerCheck('db', () => true);
  t.same(checkNames(), ['other', 'db'], 're-registering moves the check to the end');
  undoFirst();
  t.same(checkNames(), ['other', 'db'], "the old disposer does not remove the new registration");
  const r = await createHealthRunner({ timeoutMs: 1000, cacheMs: 0 }).ready();
  t.equal(byName(r, 'db').status, 'healthy', 'the replacement runs');
  t.equal(unregisterCheck('db'), true);
  t.equal(unregisterCheck('db'), false);
  t.same(checkNames(), ['other']);
  t.throws(() => registerCheck('', () => true), TypeError);
  t.throws(() => registerCheck('x'.repeat(101), () => true), TypeError);
  t.throws(() => registerCheck('x', 'not a function' as never), TypeError);
  t.throws(() => registerCheck('x', () => true, { timeoutMs: -1 }), TypeError);
});

t.test('details are sanitised: secrets redacted, bytes summarised, cycles cut', async (t) => {
  const cyc: Record<string, unknown> = {};
  cyc['self'] = cyc;
  registerCheck('details', () => ({ status: 'healthy', details: { password: 'pw', url: 'postgres://u:pw2@h/db', raw: Buffer.alloc(3), cyc } }));
  const r = await createHealthRunner({ timeoutMs: 1000, cacheMs: 0 }).ready();
  const text = JSON.stringify(r);
  t.notMatch(text, /pw2|"pw"/);
  t.same(byName(r, 'details').details, { password: '[REDACTED]', url: 'postgres://u:***@h/db', raw: '[3 bytes]', cyc: { self: '[Circular]' } });
});

t.test('resource groups: one check per group, worst member wins, members bounded', async (t) => {
  let portOpen = true;
  const untrackA = registerResourceCheck('serialport', '/dev/ttyUSB0', () => (portOpen ? 'healthy' : { status: 'unhealthy', message: 'port closed' }));
  const untrackB = registerResourceCheck('serialport', '/dev/ttyUSB1', () => ({ status: 'healthy', details: { baud: 115200 } }));
  registerResourceCheck('database', 'sqlite:/var/lib/cardlink/lab.db', () => new Promise(() => undefined));
  t.same(checkNames(), ['serialport', 'database']);
  t.same(trackedResources('serialport'), ['/dev/ttyUSB0', '/dev/ttyUSB1']);

  const runner = createHealthRunner({ timeoutMs: 250, cacheMs: 0 });
  let r = await runner.ready();
  t.equal(byName(r, 'serialport').status, 'healthy');
  t.equal(byName(r, 'serialport').message, '2 serialport resource(s) ok');
  t.same(byName(r, 'serialport').details, {
    resources: {
      '/dev/ttyUSB0': { status: 'healthy', message: 'ok' },
      '/dev/ttyUSB1': { status: 'healthy', message: 'ok', details: { baud: 115200 } },
    },
  });
  const db = byName(r, 'database');
  t.equal(db.status, 'unhealthy', 'a stuck member is reported by the group, not as a group timeout');
  t.same(db.details, { resources: { 'sqlite:/var/lib/cardlink/lab.db': { status: 'timeout', message: 'no answer within 200 ms' } } });

  portOpen = false;
  r = await runner.ready();
  t.equal(byName(r, 'serialport').status, 'unhealthy');
  t.equal(byName(r, 'serialport').message, '1 of 2 not healthy: /dev/ttyUSB0: port closed');
  t.equal(r.status, 'unhealthy');

  untrackA();
  untrackA();
  t.same(trackedResources('serialport'), ['/dev/ttyUSB1']);
  untrackB();
  t.notOk(checkNames().includes('serialport'), 'the group leaves the report with its last member');

  const undo: Array<() => void> = [];
  for (let i = 0; i < MAX_RESOURCES_PER_GROUP + 5; i++) undo.push(registerResourceCheck('adb', `phone-${i}`, () => true));
  t.equal(trackedResources('adb').length, MAX_RESOURCES_PER_GROUP);
  for (const u of undo) u();
  t.notOk(checkNames().includes('adb'));
});

t.test('disk check: df arithmetic, threshold degrades, a full disk is unhealthy', async (t) => {
  const statfs = (bfree: number, bavail: number) => async () => ({ bsize: 4096, blocks: 1000, bfree, bavail });
  let r = await diskCheck('/data', 90, statfs(500, 450))({} as never);
  // used 500 of (500 + 450) usable = 52.6%
  t.equal(r && typeof r === 'object' ? r.status : r, 'healthy');
  t.same((r as { details: unknown }).details, {
    path: '/data',
    used_percent: 52.6,
    available_bytes: 450 * 4096,
    total_bytes: 1000 * 4096,
    threshold_percent: 90,
  });
  r = await diskCheck('/data', 50, statfs(500, 450))({} as never);
  t.equal((r as { status: string }).status, 'degraded');
  t.equal((r as { message: string }).message, 'disk 52.6% used (threshold 50%)');
  r = await diskCheck('/data', 90, statfs(50, 0))({} as never);
  t.equal((r as { status: string }).status, 'unhealthy');
  const real = await diskCheck('.', 100)({} as never);
  t.match(real, { details: { path: process.cwd() } }, 'works on this machine');
});

t.test('memory check: heap against its limit and system memory against its size', async (t) => {
  const reading = { heapUsed: 50, heapLimit: 100, limit: 1000, available: 800, rss: 10 };
  let r = memoryCheck(90, () => reading)({} as never) as { status: string; message: string; details: Record<string, number> };
  t.equal(r.status, 'healthy');
  t.equal(r.details['heap_used_percent'], 50);
  t.equal(r.details['system_used_percent'], 20);
  r = memoryCheck(90, () => ({ ...reading, heapUsed: 95 }))({} as never) as typeof r;
  t.equal(r.status, 'degraded');
  t.equal(r.message, 'heap 95% of its limit (threshold 90%)');
  r = memoryCheck(15, () => reading)({} as never) as typeof r;
  t.equal(r.message, 'heap 50% of its limit, memory 20% used (threshold 15%)');
  const real = memoryCheck(100)({} as never) as typeof r;
  t.ok(real.details['heap_limit_bytes']! > 0 && real.details['limit_bytes']! > 0, 'works on this machine');
});

t.test('descriptors check: open against the soft limit; none left is unhealthy', async (t) => {
  type R = { status: string; message: string; details?: Record<string, number | null> };
  const at = (open: number | undefined, limit: number | undefined, threshold = 90) => descriptorsCheck(threshold, () => ({ open, limit }))({} as never) as R;
  t.same(at(30, 1024), { status: 'healthy', message: '30 of 1024 descriptors open', details: { open: 30, limit: 1024, used_percent: 2.9, threshold_percent: 90 } });
  t.match(at(921, 1024), { status: 'healthy', details: { used_percent: 89.9 } }, 'just under the threshold');
  t.match(at(922, 1024), { status: 'degraded', message: '90% of descriptors open (922 of 1024, threshold 90%)' });
  t.match(at(100, 1024, 5), { status: 'degraded' }, 'its own threshold');
  t.match(at(256, 256), { status: 'unhealthy', message: 'no descriptor left (256 of 256 open)', details: { used_percent: 100 } });
  t.match(at(40, Infinity), { status: 'healthy', message: '40 descriptors open, no limit', details: { limit: null } });
  t.same(at(undefined, undefined), { status: 'healthy', message: 'descriptor count not available on this platform' });
  const real = descriptorsCheck(100)({} as never) as R;
  t.ok(real.details !== undefined && Number(real.details['open']) > 2 && Number(real.details['limit']) > Number(real.details['open']), `works on this machine: ${real.message}`);
});

t.test('OTLP export check: failing is degraded, endpoints redacted', async (t) => {
  const status = (over: Partial<ExportStatus>): ExportStatus => ({
    signal: 'traces',
    endpoint: 'http://alloy:4317',
    lastSuccessMs: undefined,
    lastFailureMs: undefined,
    lastError: undefined,
    consecutiveFailures: 0,
    exported: 0,
    dropped: 0,
    ...over,
  });
  t.same(otlpExportCheck(() => [])({} as never), { status: 'healthy', message: 'no OTLP exporter configured' });
  const ok = otlpExportCheck(() => [status({ lastSuccessMs: 0, exported: 5 })])({} as never) as { status: string; details: Record<string, unknown> };
  t.equal(ok.status, 'healthy');
  t.match(ok.details, { traces: { endpoint: 'http://alloy:4317', last_success: '1970-01-01T00:00:00.000Z', exported: 5 } });
  const bad = otlpExportCheck(() => [
    status({ signal: 'metrics', endpoint: 'https://u:tok@collector:4317', consecutiveFailures: 3, lastFailureMs: 1, lastError: '14 UNAVAILABLE', dropped: 7 }),
  ])({} as never) as { status: string; message: string; details: Record<string, { endpoint: string; last_error: string }> };
  t.equal(bad.status, 'degraded');
  t.equal(bad.message, 'OTLP export failing: metrics (14 UNAVAILABLE)');
  t.equal(bad.details['metrics']!.endpoint, 'https://u:***@collector:4317');
  t.equal(bad.details['metrics']!.last_error, '14 UNAVAILABLE');
});

t.test('database check: every tracked database probed, a failing one unhealthy, a busy one skipped', async (t) => {
  const ping = (results: Array<Record<string, unknown>>) => {
    const seen: number[] = [];
    const fn = async (timeoutMs: number) => {
      seen.push(timeoutMs);
      return results as never;
    };
    return { fn, seen };
  };
  const none = ping([]);
  t.same(await databaseCheck(none.fn)({ signal: new AbortController().signal, timeoutMs: 5000 }), { status: 'healthy', message: 'no open database' });
  t.same(none.seen, [4000], 'each probe gets 80% of the limit');

  const sqlite = { system: 'sqlite', kind: 'database', namespace: '/var/lib/cardlink/lab.db', server: undefined, ok: true, skipped: false, durationMs: 0.25, message: 'ok' };
  const pool = { system: 'postgresql', kind: 'pool', namespace: 'cardlink', server: 'db:5432', pool: { total: 2, idle: 1, waiting: 0 }, ok: false, skipped: false, durationMs: 4000, message: 'timeout after 4000 ms' };
  const busy = { system: 'postgresql', kind: 'client', namespace: 'reports', server: 'db:5432', ok: true, skipped: true, durationMs: 0, message: 'skipped: busy' };
  const good = await databaseCheck(ping([sqlite, busy]).fn)({ signal: new AbortController().signal, timeoutMs: 5000 });
  t.match(good, { status: 'healthy', message: '2 database(s) answer' });
  const bad = (await databaseCheck(ping([sqlite, pool, busy]).fn)({ signal: new AbortController().signal, timeoutMs: 5000 })) as {
    status: string;
    message: string;
    details: { databases: unknown[] };
  };
  t.equal(bad.status, 'unhealthy');
  t.equal(bad.message, '1 of 3 not answering: postgresql cardlink: timeout after 4000 ms');
  t.same(bad.details.databases, [
    { system: 'sqlite', kind: 'database', namespace: '/var/lib/cardlink/lab.db', status: 'ok', message: 'ok', duration_ms: 0.3 },
    { system: 'postgresql', kind: 'pool', namespace: 'cardlink', server: 'db:5432', pool: { total: 2, idle: 1, waiting: 0 }, status: 'failed', message: 'timeout after 4000 ms', duration_ms: 4000 },
    { system: 'postgresql', kind: 'client', namespace: 'reports', server: 'db:5432', status: 'skipped', message: 'skipped: busy', duration_ms: 0 },
  ]);
  const real = await databaseCheck()({ signal: new AbortController().signal, timeoutMs: 1000 });
  t.same(real, { status: 'healthy', message: 'no open database' }, "the db instrumentations' hook, nothing open in this process");
});

t.test('metrics endpoint check: listening or not', async (t) => {
  const server = createServer();
  const check = metricsEndpointCheck(server, '/metrics');
  t.match(check({} as never), { status: 'unhealthy', message: '/metrics is not being served (the port could not be opened)' });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  t.same(check({} as never), { status: 'healthy', message: `serving /metrics on port ${port}`, details: { port, path: '/metrics' } });
  await new Promise((r) => server.close(r));
});
