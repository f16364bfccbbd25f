import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import t from 'tap';
import {
  AtDecoder,
  type AtCommandEndEvent,
  type AtCsimEvent,
  type AtCrsmEvent,
  type AtSmsSubmitEvent,
  type AtUrcEvent,
} from '../instrumentations/serialport/at.js';
import { ModemController, startModemSession, type ControllerMode, type TranscriptEntry } from './fixtures/modem-controller.js';
import { openPtyPair, startModemSimulator } from './fixtures/modem-simulator.js';

const PDU = '0011000B919471234567F80000AA05C8329BFD06';
const PDU_OCTETS = PDU.length / 2 - 1; // without the SMSC length octet `00`

interface Decoded {
  starts: Array<{ id: number; name: string; text: string }>;
  ends: AtCommandEndEvent[];
  urcs: AtUrcEvent[];
  csim: AtCsimEvent[];
  crsm: AtCrsmEvent[];
  sms: AtSmsSubmitEvent[];
  prompts: number;
  d: AtDecoder;
}

/** Feeds the controller's bytes, in the order it saw them, to a decoder with default options. */
function decodeTranscript(transcript: readonly TranscriptEntry[], endAt: number): Decoded {
  const out: Decoded = { starts: [], ends: [], urcs: [], csim: [], crsm: [], sms: [], prompts: 0, d: undefined as never };
  out.d = new AtDecoder({
    commandStart: (e) => out.starts.push({ id: e.id, name: e.name, text: e.text }),
    commandEnd: (e) => out.ends.push(e),
    urc: (e) => out.urcs.push(e),
    csim: (e) => out.csim.push(e),
    crsm: (e) => out.crsm.push(e),
    smsSubmit: (e) => out.sms.push(e),
    prompt: () => out.prompts++,
  });
  for (const e of transcript) {
    if (e.dir === 'w') out.d.written(e.data, e.at);
    else out.d.read(e.data, e.at);
  }
  out.d.tick(endAt);
  return out;
}

/** What the controller saw for one command, to compare with the decoder. */
interface Seen {
  text: string;
  lines: string[] | null; // null: timed out
}

const session = (t: { teardown(fn: () => unknown): void }, mode: ControllerMode) => startModemSession(t, {}, mode);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('openPtyPair links both ends and close() kills socat', async (t) => {
  const pair = await openPtyPair();
  t.ok(fs.realpathSync(pair.appPath).startsWith('/dev/pts/'));
  t.ok(fs.realpathSync(pair.modemPath).startsWith('/dev/pts/'));
  t.not(fs.realpathSync(pair.appPath), fs.realpathSync(pair.modemPath));
  t.doesNotThrow(() => process.kill(pair.pid, 0), 'socat runs');
  await pair.close();
  t.throws(() => process.kill(pair.pid, 0), 'socat is gone');
  t.notOk(fs.existsSync(pair.appPath), 'links removed');
});

for (const mode of ['parser', 'raw'] as const) {
  t.test(`controller (${mode} mode) and simulator over a socat pty pair; the decoder agrees`, async (t) => {
    const { modem, ctl } = await session(t, mode);
    const seen: Seen[] = [];
    const send = async (text: string, timeoutMs = 5000): Promise<string[]> => {
      const lines = await ctl.sendCommand(text, timeoutMs);
      seen.push({ text, lines });
      return lines;
    };

    t.same(await send('ATI'), ['Quectel', 'EC25', 'Revision: EC25EFAR06A03M4G', 'OK']);
    t.same(await send('AT+CPIN?'), ['+CPIN: READY', 'OK']);

    // +CSIM: SELECT MF -> 61xx, GET RESPONSE -> FCP + 9000, unknown AID -> 6A82, GP command -> 6985.
    t.same(await send('AT+CSIM=14,"00A40004023F00"'), ['+CSIM: 4,"6120"', 'OK']);
    const fcp = await send('AT+CSIM=10,"00C0000020"');
    t.match(fcp[0], /^\+CSIM: 68,"621E.*9000"$/);
    t.same(await send('AT+CSIM=26,"00A4040C08A000000003000000"'), ['+CSIM: 4,"6A82"', 'OK']);
    modem.setCsimResponse('80E60C00', '9000');
    t.same(await send('AT+CSIM=10,"80E60C0000"'), ['+CSIM: 4,"9000"', 'OK']);
    t.same(await send('AT+CSIM=10,"80E6020000"'), ['+CSIM: 4,"6985"', 'OK']);
    t.same(await send('AT+CSIM=12,"00A40004023F00"'), ['+CME ERROR: 50'], 'length mismatch refused');
    t.same(await send('AT+CRSM=176,28423,0,0,9'), ['+CRSM: 144,0,"080910101032547698"', 'OK']);

    // +CMGS with the prompt: sent twice (mr increments), then cancelled.
    const a = await ctl.sendSms(PDU, PDU_OCTETS);
    const b = await ctl.sendSms(PDU, PDU_OCTETS);
    const c = await ctl.sendSms(PDU.slice(0, 8), PDU_OCTETS, { cancel: true });
    t.equal(a.mr, 1);
    t.equal(b.mr, 2);
    t.same(c, { mr: null, lines: ['OK'] });
    t.same(
      modem.messages.map((m) => [m.body, m.sent]),
      [
        [PDU, true],
        [PDU, true],
        [PDU.slice(0, 8), false],
      ],
    );

    // A URC injected while a (slow) command is being answered, and one between echo and final.
    modem.setOverride('+CSQ', { delayMs: 150, once: true });
    const csq = send('AT+CSQ');
    await sleep(50);
    modem.injectUrc('+CMTI: "SM",3');
    t.same(await csq, ['+CSQ: 20,99', 'OK']);
    modem.injectUrcDuringNextCommand('+CEREG: 5');
    t.same(await send('AT+CREG?'), ['+CREG: 0,1', 'OK']);
    modem.injectUrc('+CMT: ,24');
    modem.injectUrc('07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07');
    t.same(await send('AT'), ['OK']);

    // Errors: +CME ERROR, unknown command.
    modem.setOverride('AT+CPIN?', { cmeError: 10, once: true });
    t.same(await send('AT+CPIN?'), ['+CME ERROR: 10']);
    t.same(await send('AT+NOSUCH'), ['ERROR']);

    // A silent command: the controller gives up; the modem goes on answering the next one.
    modem.setOverride('+CGSN', { silent: true, once: true });
    await t.rejects(ctl.sendCommand('AT+CGSN', 1500), { code: 'ETIMEDOUT' });
    seen.push({ text: 'AT+CGSN', lines: null });
    t.same(await send('AT+CGSN'), ['867584030123456', 'OK']);

    // Echo off from here on.
    t.same(await send('ATE0'), ['OK']);
    t.same(await send('AT+CIMI'), ['001010123456789', 'OK']);
    t.same(await send('AT+CSIM=14,"00A40004022FE2"'), ['+CSIM: 4,"611D"', 'OK']);
    const d = await ctl.sendSms(PDU, PDU_OCTETS);
    t.equal(d.mr, 3);
    await modem.idle();

    t.same(ctl.urcs, [
      '+CMTI: "SM",3',
      '+CEREG: 5',
      '+CMT: ,24',
      '07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07',
    ]);

    // ---- the decoder, fed by hand with exactly the bytes the controller wrote and read
    const last = ctl.transcript[ctl.transcript.length - 1]?.at ?? 0;
    const dec = decodeTranscript(ctl.transcript, last + 1);
    t.equal(dec.d.stats.internalErrors, 0);
    t.equal(dec.d.pendingCount, 0, 'every command ended');
    t.equal(dec.starts.length, seen.length + 4, 'one command per sendCommand / sendSms');

    // Plain commands: same order, same final, same information lines.
    const plain = dec.ends.filter((e) => e.name !== '+CMGS');
    t.equal(plain.length, seen.length);
    seen.forEach((s, i) => {
      const e = plain[i];
      if (e === undefined) return;
      const start = dec.starts.find((x) => x.id === e.id);
      t.equal(start?.text, s.text, `command ${i} text`);
      if (s.lines === null) {
        t.equal(e.result, 'timeout', `${s.text}: timeout`);
        t.ok(e.durationMs >= 1400 && e.durationMs < 4000, `${s.text}: ends when the application gave up (${e.durationMs})`);
        return;
      }
      const final = s.lines[s.lines.length - 1] ?? '';
      const expected = final === 'OK' ? 'ok' : final === 'ERROR' ? 'error' : final.startsWith('+CME') ? 'cme_error' : '?';
      t.equal(e.result, expected, `${s.text}: result`);
      t.same(e.lines, s.lines.slice(0, -1), `${s.text}: lines`);
    });

    // The +CMGS commands.
    const sms = dec.ends.filter((e) => e.name === '+CMGS');
    t.same(
      sms.map((e) => e.result),
      ['ok', 'ok', 'cancelled', 'ok'],
    );
    t.same(
      dec.sms.map((e) => [e.mr, e.pduHex]),
      [
        [1, PDU],
        [2, PDU],
        [3, PDU],
      ],
    );
    t.equal(dec.prompts, 4);

    // Domain events.
    t.same(
      dec.csim.map((e) => [e.commandHex, e.sw]),
      [
        ['00A40004023F00', '6120'],
        ['00C0000020', '9000'],
        ['00A4040C08A000000003000000', '6A82'],
        ['80E60C0000', '9000'],
        ['80E6020000', '6985'],
        ['00A40004023F00', null],
        ['00A40004022FE2', '611D'],
      ],
    );
    t.match(dec.csim[5], { lengthMismatch: true, result: 'cme_error' });
    t.match(dec.crsm[0], { command: 176, fileId: 0x6f07, sw: '9000', responseHex: '080910101032547698' });

    // URCs: the same lines the controller took as unsolicited (+CMT with its PDU as data).
    t.same(
      dec.urcs.map((u) => [u.name, u.line, u.data]),
      [
        ['+CMTI', '+CMTI: "SM",3', null],
        ['+CEREG', '+CEREG: 5', null],
        ['+CMT', '+CMT: ,24', '07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07'],
      ],
    );
    t.equal(dec.d.stats.readNoise + dec.d.stats.writtenNoise + dec.d.stats.strayFinals, 0, 'nothing unexplained');
  });
}

t.test('simulator options: echo off from the start, URC between echo and final, delays', async (t) => {
  const pair = await openPtyPair();
  const modem = await startModemSimulator(pair.modemPath, {
    echo: false,
    urcBetweenEchoAndFinal: '+CMTI: "SM",7',
    urcBetweenEchoAndFinalFor: ['+CSQ'],
    overrides: { AT: { delayMs: 200 } },
    simState: 'absent',
  });
  const ctl = await ModemController.open(pair.appPath, { mode: 'raw' });
  t.teardown(async () => {
    await ctl.close();
    await modem.close();
    await pair.close();
  });
  const t0 = performance.now();
  t.same(await ctl.sendCommand('AT'), ['OK']);
  t.ok(performance.now() - t0 >= 190, 'delayed answer');
  t.same(await ctl.sendCommand('AT+CSQ'), ['+CSQ: 20,99', 'OK']);
  t.same(await ctl.sendCommand('AT+CPIN?'), ['+CME ERROR: 10']);
  t.same(ctl.urcs, ['+CMTI: "SM",7']);
  t.same(modem.received, ['AT', 'AT+CSQ', 'AT+CPIN?']);
  const dec = decodeTranscript(ctl.transcript, performance.now());
  t.same(
    dec.ends.map((e) => [e.name, e.result, e.echoed]),
    [
      ['AT', 'ok', false],
      ['+CSQ', 'ok', false],
      ['+CPIN', 'cme_error', false],
    ],
  );
  t.ok((dec.ends[0]?.durationMs ?? 0) >= 190, 'the decoder measures the delay');
  t.same(
    dec.urcs.map((u) => u.line),
    ['+CMTI: "SM",7'],
  );
});
