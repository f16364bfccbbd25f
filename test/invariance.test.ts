/**
 * Invariance: the same scripted workload (admin server + cards, modem over a pty, adb, SQLite)
 * without and with `--import ./register.js`; everything the application saw must be identical.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { runNode, REPO_ROOT } from './helpers/child.js';
import { startOtlpReceiver } from './fixtures/otlp-receiver.js';

const APP = join(REPO_ROOT, 'dist/test/fixtures/apps/invariance-app.js');
const PATH = `${join(REPO_ROOT, 'test/fixtures/fake-adb')}:${process.env['PATH'] ?? ''}`;

async function run(t: Test, instrumented: boolean, env: Record<string, string> = {}): Promise<unknown> {
  const child = runNode({
    t,
    importRegister: instrumented,
    args: [APP],
    env: { PATH, OTEL_EXPORTER_PROMETHEUS_PORT: '0', CARDLINK_HEALTH_ENABLED: 'false', ...env },
    timeoutMs: 60_000,
  });
  const exit = await child.waitForExit(60_000);
  t.same(exit, { code: 0, signal: null }, `${instrumented ? 'instrumented' : 'plain'} run exits 0: ${child.stderr()}`);
  const line = child.stdout().split('\n').find((l) => l.startsWith('INVARIANCE-RESULT '));
  return JSON.parse(line?.slice('INVARIANCE-RESULT '.length) ?? 'null');
}

t.test('the application sees exactly the same world with and without instrumentation', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const plain = await run(t, false);
  const instrumented = await run(t, true, {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    CARDLINK_CAPTURE_APDU_DATA: 'true',
  });
  t.ok(plain !== null, 'the plain run reported');
  const p = plain as Record<string, unknown>;
  const i = instrumented as Record<string, unknown>;
  for (const key of ['tls', 'modem', 'adb', 'sqlite', 'events']) t.same(i[key], p[key], `${key}: identical`);
  t.same(instrumented, plain, 'everything identical');
  // And the instrumented run really was observed (the comparison is not vacuous).
  await receiver.waitFor((r) => r.spans.some((s) => s.name === 'ota.session'), 10_000, 'session spans');
  t.ok(receiver.spans.some((s) => s.name.startsWith('adb ')), 'adb spans');
});
