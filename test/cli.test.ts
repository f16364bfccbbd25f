/**
 * `cardlink-metrics status` and `export`, run as the installed binary (dist/src/cli/main.js)
 * against a live instrumented admin server with Basic auth on /metrics, after simulated cards ran
 * known sessions: exact numbers, right and wrong credentials, an unreachable URL, a wrong path.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runNode, freePort, REPO_ROOT } from './helpers/child.js';
import { scrape } from './helpers/scrape.js';
import { runCard } from './fixtures/card-simulator.js';
import { histogramBuckets, histogramQuantile } from '../src/prom/text-parser.js';
import type { StatusSummary } from '../src/cli/status.js';
import type { ExportDocument } from '../src/cli/export-json.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');
const APP = join(REPO_ROOT, 'dist/test/fixtures/apps/admin-app.js');
const KEY_001 = Buffer.from('0102030405060708090A0B0C0D0E0F10', 'hex');
const USER = 'ops';
const PASS = 's3cret-metrics';

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI binary with an isolated environment (no config file, no colour unless asked). */
async function cli(t: Tap, args: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  const c = runNode({
    t,
    args: [CLI, ...args],
    env: {
      CARDLINK_CONFIG_FILE: join(tmpdir(), 'cardlink-cli-test-no-such-file.json'),
      CARDLINK_METRICS_USERNAME: undefined,
      CARDLINK_METRICS_PASSWORD: undefined,
      OTEL_EXPORTER_PROMETHEUS_PORT: undefined,
      NO_COLOR: undefined,
      FORCE_COLOR: undefined,
      ...env,
    },
  });
  const exit = await c.waitForExit(20_000);
  return { code: exit.code, stdout: c.stdout(), stderr: c.stderr() };
}
type Tap = { teardown(fn: () => unknown): void };

t.test('status and export against a live process', async (t) => {
  const metricsPort = await freePort();
  const app = runNode({
    t,
    importRegister: true,
    args: [APP],
    env: {
      ADMIN_KIND: 'https',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      CARDLINK_METRICS_USERNAME: USER,
      CARDLINK_METRICS_PASSWORD: PASS,
      CARDLINK_HEALTH_ENABLED: 'false',
      OTEL_EXPORTER_OTLP_ENDPOINT: undefined,
    },
  });
  const adminPort = Number((await app.waitForLine(/^listening \d+/, 15_000)).split(' ')[1]);
  // Known workload: 2 completed sessions (7 APDUs each, one 6A82), 1 wrong key, 1 unknown identity.
  t.equal((await runCard({ port: adminPort, identity: 'card-001', key: KEY_001 })).end, 'completed');
  t.equal((await runCard({ port: adminPort, identity: 'card-001', key: KEY_001 })).end, 'completed');
  t.equal((await runCard({ port: adminPort, identity: 'card-001', key: Buffer.alloc(16, 1) })).end, 'error');
  t.equal((await runCard({ port: adminPort, identity: 'card-404', key: KEY_001 })).end, 'error');

  const url = `http://127.0.0.1:${metricsPort}/metrics`;
  const auth = { CARDLINK_METRICS_USERNAME: USER, CARDLINK_METRICS_PASSWORD: PASS };

  await t.test('status --json: the numbers of the workload', async (t) => {
    const r = await cli(t, ['status', '--json', '--url', url], auth);
    t.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as StatusSummary & { source: string };
    t.equal(s.source, url);
    t.equal(s.sessions.ended, 2);
    t.same(s.sessions.byStatus, { completed: 2 });
    t.equal(s.sessions.successRate, 1);
    t.equal(s.sessions.active, 0);
    t.equal(s.tls.handshakes, 4);
    t.equal(s.tls.failed, 2);
    t.same(s.tls.failuresByReason, { bad_psk: 1, unknown_identity: 1 });
    t.equal(s.apdu.commands, 14);
    t.equal(s.apdu.responses, 14);
    t.equal(s.apdu.errors, 2);
    t.equal(s.apdu.errorRate, 2 / 14);
    t.equal(s.process.nodeVersion, process.versions.node);
    t.ok((s.process.uptimeSeconds ?? 0) > 0);
    // The percentiles are histogram_quantile over the served buckets.
    const m = await scrape(url, { username: USER, password: PASS });
    const buckets = histogramBuckets(m.families.get('cardlink_apdu_duration_seconds'));
    t.equal(s.apdu.latency.p95, histogramQuantile(buckets, 0.95));
    t.ok(s.apdu.latency.p50 !== null && s.apdu.latency.p50 > 0 && s.apdu.latency.p50 <= (s.apdu.latency.p99 ?? 0));
    t.same(s.devices, { connected: {}, topErrors: [] });
  });

  await t.test('status: a readable summary, no colour when not on a terminal', async (t) => {
    const r = await cli(t, ['status', '--url', url], auth);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, `at ${url}`);
    t.match(r.stdout, /Sessions\s+active 0\n\s+ended 2: completed 2; success 100\.0%/);
    t.match(r.stdout, /TLS\s+open connections 0; handshakes 4, failed 2\n\s+failures by reason: bad_psk 1, unknown_identity 1/);
    t.match(r.stdout, /APDU\s+commands 14, responses 14, errors 2 \(error rate 14\.3%\)/);
    t.match(r.stdout, /latency p50 [\d.]+ ms, p95 [\d.]+ ms, p99 [\d.]+ ms/);
    t.notMatch(r.stdout, /\u001b\[/, 'no ANSI codes in a pipe');
    const forced = await cli(t, ['status', '--url', url], { ...auth, FORCE_COLOR: '1' });
    t.match(forced.stdout, /\u001b\[32m100\.0%\u001b\[39m/, 'FORCE_COLOR: success rate in green');
    t.match(forced.stdout, /\u001b\[31m14\.3%\u001b\[39m/, 'an APDU error rate above 5% in red');
    const noColor = await cli(t, ['status', '--url', url], { ...auth, FORCE_COLOR: '1', NO_COLOR: '1' });
    t.notMatch(noColor.stdout, /\u001b\[/, 'NO_COLOR wins over FORCE_COLOR');
    const flag = await cli(t, ['--no-color', 'status', '--url', url], { ...auth, FORCE_COLOR: '1' });
    t.notMatch(flag.stdout, /\u001b\[/, '--no-color');
  });

  await t.test('wrong credentials, no credentials: exit 4 with a one-line reason', async (t) => {
    const wrong = await cli(t, ['status', '--url', url], { CARDLINK_METRICS_USERNAME: USER, CARDLINK_METRICS_PASSWORD: 'nope' });
    t.equal(wrong.code, 4);
    t.equal(wrong.stderr, `cardlink-metrics: wrong credentials for ${url} (HTTP 401): check CARDLINK_METRICS_USERNAME and CARDLINK_METRICS_PASSWORD\n`);
    t.notMatch(wrong.stderr, 'nope', 'the password is never printed');
    t.equal(wrong.stdout, '');
    const none = await cli(t, ['export', '--url', url]);
    t.equal(none.code, 4);
    t.match(none.stderr, /requires credentials \(HTTP 401\): set CARDLINK_METRICS_USERNAME/);
    const inUrl = await cli(t, ['status', '--json', '--url', `http://${USER}:${PASS}@127.0.0.1:${metricsPort}/metrics`]);
    t.equal(inUrl.code, 0, 'credentials in the URL work too');
    t.equal((JSON.parse(inUrl.stdout) as { source: string }).source, url, 'and are not echoed');
  });

  await t.test('unreachable, wrong path, not a URL: exit 3, 4, 64; no stack trace unless --debug', async (t) => {
    const deadPort = await freePort();
    const dead = await cli(t, ['status', '--url', `http://127.0.0.1:${deadPort}/metrics`], auth);
    t.equal(dead.code, 3);
    t.equal(dead.stderr, `cardlink-metrics: cannot reach http://127.0.0.1:${deadPort}/metrics: connection refused (nothing listens there)\n`);
    const debug = await cli(t, ['--debug', 'export', '--url', `http://127.0.0.1:${deadPort}/metrics`], auth);
    t.equal(debug.code, 3);
    t.match(debug.stderr, /^cardlink-metrics: cannot reach .*\nCliError: .*\n\s+at /, '--debug adds the stack');
    const path = await cli(t, ['status', '--url', `http://127.0.0.1:${metricsPort}/nope`], auth);
    t.equal(path.code, 4);
    t.match(path.stderr, /answered HTTP 404: no metrics at this path/);
    const bad = await cli(t, ['status', '--url', 'ftp://x/metrics'], auth);
    t.equal(bad.code, 64);
    t.match(bad.stderr, /must start with http:\/\/ or https:\/\//);
  });

  await t.test('export: Prometheus text as served, or a JSON document with buckets', async (t) => {
    const text = await cli(t, ['export', '--url', url], auth);
    t.equal(text.code, 0, text.stderr);
    t.match(text.stdout, /^# HELP /m);
    t.match(text.stdout, /^cardlink_apdu_commands_total\{command_type="SELECT",device_type="unknown"\} 4$/m);
    t.match(text.stdout, /^cardlink_apdu_duration_seconds_bucket\{command_type="SELECT",le="\+Inf"\} 2$/m);

    const json = await cli(t, ['export', '--format', 'json', '--url', url], auth);
    t.equal(json.code, 0, json.stderr);
    const doc = JSON.parse(json.stdout) as ExportDocument;
    t.equal(doc.source, url);
    t.ok(Date.parse(doc.scrapedAt) > 0);
    const fam = (n: string) => doc.families.find((f) => f.name === n);
    t.same(fam('cardlink_apdu_responses_total')?.type, 'counter');
    t.same(
      fam('cardlink_apdu_responses_total')?.series.map((s) => [s.labels, s.value]),
      [
        [{ status_word: '9000', status_category: 'success' }, 12],
        [{ status_word: '6A82', status_category: 'error' }, 2],
      ],
    );
    const hist = fam('cardlink_apdu_duration_seconds');
    t.equal(hist?.type, 'histogram');
    t.equal(hist?.unit ?? 'seconds', 'seconds');
    const select = hist?.series.find((s) => s.labels['command_type'] === 'SELECT');
    t.same(
      select?.buckets?.map((b) => b.le),
      ['0.001', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '+Inf'],
    );
    // Same numbers as the text export above: the +Inf bucket is the count.
    t.equal(select?.buckets?.at(-1)?.count, 2);
    t.equal(select?.count, 2);
    t.type(select?.sum, 'number');
    t.same(fam('cardlink_tls_connections_active')?.series, [{ labels: {}, value: 0 }]);

    const dir = mkdtempSync(join(tmpdir(), 'cardlink-export-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'sub', 'scrape.json');
    const file = await cli(t, ['export', '--format', 'json', '--output', out, '--url', url], auth);
    t.equal(file.code, 0, file.stderr);
    t.equal(file.stdout, '');
    t.match(file.stderr, /^wrote .*scrape\.json \(\d+ families\)\n$/);
    t.ok((JSON.parse(readFileSync(out, 'utf8')) as ExportDocument).families.length > 20);
    const badFormat = await cli(t, ['export', '--format', 'xml', '--url', url], auth);
    t.equal(badFormat.code, 64);
    t.match(badFormat.stderr, /Allowed choices are prometheus, json/);
    writeFileSync(join(dir, 'blocker'), 'x');
    const unwritable = await cli(t, ['export', '--output', join(dir, 'blocker', 'x.txt'), '--url', url], auth);
    t.equal(unwritable.code, 74);
    t.match(unwritable.stderr, /^cardlink-metrics: cannot write .*x\.txt: /);
  });

  await t.test('without --url: the target comes from the config file and the environment', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cardlink-cfg-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const cfg = join(dir, 'cardlink-otel.json');
    const env = { CARDLINK_CONFIG_FILE: cfg };
    t.equal((await cli(t, ['config', 'set', 'OTEL_EXPORTER_PROMETHEUS_PORT', String(metricsPort)], env)).code, 0);
    t.equal((await cli(t, ['config', 'set', 'CARDLINK_METRICS_USERNAME', USER], env)).code, 0);
    t.equal((await cli(t, ['config', 'set', 'CARDLINK_METRICS_PASSWORD', PASS], env)).code, 0);
    const r = await cli(t, ['status', '--json'], env);
    t.equal(r.code, 0, r.stderr);
    t.equal((JSON.parse(r.stdout) as { source: string }).source, url, 'port and credentials from the config file');
    // The environment wins over the file.
    const deadPort = await freePort();
    const overridden = await cli(t, ['status'], { ...env, OTEL_EXPORTER_PROMETHEUS_PORT: String(deadPort) });
    t.equal(overridden.code, 3);
    t.match(overridden.stderr, `127.0.0.1:${deadPort}`);
  });

  app.kill('SIGTERM');
  await app.waitForExit(10_000);
});

t.test('--timeout is a deadline for the whole request: a server that trickles one byte a second fails in time', async (t) => {
  const { createServer } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const trickle = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n');
    const timer = setInterval(() => s.write('#'), 1000);
    s.on('close', () => {
      clearInterval(timer);
      sockets.delete(s);
    });
  });
  await new Promise<void>((r) => trickle.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    trickle.close();
  });
  const port = (trickle.address() as import('node:net').AddressInfo).port;
  // The server never finishes its answer: without a deadline, cli() would time out waiting for the exit.
  for (const command of ['status', 'health']) {
    const r = await cli(t, ['--timeout', '1500', command, '--url', `http://127.0.0.1:${port}/x`]);
    t.equal(r.code, 3, `${command}: unreachable`);
    t.match(r.stderr, /cannot reach .*: no answer within 1500 ms/);
  }
  const bad = await cli(t, ['status', '--url', `http://u:pa%ZZss@127.0.0.1:${port}/metrics`]);
  t.equal(bad.code, 64, 'bad percent-encoding in the URL is a usage error');
  t.match(bad.stderr, /not valid percent-encoding/);
  t.notMatch(bad.stderr, /pa%ZZss/, 'and the password is not printed');
});

t.test('a server that answers something other than HTTP: an unusable answer (4) for status, no health document (3) for health', async (t) => {
  const { createServer } = await import('node:net');
  // An SSH banner, as a lab box's port 22 would answer when --url names the wrong port.
  const banner = createServer((s) => {
    s.on('error', () => {});
    s.end('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n');
  });
  await new Promise<void>((r) => banner.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => banner.close());
  const port = (banner.address() as import('node:net').AddressInfo).port;
  const status = await cli(t, ['status', '--url', `http://127.0.0.1:${port}/metrics`]);
  t.equal(status.code, 4, 'status: an unusable answer');
  t.match(status.stderr, /answered something that is not HTTP \(HPE_/);
  t.notMatch(status.stderr, /cannot reach/);
  const health = await cli(t, ['health', '--url', `http://127.0.0.1:${port}/health`]);
  t.equal(health.code, 3, 'health: no health document');
  t.match(health.stderr, /answered something that is not HTTP/);
});

t.test('an output file whose directory cannot be made: exit 74 at once (Node\'s recursive mkdir spins under /proc)', async (t) => {
  for (const [args, what] of [
    [['alerts', 'export', '/proc/cardlink-nope/rules.yml'], 'alerts export'],
    [['dashboards', 'export', '/proc/cardlink-nope/dashboards'], 'dashboards export'],
  ] as const) {
    const r = await cli(t, [...args]);
    t.equal(r.code, 74, `${what}: a file that cannot be written`);
    t.match(r.stderr, /cannot write/);
  }
  const { mkdtempSync, existsSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'cli-out-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ok = await cli(t, ['alerts', 'export', join(dir, 'a', 'b', 'rules.yml')]);
  t.equal(ok.code, 0);
  t.ok(existsSync(join(dir, 'a', 'b', 'rules.yml')), 'missing directories are made');
});

t.test('the configured credentials go to this host only, never to a --url naming another host', async (t) => {
  const { authFor } = await import('../src/cli/targets.js');
  const targets = {
    config: {} as never,
    env: {},
    metricsUrl: 'http://127.0.0.1:9464/metrics',
    healthUrl: 'http://lab-box.local:8081/health',
    auth: { username: 'ops', password: 'pw' },
  };
  for (const u of ['http://127.0.0.1:5555/metrics', 'http://localhost:9464/metrics', 'http://[::1]:9464/metrics', 'http://127.0.0.2:1/m', 'http://lab-box.local:9999/health']) {
    t.same(authFor(targets, new URL(u)), targets.auth, u);
  }
  for (const u of ['http://10.0.0.7:9464/metrics', 'https://metrics.example.org/metrics', 'http://127.0.0.1.evil.example/metrics']) {
    t.equal(authFor(targets, new URL(u)), undefined, u);
  }
});
