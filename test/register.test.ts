/**
 * `node --import ./register.js app` end to end, in child processes: ESM and CommonJS apps, both
 * exporters together, basic auth, promtool, disabled SDK, shutdown behaviour, bad configuration.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runNode, freePort, REPO_ROOT } from './helpers/child.js';
import { scrape } from './helpers/scrape.js';
import { startOtlpReceiver } from './fixtures/otlp-receiver.js';
import { METRICS } from '../src/metrics/catalogue.js';

const APPS = join(REPO_ROOT, 'test/fixtures/apps');
const PROBE = join(REPO_ROOT, 'test/fixtures/probe-instrumentation.mjs');

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await scrape(`http://127.0.0.1:${port}/metrics`, { timeoutMs: 1000 });
      if (r.status > 0) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > until) throw new Error(`port ${port} never answered`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const app of ['esm-app.mjs', 'cjs-app.cjs']) {
  t.test(`${app} under --import ./register.js: Prometheus and OTLP together, ESM/CJS patched`, async (t) => {
    const receiver = await startOtlpReceiver();
    t.teardown(() => receiver.close());
    const port = await freePort();
    const child = runNode({
      t,
      importRegister: true,
      args: [join(APPS, app)],
      env: {
        OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_METRIC_EXPORT_INTERVAL: '300',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_SERVICE_NAME: 'ota-lab',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=ci',
        CARDLINK_HEALTH_ENABLED: 'false',
        CARDLINK_EXTRA_INSTRUMENTATIONS: PROBE,
      },
    });
    const ready = await child.waitForLine(/^ready /, 15_000);
    t.equal(ready.trim(), 'ready a=1&probe=patched', 'the app import of querystring was patched');
    await waitForPort(port);

    const r = await scrape(`http://127.0.0.1:${port}/metrics`);
    t.equal(r.status, 200);
    for (const m of METRICS) {
      t.equal(r.families.get(m.prometheusName)?.type, m.prometheusType, `${m.prometheusName} is a ${m.prometheusType}`);
    }
    t.ok((r.families.get('cardlink_process_cpu_seconds_total')?.samples[0]?.value ?? 0) > 0, 'cpu seconds measured');
    t.equal(r.families.get('cardlink_build_info')?.samples[0]?.labels['node_version'], process.versions.node);
    t.equal((await scrape(`http://127.0.0.1:${port}/nope`)).status, 404);

    await receiver.waitFor((rc) => rc.spans.some((s) => s.name.endsWith('-app.work')), 10_000, 'the app span');
    const span = receiver.spans.find((s) => s.name.endsWith('-app.work'));
    t.equal(span?.resource['service.name'], 'ota-lab');
    t.equal(span?.resource['deployment.environment'], 'ci');
    t.equal(span?.resource['service.version'], (await import('../src/version.js')).VERSION);
    t.type(span?.resource['host.name'], 'string');
    t.equal(span?.resource['process.pid'], child.child.pid);

    await receiver.waitFor((rc) => rc.metrics.some((m) => m.name === 'cardlink.process.cpu'), 10_000, 'OTLP metrics');
    const cpu = receiver.metrics.find((m) => m.name === 'cardlink.process.cpu');
    t.equal(cpu?.unit, 's', 'OTLP keeps OTel names and units');
    t.ok(receiver.metrics.some((m) => m.name === 'cardlink.uptime'));
    t.notOk(receiver.metrics.some((m) => m.name.startsWith('cardlink_')), 'no Prometheus names on the OTLP side');
    child.kill('SIGTERM');
    await child.waitForExit(10_000);
  });
}

t.test('worker threads inherit --import: telemetry stays the main thread\'s, no second SDK, no port error', async (t) => {
  const port = await freePort();
  const child = runNode({
    t,
    importRegister: true,
    args: [join(APPS, 'worker-app.mjs')],
    env: { OTEL_EXPORTER_PROMETHEUS_PORT: String(port), OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1', CARDLINK_HEALTH_ENABLED: 'false', APP_LIFETIME_MS: '3000' },
  });
  t.equal((await child.waitForLine(/^ready /, 15_000)).trim(), 'ready workers=2');
  await waitForPort(port);
  t.match((await scrape(`http://127.0.0.1:${port}/metrics`, { timeoutMs: 2000 })).text, /target_info/, 'the main thread serves /metrics');
  t.same(await child.waitForExit(10_000), { code: 0, signal: null });
  t.equal(child.stderr(), '', 'no line from the workers (no second SDK trying the same port)');
});

t.test('HTTP Basic auth on /metrics', async (t) => {
  const port = await freePort();
  const child = runNode({
    t,
    importRegister: true,
    args: [join(APPS, 'esm-app.mjs')],
    env: {
      OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      CARDLINK_METRICS_USERNAME: 'ops',
      CARDLINK_METRICS_PASSWORD: 'pr0m-s3cret',
    },
  });
  await child.waitForLine(/^ready /, 15_000);
  await waitForPort(port);
  const url = `http://127.0.0.1:${port}/metrics`;
  const none = await scrape(url);
  t.equal(none.status, 401);
  t.match(none.headers['www-authenticate'], /^Basic /);
  t.equal((await scrape(url, { username: 'ops', password: 'wrong' })).status, 401);
  t.equal((await scrape(url, { username: 'other', password: 'pr0m-s3cret' })).status, 401);
  const ok = await scrape(url, { username: 'ops', password: 'pr0m-s3cret' });
  t.equal(ok.status, 200);
  t.ok(ok.families.has('cardlink_uptime_seconds'));
  t.notMatch(child.stderr() + child.stdout(), 'pr0m-s3cret', 'the password is never printed');
});

t.test('promtool check metrics finds no problem in a scrape', async (t) => {
  const port = await freePort();
  const child = runNode({
    t,
    importRegister: true,
    args: [join(APPS, 'esm-app.mjs')],
    env: { OTEL_EXPORTER_PROMETHEUS_PORT: String(port), OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1' },
  });
  await child.waitForLine(/^ready /, 15_000);
  await waitForPort(port);
  const { text } = await scrape(`http://127.0.0.1:${port}/metrics`);
  const result = await new Promise<{ code: number; out: string }>((resolve) => {
    const p = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
    p.stdin?.end(text);
  });
  t.equal(result.code, 0, result.out);
  t.equal(result.out.trim(), '', 'no lint findings');
});

t.test('OTEL_SDK_DISABLED=true: no port, nothing patched', async (t) => {
  const port = await freePort();
  const child = runNode({
    t,
    importRegister: true,
    args: [join(APPS, 'esm-app.mjs')],
    env: {
      OTEL_SDK_DISABLED: 'true',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
      CARDLINK_EXTRA_INSTRUMENTATIONS: PROBE,
      APP_LIFETIME_MS: '1500',
    },
  });
  t.equal((await child.waitForLine(/^ready /, 15_000)).trim(), 'ready a=1', 'not patched');
  const open = await new Promise<boolean>((resolve) => {
    const s = createServer().once('error', () => resolve(true));
    s.listen(port, '0.0.0.0', () => s.close(() => resolve(false)));
  });
  t.equal(open, false, 'the metrics port stays closed');
  t.same(await child.waitForExit(10_000), { code: 0, signal: null });
});

t.test('shutdown: SIGTERM without app handlers flushes, then dies of SIGTERM; last spans arrive', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const child = runNode({
    t,
    importRegister: true,
    args: [join(APPS, 'esm-app.mjs')],
    env: {
      OTEL_EXPORTER_PROMETHEUS_PORT: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '60000',
    },
  });
  await child.waitForLine(/^ready /, 15_000);
  const started = Date.now();
  child.kill('SIGTERM');
  const exit = await child.waitForExit(10_000);
  t.same(exit, { code: null, signal: 'SIGTERM' }, 'ends as it would have without us');
  t.ok(Date.now() - started < 5000, 'promptly');
  t.ok(receiver.spans.some((s) => s.name === 'esm-app.work'), 'the queued span was flushed at SIGTERM');
});

t.test('shutdown: an app with its own SIGTERM handler keeps it; a natural end flushes too', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const env = { OTEL_EXPORTER_PROMETHEUS_PORT: '0', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '60000' };
  const handled = runNode({
    t,
    importRegister: true,
    args: [
      '--input-type=module',
      '-e',
      "process.on('SIGTERM', () => { console.log('app handler'); setTimeout(() => process.exit(7), 200); }); console.log('ready'); setInterval(() => {}, 1000);",
    ],
    env,
  });
  await handled.waitForLine(/^ready/, 15_000);
  handled.kill('SIGTERM');
  t.same(await handled.waitForExit(10_000), { code: 7, signal: null }, "the app's handler decided");
  t.match(handled.stdout(), /app handler/);

  const natural = runNode({
    t,
    importRegister: true,
    args: [
      '--input-type=module',
      '-e',
      "import { trace } from '@opentelemetry/api'; trace.getTracer('x').startSpan('natural.end').end(); console.log('done');",
    ],
    env,
  });
  t.same(await natural.waitForExit(15_000), { code: 0, signal: null }, 'exits on its own (nothing kept alive)');
  await receiver.waitFor((rc) => rc.spans.some((s) => s.name === 'natural.end'), 5000, 'span flushed at beforeExit');
});

t.test('bad configuration and a port in use: one line each, the app runs', async (t) => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const child = runNode({
    t,
    importRegister: true,
    args: [join(APPS, 'cjs-app.cjs')],
    env: {
      OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      CARDLINK_INSTRUMENTATIONS: 'tls,bluetooth',
      // One line for the three signals it would serve.
      OTEL_EXPORTER_OTLP_ENDPOINT: 'alloy:4317',
      OTEL_LOG_LEVEL: 'loud',
      CARDLINK_HEALTH_DISK_PATH: '/nonexistent/cardlink',
      CARDLINK_HEALTH_ENABLED: 'true',
      APP_LIFETIME_MS: '1000',
    },
  });
  await child.waitForLine(/^ready /, 15_000);
  t.same(await child.waitForExit(10_000), { code: 0, signal: null });
  const stderr = child.stderr();
  const lines = stderr.split('\n').filter((l) => l.startsWith('cardlink-otel:'));
  t.equal(lines.length, 5, lines.join('\n'));
  t.match(lines.join('\n'), /CARDLINK_INSTRUMENTATIONS: unknown value "bluetooth"; valid values are tls, serialport, adb, sqlite, pg, system/);
  t.match(lines.join('\n'), /OTEL_EXPORTER_OTLP_ENDPOINT="alloy:4317" is not valid: expected an http:\/\/ or https:\/\/ URL/);
  t.match(lines.join('\n'), /OTEL_LOG_LEVEL="loud" is not valid: expected one of none, error, warn, info, debug, verbose, all; using the default/);
  t.match(lines.join('\n'), /CARDLINK_HEALTH_DISK_PATH="\/nonexistent\/cardlink" is not valid: expected an existing path \(ENOENT\); using the default/);
  t.match(lines.join('\n'), new RegExp(`cannot serve /metrics on 127.0.0.1:${port}: the address is already in use`));
  t.equal(stderr.split('\n').filter((l) => l.trim() !== '').length, 5, 'nothing else: no second complaint about OTEL_LOG_LEVEL, no stack trace');
});

t.test('OTEL_LOG_LEVEL set: our diagnostics at that level, no logger-override warnings', async (t) => {
  const child = runNode({
    t,
    importRegister: true,
    args: [join(APPS, 'cjs-app.cjs')],
    env: { OTEL_LOG_LEVEL: 'debug', APP_LIFETIME_MS: '500' },
  });
  await child.waitForLine(/^ready /, 15_000);
  t.same(await child.waitForExit(10_000), { code: 0, signal: null });
  const stderr = child.stderr();
  t.notMatch(stderr, /logger will (be overwritten|overwrite)/i);
  t.notMatch(stderr, /^\s+at /m, 'no stack trace');
  t.match(stderr, /^cardlink-otel: debug /m, 'debug lines, through our logger');
});

t.test('an unreachable collector: at most one warning per exporter, the app is unaffected', async (t) => {
  const dead = await freePort();
  const child = runNode({
    t,
    importRegister: true,
    args: [join(APPS, 'esm-app.mjs')],
    env: {
      OTEL_EXPORTER_PROMETHEUS_PORT: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${dead}`,
      OTEL_METRIC_EXPORT_INTERVAL: '200',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      APP_LIFETIME_MS: '2500',
      APP_LOG_LINE: '1',
    },
  });
  t.equal((await child.waitForLine(/^ready /, 15_000)).trim(), 'ready a=1');
  t.same(await child.waitForExit(20_000), { code: 0, signal: null });
  const lines = child
    .stderr()
    .split('\n')
    .filter((l) => l.trim() !== '');
  const metricWarnings = lines.filter((l) => /OTLP metrics export/.test(l));
  const traceWarnings = lines.filter((l) => /OTLP traces export/.test(l));
  const logWarnings = lines.filter((l) => /OTLP logs export/.test(l));
  t.equal(metricWarnings.length, 1, lines.join('\n'));
  t.ok(traceWarnings.length <= 1, lines.join('\n'));
  t.ok(logWarnings.length <= 1, lines.join('\n'));
  t.ok(lines.every((l) => l.startsWith('cardlink-otel:')), `nothing else printed:\n${lines.join('\n')}`);
  t.ok(
    lines.every((l) => /OTLP (metrics|traces|logs) export/.test(l)),
    `the final flush at exit, failing for the same outage, adds no line:\n${lines.join('\n')}`,
  );
});

t.test('node --import cardlink-otel/register from a project that depends on the package', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cardlink-consumer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(REPO_ROOT, join(dir, 'node_modules', 'cardlink-otel'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'lab-app', type: 'module', dependencies: { 'cardlink-otel': '*' } }));
  writeFileSync(join(dir, 'app.js'), "import { stringify } from 'node:querystring'; console.log('ready ' + stringify({ b: 2 }));\n");
  const port = await freePort();
  const child = runNode({
    t,
    cwd: dir,
    args: ['--import', 'cardlink-otel/register', 'app.js'],
    env: {
      OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      CARDLINK_EXTRA_INSTRUMENTATIONS: PROBE,
    },
  });
  t.equal((await child.waitForLine(/^ready /, 15_000)).trim(), 'ready b=2&probe=patched');
  t.same(await child.waitForExit(10_000), { code: 0, signal: null });
});

t.test('the config file written by `cardlink-metrics config set` is read at start; the environment wins', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cardlink-config-file-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'cardlink-otel.json');
  writeFileSync(file, JSON.stringify({ OTEL_SERVICE_NAME: 'from-file', CARDLINK_METRICS_PATH: '/file-metrics' }));
  const port = await freePort();
  const child = runNode({
    t,
    importRegister: true,
    args: [join(APPS, 'esm-app.mjs')],
    env: {
      CARDLINK_CONFIG_FILE: file,
      CARDLINK_METRICS_PATH: '/env-metrics',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
    },
  });
  await child.waitForLine(/^ready /, 15_000);
  await waitForPort(port).catch(() => undefined);
  t.equal((await scrape(`http://127.0.0.1:${port}/env-metrics`)).status, 200, 'the environment wins over the file');
  const r = await scrape(`http://127.0.0.1:${port}/env-metrics`);
  t.equal(r.families.get('target_info')?.samples[0]?.labels['service_name'], 'from-file', 'the file fills what the environment leaves unset');
  writeFileSync(file, '{ not json');
  const bad = runNode({ t, importRegister: true, args: [join(APPS, 'cjs-app.cjs')], env: { CARDLINK_CONFIG_FILE: file, APP_LIFETIME_MS: '300' } });
  t.same(await bad.waitForExit(10_000), { code: 0, signal: null }, 'a bad file never stops the app');
  t.match(bad.stderr(), /config file .* is not valid JSON/);
});
