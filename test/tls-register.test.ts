/**
 * The admin server as its own process under `--import ./register.js`: the session's span tree at
 * a real OTLP receiver, exact counts on /metrics, no secret anywhere, and byte-identical responses
 * to the card with instrumentation on and off.
 */
import t from 'tap';
import { join } from 'node:path';
import { runNode, freePort, REPO_ROOT } from './helpers/child.js';
import { scrape } from './helpers/scrape.js';
import { startOtlpReceiver } from './fixtures/otlp-receiver.js';
import { runCard } from './fixtures/card-simulator.js';
import { PUT_KEY_SECRET_HEX } from './fixtures/admin-server.js';
import { getSample } from '../src/prom/text-parser.js';

const APP = join(REPO_ROOT, 'dist/test/fixtures/apps/admin-app.js');
const KEY_HEX = '0102030405060708090A0B0C0D0E0F10';
const KEY = Buffer.from(KEY_HEX, 'hex');

async function cardResponses(port: number, cardlink = false): Promise<Buffer> {
  const raw: Buffer[] = [];
  const run = await runCard({ port, identity: 'card-001', key: KEY, cardlink, onResponse: (b) => raw.push(b) });
  if (run.end !== 'completed') throw new Error(`card run ended ${run.end}`);
  return Buffer.concat(raw);
}

for (const kind of ['https', 'tls'] as const) {
  t.test(`${kind} admin server under register: span tree, /metrics, no secrets, identical bytes`, async (t) => {
    const plain = runNode({ t, args: [APP], env: { ADMIN_KIND: kind, ADMIN_CHUNKED: kind === 'tls' ? '1' : '0' } });
    const plainPort = Number((await plain.waitForLine(/^listening \d+/, 15_000)).split(' ')[1]);
    const expected = await cardResponses(plainPort);
    plain.kill('SIGTERM');

    const receiver = await startOtlpReceiver();
    t.teardown(() => receiver.close());
    const metricsPort = await freePort();
    const child = runNode({
      t,
      importRegister: true,
      args: [APP],
      env: {
        ADMIN_KIND: kind,
        ADMIN_CHUNKED: kind === 'tls' ? '1' : '0',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_METRIC_EXPORT_INTERVAL: '300',
        CARDLINK_CAPTURE_APDU_DATA: 'true',
      },
    });
    const port = Number((await child.waitForLine(/^listening \d+/, 15_000)).split(' ')[1]);
    const got = await cardResponses(port);
    t.equal(got.toString('hex'), expected.toString('hex'), 'byte-identical responses with and without instrumentation');

    await receiver.waitFor((r) => r.spans.some((s) => s.name === 'ota.session'), 10_000, 'the session span');
    await receiver.waitFor((r) => r.spans.filter((s) => s.name.startsWith('apdu.')).length === 7, 10_000, 'seven APDU spans');
    const session = receiver.spans.find((s) => s.name === 'ota.session');
    t.equal(session?.kind, 'SERVER');
    t.equal(session?.attributes['cardlink.session.status'], 'completed');
    t.equal(session?.attributes['cardlink.psk.identity'], 'card-001');
    const apdus = receiver.spans.filter((s) => s.name.startsWith('apdu.'));
    for (const a of apdus) t.equal(a.parentSpanId, session?.spanId, `${a.name} under ota.session`);
    const putKey = apdus.find((s) => s.name === 'apdu.PUT_KEY');
    t.match(String(putKey?.attributes['cardlink.apdu.command']), /^80D80181<redacted>$/, 'PUT KEY header only');
    const select = apdus.find((s) => s.name === 'apdu.SELECT');
    t.equal(select?.attributes['cardlink.apdu.command'], '00A4040008A000000151000000', 'capture on: other APDUs kept');
    t.ok(receiver.spans.some((s) => s.name === 'tls.handshake' && s.attributes['tls.cipher'] === 'TLS_PSK_WITH_AES_128_CBC_SHA256'));

    const m = await scrape(`http://127.0.0.1:${metricsPort}/metrics`);
    const v = (name: string, labels: Record<string, string>) => getSample(m.families, name, labels)?.value;
    t.equal(v('cardlink_apdu_commands_total', { command_type: 'SELECT', device_type: 'unknown' }), 2);
    t.equal(v('cardlink_apdu_commands_total', { command_type: 'GET_STATUS', device_type: 'unknown' }), 2);
    t.equal(v('cardlink_apdu_commands_total', { command_type: 'INSTALL', device_type: 'unknown' }), 1);
    t.equal(v('cardlink_apdu_responses_total', { status_word: '9000', status_category: 'success' }), 6);
    t.equal(v('cardlink_apdu_responses_total', { status_word: '6A82', status_category: 'error' }), 1);
    t.equal(v('cardlink_sessions_total', { status: 'completed', session_type: 'polled', device_type: 'unknown' }), 1);
    t.equal(v('cardlink_tls_handshakes_total', { result: 'success', cipher_suite: 'TLS_PSK_WITH_AES_128_CBC_SHA256', failure_reason: 'none' }), 1);

    await receiver.waitFor((r) => r.metrics.some((x) => x.name === 'cardlink.apdu.commands'), 10_000, 'OTLP metrics');
    const everything = JSON.stringify({ spans: receiver.spans, metrics: receiver.metrics, logs: receiver.logs }, (_k, val) =>
      typeof val === 'bigint' ? val.toString() : val,
    ).toUpperCase() + m.text.toUpperCase() + child.stdout().toUpperCase() + child.stderr().toUpperCase();
    t.notOk(everything.includes(PUT_KEY_SECRET_HEX), 'PUT KEY key data appears nowhere');
    t.notOk(everything.includes(KEY_HEX), 'the PSK appears nowhere');
    child.kill('SIGTERM');
    await child.waitForExit(10_000);
  });
}

for (const kind of ['https', 'tls'] as const) {
  t.test(`${kind} admin server framing like the public CardLink, under register: counts, format, identical bytes`, async (t) => {
    const env = { ADMIN_KIND: kind, ADMIN_CARDLINK: '1' };
    const plain = runNode({ t, args: [APP], env });
    const plainPort = Number((await plain.waitForLine(/^listening \d+/, 15_000)).split(' ')[1]);
    const expected = await cardResponses(plainPort, true);
    plain.kill('SIGTERM');

    const metricsPort = await freePort();
    const child = runNode({
      t,
      importRegister: true,
      args: [APP],
      env: { ...env, OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort), OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1', CARDLINK_LOG_LEVEL: 'info,tls=info' },
    });
    const port = Number((await child.waitForLine(/^listening \d+/, 15_000)).split(' ')[1]);
    const got = await cardResponses(port, true);
    t.equal(got.toString('hex'), expected.toString('hex'), 'byte-identical responses with and without instrumentation');
    t.match(got.toString('latin1'), /HTTP\/1\.1 204 No Content\r\n[^]*Connection: close\r\n\r\n$/, "CardLink's closing 204");

    const line = await child.waitForLine(/"message":"OTA session ended"/, 10_000);
    t.match(JSON.parse(line), { status: 'completed', scp81_format: 'length_prefixed', apdu_count: 7 });
    const m = await scrape(`http://127.0.0.1:${metricsPort}/metrics`);
    const v = (name: string, labels: Record<string, string>) => getSample(m.families, name, labels)?.value;
    t.equal(v('cardlink_apdu_commands_total', { command_type: 'SELECT', device_type: 'unknown' }), 2);
    t.equal(v('cardlink_apdu_commands_total', { command_type: 'GET_STATUS', device_type: 'unknown' }), 2);
    t.equal(v('cardlink_apdu_commands_total', { command_type: 'PUT_KEY', device_type: 'unknown' }), 1);
    t.equal(v('cardlink_apdu_responses_total', { status_word: '6A82', status_category: 'error' }), 1);
    t.equal(v('cardlink_scp81_bodies_total', { direction: 'sent', format: 'length_prefixed' }), 7);
    t.equal(v('cardlink_scp81_bodies_total', { direction: 'received', format: 'length_prefixed' }), 7);
    t.equal(getSample(m.families, 'cardlink_apdu_duration_seconds_count', { command_type: 'GET_STATUS' })?.value, 2, 'one timing per APDU');
    const everything = (m.text + child.stdout() + child.stderr()).toUpperCase();
    t.notOk(everything.includes(PUT_KEY_SECRET_HEX), 'PUT KEY key data appears nowhere');
    t.notOk(everything.includes(KEY_HEX), 'the PSK appears nowhere');
    child.kill('SIGTERM');
    await child.waitForExit(10_000);
  });
}
