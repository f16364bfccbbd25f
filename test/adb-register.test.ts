/**
 * adb end to end: a phone controller (ESM named imports, and CommonJS destructured require) runs
 * every child_process call style against the fake adb, once plainly and once under
 * `node --import ./register.js`. Its printed results must be identical; the instrumented run must
 * give the spans (OTLP) and metrics (/metrics) of each adb run.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runNode, freePort, REPO_ROOT } from './helpers/child.js';
import { scrape } from './helpers/scrape.js';
import { startOtlpReceiver } from './fixtures/otlp-receiver.js';
import { INSTRUMENTATION_FACTORIES } from '../src/instrumentation-registry.js';

const APPS = join(REPO_ROOT, 'test/fixtures/adb-apps');
const FAKE_DIR = join(REPO_ROOT, 'test/fixtures/fake-adb');
const EXTRA = join(APPS, 'adb-instrumentation.mjs');
// Until the registry has an `adb` entry, load the instrumentation as an extra one (never both).
const viaRegistry = INSTRUMENTATION_FACTORIES.adb !== undefined;

const baseEnv: Record<string, string | undefined> = {
  PATH: `${FAKE_DIR}:${process.env['PATH'] ?? ''}`,
  ANDROID_SERIAL: undefined,
  FAKE_ADB_DEVICES: undefined,
  FAKE_ADB_SLEEP: undefined,
  FAKE_ADB_ECHO_ENV: undefined,
  CARDLINK_ADB_PATH: undefined,
};

function results(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.startsWith('result '));
}

/** Each sample of a family matching `labels`, summed. */
function sample(families: Map<string, { samples: Array<{ name: string; labels: Record<string, string>; value: number }> }>, name: string, labels: Record<string, string>, family = name): number | undefined {
  const f = families.get(family);
  const hits = f?.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) ?? [];
  return hits.length === 0 ? undefined : hits.reduce((a, s) => a + s.value, 0);
}

t.before(() => {
  if (!viaRegistry && !existsSync(join(REPO_ROOT, 'dist/instrumentations/adb/index.js'))) {
    throw new Error('dist/ is missing the adb instrumentation: run `npm run build` first');
  }
});

for (const app of ['esm-app.mjs', 'cjs-app.cjs']) {
  t.test(`${app}: same results with and without --import ./register.js; spans and metrics of each adb run`, async (t) => {
    const plain = runNode({ t, args: [join(APPS, app)], env: baseEnv });
    const plainExit = await plain.waitForExit(20_000);
    t.same(plainExit, { code: 0, signal: null }, plain.stderr());
    const expected = results(plain.stdout());
    t.equal(expected.length, 12, 'every scenario printed');

    const receiver = await startOtlpReceiver();
    t.teardown(() => receiver.close());
    const port = await freePort();
    const child = runNode({
      t,
      importRegister: true,
      args: [join(APPS, app)],
      env: {
        ...baseEnv,
        APP_LIFETIME_MS: '30000',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        CARDLINK_HEALTH_ENABLED: 'false',
        CARDLINK_INSTRUMENTATIONS: viaRegistry ? 'adb' : 'tls',
        CARDLINK_EXTRA_INSTRUMENTATIONS: viaRegistry ? undefined : EXTRA,
      },
    });
    await child.waitForLine(/^done$/, 20_000);
    t.same(results(child.stdout()), expected, 'identical results, errors and events');
    t.equal(child.stderr(), '', 'nothing printed by cardlink-otel');

    const { families, status } = await scrape(`http://127.0.0.1:${port}/metrics`);
    t.equal(status, 200);
    t.equal(sample(families, 'cardlink_devices_connected', { device_type: 'phone' }), 1, 'two phones listed, one unauthorized: 1');
    for (const type of ['more_than_one_device', 'unauthorized', 'device_not_found', 'adb_missing', 'no_devices', 'killed']) {
      t.equal(sample(families, 'cardlink_device_errors_total', { device_type: 'phone', error_type: type }), 1, `one ${type}`);
    }
    t.equal(sample(families, 'cardlink_device_errors_total', { device_type: 'phone', error_type: 'exit_nonzero' }), undefined);
    t.equal(sample(families, 'cardlink_triggers_sent_total', { trigger_type: 'sms' }), 1, 'the SMS injection is a trigger');
    const counts: Record<string, number> = { devices: 3, shell: 5, version: 1, 'get-state': 1, logcat: 1 };
    for (const [operation, n] of Object.entries(counts)) {
      t.equal(
        sample(families, 'cardlink_adb_operation_duration_seconds_count', { operation }, 'cardlink_adb_operation_duration_seconds'),
        n,
        `${n} × ${operation} timed`,
      );
    }

    child.kill('SIGTERM');
    await child.waitForExit(10_000);
    await receiver.waitFor((r) => r.spans.filter((s) => s.name.startsWith('adb ')).length >= 11, 10_000, 'the adb spans');
    const adbSpans = receiver.spans.filter((s) => s.name.startsWith('adb '));
    t.same(
      adbSpans.map((s) => s.name).sort(),
      [
        'adb devices', 'adb devices', 'adb devices',
        'adb get-state', 'adb logcat',
        'adb shell', 'adb shell', 'adb shell', 'adb shell', 'adb shell',
        'adb version',
      ],
      'one span per adb run (exec and the *Sync helpers included), none for /bin/echo',
    );
    t.ok(adbSpans.every((s) => s.kind === 'CLIENT' && s.attributes['cardlink.device.type'] === 'phone'));
    const missing = adbSpans.find((s) => s.attributes['error.type'] === 'adb_missing');
    t.equal(missing?.name, 'adb devices');
    t.equal(missing?.status.code, 'ERROR');
    const unauthorized = adbSpans.find((s) => s.attributes['error.type'] === 'unauthorized');
    t.same(unauthorized?.attributes['process.command_args'], ['adb', '-s', 'shell', 'id']);
    t.equal(unauthorized?.attributes['cardlink.device.serial'], '0123456789ABCDEF');
    t.equal(unauthorized?.attributes['process.exit.code'], 1);
    const sms = receiver.spansNamed('sms.trigger');
    t.equal(sms.length, 1);
    t.equal(sms[0]?.kind, 'PRODUCER');
    const parent = adbSpans.find((s) => s.spanId === sms[0]?.parentSpanId);
    t.equal(parent?.name, 'adb shell', 'the trigger is a child of its adb run');
    t.same(parent?.attributes['process.command_args'], ['adb', '-s', 'shell', 'am'], 'no PDU on the span');
    const listing = adbSpans.find((s) => s.name === 'adb devices' && s.events.length > 0);
    t.same(
      listing?.events.map((e) => [e.attributes['cardlink.device.serial'], e.attributes['cardlink.device.state']]),
      [
        ['R58M123ABC', 'device'],
        ['0123456789ABCDEF', 'unauthorized'],
      ],
      'phones appearing are span events',
    );
  });
}
