/**
 * The health HTTP server in-process: paths, methods, status codes, HEAD, the JSON body, liveness
 * answering while readiness waits on a hanging check, a port in use, and who sees the checks'
 * messages and details.
 */
import t from 'tap';
import { createServer } from 'node:net';
import { checkNames, registerCheck, startHealthServer, unregisterCheck, type HealthServer, type HealthServerOptions } from '../src/health/index.js';
import { request } from './helpers/http.js';

type ServeOptions = Pick<HealthServerOptions, 'checkTimeoutMs' | 'cacheMs' | 'details' | 'credentials'>;

/** A health server on a free port; details shown to everyone unless `opts` says otherwise. */
async function serve(t: { teardown(fn: () => unknown): void }, opts: Partial<ServeOptions> = {}): Promise<{ server: HealthServer; port: number }> {
  const server = startHealthServer({
    host: '127.0.0.1',
    port: 0,
    checkTimeoutMs: opts.checkTimeoutMs ?? 1000,
    cacheMs: opts.cacheMs ?? 0,
    details: opts.details ?? true,
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
  });
  t.teardown(() => server.close());
  const port = await server.listening;
  if (port === undefined) throw new Error('health server did not listen');
  return { server, port };
}

t.beforeEach(() => {
  for (const n of checkNames()) unregisterCheck(n);
});

t.test('GET /health, /health/ready: the JSON report, 200 when healthy or degraded', async (t) => {
  const { port } = await serve(t);
  registerCheck('card_reader', () => ({ status: 'healthy', message: 'reader present', details: { readers: 1 } }));
  for (const path of ['/health', '/health/ready', '/health/ready?verbose=1']) {
    const a = await request(port, path);
    t.equal(a.status, 200, path);
    t.equal(a.headers['content-type'], 'application/json; charset=utf-8');
    t.equal(a.headers['cache-control'], 'no-store');
    const body = JSON.parse(a.body) as { status: string; timestamp: string; checks: unknown[] };
    t.same(Object.keys(body), ['status', 'timestamp', 'checks']);
    t.equal(body.status, 'healthy');
    t.match(body.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    t.match(body.checks, [{ name: 'card_reader', status: 'healthy', message: 'reader present', duration_ms: Number, details: { readers: 1 } }]);
  }
  registerCheck('modem', () => 'degraded');
  const degraded = await request(port, '/health/ready');
  t.equal(degraded.status, 200, 'degraded is still ready');
  t.equal((JSON.parse(degraded.body) as { status: string }).status, 'degraded');
});

t.test('the connection cap full of readiness requests waiting on a slow check: liveness still gets in', async (t) => {
  const { connect } = await import('node:net');
  const { connectionCap } = await import('../src/listen.js');
  const { port } = await serve(t, { checkTimeoutMs: 3000 });
  registerCheck('slow_modem', () => new Promise((r) => setTimeout(() => r('healthy'), 2500)));
  // A stranger (or a slow check under many probes) holds every connection the endpoint keeps.
  const held = Array.from({ length: connectionCap() }, () => {
    const s = connect(port, '127.0.0.1', () => s.write('GET /health/ready HTTP/1.1\r\nHost: x\r\n\r\n'));
    s.on('error', () => undefined);
    return s;
  });
  t.teardown(() => {
    for (const s of held) s.destroy();
  });
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < 3; i++) {
    const live = await request(port, '/health/live');
    t.equal(live.status, 200, `liveness probe ${i + 1} answered`);
  }
});

t.test('unhealthy: readiness 503, liveness still 200', async (t) => {
  const { port } = await serve(t);
  registerCheck('database', () => {
    throw new Error('SQLITE_CANTOPEN: unable to open database file');
  });
  const ready = await request(port, '/health/ready');
  t.equal(ready.status, 503);
  const body = JSON.parse(ready.body) as { status: string; checks: Array<{ status: string; message: string }> };
  t.equal(body.status, 'unhealthy');
  t.match(body.checks, [{ name: 'database', status: 'unhealthy', message: 'SQLITE_CANTOPEN: unable to open database file', duration_ms: Number, details: {} }]);
  t.equal((await request(port, '/health')).status, 503);
  const live = await request(port, '/health/live');
  t.equal(live.status, 200);
  t.same((JSON.parse(live.body) as { checks: unknown[] }).checks, []);
});

t.test('HEAD: same status and headers, no body', async (t) => {
  const { port } = await serve(t);
  registerCheck('down', () => false);
  const head = await request(port, '/health/ready', { method: 'HEAD' });
  t.equal(head.status, 503);
  t.equal(head.body, '');
  t.ok(Number(head.headers['content-length']) > 20, 'content-length of the GET body');
  const live = await request(port, '/health/live', { method: 'HEAD' });
  t.equal(live.status, 200);
  t.equal(live.body, '');
});

t.test('other paths 404, other methods 405 with Allow', async (t) => {
  const { port } = await serve(t);
  for (const path of ['/', '/metrics', '/health/', '/healthz', '/health/live/x']) t.equal((await request(port, path)).status, 404, path);
  for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
    const a = await request(port, '/health/ready', { method });
    t.equal(a.status, 405, method);
    t.equal(a.headers['allow'], 'GET, HEAD');
  }
});

t.test('liveness answers at once while readiness waits on a hanging check', async (t) => {
  const { port } = await serve(t, { checkTimeoutMs: 800 });
  registerCheck('stuck', () => new Promise(() => undefined));
  const ready = request(port, '/health/ready');
  await new Promise((r) => setTimeout(r, 50));
  const live = await request(port, '/health/live');
  t.equal(live.status, 200);
  t.ok(live.ms < 300, `live in ${live.ms} ms`);
  const r = await ready;
  t.equal(r.status, 503);
  t.ok(r.ms >= 750 && r.ms < 1800, `ready within the limit + 1 s (${r.ms} ms)`);
  t.match(JSON.parse(r.body), { checks: [{ name: 'stuck', status: 'timeout', message: 'no answer within 800 ms' }] });
});

/** Starts (and closes) a health server at each address in turn: what it wrote to stderr, and the first port it listened on. */
async function listenAt(addresses: Array<{ host: string; port: number }>): Promise<{ written: string[]; listened: number | undefined }> {
  const written: string[] = [];
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  let listened: number | undefined;
  try {
    for (const { host, port } of addresses) {
      const server = startHealthServer({ host, port, checkTimeoutMs: 1000, cacheMs: 0 });
      listened ??= await server.listening;
      await server.close();
    }
  } finally {
    process.stderr.write = original;
  }
  return { written, listened };
}

t.test('a port in use: one line on stderr, no exception', async (t) => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const { written, listened } = await listenAt([{ host: '127.0.0.1', port }]);
  t.equal(listened, undefined);
  t.equal(written.length, 1);
  t.match(written[0], new RegExp(`^cardlink-otel: cannot serve the health endpoints on 127\\.0\\.0\\.1:${port}: the address is already in use\\. Set CARDLINK_HEALTH_PORT`));
});

t.test('a host that is no address of this machine: the line names the host variable', async (t) => {
  // `.invalid` never resolves (RFC 6761); 192.0.2.1 (TEST-NET-1) is no address of this machine.
  const { written, listened } = await listenAt([
    { host: 'not-a-host.invalid', port: 0 },
    { host: '192.0.2.1', port: 0 },
  ]);
  t.equal(listened, undefined);
  t.equal(written.length, 2);
  t.match(written[0], /^cardlink-otel: cannot serve the health endpoints on not-a-host\.invalid:0: .*ENOTFOUND.*\. Set CARDLINK_HEALTH_HOST to an address of this machine/);
  t.match(written[1], /^cardlink-otel: cannot serve the health endpoints on 192\.0\.2\.1:0: .*EADDRNOTAVAIL.*\. Set CARDLINK_HEALTH_HOST to an address of this machine/);
  t.notMatch(written.join(''), /to a free port/);
});

const basic = (user: string, password: string): Record<string, string> => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

/** A check whose message and details carry what a stranger must not learn. */
function registerRevealingCheck(): void {
  registerCheck('database', () => ({
    status: 'degraded',
    message: 'slow answer from /srv/cardlink/lab.db',
    details: { path: '/srv/cardlink/lab.db', serial: 'R58M123ABC' },
  }));
  registerCheck('modem', () => 'healthy');
}

t.test('details hidden by default: status and check names only, whatever the caller sends without credentials configured', async (t) => {
  const { port } = await serve(t, { details: false });
  registerRevealingCheck();
  for (const headers of [{}, basic('ops', 'guess')]) {
    const a = await request(port, '/health/ready', { headers });
    t.equal(a.status, 200, 'degraded is still ready');
    t.same(JSON.parse(a.body), { status: 'degraded', timestamp: JSON.parse(a.body).timestamp, checks: [{ name: 'database', status: 'degraded' }, { name: 'modem', status: 'healthy' }] });
    t.notMatch(a.body, /srv|R58M|slow answer|duration_ms|details|message/, 'no path, serial, message, duration or details');
  }
  registerCheck('database', () => {
    throw new Error('SQLITE_CANTOPEN: /srv/cardlink/lab.db');
  });
  const down = await request(port, '/health');
  t.equal(down.status, 503, 'the status code still follows the status');
  t.same(JSON.parse(down.body).checks, [{ name: 'modem', status: 'healthy' }, { name: 'database', status: 'unhealthy' }], 're-registered: now last');
  t.notMatch(down.body, /SQLITE|srv/, 'not the error message either');
});

t.test('details with the /metrics credentials; wrong ones are a 401; liveness never asks', async (t) => {
  const { port } = await serve(t, { details: false, credentials: { username: 'ops', password: 's3cret' } });
  registerRevealingCheck();
  const bare = await request(port, '/health/ready');
  t.same(JSON.parse(bare.body).checks, [{ name: 'database', status: 'degraded' }, { name: 'modem', status: 'healthy' }], 'a bare probe: names only');
  const authorised = await request(port, '/health/ready', { headers: basic('ops', 's3cret') });
  t.equal(authorised.status, 200);
  t.match(JSON.parse(authorised.body).checks, [
    { name: 'database', status: 'degraded', message: 'slow answer from /srv/cardlink/lab.db', duration_ms: Number, details: { path: '/srv/cardlink/lab.db', serial: 'R58M123ABC' } },
    { name: 'modem', status: 'healthy', message: 'ok' },
  ]);
  for (const headers of [basic('ops', 'wrong'), basic('root', 's3cret'), { authorization: 'Bearer s3cret' }]) {
    const refused = await request(port, '/health', { headers });
    t.equal(refused.status, 401, String(headers.authorization));
    t.match(refused.headers['www-authenticate'], /^Basic realm="cardlink-otel health"/);
    t.notMatch(refused.body, /srv|degraded/, 'nothing of the report');
  }
  const live = await request(port, '/health/live', { headers: basic('ops', 'wrong') });
  t.equal(live.status, 200, 'liveness answers whatever the credentials');
});

t.test('CARDLINK_HEALTH_DETAILS=true (details: true): everything for everyone', async (t) => {
  const { port } = await serve(t, { details: true, credentials: { username: 'ops', password: 's3cret' } });
  registerRevealingCheck();
  const a = await request(port, '/health/ready');
  t.match(JSON.parse(a.body).checks, [{ name: 'database', message: 'slow answer from /srv/cardlink/lab.db', details: { serial: 'R58M123ABC' } }]);
});
