/**
 * `cardlink-metrics test`: real connectivity checks. OTLP against the test suite's real gRPC OTLP
 * receiver (the empty ExportTraceServiceRequest must arrive, with our headers), in its refusing
 * mode and with nothing listening; http/protobuf against a small HTTP server; /metrics against a
 * live instrumented process; health against a small fake endpoint (the shape of docs/architecture.md, "Settings and endpoints").
 */
import t from 'tap';
import { METRICS } from '../src/metrics/catalogue.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runNode, freePort, REPO_ROOT } from './helpers/child.js';
import { startOtlpReceiver } from './fixtures/otlp-receiver.js';
import { parseOtlpHeaders, probeOtlpGrpc, TRACE_EXPORT_METHOD } from '../src/cli/otlp-probe.js';
import type { CheckResult } from '../src/cli/connectivity.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');
const APPS = join(REPO_ROOT, 'test/fixtures/apps');
type Tap = { teardown(fn: () => unknown): void };

async function cli(t: Tap, args: string[], env: Record<string, string | undefined> = {}) {
  const clean: Record<string, string | undefined> = { NO_COLOR: undefined, FORCE_COLOR: undefined, CARDLINK_CONFIG_FILE: '/nonexistent/c.json' };
  for (const k of Object.keys(process.env)) if (k.startsWith('OTEL_') || k.startsWith('CARDLINK_')) clean[k] = undefined;
  const c = runNode({ t, args: [CLI, ...args], env: { ...clean, ...env } });
  const exit = await c.waitForExit(20_000);
  return { code: exit.code, stdout: c.stdout(), stderr: c.stderr() };
}

async function server(t: Tap, handler: http.RequestListener): Promise<number> {
  const s = http.createServer(handler);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => s.close(() => r())));
  return (s.address() as AddressInfo).port;
}

const healthDoc = (status: string): string => JSON.stringify({ status, timestamp: new Date().toISOString(), checks: [{ name: 'otlp_export', status, message: 'x', duration_ms: 1, details: null }] });

t.test('test --otlp: an empty trace export reaches a real OTLP/gRPC receiver', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const ok = await cli(t, ['test', '--otlp', '--json'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_HEADERS: 'x-lab-token=abc%20123,bad-entry',
  });
  t.equal(ok.code, 0, ok.stderr);
  const [r] = JSON.parse(ok.stdout) as CheckResult[];
  t.equal(r?.verdict, 'PASS');
  t.match(r?.detail, /^grpc: OK, an empty ExportTraceServiceRequest was accepted by 127\.0\.0\.1:\d+/);
  t.equal(receiver.requestCounts.traces, 1, 'exactly one Export call arrived');
  t.equal(receiver.requests[0]?.items, 0, 'carrying no span');
  t.equal(receiver.requests[0]?.metadata['x-lab-token'], 'abc 123', 'OTEL_EXPORTER_OTLP_HEADERS are sent');
  t.equal(receiver.requestCounts.metrics + receiver.requestCounts.logs, 0);

  receiver.mode = 'unavailable';
  const refused = await cli(t, ['test', '--otlp'], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
  t.equal(refused.code, 1);
  t.match(refused.stdout, /^FAIL\s+otlp\s+http:\/\/127\.0\.0\.1:\d+\s+grpc: UNAVAILABLE, 127\.0\.0\.1:\d+: nothing answers gRPC there/);

  const dead = await freePort();
  const down = await cli(t, ['--timeout', '2000', 'test', '--otlp', '--otlp-endpoint', `http://127.0.0.1:${dead}`]);
  t.equal(down.code, 1);
  t.match(down.stdout, /^FAIL\s+otlp\s+.*UNAVAILABLE/);

  const unset = await cli(t, ['test', '--otlp']);
  t.equal(unset.code, 1, 'asked for explicitly but not configured: a failure');
  t.match(unset.stdout, /^FAIL\s+otlp\s+-\s+no OTLP endpoint configured/);
});

t.test('test --otlp over http/protobuf posts an empty request to the traces URL', async (t) => {
  const seen: Array<{ method?: string; url?: string; type?: string; length: number }> = [];
  const port = await server(t, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, type: req.headers['content-type'], length: Buffer.concat(chunks).length });
      res.writeHead(req.url === '/v1/traces' ? 200 : 404).end();
    });
  });
  const ok = await cli(t, ['test', '--otlp'], { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' });
  t.equal(ok.code, 0, ok.stdout + ok.stderr);
  t.match(ok.stdout, /^PASS\s+otlp\s+http:\/\/127\.0\.0\.1:\d+\/v1\/traces\s+http\/protobuf: HTTP 200/);
  t.same(seen, [{ method: 'POST', url: '/v1/traces', type: 'application/x-protobuf', length: 0 }]);
  const wrong = await cli(t, ['test', '--otlp'], {
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${port}/nope`,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
  });
  t.equal(wrong.code, 1);
  t.match(wrong.stdout, /^FAIL\s+otlp\s+.*HTTP 404/);
  // --otlp-endpoint is the same base endpoint as the variable: the same traces URL.
  const flag = await cli(t, ['test', '--otlp', '--otlp-endpoint', `http://127.0.0.1:${port}/`], { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' });
  t.equal(flag.code, 0, flag.stdout + flag.stderr);
  t.match(flag.stdout, /^PASS\s+otlp\s+http:\/\/127\.0\.0\.1:\d+\/v1\/traces\s/);
});

t.test('test --metrics and --health against a live process and a health endpoint; all three by default', async (t) => {
  const metricsPort = await freePort();
  const app = runNode({
    t,
    importRegister: true,
    args: [join(APPS, 'esm-app.mjs')],
    env: {
      OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      CARDLINK_HEALTH_ENABLED: 'false',
      CARDLINK_METRICS_USERNAME: 'ops',
      CARDLINK_METRICS_PASSWORD: 'pw',
      OTEL_EXPORTER_OTLP_ENDPOINT: undefined,
    },
  });
  await app.waitForLine(/^ready /, 15_000);
  let healthStatus = 'healthy';
  const healthPort = await server(t, (_req, res) => {
    res.writeHead(healthStatus === 'unhealthy' ? 503 : 200, { 'content-type': 'application/json' }).end(healthDoc(healthStatus));
  });
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const env = {
    OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
    CARDLINK_METRICS_USERNAME: 'ops',
    CARDLINK_METRICS_PASSWORD: 'pw',
    CARDLINK_HEALTH_PORT: String(healthPort),
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
  };

  const all = await cli(t, ['test'], env);
  t.equal(all.code, 0, all.stdout + all.stderr);
  const lines = all.stdout.trimEnd().split('\n');
  t.equal(lines.length, 3);
  t.match(lines[0], /^PASS\s+otlp\s/);
  t.match(lines[1], new RegExp(`^PASS\\s+metrics\\s+http://127\\.0\\.0\\.1:${metricsPort}/metrics\\s+HTTP 200, \\d+ families \\(${METRICS.length} cardlink_\\*\\), \\d+ samples`));
  t.match(lines[2], new RegExp(`^PASS\\s+health\\s+http://127\\.0\\.0\\.1:${healthPort}/health\\s+HTTP 200, healthy`));

  healthStatus = 'degraded';
  const degraded = await cli(t, ['test', '--health', '--metrics'], env);
  t.equal(degraded.code, 0, 'degraded is a warning, not a failure');
  t.match(degraded.stdout, /^WARN\s+health\s+.*degraded \(otlp_export degraded\)/m);
  t.notMatch(degraded.stdout, /otlp /, 'only the targets asked for');

  healthStatus = 'unhealthy';
  const unhealthy = await cli(t, ['test', '--health'], env);
  t.equal(unhealthy.code, 1);
  t.match(unhealthy.stdout, /^FAIL\s+health\s+.*HTTP 503, unhealthy/);

  const wrongCreds = await cli(t, ['test', '--metrics', '--json'], { ...env, CARDLINK_METRICS_PASSWORD: 'bad' });
  t.equal(wrongCreds.code, 1);
  const [m] = JSON.parse(wrongCreds.stdout) as CheckResult[];
  t.equal(m?.verdict, 'FAIL');
  t.match(m?.detail, /wrong credentials .* \(HTTP 401\)/);

  const nothing = await cli(t, ['test'], { CARDLINK_HEALTH_PORT: String(await freePort()), OTEL_EXPORTER_PROMETHEUS_PORT: String(await freePort()) });
  t.equal(nothing.code, 1);
  t.match(nothing.stdout, /^SKIP\s+otlp\s+-\s+no OTLP endpoint configured/m, 'not configured and not asked for: skipped');
  t.match(nothing.stdout, /^FAIL\s+metrics\s+.*connection refused/m);
  t.match(nothing.stdout, /^FAIL\s+health\s+.*connection refused/m);

  const coloured = await cli(t, ['--color', 'test', '--health'], { ...env });
  t.match(coloured.stdout, /^\u001b\[31mFAIL\u001b\[39m/);
  app.kill('SIGTERM');
  await app.waitForExit(10_000);
});

t.test('probe helpers (unit)', async (t) => {
  t.same(parseOtlpHeaders('a=1, B = two%2Cthree ,=x,novalue,c=%E0%A4%A'), { a: '1', b: 'two,three', c: '%E0%A4%A' });
  t.same(parseOtlpHeaders(undefined), {});
  t.equal(TRACE_EXPORT_METHOD, '/opentelemetry.proto.collector.trace.v1.TraceService/Export');
  const r = await probeOtlpGrpc('not a url', {}, 1000);
  t.equal(r.ok, false);
  t.equal(r.outcome, 'error');
});
