/**
 * No secret leaves the process, and the endpoints answer nothing but what they serve.
 *
 * A full workload (test/fixtures/apps/secrets-app.ts: admin server in both flavours with PUT KEY
 * and STORE DATA, a card with a wrong key, modem +CSIM/+CMGS over socat, adb, SQLite, a real
 * PostgreSQL with a password, a second pg connection string to a closed port) runs under
 * `--import ./register.js` with every exporter on (traces, metrics and logs to a real OTLP
 * receiver), APDU capture on, debug logs and Basic auth on /metrics. Every exported span, log
 * record and metric, the /metrics text, the health JSON, every probe answer and the child's
 * stdout and stderr are searched for the PSK (hex both cases, base64), the PUT KEY and STORE DATA
 * key data, the database password and the metrics password. The secrets are random per run, so a
 * match can only be a leak.
 */
import t from 'tap';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runNode, freePort, REPO_ROOT } from './helpers/child.js';
import { scrape } from './helpers/scrape.js';
import { startOtlpReceiver } from './fixtures/otlp-receiver.js';
import { PUT_KEY_SECRET_HEX } from './fixtures/admin-server.js';
import { findPostgres, startPostgres, type PgServer } from './fixtures/postgres.js';
import { sumSamples } from '../src/prom/text-parser.js';
import { request } from './helpers/http.js';

const APP = join(REPO_ROOT, 'dist/test/fixtures/apps/secrets-app.js');
const PATH = `${join(REPO_ROOT, 'test/fixtures/fake-adb')}:${process.env['PATH'] ?? ''}`;

/** Raw bytes to a port; resolves with everything the server sent before closing (or 2 s). */
function raw(port: number, bytes: Buffer | string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve(Buffer.concat(chunks).toString('latin1')) : reject(e)));
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.setTimeout(2000, () => s.destroy());
  });
}

/** What a stack trace, an internal path or a directory listing would look like in a body. */
function disclosure(body: string): string | undefined {
  const patterns: Array<[RegExp, string]> = [
    [/\bat .+[(\s]\S+:\d+:\d+\)?/, 'a stack frame'],
    [/node:internal|node_modules/, 'an internal path'],
    [/\.[cm]?[jt]s:\d+/, 'a source location'],
    [/\b\w*Error\b:/, 'an error message'],
    [/<a\s+href|Index of|Directory listing|package\.json/i, 'a directory listing'],
  ];
  if (body.includes(REPO_ROOT)) return 'the repository path';
  for (const [re, what] of patterns) if (re.test(body)) return what;
  return undefined;
}

/** LISTEN sockets on `port` in /proc/net/tcp{,6}: their local addresses, as the kernel has them. */
function listeners(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const [addr, p] = (f[1] ?? '').split(':');
      if (p === hexPort && f[3] === '0A') out.push(`${file.endsWith('6') ? 'tcp6' : 'tcp'} ${addr}`);
    }
  }
  return out;
}

function connects(host: string, port: number): Promise<boolean | string> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.setTimeout(2000, () => {
      s.destroy();
      resolve('timeout');
    });
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' ? false : (e.code ?? e.message)));
  });
}

/** JSON of received telemetry, with bigint as text and bytes as hex and base64 (so both are searched). */
function dump(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Uint8Array) return `${Buffer.from(v).toString('hex')} ${Buffer.from(v).toString('base64')}`;
    return v;
  });
}

const pgAvailable = findPostgres();
let pgServer: PgServer | undefined;
if (typeof pgAvailable !== 'string') {
  pgServer = await startPostgres();
  t.teardown(() => pgServer?.stop());
}

t.test('a full workload exports no secret; the endpoints disclose nothing and bind where told', async (t) => {
  if (pgServer === undefined) t.comment(`no PostgreSQL server (${String(pgAvailable)}): the pg part only uses a closed port`);
  const dir = mkdtempSync(join(tmpdir(), 'cardlink-secrets-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());

  const psk = randomBytes(16);
  const store = randomBytes(16);
  const dbPassword = pgServer?.password ?? `pw-${randomBytes(12).toString('hex')}`;
  const metricsUser = 'prometheus';
  const metricsPassword = `mp-${randomBytes(12).toString('hex')}`;
  const closedPort = await freePort();
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const child = runNode({
    t,
    importRegister: true,
    args: [APP],
    timeoutMs: 50_000,
    env: {
      PATH,
      APP_PSK_HEX: psk.toString('hex'),
      APP_STORE_HEX: store.toString('hex'),
      DB_FILE: join(dir, 'lab.db'),
      PG_URL: pgServer?.connectionString,
      PG_BAD_URL: `postgresql://cardlink:${dbPassword}@127.0.0.1:${closedPort}/cardlink`,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_LOGS_EXPORTER: 'otlp',
      OTEL_METRICS_EXPORTER: 'prometheus,otlp',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_BLRP_SCHEDULE_DELAY: '100',
      OTEL_METRIC_EXPORT_INTERVAL: '500',
      CARDLINK_CAPTURE_APDU_DATA: 'true',
      CARDLINK_LOG_LEVEL: 'debug',
      CARDLINK_METRICS_USERNAME: metricsUser,
      CARDLINK_METRICS_PASSWORD: metricsPassword,
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      CARDLINK_HEALTH_HOST: '127.0.0.1',
      CARDLINK_HEALTH_PORT: String(healthPort),
      CARDLINK_HEALTH_CACHE_MS: '0',
    },
  });
  const ready = JSON.parse((await child.waitForLine(/^ready /, 40_000)).slice('ready '.length)) as Record<string, unknown>;
  t.match(
    ready,
    {
      cards: [
        ['completed', 8, 'error'],
        ['completed', 8, 'error'],
      ],
      modem: ['OK', 'OK', 'OK', 'OK', 'OK', true],
      adb: [Number, 'failed as expected'],
      sqlite: [true, true, 'syntax error'],
      pg: pgServer === undefined ? 'no server' : [true, true, 'syntax error'],
      pgBad: 'ECONNREFUSED',
    },
    'the workload ran as designed (a wrong key fails the handshake)',
  );

  // --- what the endpoints serve (scanned below) --------------------------------------------------
  const served: string[] = [];
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const m = await scrape(metricsUrl, { username: metricsUser, password: metricsPassword });
  t.equal(m.status, 200, 'scrape with the right credentials');
  t.same(m.errors, [], 'parseable');
  t.ok(sumSamples(m.families.get('cardlink_db_query_duration_seconds')) > 10, 'the database queries are on /metrics');
  served.push(m.text);
  // With the /metrics credentials the health documents carry every message and detail: scanned too.
  const healthAuth = { authorization: `Basic ${Buffer.from(`${metricsUser}:${metricsPassword}`, 'utf8').toString('base64')}` };
  for (const path of ['/health', '/health/ready', '/health/live']) {
    const a = await request(healthPort, path, { headers: healthAuth });
    t.equal(a.status, 200, `${path} answers`);
    served.push(a.body);
    served.push((await request(healthPort, path)).body);
  }
  const health = JSON.parse(served[3]!) as { checks: Array<{ name: string; details: unknown }> };
  if (pgServer !== undefined) t.match(dump(health.checks.find((c) => c.name === 'database')), /postgresql/, 'the database check sees the pg client');

  // --- the metrics endpoint: auth failures, other paths, malformed requests ----------------------
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const badAuth: Array<[string, Record<string, string>]> = [
    ['no credentials', {}],
    ['a wrong password', { authorization: `Basic ${b64(`${metricsUser}:wrong`)}` }],
    ['the password as user name', { authorization: `Basic ${b64(`${metricsPassword}:${metricsUser}`)}` }],
    ['no colon', { authorization: `Basic ${b64(metricsUser)}` }],
    ['not base64', { authorization: 'Basic !!!%%%' }],
    ['a bare scheme', { authorization: 'Basic' }],
    ['another scheme', { authorization: `Bearer ${metricsPassword.slice(0, 8)}` }],
    ['a 6 KB token', { authorization: `Basic ${'QUFB'.repeat(1536)}` }],
  ];
  for (const [what, headers] of badAuth) {
    const a = await request(metricsPort, '/metrics', { headers });
    t.equal(a.status, 401, `${what}: 401`);
    t.match(a.headers['www-authenticate'], /^Basic realm=/, `${what}: a Basic challenge`);
    t.equal(a.body, 'Unauthorized\n', `${what}: a fixed body`);
    served.push(a.body, JSON.stringify(a.headers));
  }
  for (const path of ['/', '/metrics/', '/metrics/..', '/metrics/../', '/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/index.html', '/.git/config', '/package.json', '/dist/', '/health', '/metrics.txt', '//metrics']) {
    const a = await request(metricsPort, path, { headers: { authorization: `Basic ${b64(`${metricsUser}:${metricsPassword}`)}` } });
    t.equal(a.status, 404, `metrics port ${path}: 404`);
    t.equal(a.body, 'Not Found\n', `metrics port ${path}: a fixed body`);
  }
  t.equal((await request(metricsPort, '/metrics', { method: 'POST' })).status, 405, 'POST /metrics: 405');
  t.equal((await request(metricsPort, '/metrics', { method: 'DELETE', headers: { authorization: 'Basic x' } })).status, 405, 'DELETE /metrics: 405');

  // --- the health endpoint --------------------------------------------------------------------
  for (const path of ['/', '/health/', '/health/../', '/health/ready/x', '/metrics', '/.env', '/health%00', '/%2e%2e/etc/passwd']) {
    const a = await request(healthPort, path);
    t.equal(a.status, 404, `health port ${path}: 404`);
    t.equal(disclosure(a.body), undefined, `health port ${path}: nothing disclosed (${JSON.stringify(a.body.slice(0, 80))})`);
    served.push(a.body);
  }
  const post = await request(healthPort, '/health/ready', { method: 'POST' });
  t.equal(post.status, 405, 'POST /health/ready: 405');
  t.equal(disclosure(post.body), undefined, 'POST: nothing disclosed');

  // --- malformed requests on both ports ---------------------------------------------------------
  const malformed: Array<[string, string | Buffer]> = [
    ['garbage', 'GARBAGE\r\n\r\n'],
    ['a bad Content-Length', 'GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'],
    ['an unknown HTTP version', 'GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n'],
    ['control characters in the path', 'GET /met\x01rics HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a 20 KB header', `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`],
    ['a non-UTF-8 authorization header', Buffer.concat([Buffer.from('GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic '), Buffer.from([0xff, 0xfe, 0x80, 0xc3]), Buffer.from('\r\n\r\n')])],
    ['a half request', 'GET /metrics HTTP/1.1\r\nHost'],
  ];
  for (const port of [metricsPort, healthPort]) {
    for (const [what, bytes] of malformed) {
      const answer = await raw(port, bytes);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1];
      t.ok(status === undefined || /^4\d\d$/.test(status), `${what} on ${port === metricsPort ? 'metrics' : 'health'}: ${status ?? 'closed'}`);
      t.equal(disclosure(answer), undefined, `${what}: nothing disclosed (${JSON.stringify(answer.slice(0, 120))})`);
      served.push(answer);
    }
  }

  // --- binding: 127.0.0.1 as configured, and nowhere else ----------------------------------------
  for (const [name, port] of [
    ['metrics', metricsPort],
    ['health', healthPort],
  ] as const) {
    t.same(listeners(port), ['tcp 0100007F'], `${name}: one listening socket, bound to 127.0.0.1 (kernel table)`);
    t.equal(await connects('127.0.0.2', port), false, `${name}: refused on 127.0.0.2, another local address`);
  }
  // The probe would see a wildcard bind: a server on 0.0.0.0 is reachable at 127.0.0.2.
  const wildcard = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => wildcard.listen(0, '0.0.0.0', r));
  const wildPort = (wildcard.address() as net.AddressInfo).port;
  t.equal(await connects('127.0.0.2', wildPort), true, 'control: a 0.0.0.0 server is reachable at 127.0.0.2');
  t.same(listeners(wildPort), ['tcp 00000000'], 'control: the kernel table shows the wildcard');
  await new Promise<void>((r) => wildcard.close(() => r()));
  const external = Object.values(networkInterfaces())
    .flat()
    .filter((i) => i !== undefined && !i.internal)
    .map((i) => i!.address);
  // No traffic is sent to non-loopback addresses from this sandbox: the kernel's table above is
  // the proof that they cannot reach a socket bound to 127.0.0.1.
  t.comment(`non-loopback addresses of this machine (covered by the bind check): ${external.join(', ') || 'none'}`);

  // --- stop: the SDK flushes everything at exit --------------------------------------------------
  await receiver.waitFor((r) => r.spans.some((s) => s.name === 'apdu.PUT_KEY') && r.logs.length > 0, 15_000, 'spans and logs');
  child.kill('SIGUSR2');
  await child.waitForLine(/^closed$/, 10_000);
  const exit = await child.waitForExit(20_000);
  t.same(exit, { code: 0, signal: null }, 'the app ends normally');

  // Not vacuous: the telemetry holds what the secrets travelled with.
  const names = new Set(receiver.spans.map((s) => s.name));
  for (const n of ['tls.handshake', 'ota.session', 'apdu.PUT_KEY', 'apdu.STORE_DATA', 'apdu.SELECT', 'sms.trigger', 'adb devices', 'adb shell']) {
    t.ok(names.has(n), `span ${n} exported`);
  }
  t.ok(receiver.spans.some((s) => s.attributes['db.system.name'] === 'sqlite'), 'SQLite spans exported');
  if (pgServer !== undefined) t.ok(receiver.spans.some((s) => s.attributes['db.system.name'] === 'postgresql'), 'PostgreSQL spans exported');
  t.ok(receiver.spans.some((s) => /INSERT INTO settings/.test(String(s.attributes['db.query.text'] ?? ''))), 'statement texts exported');
  t.ok(receiver.spans.some((s) => /^80D80181<redacted>$/.test(String(s.attributes['cardlink.apdu.command'] ?? ''))), 'PUT KEY: header only');
  t.ok(receiver.spans.some((s) => s.attributes['cardlink.apdu.command'] === '00A4040008A000000151000000'), 'capture on: other APDU data exported');
  t.ok(receiver.logs.some((l) => String(l.body).startsWith('connecting to') || String(l.body).includes('connecting')) || pgServer === undefined, 'the log line with the connection string exported');
  t.ok(receiver.logs.some((l) => String(l.body) === 'backup database unreachable'), 'the warning with the bad URL exported');
  t.ok(receiver.metrics.some((x) => x.name === 'cardlink.db.query.duration'), 'metrics exported');

  const haystack = [
    dump(receiver.spans),
    dump(receiver.logs),
    dump(receiver.metrics),
    dump(receiver.requests),
    ...served,
    child.stdout(),
    child.stderr(),
  ].join('\n');
  t.ok(haystack.includes('card-001'), 'control: the PSK identity (not a secret) is found, so the search sees the attributes');
  t.ok(haystack.includes(`127.0.0.1:${closedPort}`) || haystack.includes(String(closedPort)), 'control: the bad URL\'s host and port are found');
  const lower = haystack.toLowerCase();
  const secrets: Array<[string, string[]]> = [
    ['PSK', [psk.toString('hex'), psk.toString('base64'), psk.toString('base64url')]],
    ['PUT KEY key data', [PUT_KEY_SECRET_HEX, Buffer.from(PUT_KEY_SECRET_HEX, 'hex').toString('base64')]],
    ['STORE DATA data', [store.toString('hex'), store.toString('base64')]],
    ['database password', [dbPassword, b64(dbPassword), encodeURIComponent(dbPassword)]],
    ['metrics password', [metricsPassword, b64(metricsPassword), b64(`${metricsUser}:${metricsPassword}`)]],
  ];
  for (const [what, forms] of secrets) {
    for (const form of forms) {
      const hex = /^[0-9a-f]+$/i.test(form);
      const found = hex ? lower.includes(form.toLowerCase()) : haystack.includes(form);
      t.notOk(found, `${what} (${form.slice(0, 6)}...) appears nowhere`);
    }
  }
  t.comment(`searched ${haystack.length} characters: ${receiver.spans.length} spans, ${receiver.logs.length} log records, ${receiver.metrics.length} metric exports, ${served.length} answers`);
});
