/**
 * Hostile peers against the real TLS path: a card that answers 65,536 distinct status words to
 * random INS bytes, 500 concurrent PSK-TLS handshakes. Series stay within the catalogue's
 * cardinality limits, memory stays flat, and every handshake is accounted for.
 */
import t from 'tap';
import tls from 'node:tls';
import v8 from 'node:v8';
import vm from 'node:vm';
import { TlsInstrumentation } from '../instrumentations/tls/index.js';
import { startAdminServer } from './fixtures/admin-server.js';
import { runCard } from './fixtures/card-simulator.js';
import { setupHarness, eventually } from './helpers/otel-harness.js';
import { METRICS } from '../src/metrics/catalogue.js';

const KEY = Buffer.from('0102030405060708090A0B0C0D0E0F10', 'hex');
const keys = new Map([['card-001', KEY]]);
const h = setupHarness([new TlsInstrumentation()]);
t.teardown(() => h.shutdown());

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
function heapMb(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

const limit = (key: string): number => METRICS.find((m) => m.key === key)?.cardinalityLimit ?? 0;

t.test('65,536 distinct status words and random INS bytes: bounded series, flat memory', async (t) => {
  // 64 scripts of 1024 APDUs (the decoder's per-script bound), every INS byte value, every SW.
  const scripts: Buffer[][] = [];
  for (let s = 0; s < 64; s++) {
    const script: Buffer[] = [];
    for (let i = 0; i < 1024; i++) script.push(Buffer.from([0x80, (s * 1024 + i) & 0xff, i & 0xff, 0x00, 0x00]));
    scripts.push(script);
  }
  let sw = 0;
  const server = await startAdminServer({ kind: 'https', keys, scriptsFor: () => scripts });
  t.teardown(() => server.close());
  // Warm the paths once, then measure the heap across the hostile session.
  await runCard({ port: server.port, identity: 'card-001', key: KEY, answer: () => Buffer.from([0x90, 0x00]) });
  h.spans.reset();
  const before = heapMb();
  const run = await runCard({
    port: server.port,
    identity: 'card-001',
    key: KEY,
    answer: () => {
      const r = Buffer.from([(sw >> 8) & 0xff, sw & 0xff]);
      sw++;
      return r;
    },
  });
  t.equal(run.end, 'completed');
  t.equal(sw, 65_536, 'every status word was answered');
  const metrics = await h.collect();
  const series = (name: string) => metrics.find((m) => m.descriptor.name === name)?.dataPoints.length ?? 0;
  t.ok(series('cardlink.apdu.responses') <= limit('apduResponses'), `responses: ${series('cardlink.apdu.responses')} series`);
  t.ok(series('cardlink.apdu.commands') <= limit('apduCommands'), `commands: ${series('cardlink.apdu.commands')} series`);
  const responses = metrics.find((m) => m.descriptor.name === 'cardlink.apdu.responses');
  const total = (responses?.dataPoints ?? []).reduce((s, p) => s + (p.value as number), 0);
  t.ok(total >= 65_536, 'no response lost to the overflow series');
  t.ok(
    (responses?.dataPoints ?? []).some((p) => p.attributes['otel.metric.overflow'] === true),
    'distinct status words past the limit land in the overflow series',
  );
  h.spans.reset(); // the test harness keeps finished spans in memory; the SDK does not
  const growth = heapMb() - before;
  t.ok(growth < 50, `heap growth ${growth.toFixed(1)} MB < 50 MB`);
  h.spans.reset();
});

t.test('500 concurrent PSK-TLS handshakes: every one counted, gauge back to 0', async (t) => {
  const server = await startAdminServer({ kind: 'tls', keys, scriptsFor: () => [] });
  t.teardown(() => server.close());
  const before = await h.value('cardlink_tls_handshakes_total', { result: 'success' });
  const beforeFailed = await h.value('cardlink_tls_handshakes_total', { result: 'failed' });
  const outcomes = await Promise.all(
    Array.from(
      { length: 500 },
      (_, i) =>
        new Promise<'ok' | 'err'>((resolve) => {
          const s = tls.connect({
            port: server.port,
            host: '127.0.0.1',
            ciphers: 'PSK-AES128-CBC-SHA256',
            maxVersion: 'TLSv1.2',
            checkServerIdentity: () => undefined,
            // Every tenth card presents an unknown identity.
            pskCallback: () => ({ psk: KEY, identity: i % 10 === 0 ? 'intruder' : 'card-001' }),
          });
          s.once('secureConnect', () => {
            s.end();
            resolve('ok');
          });
          s.once('error', () => resolve('err'));
        }),
    ),
  );
  const ok = outcomes.filter((o) => o === 'ok').length;
  await eventually(
    async () =>
      (await h.value('cardlink_tls_handshakes_total', { result: 'success' })) - before +
        (await h.value('cardlink_tls_handshakes_total', { result: 'failed' })) - beforeFailed ===
      500,
    15_000,
    'all 500 handshakes counted',
  );
  t.equal((await h.value('cardlink_tls_handshakes_total', { result: 'success' })) - before, ok);
  t.equal(ok, 450);
  await eventually(async () => (await h.value('cardlink_tls_connections_active')) === 0, 15_000, 'gauge back to 0');
});
