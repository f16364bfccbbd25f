/**
 * `cardlink-metrics health` against a small HTTP server in this test that answers the JSON shape of
 * docs/architecture.md ("Settings and endpoints") (healthy 200, degraded 200, unhealthy 503) and a few broken answers; exit
 * codes 0 / 1 / 2 / 3, colours, --verbose; then against the real endpoint (src/health/) of an
 * instrumented process, healthy and degraded (unhealthy is not reachable from outside such a
 * process without a custom check, hence the fake server).
 */
import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runNode, freePort, REPO_ROOT } from './helpers/child.js';
import { parseHealthDocument, healthExitCode, renderHealth } from '../src/cli/health.js';
import { palette } from '../src/cli/color.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');

function doc(status: string, checks: Array<[string, string, string]>): string {
  return JSON.stringify({
    status,
    timestamp: '2026-01-01T00:00:00.000Z',
    checks: checks.map(([name, s, message], i) => ({ name, status: s, message, duration_ms: 3 + i, details: i === 0 ? { port: 9464 } : null })),
  });
}

const ANSWERS: Record<string, [number, string]> = {
  '/healthy/health': [200, doc('healthy', [['metrics_server', 'healthy', 'listening'], ['otlp_export', 'healthy', 'last export ok']])],
  '/degraded/health': [200, doc('degraded', [['metrics_server', 'healthy', 'listening'], ['otlp_export', 'degraded', 'last 3 exports failed: UNAVAILABLE']])],
  '/unhealthy/health': [503, doc('unhealthy', [['metrics_server', 'unhealthy', 'port 9464 in use'], ['database', 'unhealthy', 'SQLITE_CANTOPEN']])],
  '/html/health': [200, '<html>hello</html>'],
  '/weird/health': [200, JSON.stringify({ status: 'fine' })],
  // A check that ran out of time, and text a target should never get onto a terminal.
  '/timeout/health': [
    200,
    doc('degraded', [
      ['slow_reader', 'timeout', 'no result within 5000 ms'],
      ['evil\u001b]0;owned\u0007', 'degraded', `\u001b[31mred\u001b[0m ${'x'.repeat(100_000)}`],
    ]),
  ],
};

async function startFakeHealth(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const server = http.createServer((req, res) => {
    if (req.url === '/slow/health') return; // never answers
    const a = ANSWERS[req.url ?? ''];
    if (!a) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(a[0], { 'content-type': a[1].startsWith('{') ? 'application/json' : 'text/html' }).end(a[1]);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function cli(t: { teardown(fn: () => unknown): void }, args: string[], env: Record<string, string | undefined> = {}) {
  const c = runNode({ t, args: [CLI, ...args], env: { NO_COLOR: undefined, FORCE_COLOR: undefined, CARDLINK_CONFIG_FILE: '/nonexistent/cardlink.json', ...env } });
  const exit = await c.waitForExit(20_000);
  return { code: exit.code, stdout: c.stdout(), stderr: c.stderr() };
}

t.test('exit codes: 0 healthy, 1 degraded, 2 unhealthy, 3 unreachable or no health document', async (t) => {
  const base = await startFakeHealth(t);
  const healthy = await cli(t, ['health', '--url', `${base}/healthy/health`]);
  t.equal(healthy.code, 0);
  t.equal(healthy.stdout, `HEALTHY ${base}/healthy/health (HTTP 200, 2026-01-01T00:00:00.000Z)\n`);

  const degraded = await cli(t, ['health', '--url', `${base}/degraded/health`]);
  t.equal(degraded.code, 1);
  t.match(degraded.stdout, /^DEGRADED .*\n  DEGRADED otlp_export: last 3 exports failed: UNAVAILABLE\n$/, 'the failing check is named even without --verbose');

  const unhealthy = await cli(t, ['health', '--url', `${base}/unhealthy/health`]);
  t.equal(unhealthy.code, 2);
  t.match(unhealthy.stdout, /^UNHEALTHY .* \(HTTP 503/);

  const port = await freePort();
  const down = await cli(t, ['health', '--url', `http://127.0.0.1:${port}/health`]);
  t.equal(down.code, 3);
  t.equal(down.stderr, `cardlink-metrics: cannot reach http://127.0.0.1:${port}/health: connection refused (nothing listens there)\n`);
  t.equal(down.stdout, '');

  for (const path of ['/html/health', '/weird/health', '/missing/health']) {
    const r = await cli(t, ['health', '--url', `${base}${path}`]);
    t.equal(r.code, 3, `${path}: no health document`);
    t.match(r.stderr, /without a health document\n$/);
  }

  const slow = await cli(t, ['--timeout', '300', 'health', '--url', `${base}/slow/health`]);
  t.equal(slow.code, 3);
  t.match(slow.stderr, /no answer within 300 ms/);
});

t.test('a check that timed out stays `timeout`; text from the target is escaped and bounded', async (t) => {
  const base = await startFakeHealth(t);
  const json = await cli(t, ['health', '--json', '--url', `${base}/timeout/health`]);
  t.equal(json.code, 1, 'degraded');
  const parsed = JSON.parse(json.stdout) as { checks: Array<{ status: string }> };
  t.same(parsed.checks.map((c) => c.status), ['timeout', 'degraded'], 'not rewritten to unhealthy');
  const verbose = await cli(t, ['health', '-v', '--url', `${base}/timeout/health`]);
  t.match(verbose.stdout, /TIMEOUT\s+slow_reader/);
  t.notMatch(verbose.stdout, /\u001b/, 'no escape sequence from the target reaches the terminal');
  t.match(verbose.stdout, /\\x1b\[31mred/, 'shown escaped');
  t.ok(verbose.stdout.length < 2000, `bounded (${verbose.stdout.length} characters)`);
});

t.test('--verbose lists every check; colours only on request or on a terminal', async (t) => {
  const base = await startFakeHealth(t);
  const v = await cli(t, ['health', '--verbose', '--url', `${base}/degraded/health`]);
  t.equal(v.code, 1);
  t.match(v.stdout, /^  HEALTHY\s+metrics_server\s+3 ms\s+listening \{"port":9464\}$/m);
  t.match(v.stdout, /^  DEGRADED\s+otlp_export\s+4 ms\s+last 3 exports failed: UNAVAILABLE$/m);
  t.notMatch(v.stdout, /\u001b/, 'no colour in a pipe');

  const coloured = await cli(t, ['health', '--url', `${base}/unhealthy/health`], { FORCE_COLOR: '1' });
  t.match(coloured.stdout, /^\u001b\[31mUNHEALTHY\u001b\[39m /, 'red');
  const green = await cli(t, ['--color', 'health', '--url', `${base}/healthy/health`]);
  t.match(green.stdout, /^\u001b\[32mHEALTHY\u001b\[39m /, 'green with --color');
  const yellow = await cli(t, ['health', '--url', `${base}/degraded/health`], { FORCE_COLOR: '1' });
  t.match(yellow.stdout, /^\u001b\[33mDEGRADED\u001b\[39m /, 'yellow');
  const none = await cli(t, ['health', '--url', `${base}/degraded/health`], { FORCE_COLOR: '1', NO_COLOR: '1' });
  t.notMatch(none.stdout, /\u001b/, 'NO_COLOR');

  const json = await cli(t, ['health', '--json', '--url', `${base}/unhealthy/health`]);
  t.equal(json.code, 2);
  t.same(JSON.parse(json.stdout), JSON.parse(ANSWERS['/unhealthy/health']![1]));
});

t.test('the default URL comes from CARDLINK_HEALTH_PORT', async (t) => {
  const server = http.createServer((req, res) => {
    res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'application/json' }).end(doc('healthy', []));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const r = await cli(t, ['health'], { CARDLINK_HEALTH_PORT: String(port) });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, `http://127.0.0.1:${port}/health`);
});

t.test('against the real health endpoint of an instrumented process', async (t) => {
  const start = async (extra: Record<string, string>) => {
    const port = await freePort();
    const app = runNode({
      t,
      importRegister: true,
      args: [join(REPO_ROOT, 'test/fixtures/apps/esm-app.mjs')],
      env: {
        CARDLINK_HEALTH_PORT: String(port),
        CARDLINK_HEALTH_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: '0',
        OTEL_EXPORTER_OTLP_ENDPOINT: undefined,
        ...extra,
      },
    });
    await app.waitForLine(/^ready /, 15_000);
    return { app, port };
  };
  // The /metrics credentials, for the app and the CLI alike: they unlock the checks' messages and details.
  const auth = { CARDLINK_METRICS_USERNAME: 'ops', CARDLINK_METRICS_PASSWORD: 'cli-pass-3' };
  const normal = await start(auth);
  const r = await cli(t, ['health', '--json'], { ...auth, CARDLINK_HEALTH_PORT: String(normal.port) });
  const status = (JSON.parse(r.stdout) as { status: 'healthy' | 'degraded' | 'unhealthy' }).status;
  t.equal(r.code, healthExitCode(status), `exit code follows the live status (${status})`);
  t.not(status, 'unhealthy', 'a fresh process is not unhealthy');
  const verbose = await cli(t, ['health', '--verbose'], { ...auth, CARDLINK_HEALTH_PORT: String(normal.port) });
  t.match(verbose.stdout, /^\s+HEALTHY\s+metrics_endpoint\s+\d+ ms\s+serving \/metrics/m, 'the built-in checks are listed with their messages');
  const anonymous = await cli(t, ['health', '--verbose'], { CARDLINK_HEALTH_PORT: String(normal.port) });
  t.match(anonymous.stdout, /^\s+HEALTHY\s+metrics_endpoint\s*$/m, 'without credentials: the names only');
  t.notMatch(anonymous.stdout, /serving|ms/, 'no message, no duration');
  const wrong = await cli(t, ['health'], { ...auth, CARDLINK_METRICS_PASSWORD: 'nope', CARDLINK_HEALTH_PORT: String(normal.port) });
  t.equal(wrong.code, 4, 'wrong credentials: 4, as for status and export');
  t.match(wrong.stderr, /refused the credentials \(HTTP 401\)/);
  t.notMatch(wrong.stderr, /nope|cli-pass/, 'no password in the message');
  normal.app.kill('SIGTERM');

  // A memory threshold of 1% degrades the memory check on any machine.
  const low = await start({ ...auth, CARDLINK_HEALTH_MEMORY_THRESHOLD: '1' });
  const degraded = await cli(t, ['health'], { ...auth, CARDLINK_HEALTH_PORT: String(low.port) });
  t.equal(degraded.code, 1);
  t.match(degraded.stdout, /^DEGRADED .*\n  DEGRADED memory: memory [\d.]+% used \(threshold 1%\)\n/);
  const bare = await cli(t, ['health'], { CARDLINK_HEALTH_PORT: String(low.port) });
  t.equal(bare.code, 1, 'the exit code needs no credentials');
  t.match(bare.stdout, /^DEGRADED .*\n  DEGRADED memory\n/);
  low.app.kill('SIGTERM');
});

t.test('parseHealthDocument and rendering (unit)', async (t) => {
  t.equal(parseHealthDocument('nope'), undefined);
  t.equal(parseHealthDocument('[]'), undefined);
  t.equal(parseHealthDocument('{"status":"ok"}'), undefined);
  t.same(parseHealthDocument('{"status":"healthy"}'), { status: 'healthy', timestamp: null, checks: [] });
  const d = parseHealthDocument('{"status":"degraded","checks":[{"name":"x","status":"bogus"},7,null,{"status":"healthy"}]}');
  t.same(
    d?.checks.map((c) => [c.name, c.status]),
    [
      ['x', 'unhealthy'],
      ['(unnamed)', 'healthy'],
    ],
    'unknown check statuses count as unhealthy, junk entries are dropped',
  );
  t.same(['healthy', 'degraded', 'unhealthy'].map((s) => healthExitCode(s as 'healthy')), [0, 1, 2]);
  const text = renderHealth(
    { url: 'http://h/health', httpStatus: 200, durationMs: 1, doc: { status: 'healthy', timestamp: null, checks: [] } },
    true,
    palette(false),
  );
  t.equal(text, 'HEALTHY http://h/health (HTTP 200)\n  no checks reported\n');
});
