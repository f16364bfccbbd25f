/**
 * A consumer project: a temp folder that installs the packed tarball of this package, starts
 * telemetry in code (no --import), records APDUs through a fake PC/SC transport and a monitored
 * operation; /metrics and a real OTLP receiver show the same series and span shapes as the
 * automatic path; a trace crosses into a child process; the .d.ts compile for every export. And a
 * consumer that composes its own NodeSDK with the exported instrumentations and its own readers.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, runNode, freePort } from './helpers/child.js';
import { scrape } from './helpers/scrape.js';
import { startOtlpReceiver } from './fixtures/otlp-receiver.js';
import { getSample } from '../src/prom/text-parser.js';

const FIXTURE = join(REPO_ROOT, 'test/fixtures/consumer');
const dir = mkdtempSync(join(tmpdir(), 'cardlink-consumer-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.before(() => {
  // dist/ is built by `npm test`'s pretest; pack it without running prepare again.
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: REPO_ROOT, stdio: 'pipe' });
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz')) as string;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'provisioning-station', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', `./${tarball}`], {
    cwd: dir,
    stdio: 'pipe',
  });
  for (const f of ['app.mjs', 'child.mjs', 'own-sdk.mjs', 'psk-lab.mjs']) copyFileSync(join(FIXTURE, f), join(dir, f));
  copyFileSync(join(FIXTURE, 'consumer-types.ts.txt'), join(dir, 'consumer-types.ts'));
});

t.test('start() in code: /metrics and OTLP show the automatic shapes; one trace across processes', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const port = await freePort();
  const app = runNode({
    t,
    cwd: dir,
    args: ['app.mjs'],
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      CARDLINK_HEALTH_ENABLED: 'false',
    },
  });
  await app.waitForLine(/^ready \d+/, 30_000);
  t.match(app.stdout(), /child done/);
  const m = await scrape(`http://127.0.0.1:${port}/metrics`);
  const v = (name: string, labels: Record<string, string>) => getSample(m.families, name, labels)?.value;
  t.equal(v('cardlink_apdu_commands_total', { command_type: 'SELECT', device_type: 'simulator' }), 1);
  t.equal(v('cardlink_apdu_commands_total', { command_type: 'GET_DATA', device_type: 'simulator' }), 1);
  t.equal(v('cardlink_apdu_commands_total', { command_type: 'INITIALIZE_UPDATE', device_type: 'simulator' }), 1);
  t.equal(v('cardlink_apdu_responses_total', { status_word: '6D00', status_category: 'error' }), 1);
  t.equal(v('cardlink_sessions_total', { status: 'completed', session_type: 'polled', device_type: 'simulator' }), 1);
  t.equal(v('cardlink_operation_duration_seconds_count', { operation: 'card.personalize' }), 1);
  t.equal(v('cardlink_apdu_duration_seconds_count', { command_type: 'SELECT' }), 1);

  await receiver.waitFor((r) => r.spans.some((s) => s.name === 'child.work'), 10_000, 'the child span');
  await receiver.waitFor((r) => r.spans.filter((s) => s.name.startsWith('apdu.')).length === 3, 10_000, 'apdu spans');
  const session = receiver.spans.find((s) => s.name === 'ota.session');
  t.equal(session?.kind, 'SERVER');
  t.equal(session?.resource['service.name'], 'provisioning-station');
  for (const s of receiver.spans.filter((x) => x.name.startsWith('apdu.'))) {
    t.equal(s.parentSpanId, session?.spanId, `${s.name} under ota.session`);
    t.equal(s.kind, 'CLIENT');
  }
  t.same(
    receiver.spans.filter((s) => s.name.startsWith('apdu.')).map((s) => s.attributes['cardlink.apdu.sw']),
    ['9000', '9000', '6D00'],
  );
  const parent = receiver.spans.find((s) => s.name === 'provision.parent');
  const child = receiver.spans.find((s) => s.name === 'child.work');
  t.equal(child?.traceId, parent?.traceId, 'one trace across the two processes');
  t.equal(child?.parentSpanId, parent?.spanId);

  app.kill('SIGUSR2');
  t.same(await app.waitForExit(15_000), { code: 0, signal: null });
  t.match(app.stdout(), /stopped/);
});

t.test('a NodeSDK of the consumer\'s own, with the exported instrumentations and its own Prometheus exporter', async (t) => {
  const port = await freePort();
  const app = runNode({ t, cwd: dir, args: ['own-sdk.mjs'], env: { PROM_PORT: String(port) } });
  await app.waitForLine(/^ready \d+/, 30_000);
  const m = await scrape(`http://127.0.0.1:${port}/metrics`);
  const v = (name: string, labels: Record<string, string>) => getSample(m.families, name, labels)?.value;
  // Recorded through the consumer's MeterProvider, on the one `cardlink-otel` scope; names as the
  // JS exporter makes them (`_total` on counters, no unit suffix).
  t.equal(v('cardlink_tls_handshakes_total', { result: 'success', otel_scope_name: 'cardlink-otel' }), 1);
  t.equal(v('cardlink_sessions_total', { status: 'completed', device_type: 'modem' }), 1, 'the sessionHook decided the device type');
  t.equal(v('cardlink_apdu_commands_total', { command_type: 'SELECT', device_type: 'modem' }), 1);
  t.equal(v('cardlink_apdu_responses_total', { status_word: '9000', status_category: 'success' }), 1);
  t.equal(v('cardlink_apdu_duration_count', { command_type: 'SELECT' }), 1, "the SDK's own histogram");
  t.equal(v('cardlink_apdu_duration_bucket', { command_type: 'SELECT', le: '0.001' }) !== undefined, true, "with the catalogue's buckets");
  app.kill('SIGUSR2');
  const report = JSON.parse(await app.waitForLine(/^\{"hookCalls"/, 15_000)) as {
    hookCalls: string[];
    spans: Array<{ name: string; scope: string; deviceType?: string }>;
  };
  t.same(report.hookCalls, ['card-7']);
  t.same(
    report.spans.map((s) => [s.name, s.scope, s.deviceType ?? null]).sort(),
    [
      ['apdu.SELECT', 'cardlink-otel/tls', 'modem'],
      ['ota.session', 'cardlink-otel/tls', 'modem'],
      ['tls.handshake', 'cardlink-otel/tls', null],
    ],
  );
  t.same(await app.waitForExit(15_000), { code: 0, signal: null });
  t.match(app.stdout(), /stopped/);
});

t.test('the shipped .d.ts type-check a consumer that uses every export', async (t) => {
  const tsc = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
  let out = '';
  try {
    out = execFileSync(
      process.execPath,
      [tsc, '--noEmit', '--strict', '--target', 'ES2022', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--skipLibCheck', '--types', 'node', '--typeRoots', join(REPO_ROOT, 'node_modules/@types'), 'consumer-types.ts'],
      { cwd: dir, encoding: 'utf8' },
    );
  } catch (err) {
    out = String((err as { stdout?: string }).stdout ?? err);
  }
  t.equal(out.trim(), '', 'no type errors');
});
