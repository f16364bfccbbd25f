/**
 * The OTA chain end to end under `--import ./register.js` (test/fixtures/apps/ota-chain-app.ts):
 * SMS-PP trigger -> the card's BIP OPEN CHANNEL -> PSK-TLS handshake -> ota.session -> CLOSE
 * CHANNEL, one trace per trigger at a real OTLP receiver, exact counts and latencies on /metrics,
 * and `no_session` for the trigger no card answers. Through a modem on a socat pty (the three URC
 * dialects) and through a phone's radio log read from a (fake) `adb logcat`.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runNode, freePort, REPO_ROOT } from './helpers/child.js';
import { scrape } from './helpers/scrape.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './fixtures/otlp-receiver.js';
import type { MetricFamily } from '../src/prom/text-parser.js';

const APP = join(REPO_ROOT, 'dist/test/fixtures/apps/ota-chain-app.js');
const FAKE_ADB = join(REPO_ROOT, 'test/fixtures/fake-adb');
const WINDOW_S = 2;

function value(f: Map<string, MetricFamily>, family: string, name: string, labels: Record<string, string>): number {
  const s = f.get(family)?.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value ?? 0;
}

const ns = (s: ReceivedSpan, end = false): number => Number((end ? s.endTimeUnixNano : s.startTimeUnixNano) / 1000n) / 1000;

async function runChain(t: Test, mode: 'modem' | 'phone') {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const metricsPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'cardlink-chain-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const radioLog = join(dir, 'radio.log');
  writeFileSync(radioLog, '--------- beginning of radio\n');
  const child = runNode({
    t,
    importRegister: true,
    args: mode === 'modem' ? [APP, 'modem'] : [APP, 'phone', radioLog],
    env: {
      PATH: `${FAKE_ADB}:${process.env['PATH'] ?? ''}`,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRIC_EXPORT_INTERVAL: '300',
      CARDLINK_TRIGGER_WINDOW_S: String(WINDOW_S),
      CARDLINK_HEALTH_ENABLED: 'false',
      CARDLINK_INSTRUMENTATIONS: 'tls,serialport,adb',
    },
  });
  const done = JSON.parse((await child.waitForLine(/^done /, 60_000)).slice(5)) as { adminPort: number; ends: string[] };
  const url = `http://127.0.0.1:${metricsPort}/metrics`;
  // The last trigger is unanswered: it counts once its window is over.
  let families = (await scrape(url)).families;
  const end = Date.now() + 15_000;
  while (value(families, 'cardlink_trigger_outcomes_total', 'cardlink_trigger_outcomes_total', { trigger_type: 'sms', outcome: 'no_session' }) === 0) {
    if (Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 200));
    families = (await scrape(url)).families;
  }
  return { receiver, families, done, child };
}

/** The chain of every answered trigger: trigger -> channel -> handshake and session, in one trace. */
function checkTraces(t: Test, receiver: OtlpReceiver, answered: number, deviceType: string, adminPort: number): void {
  const triggers = receiver.spansNamed('sms.trigger');
  const channels = receiver.spansNamed('bip.channel');
  const sessions = receiver.spansNamed('ota.session');
  const handshakes = receiver.spansNamed('tls.handshake');
  t.equal(triggers.length, answered + 1, 'every trigger has its span');
  t.equal(channels.length, answered, 'one BIP channel per answered trigger');
  t.equal(sessions.length, answered);
  for (const channel of channels) {
    const trigger = triggers.find((s) => s.spanId === channel.parentSpanId);
    t.ok(trigger, 'the channel is a child of its trigger');
    t.equal(channel.traceId, trigger?.traceId);
    t.equal(channel.kind, 'CLIENT');
    t.equal(channel.attributes['server.address'], '127.0.0.1', 'the address the card dialled');
    t.equal(channel.attributes['server.port'], adminPort, 'the admin server port');
    t.equal(channel.attributes['cardlink.bip.transport'], 'tcp_client_remote');
    t.equal(channel.attributes['cardlink.bip.bearer'], 'gprs');
    t.equal(channel.attributes['cardlink.bip.buffer_size'], 1400);
    t.equal(channel.attributes['cardlink.device.type'], deviceType);
    t.equal(channel.attributes['cardlink.bip.closed'], true, 'ended by CLOSE CHANNEL');
    const events = channel.events.map((e) => e.name);
    t.equal(events[0], 'bip.open_channel');
    t.equal(events.at(-1), 'bip.close_channel');
    t.ok(events.includes('bip.send_data'), 'SEND DATA on the channel');
    const session = sessions.find((s) => s.parentSpanId === channel.spanId);
    t.ok(session, 'the OTA session is a child of the channel');
    t.equal(session?.attributes['cardlink.device.type'], deviceType, 'the session takes the device type of the channel');
    t.equal(session?.attributes['cardlink.session.type'], 'triggered');
    t.equal(session?.links[0]?.spanId, trigger?.spanId, 'and links to its trigger');
    t.ok(handshakes.some((h) => h.parentSpanId === channel.spanId && h.traceId === channel.traceId), 'the handshake joins the trace');
    t.ok(ns(channel) <= ns(session as ReceivedSpan) && ns(session as ReceivedSpan, true) <= ns(channel, true), 'OPEN CHANNEL before the session, CLOSE CHANNEL after it');
    const apdus = receiver.spans.filter((s) => s.parentSpanId === session?.spanId && s.name.startsWith('apdu.'));
    t.ok(apdus.length > 0 && apdus.every((a) => a.traceId === trigger?.traceId), 'its APDUs too');
  }
  const lone = triggers.filter((tr) => !channels.some((c) => c.parentSpanId === tr.spanId));
  t.equal(lone.length, 1, 'one trigger nobody answered');
  const warned = receiver.logs.find((l) => l.body === 'trigger got no OTA session');
  t.equal(warned?.traceId, lone[0]?.traceId, 'the unanswered trigger is logged in its trace');
  t.equal(warned?.attributes['device_type'], deviceType);
}

/** Counts and latencies: each latency is exactly session start - trigger end of its trace. */
function checkMetrics(t: Test, receiver: OtlpReceiver, f: Map<string, MetricFamily>, answered: number, deviceType: string, bip: Record<string, number>): void {
  const outcome = (o: string) => value(f, 'cardlink_trigger_outcomes_total', 'cardlink_trigger_outcomes_total', { trigger_type: 'sms', outcome: o });
  t.equal(outcome('session'), answered, 'answered triggers');
  t.equal(outcome('no_session'), 1, 'the trigger with no callback');
  for (const [command, n] of Object.entries(bip)) {
    t.equal(value(f, 'cardlink_bip_commands_total', 'cardlink_bip_commands_total', { command, device_type: deviceType }), n, `${command} on the ${deviceType}`);
  }
  t.equal(
    value(f, 'cardlink_sessions_total', 'cardlink_sessions_total', { status: 'completed', session_type: 'triggered', device_type: deviceType }),
    answered,
    `triggered sessions by ${deviceType}`,
  );
  const count = value(f, 'cardlink_trigger_to_session_seconds', 'cardlink_trigger_to_session_seconds_count', { trigger_type: 'sms' });
  const sum = value(f, 'cardlink_trigger_to_session_seconds', 'cardlink_trigger_to_session_seconds_sum', { trigger_type: 'sms' });
  t.equal(count, answered);
  let expected = 0;
  for (const session of receiver.spansNamed('ota.session')) {
    const trigger = receiver.spansNamed('sms.trigger').find((s) => s.spanId === session.links[0]?.spanId) as ReceivedSpan;
    // A phone trigger is noted when its adb run started, a modem one at its +CMGS answer.
    expected += (ns(session) - (deviceType === 'phone' ? ns(trigger) : ns(trigger, true))) / 1000;
  }
  t.ok(Math.abs(sum - expected) < 0.005, `trigger-to-session latency ${sum} s is what the spans say (${expected} s)`);
}

t.test('modem: a trigger, the BIP URCs in each dialect, a card that connects; and one that never does', async (t) => {
  const { receiver, families, done, child } = await runChain(t, 'modem');
  t.same(done.ends, ['completed', 'completed', 'completed']);
  await receiver.waitFor((r) => r.spansNamed('bip.channel').length === 3 && r.spansNamed('sms.trigger').length === 4, 10_000, 'the spans');
  await receiver.waitFor((r) => r.logs.some((l) => l.body === 'trigger got no OTA session'), 10_000, 'the unanswered trigger log');
  checkTraces(t, receiver, 3, 'modem', done.adminPort);
  const responses = receiver.spansNamed('bip.channel').map((c) => c.events.find((e) => e.name === 'stk.terminal_response')?.attributes);
  t.same(responses, Array(3).fill({ 'cardlink.stk.command': 'OPEN_CHANNEL', 'cardlink.stk.result': '00' }), 'the host answered AT+CUSATT: performed');
  t.same(
    receiver.spansNamed('bip.channel').map((c) => c.attributes['cardlink.stk.source']),
    ['+CUSATP', '+QSTK', '+STKPCI'],
    'each dialect read',
  );
  checkMetrics(t, receiver, families, 3, 'modem', { OPEN_CHANNEL: 3, SEND_DATA: 3, RECEIVE_DATA: 3, CLOSE_CHANNEL: 3, GET_CHANNEL_STATUS: 0, OTHER: 0 });
  child.kill('SIGTERM');
  await child.waitForExit(10_000);
});

t.test('phone: the same chain through a running adb logcat of the radio log', async (t) => {
  const { receiver, families, done, child } = await runChain(t, 'phone');
  t.same(done.ends, ['completed']);
  await receiver.waitFor((r) => r.spansNamed('bip.channel').length === 1 && r.spansNamed('sms.trigger').length === 2, 10_000, 'the spans');
  await receiver.waitFor((r) => r.logs.some((l) => l.body === 'trigger got no OTA session'), 10_000, 'the unanswered trigger log');
  checkTraces(t, receiver, 1, 'phone', done.adminPort);
  t.equal(receiver.spansNamed('bip.channel')[0]?.attributes['cardlink.device.serial'], 'R58M123ABC');
  // The CatService line that repeats the RILJ OPEN CHANNEL is the same command.
  checkMetrics(t, receiver, families, 1, 'phone', { OPEN_CHANNEL: 1, SEND_DATA: 1, CLOSE_CHANNEL: 1, RECEIVE_DATA: 0 });
  child.kill('SIGTERM');
  await child.waitForExit(10_000);
});
