/**
 * The serialport instrumentation in-process with the real SDK: the real `serialport` binding on a
 * socat pty pair, the scripted modem simulator on the far end, the application-like controller
 * (ReadlineParser or raw `data` events) on the near end.
 */
import t from 'tap';
import fs from 'node:fs';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SerialportInstrumentation } from '../instrumentations/serialport/index.js';
import { TlsInstrumentation } from '../instrumentations/tls/index.js';
import { startAdminServer, GP_SESSION } from './fixtures/admin-server.js';
import { runCard } from './fixtures/card-simulator.js';
import { commandLineForSpan } from '../instrumentations/serialport/modem-recorder.js';
import { setupHarness, eventually, type Harness } from './helpers/otel-harness.js';
import { clearTriggers, takeTrigger } from '../src/triggers.js';
import { setTracingEnabled } from '../src/tracing-state.js';
import { pendingModemEvents } from '../instrumentations/serialport/deferred-recorder.js';
import { openPtyPair, startModemSimulator } from './fixtures/modem-simulator.js';
import { wrapOver } from './helpers/foreign-wrapper.js';

const CSQ_TIMEOUT_MS = 300;
const instr = new SerialportInstrumentation({
  captureAtArguments: true,
  // Short for the one command the tests let time out; everything else keeps the 5 s default.
  commandTimeoutsMs: { '+CSQ': CSQ_TIMEOUT_MS },
});
// The tls instrumentation too: the OTA session that follows an SMS trigger must link to it.
const h: Harness = setupHarness([instr, new TlsInstrumentation()]);
t.teardown(() => h.shutdown());

// Imported only now: the require hook patches @serialport/stream when `serialport` loads it.
const { startModemSession: session } = await import('./fixtures/modem-controller.js');
const { SerialPort, SerialPortMock } = await import('serialport');

/** An open port on serialport's in-process mock binding, without echo (`record`: the binding keeps what was written). */
async function openMockPort(path: string, record = false): Promise<InstanceType<typeof SerialPortMock>> {
  SerialPortMock.binding.createPort(path, { echo: false, record });
  const port = new SerialPortMock({ path, baudRate: 115200, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  return port;
}
const { SerialPortStream } = await import('@serialport/stream');

const PDU = '0011000B919471234567F80000AA05C8329BFD06';
const PDU_OCTETS = PDU.length / 2 - 1;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Spans of one port (the tests run one port at a time, but be exact anyway). */
function spansOf(path: string): ReadableSpan[] {
  return h.finished().filter((s) => s.attributes['cardlink.modem.port'] === path || isChildOfPort(s, path));
}
function isChildOfPort(s: ReadableSpan, path: string): boolean {
  const parentId = s.parentSpanContext?.spanId;
  if (parentId === undefined) return false;
  return h.finished().some((p) => p.spanContext().spanId === parentId && p.attributes['cardlink.modem.port'] === path);
}
const atSpans = (spans: ReadableSpan[]) => spans.filter((s) => s.name.startsWith('at '));

/** A snapshot of every counter/histogram the modem path feeds, for before/after deltas. */
async function snapshot() {
  const hist = async (name: string, attrs: Record<string, string>) => (await h.histogram(name, attrs)).count;
  return {
    at: {
      AT: await hist('cardlink_at_command_duration_seconds', { command: 'AT' }),
      I: await hist('cardlink_at_command_duration_seconds', { command: 'I' }),
      CPIN: await hist('cardlink_at_command_duration_seconds', { command: '+CPIN' }),
      CSIM: await hist('cardlink_at_command_duration_seconds', { command: '+CSIM' }),
      CRSM: await hist('cardlink_at_command_duration_seconds', { command: '+CRSM' }),
      CMGS: await hist('cardlink_at_command_duration_seconds', { command: '+CMGS' }),
      CSQ: await hist('cardlink_at_command_duration_seconds', { command: '+CSQ' }),
      NOSUCH: await hist('cardlink_at_command_duration_seconds', { command: '+NOSUCH' }),
      E: await hist('cardlink_at_command_duration_seconds', { command: 'E' }),
    },
    errors: {
      error: await h.value('cardlink_device_errors_total', { device_type: 'modem', error_type: 'error' }),
      cme: await h.value('cardlink_device_errors_total', { device_type: 'modem', error_type: 'cme_error' }),
      cms: await h.value('cardlink_device_errors_total', { device_type: 'modem', error_type: 'cms_error' }),
      timeout: await h.value('cardlink_device_errors_total', { device_type: 'modem', error_type: 'timeout' }),
      disconnected: await h.value('cardlink_device_errors_total', { device_type: 'modem', error_type: 'disconnected' }),
    },
    apdu: {
      select: await h.value('cardlink_apdu_commands_total', { command_type: 'SELECT', device_type: 'modem' }),
      getResponse: await h.value('cardlink_apdu_commands_total', { command_type: 'GET_RESPONSE', device_type: 'modem' }),
      install: await h.value('cardlink_apdu_commands_total', { command_type: 'INSTALL', device_type: 'modem' }),
      readBinary: await h.value('cardlink_apdu_commands_total', { command_type: 'READ_BINARY', device_type: 'modem' }),
      all: await h.value('cardlink_apdu_commands_total', { device_type: 'modem' }),
      sw9000: await h.value('cardlink_apdu_responses_total', { status_word: '9000', status_category: 'success' }),
      sw6120: await h.value('cardlink_apdu_responses_total', { status_word: '6120', status_category: 'success' }),
      sw6a82: await h.value('cardlink_apdu_responses_total', { status_word: '6A82', status_category: 'error' }),
      sw6985: await h.value('cardlink_apdu_responses_total', { status_word: '6985', status_category: 'error' }),
      durSelect: await hist('cardlink_apdu_duration_seconds', { command_type: 'SELECT' }),
      durGetResponse: await hist('cardlink_apdu_duration_seconds', { command_type: 'GET_RESPONSE' }),
      durReadBinary: await hist('cardlink_apdu_duration_seconds', { command_type: 'READ_BINARY' }),
      sent: await h.value('cardlink_apdu_bytes_total', { direction: 'sent' }),
      received: await h.value('cardlink_apdu_bytes_total', { direction: 'received' }),
    },
    triggers: await h.value('cardlink_triggers_sent_total', { trigger_type: 'sms' }),
    connected: await h.value('cardlink_devices_connected', { device_type: 'modem' }),
  };
}
type Snapshot = Awaited<ReturnType<typeof snapshot>>;

/** after - before, recursively. */
function delta(after: Snapshot, before: Snapshot): Snapshot {
  const d = (a: unknown, b: unknown): unknown =>
    typeof a === 'number' ? a - (b as number) : Object.fromEntries(Object.entries(a as object).map(([k, v]) => [k, d(v, (b as Record<string, unknown>)[k])]));
  return d(after, before) as Snapshot;
}

for (const mode of ['parser', 'raw'] as const) {
  t.test(`a scripted modem session (${mode} controller): exact metrics, spans, APDUs, triggers, URCs`, async (t) => {
    h.spans.reset();
    clearTriggers();
    const before = await snapshot();
    const { pair, modem, ctl } = await session(t, { urcBetweenEchoAndFinal: '+QIND: "csq",20,99', urcBetweenEchoAndFinalFor: ['+CSIM'] }, mode);
    await eventually(async () => (await h.value('cardlink_devices_connected', { device_type: 'modem' })) === before.connected + 1, 2000, 'open port counted');

    t.same(await ctl.sendCommand('AT'), ['OK']);
    t.same(await ctl.sendCommand('ATI'), ['Quectel', 'EC25', 'Revision: EC25EFAR06A03M4G', 'OK']);
    t.same(await ctl.sendCommand('AT+CPIN?'), ['+CPIN: READY', 'OK'], '+CPIN: READY answers the command, not a URC');
    // +CSIM with a URC between echo and answer every time.
    t.same(await ctl.sendCommand('AT+CSIM=14,"00A40004023F00"'), ['+CSIM: 4,"6120"', 'OK']);
    t.match((await ctl.sendCommand('AT+CSIM=10,"00C0000020"'))[0], /^\+CSIM: 68,"621E.*9000"$/);
    t.same(await ctl.sendCommand('AT+CSIM=26,"00A4040C08A000000003000000"'), ['+CSIM: 4,"6A82"', 'OK']);
    t.same(await ctl.sendCommand('AT+CSIM=10,"80E6020000"'), ['+CSIM: 4,"6985"', 'OK']);
    t.same(await ctl.sendCommand('AT+CSIM=12,"00A40004023F00"'), ['+CME ERROR: 50'], 'length mismatch refused by the modem');
    t.same(await ctl.sendCommand('AT+CRSM=176,28423,0,0,9'), ['+CRSM: 144,0,"080910101032547698"', 'OK']);
    t.same(await ctl.sendCommand('AT+NOSUCH'), ['ERROR']);
    modem.setOverride('AT+CPIN?', { cmeError: 10, once: true });
    t.same(await ctl.sendCommand('AT+CPIN?'), ['+CME ERROR: 10']);

    // SMS-PP: two submitted, one cancelled, one refused by the network.
    const a = await ctl.sendSms(PDU, PDU_OCTETS);
    const b = await ctl.sendSms(PDU, PDU_OCTETS);
    const c = await ctl.sendSms(PDU.slice(0, 8), PDU_OCTETS, { cancel: true });
    modem.setOverride('+CMGS', { cmsError: 500, once: true });
    const d = await ctl.sendSms(PDU, PDU_OCTETS);
    t.same([a.mr, b.mr, c.mr, d.mr], [1, 2, null, null]);
    t.same(d.lines, ['+CMS ERROR: 500']);

    // A URC with nothing pending, a +CMT two-line URC, then echo off.
    modem.injectUrc('+CMTI: "SM",3');
    modem.injectUrc('+CMT: ,24');
    modem.injectUrc('07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07');
    t.same(await ctl.sendCommand('ATE0'), ['OK']);
    t.same(await ctl.sendCommand('AT+CSIM=14,"00A40004022FE2"'), ['+CSIM: 4,"611D"', 'OK']);
    await modem.idle();

    await eventually(() => atSpans(spansOf(pair.appPath)).length === 17, 2000, 'all at spans');
    const after = await snapshot();
    const dd = delta(after, before);
    t.same(dd.at, { AT: 1, I: 1, CPIN: 2, CSIM: 6, CRSM: 1, CMGS: 4, CSQ: 0, NOSUCH: 1, E: 1 }, 'one duration per command');
    t.same(dd.errors, { error: 1, cme: 2, cms: 1, timeout: 0, disconnected: 0 }, 'device errors by type');
    t.same(
      dd.apdu,
      {
        select: 3, // 3F00, unknown AID, 2FE2; not the one the modem refused
        getResponse: 1,
        install: 1,
        readBinary: 1, // +CRSM 176
        all: 6,
        sw9000: 2, // GET RESPONSE, +CRSM 144,0
        sw6120: 1,
        sw6a82: 1,
        sw6985: 1,
        durSelect: 3,
        durGetResponse: 1,
        durReadBinary: 1,
        // C-APDU bytes: 7 + 5 + 13 + 5 + 7 (+CSIM) + 5 (+CRSM header, no data)
        sent: 7 + 5 + 13 + 5 + 7 + 5,
        // R-APDU bytes: 2 + 34 + 2 + 2 + 2 (+CSIM) + 9 + 2 (+CRSM data + SW)
        received: 2 + 34 + 2 + 2 + 2 + 9 + 2,
      },
      'APDU metrics from +CSIM and +CRSM',
    );
    t.equal(dd.triggers, 2, 'two SMS triggers sent');

    // Spans.
    const spans = spansOf(pair.appPath);
    const at = atSpans(spans);
    t.same(
      at.map((s) => [s.name, s.attributes['cardlink.at.result']]),
      [
        ['at AT', 'ok'],
        ['at I', 'ok'],
        ['at +CPIN', 'ok'],
        ['at +CSIM', 'ok'],
        ['at +CSIM', 'ok'],
        ['at +CSIM', 'ok'],
        ['at +CSIM', 'ok'],
        ['at +CSIM', 'cme_error'],
        ['at +CRSM', 'ok'],
        ['at +NOSUCH', 'error'],
        ['at +CPIN', 'cme_error'],
        ['at +CMGS', 'ok'],
        ['at +CMGS', 'ok'],
        ['at +CMGS', 'cancelled'],
        ['at +CMGS', 'cms_error'],
        ['at E', 'ok'],
        ['at +CSIM', 'ok'],
      ],
    );
    for (const s of at) {
      t.equal(s.kind, SpanKind.CLIENT);
      t.equal(s.attributes['cardlink.device.type'], 'modem');
      t.equal(s.attributes['cardlink.modem.port'], pair.appPath);
    }
    const cpinErr = at[10] as ReadableSpan;
    t.equal(cpinErr.status.code, SpanStatusCode.ERROR);
    t.equal(cpinErr.attributes['cardlink.at.error_code'], '10');
    t.equal(cpinErr.attributes['error.type'], 'cme_error');
    t.equal(cpinErr.attributes['cardlink.at.command_line'], 'AT+CPIN?');
    t.equal(at[3]?.attributes['cardlink.at.command_line'], 'AT+CSIM=<redacted>', 'APDU hex only with captureApduData');
    t.equal(at[13]?.status.code, SpanStatusCode.UNSET, 'a cancelled SMS is not an error');
    t.equal(at[0]?.attributes['cardlink.at.echoed'], true);
    t.equal(at[16]?.attributes['cardlink.at.echoed'], false, 'echo off after ATE0');
    // The URC between echo and answer is an event on the pending command, not its answer.
    const csimSpans = at.filter((s) => s.name === 'at +CSIM');
    t.same(csimSpans[0]?.events.map((e) => [e.name, e.attributes?.['cardlink.at.urc']]), [['at.urc', '+QIND']]);
    t.equal(csimSpans[0]?.attributes['cardlink.at.line_count'], 1, 'only +CSIM: ... is an information line');

    // APDU spans: children of their +CSIM span, timed exactly like it.
    const apdu = spans.filter((s) => s.name.startsWith('apdu.'));
    t.same(
      apdu.map((s) => [s.name, s.attributes['cardlink.apdu.sw'], s.attributes['cardlink.device.type']]),
      [
        ['apdu.SELECT', '6120', 'modem'],
        ['apdu.GET_RESPONSE', '9000', 'modem'],
        ['apdu.SELECT', '6A82', 'modem'],
        ['apdu.INSTALL', '6985', 'modem'],
        ['apdu.READ_BINARY', '9000', 'modem'],
        ['apdu.SELECT', '611D', 'modem'],
      ],
    );
    const firstApdu = apdu[0] as ReadableSpan;
    const firstCsim = csimSpans[0] as ReadableSpan;
    t.equal(firstApdu.parentSpanContext?.spanId, firstCsim.spanContext().spanId);
    t.same(firstApdu.startTime, firstCsim.startTime, 'the APDU starts when AT+CSIM was written');
    t.same(firstApdu.endTime, firstCsim.endTime, '... and ends at its final result');
    t.equal(apdu[2]?.status.code, SpanStatusCode.ERROR);
    t.notOk('cardlink.apdu.command' in (firstApdu.attributes ?? {}), 'no APDU data without captureApduData');
    t.equal(apdu[4]?.attributes['cardlink.sim.file_id'], '6F07');

    // SMS triggers: PRODUCER spans under their at +CMGS span; the TLS hand-over got both.
    const trig = spans.filter((s) => s.name === 'sms.trigger');
    t.same(
      trig.map((s) => [s.kind, s.attributes['cardlink.sms.message_reference'] ?? null, s.status.code]),
      [
        [SpanKind.PRODUCER, 1, SpanStatusCode.UNSET],
        [SpanKind.PRODUCER, 2, SpanStatusCode.UNSET],
        [SpanKind.PRODUCER, null, SpanStatusCode.ERROR],
      ],
    );
    t.equal(trig[0]?.attributes['cardlink.sms.pdu_length'], PDU_OCTETS, 'the TPDU length AT+CMGS gave, not the characters written');
    const cmgs = at.filter((s) => s.name === 'at +CMGS');
    t.equal(trig[0]?.parentSpanContext?.spanId, cmgs[0]?.spanContext().spanId);
    t.equal(trig[2]?.attributes['error.type'], 'cms_error');
    t.same(cmgs[0]?.events.map((e) => e.name), ['at.prompt']);
    const t1 = takeTrigger(Date.now(), 60_000);
    const t2 = takeTrigger(Date.now(), 60_000);
    t.equal(takeTrigger(Date.now(), 60_000), undefined, 'exactly two triggers handed over');
    t.match(t1, { deviceType: 'modem', triggerType: 'sms' });
    t.equal(t1?.spanContext?.spanId, trig[0]?.spanContext().spanId);
    t.equal(t2?.spanContext?.spanId, trig[1]?.spanContext().spanId);

    const diag = instr.portDiagnostics((ctl as unknown as { port: object }).port);
    t.match(diag, { pendingCommands: 0, openSpans: 0, counted: true });
    t.equal(diag?.stats.internalErrors, 0);
    t.equal(diag?.stats.urcs, 2 + 6, 'URCs: +CMTI, +CMT (with its PDU line) and one +QIND per +CSIM');

    await ctl.close();
    await eventually(async () => (await h.value('cardlink_devices_connected', { device_type: 'modem' })) === before.connected, 2000, 'closed port uncounted');
  });
}

t.test('+CRSM: an error status word (decimal SW1 SW2) ends its APDU span as an error, as every APDU path', async (t) => {
  // 148,4 = 9404 (file not found): a card answer outside success.
  const { pair, ctl } = await session(t, { crsm: { '176,28590': '148,4' } });
  t.same(await ctl.sendCommand('AT+CRSM=176,28590,0,0,4'), ['+CRSM: 148,4', 'OK']);
  await eventually(() => spansOf(pair.appPath).some((s) => s.name.startsWith('apdu.')), 2000, 'the APDU span ended');
  const apdu = spansOf(pair.appPath).filter((s) => s.name.startsWith('apdu.'));
  t.same(
    apdu.map((s) => [s.name, s.attributes['cardlink.apdu.sw'], s.attributes['cardlink.apdu.status_category'], s.status.code]),
    [['apdu.READ_BINARY', '9404', 'error', SpanStatusCode.ERROR]],
  );
  t.match(apdu[0]?.status.message, /9404/, 'the status word in the error message');
});

t.test('no trace exporter (tracing disabled): no span at all, the same metrics and trigger hand-over', async (t) => {
  h.spans.reset();
  clearTriggers();
  setTracingEnabled(false);
  t.teardown(() => setTracingEnabled(true));
  const before = await snapshot();
  const { pair, modem, ctl } = await session(t);
  t.same(await ctl.sendCommand('AT'), ['OK']);
  t.same(await ctl.sendCommand('AT+CSIM=14,"00A40004023F00"'), ['+CSIM: 4,"6120"', 'OK']);
  t.same(await ctl.sendCommand('AT+CRSM=176,28423,0,0,9'), ['+CRSM: 144,0,"080910101032547698"', 'OK']);
  t.same(await ctl.sendCommand('AT+NOSUCH'), ['ERROR']);
  t.equal((await ctl.sendSms(PDU, PDU_OCTETS)).mr, 1);
  modem.setOverride('+CMGS', { cmsError: 500, once: true });
  t.same((await ctl.sendSms(PDU, PDU_OCTETS)).lines, ['+CMS ERROR: 500']);
  modem.injectUrc('+CMTI: "SM",3');
  t.same(await ctl.sendCommand('AT'), ['OK']);
  await modem.idle();
  await eventually(async () => delta(await snapshot(), before).at.AT === 2, 2000, 'the last command recorded');
  const dd = delta(await snapshot(), before);
  t.same(dd.at, { AT: 2, I: 0, CPIN: 0, CSIM: 1, CRSM: 1, CMGS: 2, CSQ: 0, NOSUCH: 1, E: 0 }, 'one duration per command');
  t.same(dd.errors, { error: 1, cme: 0, cms: 1, timeout: 0, disconnected: 0 });
  t.match(dd.apdu, { select: 1, readBinary: 1, all: 2, sw6120: 1, sw9000: 1, durSelect: 1, durReadBinary: 1 }, 'APDU metrics');
  t.equal(dd.triggers, 1, 'the submitted SMS counted, the refused one not');
  t.match(takeTrigger(Date.now(), 60_000), { deviceType: 'modem', triggerType: 'sms', spanContext: undefined });
  t.equal(takeTrigger(Date.now(), 60_000), undefined);
  t.equal(h.finished().length, 0, 'no span of any kind');
  const diag = instr.portDiagnostics((ctl as unknown as { port: object }).port);
  t.match(diag, { pendingCommands: 0, openSpans: 0 });
  t.match(diag?.stats, { internalErrors: 0, listenerErrors: 0, urcs: 1 });
  t.equal(spansOf(pair.appPath).length, 0);
});

t.test('recorded after the application handled the answer, yet each command span is a child of the span active when it was written', async (t) => {
  const { pair, ctl } = await session(t);
  const tracer = trace.getTracer('app');
  const before = h.finished().length;
  // Two steps of a test run, each awaiting its modem commands (a promise-based controller).
  for (const step of ['step 1', 'step 2']) {
    await tracer.startActiveSpan(step, async (span) => {
      t.same(await ctl.sendCommand('AT'), ['OK']);
      // The answer is back, and the application goes on before anything is recorded.
      t.ok(pendingModemEvents() > 0, `${step}: the command's events wait for the end of this turn of the event loop`);
      t.same(await ctl.sendCommand('AT+CSQ'), ['+CSQ: 20,99', 'OK']);
      span.end();
    });
  }
  await eventually(() => pendingModemEvents() === 0, 2000, 'recorded');
  const spans = h.finished().slice(before);
  const steps = spans.filter((s) => s.name.startsWith('step'));
  const at = atSpans(spans).filter((s) => s.attributes['cardlink.modem.port'] === pair.appPath);
  t.same(
    at.map((s) => [s.name, steps.find((p) => p.spanContext().spanId === s.parentSpanContext?.spanId)?.name]),
    [
      ['at AT', 'step 1'],
      ['at +CSQ', 'step 1'],
      ['at AT', 'step 2'],
      ['at +CSQ', 'step 2'],
    ],
  );
});

t.test('a collection records what is still queued first: a scrape right after the answer counts the command', async (t) => {
  const { ctl } = await session(t);
  const count = async () => (await h.histogram('cardlink_at_command_duration_seconds', { command: 'AT' })).count;
  const before = await count();
  t.same(await ctl.sendCommand('AT'), ['OK']);
  t.ok(pendingModemEvents() > 0, 'not recorded yet');
  t.equal(await count(), before + 1, 'counted by the collection itself');
  t.equal(pendingModemEvents(), 0);
});

t.test('events of a turn of the event loop that never yields are recorded as they come: the queue stays bounded', async (t) => {
  const port = await openMockPort('/dev/flood');
  t.teardown(() => new Promise((resolve) => port.close(resolve)));
  port.on('data', () => undefined);
  // 10 000 URCs read in one synchronous loop (as serialport itself pushes what the binding read).
  let most = 0;
  for (let i = 0; i < 10_000; i++) {
    port.push(Buffer.from('\r\nRING\r\n'));
    most = Math.max(most, pendingModemEvents());
  }
  t.ok(most <= 4096, `at most 4096 events queued (${most})`);
  t.equal(instr.portDiagnostics(port)?.stats.urcs, 10_000);
  t.equal(pendingModemEvents(), 0);
});

t.test('a silent modem: the command ends as timeout at its deadline; the next command is not confused', async (t) => {
  h.spans.reset();
  const before = await snapshot();
  const { pair, modem, ctl } = await session(t);
  modem.setOverride('+CSQ', { silent: true, once: true });
  // The application waits longer than the instrumentation's timeout for +CSQ and gives up.
  await t.rejects(ctl.sendCommand('AT+CSQ', CSQ_TIMEOUT_MS + 400), { code: 'ETIMEDOUT' });
  // Ended by the timer while nothing else happened on the port.
  await eventually(() => atSpans(spansOf(pair.appPath)).length === 1, 2000, 'the timed-out span');
  const timedOut = atSpans(spansOf(pair.appPath));
  t.equal(timedOut.length, 1, 'the silent command ended without any further traffic');
  const s = timedOut[0] as ReadableSpan;
  t.equal(s.attributes['cardlink.at.result'], 'timeout');
  t.equal(s.status.code, SpanStatusCode.ERROR);
  const durMs = (s.endTime[0] - s.startTime[0]) * 1000 + (s.endTime[1] - s.startTime[1]) / 1e6;
  t.ok(Math.abs(durMs - CSQ_TIMEOUT_MS) < 1, `ends at its deadline (${durMs} ms)`);
  t.equal(instr.portDiagnostics((ctl as unknown as { port: object }).port)?.timerArmed, false, 'timer stopped once nothing is pending');

  t.same(await ctl.sendCommand('AT+CSQ'), ['+CSQ: 20,99', 'OK']);
  await eventually(() => atSpans(spansOf(pair.appPath)).length === 2, 2000, 'second span');
  const dd = delta(await snapshot(), before);
  t.equal(dd.errors.timeout, 1, 'one timeout');
  t.equal(dd.at.CSQ, 1, 'only the answered +CSQ has a duration');
  t.equal(atSpans(spansOf(pair.appPath))[1]?.attributes['cardlink.at.result'], 'ok');
});

t.test('a newer command that times out first ends its own span; the older one ends with its answer', async (t) => {
  const path = '/dev/out-of-order';
  const port = await openMockPort(path);
  t.teardown(() => new Promise((resolve) => port.close(resolve)));
  port.on('data', () => undefined);
  port.write('AT+CGSN\r'); // the 5 s default timeout
  port.write('AT+CSQ\r'); // CSQ_TIMEOUT_MS: ends first, while +CGSN is still pending
  await eventually(() => atSpans(spansOf(path)).length === 1, 2000, 'the +CSQ timeout');
  (port as unknown as { port: { emitData(d: string): void } }).port.emitData('\r\n490154203237518\r\n\r\nOK\r\n');
  await eventually(() => atSpans(spansOf(path)).length === 2, 2000, 'the +CGSN answer');
  t.same(
    atSpans(spansOf(path)).map((s) => [s.name, s.attributes['cardlink.at.result']]),
    [
      ['at +CSQ', 'timeout'],
      ['at +CGSN', 'ok'],
    ],
  );
});

t.test('a port closed mid-command, then one that vanishes (unplugged): counted exactly once', async (t) => {
  h.spans.reset();
  const before = await snapshot();
  const { pair, modem, ctl } = await session(t);
  modem.setOverride('+CGSN', { silent: true, once: true });
  const pending = ctl.sendCommand('AT+CGSN', 10_000).catch((e: Error) => e.message);
  await sleep(50);
  await ctl.close();
  t.equal(await pending, 'port closed');
  await eventually(() => atSpans(spansOf(pair.appPath)).length === 1, 2000, 'span ended');
  t.equal(atSpans(spansOf(pair.appPath))[0]?.attributes['cardlink.at.result'], 'closed');
  let dd = delta(await snapshot(), before);
  t.equal(dd.connected, 0, 'back to zero');
  t.same(dd.errors, { error: 0, cme: 0, cms: 0, timeout: 0, disconnected: 0 }, 'closing a port is not a device error');

  // Unplug: socat goes away under an open port; serialport closes it with a DisconnectedError.
  const port = new SerialPort({ path: pair.appPath, baudRate: 115200 });
  const closed = new Promise<unknown>((resolve) => port.on('close', resolve));
  port.on('error', () => undefined);
  port.on('data', () => undefined); // reading is what notices the vanished device
  await new Promise((r) => port.once('open', r));
  await eventually(async () => delta(await snapshot(), before).connected === 1, 2000, 'counted');
  port.write('AT+CGSN\r');
  modem.setOverride('+CGSN', { silent: true, once: true });
  await sleep(50);
  await modem.close();
  await pair.close();
  const err = await closed;
  t.equal((err as { disconnected?: boolean } | null)?.disconnected, true, 'serialport saw a disconnect');
  await eventually(async () => delta(await snapshot(), before).connected === 0, 2000, 'uncounted');
  await sleep(50);
  dd = delta(await snapshot(), before);
  t.equal(dd.connected, 0);
  t.equal(dd.errors.disconnected, 1);
  const spans = atSpans(spansOf(pair.appPath));
  t.same(spans.map((s) => s.attributes['cardlink.at.result']), ['closed', 'closed']);
});

t.test('a port whose read side hit end of file (a hung-up pty), then closed by the application: a vanished modem', async (t) => {
  const before = await snapshot();
  const port = await openMockPort('/dev/eof');
  // The binding reads nothing: end of file, as from a pty whose far side hung up.
  (port as unknown as { port: { read(): Promise<{ bytesRead: number }> } }).port.read = async () => ({ bytesRead: 0 });
  const ended = new Promise((resolve) => port.once('end', resolve));
  port.on('data', () => undefined);
  await ended;
  await new Promise((resolve) => port.close(resolve));
  const dd = delta(await snapshot(), before);
  t.equal(dd.errors.disconnected, 1, 'counted as disconnected, without a disconnect error');
  t.equal(dd.connected, 0);
});

t.test('bad input: binary noise both ways, 1 MB without a line end, a final with nothing pending', async (t) => {
  h.spans.reset();
  const pair = await openPtyPair();
  const modem = await startModemSimulator(pair.modemPath);
  const port = new SerialPort({ path: pair.appPath, baudRate: 115200, autoOpen: false });
  t.teardown(async () => {
    if (port.isOpen) await new Promise((r) => port.close(r));
    await modem.close();
    await pair.close();
  });
  const got: Buffer[] = [];
  let total = 0;
  port.on('data', (d: Buffer) => {
    got.push(Buffer.from(d));
    total += d.length;
  });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  const expected: Buffer[] = [];
  // Written from the thread pool on a second descriptor of the modem side: the simulator's tty
  // stream writes synchronously, and 1 MB through a pty read by this same process would block.
  const modemSide = await fs.promises.open(pair.modemPath, fs.constants.O_WRONLY | fs.constants.O_NOCTTY);
  t.teardown(() => modemSide.close());
  const fromModem = async (line: string): Promise<void> => {
    const bytes = Buffer.from(`\r\n${line}\r\n`, 'latin1');
    expected.push(bytes);
    const want = expected.reduce((n, b) => n + b.length, 0);
    await modemSide.write(bytes);
    await eventually(() => total >= want, 10_000, `${want} bytes`);
  };

  // Every byte value, control bytes included (the modem side writes latin1).
  let noise = '';
  for (let i = 0; i < 256; i++) noise += String.fromCharCode((i * 97) & 0xff);
  await fromModem(noise);
  await fromModem('A'.repeat(1 << 20));
  await fromModem('OK'); // a final result with nothing pending
  // Binary noise written by the application (no `at` in it, so the modem ignores it), its last
  // line unfinished and holding control bytes, then a command in a write of its own: the write
  // after payload begins a new line (see "Binary write" in at.ts), as the modem finds `AT` in it.
  const written = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 31 + 7) & 0xff).filter((b) => b !== 0x41 && b !== 0x61 && b !== 0x54 && b !== 0x74));
  t.ok(written.lastIndexOf(13) < written.length - 16, 'the payload ends with more than a line end');
  port.write(written);
  port.write('AT\r');
  expected.push(Buffer.from('AT\r\r\nOK\r\n', 'latin1'));
  const want = expected.reduce((n, b) => n + b.length, 0);
  await eventually(() => total >= want, 5000, 'the answer to AT');
  await modem.idle();
  await sleep(20);
  t.ok(Buffer.concat(got).equals(Buffer.concat(expected)), 'the application received exactly what the modem sent');

  const diag = instr.portDiagnostics(port);
  t.ok(diag !== undefined);
  t.ok((diag?.bufferedBytes ?? Infinity) <= 8192, `buffers bounded (${diag?.bufferedBytes})`);
  t.match(diag?.stats, { internalErrors: 0, listenerErrors: 0, strayFinals: 1 });
  t.ok((diag?.stats.readOverflow ?? 0) >= 1, '1 MB line skipped');
  t.ok((diag?.stats.readNoise ?? 0) + (diag?.stats.urcs ?? 0) >= 1, 'noise line classified');
  t.ok((diag?.stats.writtenNoise ?? 0) >= 1, 'written noise classified');
  const at = atSpans(spansOf(pair.appPath));
  t.same(at.map((s) => [s.name, s.attributes['cardlink.at.result']]), [['at AT', 'ok']], 'the decoder recovered for the next command');
});

t.test('a write before open is fed once, when it really goes out', async (t) => {
  h.spans.reset();
  const pair = await openPtyPair();
  const modem = await startModemSimulator(pair.modemPath);
  const port = new SerialPort({ path: pair.appPath, baudRate: 115200, autoOpen: false });
  t.teardown(async () => {
    if (port.isOpen) await new Promise((r) => port.close(r));
    await modem.close();
    await pair.close();
  });
  let text = '';
  port.on('data', (d: Buffer) => (text += d.toString('latin1')));
  port.write('AT+CGMI\r');
  port.open();
  await eventually(() => text.includes('OK'), 5000, 'answer');
  await sleep(20);
  t.same(modem.received, ['AT+CGMI']);
  t.same(atSpans(spansOf(pair.appPath)).map((s) => [s.name, s.attributes['cardlink.at.result']]), [['at +CGMI', 'ok']]);
});

t.test('captureApduData: APDU hex on spans, PUT KEY data never', async (t) => {
  h.spans.reset();
  const saved = instr.getConfig();
  instr.setConfig({ ...saved, captureApduData: true });
  t.teardown(() => instr.setConfig(saved));
  const { pair, ctl } = await session(t);
  await ctl.sendCommand('AT+CSIM=14,"00A40004023F00"');
  await ctl.sendCommand('AT+CSIM=42,"80D8010110404142434445464748494A4B4C4D4E4F"');
  await eventually(() => atSpans(spansOf(pair.appPath)).length === 2, 2000, 'spans');
  const spans = spansOf(pair.appPath);
  const apdu = spans.filter((s) => s.name.startsWith('apdu.'));
  t.same(
    apdu.map((s) => [s.name, s.attributes['cardlink.apdu.command'], s.attributes['cardlink.apdu.response']]),
    [
      ['apdu.SELECT', '00A40004023F00', '6120'],
      ['apdu.PUT_KEY', '80D80101<redacted>', '<redacted>6985'],
    ],
  );
  const lines = atSpans(spans).map((s) => s.attributes['cardlink.at.command_line']);
  t.same(lines, ['AT+CSIM=14,"00A40004023F00"', 'AT+CSIM=42,"80D80101<redacted>']);
  for (const s of spans) t.notMatch(JSON.stringify(s.attributes), '404142434445', 'no key bytes on any span');
});

t.test('command lines on spans: PINs never, payloads only with captureApduData', async (t) => {
  t.equal(commandLineForSpan('AT+CPIN="1234"', true), 'AT+CPIN=<redacted>');
  t.equal(commandLineForSpan('AT+CPIN?', false), 'AT+CPIN?');
  t.equal(commandLineForSpan('AT+CLCK="SC",0,"1234"', true), 'AT+CLCK=<redacted>');
  t.equal(commandLineForSpan('AT+CSIM=10,"00B0000009"', false), 'AT+CSIM=<redacted>');
  t.equal(commandLineForSpan('AT+CSIM=10,"00B0000009"', true), 'AT+CSIM=10,"00B0000009"');
  t.equal(commandLineForSpan('AT+CSIM=10,"80E2900001"', true), 'AT+CSIM=10,"80E29000<redacted>');
  t.equal(commandLineForSpan('AT+CSIM=10,"zz"', true), 'AT+CSIM=10,"<redacted>');
  t.equal(commandLineForSpan('AT+CGLA=1,10,"80D8000000"', true), 'AT+CGLA=1,10,"80D80000<redacted>');
  // Vendor logins under the `*` and `!` prefixes, and Intel's and Huawei's.
  t.equal(commandLineForSpan('AT*EIAAUW=1,1,"labuser","s3cret"', false), 'AT*EIAAUW=<redacted>');
  t.equal(commandLineForSpan('AT+XGAUTH=1,1,"labuser","s3cret"', false), 'AT+XGAUTH=<redacted>');
  t.equal(commandLineForSpan('AT^NDISDUP=1,1,"internet","labuser","s3cret",2', false), 'AT^NDISDUP=<redacted>');
  t.equal(commandLineForSpan('AT!ENTERCND="A710"', false), 'AT!ENTERCND=<redacted>');
  // VERIFY PIN1 "1234" and UNBLOCK PIN (PUK, new PIN) through the SIM: the PIN is never exported.
  t.equal(commandLineForSpan('AT+CSIM=26,"0020000108313233340FFFFFFF"', true), 'AT+CSIM=26,"00200001<redacted>');
  t.equal(commandLineForSpan('AT+CSIM=42,"002C000110313233343536373831323334FFFFFFFF"', true), 'AT+CSIM=42,"002C0001<redacted>');
  t.equal(commandLineForSpan('AT+COPS=1,2,"00101"', false), 'AT+COPS=1,2,"00101"');
  t.equal(commandLineForSpan('AT+CMGS=?', false), 'AT+CMGS=?');
  // Chained commands are judged one by one, whichever comes first.
  t.equal(commandLineForSpan('ATE0;+CPIN="9876"', true), 'ATE0;+CPIN=<redacted>');
  t.equal(commandLineForSpan('AT+CMEE=1;+CPIN="5555"', true), 'AT+CMEE=1;+CPIN=<redacted>');
  t.equal(commandLineForSpan('ATE0+CPIN="9876";+COPS?', true), 'ATE0+CPIN=<redacted>;+COPS?');
  t.equal(commandLineForSpan('at+cmee=1;+cpwd="SC","1111","2222"', true), 'at+cmee=1;+cpwd=<redacted>');
  t.equal(
    commandLineForSpan('AT+CSIM=10,"00A4040000";+CSIM=56,"80D8018117018010DEADBEEF00112233445566778899AABBCCDD"', true),
    'AT+CSIM=10,"00A4040000";+CSIM=56,"80D80181<redacted>',
  );
  t.equal(commandLineForSpan('AT+CSIM=56,80D8018117018010DEADBEEF', true), 'AT+CSIM=56,80D80181<redacted>', 'an unquoted C-APDU');
  t.equal(commandLineForSpan('AT+CSIM=10,"00A4040000";+CSIM=10,"00B0000009"', false), 'AT+CSIM=<redacted>;+CSIM=<redacted>');
  t.equal(commandLineForSpan('AT+CMGS="+4917012345";+CPIN="1"', true), 'AT+CMGS="+4917012345";+CPIN=<redacted>', 'a + inside quotes is no command');
  // Packet-data logins: 27.007 +CGAUTH and the vendors' (a Cinterion connection profile's password, SIMCom's APN login).
  t.equal(commandLineForSpan('AT+CGAUTH=1,1,"user","secret"', true), 'AT+CGAUTH=<redacted>');
  t.equal(commandLineForSpan('AT^SICS=0,passwd,"PASSWORD"', true), 'AT^SICS=<redacted>');
  t.equal(commandLineForSpan(`AT+CSTT='"iot.1nce.net","user","secret"'`, true), 'AT+CSTT=<redacted>');
  t.equal(commandLineForSpan('AT+QICSGP=1,1,"apn","user","secret",1', true), 'AT+QICSGP=<redacted>');
  t.equal(commandLineForSpan('AT#SGACT=1,1,"user","secret"', true), 'AT#SGACT=<redacted>');
  t.equal(commandLineForSpan('ATD*99#', true), 'ATD*99#', 'a dial string ending in # is no command');
  t.equal(commandLineForSpan('ATI;+CSUB;+CSQ;+CPIN?;+COPS?;+CGREG?;&D2', true), 'ATI;+CSUB;+CSQ;+CPIN?;+COPS?;+CGREG?;&D2', 'queries unchanged');
});

t.test('portFilter: ports it rejects are left alone', async (t) => {
  h.spans.reset();
  const saved = instr.getConfig();
  instr.setConfig({ ...saved, portFilter: (p: string) => !p.endsWith('/app') });
  t.teardown(() => instr.setConfig(saved));
  const before = await snapshot();
  const { pair, ctl } = await session(t);
  t.same(await ctl.sendCommand('AT'), ['OK']);
  await sleep(50);
  t.equal(spansOf(pair.appPath).length, 0);
  t.equal(delta(await snapshot(), before).connected, 0);
  t.equal(instr.portDiagnostics((ctl as unknown as { port: object }).port), undefined);
});

t.test('disable() restores the prototype; enable() patches it again', async (t) => {
  h.spans.reset();
  const proto = SerialPortStream.prototype as unknown as Record<string, unknown>;
  t.ok(Object.hasOwn(proto, 'push') && Object.hasOwn(proto, 'emit'), 'patched');
  instr.disable();
  t.notOk(Object.hasOwn(proto, 'push'), 'push inherited again');
  t.notOk(Object.hasOwn(proto, 'emit'), 'emit inherited again');
  t.match(String(proto['_write']), /this\.port\.write/, 'the original _write');
  {
    const { pair, ctl } = await session(t);
    t.same(await ctl.sendCommand('AT'), ['OK']);
    await ctl.close();
    t.equal(spansOf(pair.appPath).length, 0, 'nothing recorded while disabled');
  }
  instr.enable();
  t.ok(Object.hasOwn(proto, 'push'), 'patched again');
  const { pair, ctl } = await session(t);
  t.same(await ctl.sendCommand('AT'), ['OK']);
  await eventually(() => atSpans(spansOf(pair.appPath)).length === 1, 2000, 'span after re-enable');
});

t.test('a wrapper another tool put over ours stays on disable; enabled again, each command counts once', async (t) => {
  h.spans.reset();
  const proto = SerialPortStream.prototype;
  const theirs = wrapOver(t, instr, proto, '_write');
  instr.disable();
  t.equal((proto as unknown as Record<string, unknown>)['_write'], theirs.fn, 'their wrapper kept');
  {
    const { pair, ctl } = await session(t);
    t.same(await ctl.sendCommand('AT'), ['OK']);
    await ctl.close();
    t.ok(theirs.calls > 0, 'their wrapper still runs');
    await sleep(50);
    t.equal(spansOf(pair.appPath).length, 0, 'nothing recorded while disabled (our old wrapper inside theirs passes through)');
  }
  instr.enable();
  const { pair, ctl } = await session(t);
  t.same(await ctl.sendCommand('AT+CSQ'), ['+CSQ: 20,99', 'OK']);
  await eventually(() => atSpans(spansOf(pair.appPath)).length === 1, 2000, 'span after re-enable');
  await sleep(50);
  const spans = atSpans(spansOf(pair.appPath));
  t.equal(spans.length, 1, 'one span, not two');
});

t.test('an SMS-PP trigger through the modem: the next OTA session is triggered, by a modem, and links to it', async (t) => {
  h.spans.reset();
  clearTriggers();
  const KEY = Buffer.from('0102030405060708090A0B0C0D0E0F10', 'hex');
  const server = await startAdminServer({ kind: 'https', keys: new Map([['card-001', KEY]]), scriptsFor: () => GP_SESSION });
  t.teardown(() => server.close());
  const before = await h.value('cardlink_sessions_total', { status: 'completed', session_type: 'triggered', device_type: 'modem' });
  const { ctl } = await session(t);
  t.equal((await ctl.sendSms(PDU, PDU_OCTETS)).mr, 1);
  // The card answers the push by opening its admin session.
  t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY })).end, 'completed');
  await eventually(() => h.finished().some((s) => s.name === 'ota.session'), 5000, 'the OTA session');
  const ota = h.finished().find((s) => s.name === 'ota.session') as ReadableSpan;
  const trigger = h.finished().find((s) => s.name === 'sms.trigger') as ReadableSpan;
  t.equal(ota.attributes['cardlink.session.type'], 'triggered');
  t.equal(ota.attributes['cardlink.device.type'], 'modem');
  t.equal(ota.links[0]?.context.spanId, trigger.spanContext().spanId, 'linked to the sms.trigger span');
  t.equal(ota.links[0]?.context.traceId, trigger.spanContext().traceId);
  t.equal(
    (await h.value('cardlink_sessions_total', { status: 'completed', session_type: 'triggered', device_type: 'modem' })) - before,
    1,
  );
});

t.test('property: any bytes either way reach the application unchanged; the decoder stays bounded and quiet', async (t) => {
  const fc = (await import('fast-check')).default;
  const atish = fc.constantFrom(
    'AT\r',
    'AT+CSIM=10,"00B0000009"\r',
    'AT+CMGS=19\r',
    '\x1a',
    '\x1b',
    '\r\nOK\r\n',
    '\r\n+CSIM: 4,"9000"\r\n',
    '\r\n> ',
    '\r\n+CME ERROR: 10\r\n',
    '\r\n+CMT: ,24\r\n',
    'ATE0\r',
  );
  const chunk = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    atish.map((s) => Buffer.from(s, 'latin1')),
  );
  const step = fc.record({ dir: fc.constantFrom('w', 'r'), data: chunk });
  let n = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(step, { maxLength: 25 }), async (steps) => {
      const path = `/dev/prop${n++}`;
      const port = await openMockPort(path, true);
      const got: Buffer[] = [];
      port.on('data', (d: Buffer) => got.push(Buffer.from(d)));
      const sent: Buffer[] = [];
      const written: Buffer[] = [];
      const binding = (port as unknown as { port: { emitData(d: Buffer): void; recording: Buffer } }).port;
      for (const s of steps) {
        if (s.data.length === 0) continue;
        if (s.dir === 'r') {
          sent.push(s.data);
          binding.emitData(s.data);
        } else {
          written.push(s.data);
          await new Promise((r) => port.write(s.data, r));
        }
        await new Promise((r) => setImmediate(r));
      }
      const want = Buffer.concat(sent);
      await eventually(() => Buffer.concat(got).length >= want.length, 2000, 'all read bytes');
      const ok =
        Buffer.concat(got).equals(want) && binding.recording.equals(Buffer.concat(written));
      const d = instr.portDiagnostics(port);
      await new Promise((r) => port.close(r));
      return (
        ok &&
        d !== undefined &&
        d.stats.internalErrors === 0 &&
        d.stats.listenerErrors === 0 &&
        d.bufferedBytes <= 8192 &&
        d.queuedCommands <= 32 &&
        d.openSpans <= 32
      );
    }),
    { numRuns: 150 },
  );
  t.pass('held for every generated exchange');
});
