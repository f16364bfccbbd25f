/**
 * Modems as they really are, through the real patched path: `serialport` on a socat pty pair, the
 * modem simulator on the far end answering with vendor final results and sending vendor URCs and
 * STK proactive-command indications, and an application that writes like CardLink's modem
 * controller (every command ended by CR LF, echo on, answers read from raw `data` events).
 */
import t from 'tap';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanStatusCode } from '@opentelemetry/api';
import { SerialportInstrumentation } from '../instrumentations/serialport/index.js';
import { setupHarness, eventually, type Harness } from './helpers/otel-harness.js';
import { openPtyPair, startModemSimulator, type ModemSimulator, type ModemSimulatorOptions } from './fixtures/modem-simulator.js';

const h: Harness = setupHarness([new SerialportInstrumentation()]);
t.teardown(() => h.shutdown());

// Imported only now: the require hook patches @serialport/stream when `serialport` loads it.
const { SerialPort } = await import('serialport');

/** CardLink's way: `<command>\r\n`, then read until the final result line has arrived. */
class CrLfApp {
  private received = '';
  private constructor(private readonly port: InstanceType<typeof SerialPort>) {
    port.on('data', (d: Buffer) => {
      this.received += d.toString('latin1');
    });
  }

  static async open(path: string): Promise<CrLfApp> {
    const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    return new CrLfApp(port);
  }

  /** Writes the command and resolves with what was read once `\r\n<final>\r\n` came back. */
  async send(command: string, final: string, between?: () => void): Promise<string> {
    this.received = '';
    this.port.write(`${command}\r\n`);
    if (between !== undefined) {
      await eventually(() => this.received.includes(`${command}\r`), 2000, `echo of ${command}`);
      between();
    }
    await eventually(() => this.received.includes(`\r\n${final}\r\n`), 2000, `${final} for ${command}`);
    return this.received;
  }

  /** Writes the command, waits `giveUpMs` for anything, and goes on without an answer (an app's own short timeout). */
  async giveUpAfter(command: string, giveUpMs: number): Promise<void> {
    this.received = '';
    this.port.write(`${command}\r\n`);
    await new Promise((r) => setTimeout(r, giveUpMs));
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.port.isOpen ? this.port.close(() => resolve()) : resolve()));
  }
}

/** A pty pair, the simulator on its far end and the app on its near end, closed at teardown. */
async function openModem(t: { teardown(fn: () => unknown): void }, options: ModemSimulatorOptions): Promise<{ modem: ModemSimulator; app: CrLfApp }> {
  const pair = await openPtyPair();
  const modem = await startModemSimulator(pair.modemPath, options);
  const app = await CrLfApp.open(pair.appPath);
  t.teardown(async () => {
    await app.close();
    await modem.close();
    await pair.close();
  });
  return { modem, app };
}

const atSpan = (command: string): ReadableSpan | undefined =>
  h.finished().find((s) => s.name.startsWith('at ') && s.attributes['cardlink.at.command'] === command);
const modemErrors = (type: string): Promise<number> => h.value('cardlink_device_errors_total', { device_type: 'modem', error_type: type });

t.test('vendor final results end their command as an error, not as a timeout', async (t) => {
  const { modem, app } = await openModem(t, {
    overrides: {
      '+STKTR': { final: 'COMMAND NOT SUPPORT' },
      '^SYSCFG': { final: 'MODEM ERROR: 3' },
      '+CUSATA': { final: 'TOO MANY PARAMETERS' },
    },
  });
  h.spans.reset();
  const errorsBefore = await modemErrors('error');
  const timeoutsBefore = await modemErrors('timeout');

  t.match(await app.send('AT+QSTK=1', 'OK'), 'AT+QSTK=1\r\r\nOK\r\n', 'CardLink enables Quectel STK URCs');
  t.match(await app.send('AT+STKTR=1', 'COMMAND NOT SUPPORT'), 'AT+STKTR=1\r\r\nCOMMAND NOT SUPPORT\r\n');
  await app.send('AT^SYSCFG?', 'MODEM ERROR: 3');
  await app.send('AT+CUSATA=1', 'TOO MANY PARAMETERS');
  t.same(modem.received, ['AT+QSTK=1', 'AT+STKTR=1', 'AT^SYSCFG?', 'AT+CUSATA=1'], 'CR LF: one command each');

  // Spans end at the final result, long before the decoder's 5 s default timeout would end them.
  await eventually(() => ['+QSTK', '+STKTR', '^SYSCFG', '+CUSATA'].every((c) => atSpan(c) !== undefined), 2000, 'four at spans');
  t.match(atSpan('+QSTK')?.attributes, { 'cardlink.at.result': 'ok', 'cardlink.at.echoed': true });
  for (const [command, text] of [
    ['+STKTR', 'COMMAND NOT SUPPORT'],
    ['^SYSCFG', 'MODEM ERROR: 3'],
    ['+CUSATA', 'TOO MANY PARAMETERS'],
  ] as const) {
    const s = atSpan(command) as ReadableSpan;
    t.match(s.attributes, { 'cardlink.at.result': 'error', 'cardlink.at.error_code': text, 'error.type': 'error', 'cardlink.at.echoed': true }, command);
    t.equal(s.status.code, SpanStatusCode.ERROR);
    t.equal((await h.histogram('cardlink_at_command_duration_seconds', { command })).count, 1, `${command}: one duration`);
  }
  t.equal((await modemErrors('error')) - errorsBefore, 3, 'three modem errors');
  t.equal((await modemErrors('timeout')) - timeoutsBefore, 0, 'no false timeout');
});

t.test('a final result with a stray control byte on its line: its command ends with that result, the next one is unshifted', async (t) => {
  const { app } = await openModem(t, { overrides: { '+CPIN': { final: '+CME ERROR: incorrect password\x1b' } } });
  h.spans.reset();
  const timeoutsBefore = await modemErrors('timeout');
  await app.send('AT+CPIN="1234"', '+CME ERROR: incorrect password\x1b');
  await app.send('AT+CSQ', 'OK');
  await eventually(() => atSpan('+CPIN') !== undefined && atSpan('+CSQ') !== undefined, 2000, 'two at spans');
  // The span carries the 27.007 number of the verbose text (16: incorrect password).
  t.match(atSpan('+CPIN')?.attributes, { 'cardlink.at.result': 'cme_error', 'cardlink.at.error_code': '16' });
  t.match(atSpan('+CSQ')?.attributes, { 'cardlink.at.result': 'ok' });
  t.equal((await modemErrors('timeout')) - timeoutsBefore, 0, 'no false timeout');
  t.notOk(JSON.stringify(h.finished().map((x) => x.attributes)).includes('1234'), 'the PIN is not exported');
});

t.test('a command the modem never answers, given up by the app within a second: the next answers stay with their own commands', async (t) => {
  const { app } = await openModem(t, { overrides: { '+QSIMSTAT': { silent: true } } });
  h.spans.reset();
  const timeoutsBefore = await modemErrors('timeout');
  await app.giveUpAfter('AT+QSIMSTAT?', 300);
  await app.send('AT+CSIM=14,"00A40404023F00"', 'OK'); // SELECT of an unknown AID: 6A82
  await app.send('AT+CSIM=14,"00A40004023F00"', 'OK'); // SELECT MF: 6120
  await app.send('AT+CSQ', 'OK');
  await eventually(() => h.finished().filter((s) => s.name.startsWith('at ')).length >= 4, 3000, 'four at spans');
  const at = h.finished().filter((s) => s.name.startsWith('at '));
  t.same(
    at.map((s) => [s.attributes['cardlink.at.command'], s.attributes['cardlink.at.result']]),
    [
      ['+QSIMSTAT', 'timeout'],
      ['+CSIM', 'ok'],
      ['+CSIM', 'ok'],
      ['+CSQ', 'ok'],
    ],
  );
  t.same(
    h.finished().filter((s) => s.name.startsWith('apdu.')).map((s) => [s.name, s.attributes['cardlink.apdu.sw']]),
    [
      ['apdu.SELECT', '6A82'],
      ['apdu.SELECT', '6120'],
    ],
    'each status word on its own APDU',
  );
  t.equal((await modemErrors('timeout')) - timeoutsBefore, 1, 'one timeout, the command that got no answer');
});

t.test('vendor URCs and STK proactive commands are URCs with their bounded names', async (t) => {
  const { modem, app } = await openModem(t, { overrides: { 'AT+CSQ': { delayMs: 300 } } });
  h.spans.reset();

  // A suffixed URC between echo and answer: not an information line of the command.
  modem.injectUrcDuringNextCommand('^SYSSTART AIRPLANE MODE');
  t.match(await app.send('AT+CFUN=4', 'OK'), '\r\n^SYSSTART AIRPLANE MODE\r\n');
  // URCs while a slow command is pending (the span of the oldest pending command gets them).
  const urcs = ['+PACSP0', '+PBREADY', '+QSTK: "D01A8103014003"', '+STKPCI: 0,"D01A8103014003"', '+CUSATP: "D01A8103014003"', '+XYZ: 1'];
  await app.send('AT+CSQ', 'OK', () => {
    for (const u of urcs) modem.injectUrc(u);
  });

  await eventually(() => atSpan('+CSQ') !== undefined && atSpan('+CFUN') !== undefined, 2000, 'two at spans');
  const names = (s: ReadableSpan | undefined): unknown[] =>
    (s?.events ?? []).filter((e) => e.name === 'at.urc').map((e) => e.attributes?.['cardlink.at.urc']);
  t.same(names(atSpan('+CFUN')), ['^SYSSTART']);
  t.equal(atSpan('+CFUN')?.attributes['cardlink.at.line_count'], 0, 'the URC is not an answer line');
  t.same(names(atSpan('+CSQ')), ['+PACSP', '+PBREADY', '+QSTK', '+STKPCI', '+CUSATP', 'other']);
  t.match(atSpan('+CSQ')?.attributes, { 'cardlink.at.result': 'ok', 'cardlink.at.line_count': 1 });
  // Only names leave the process: never the proactive command's bytes.
  const exported = JSON.stringify(h.finished().map((s) => [s.attributes, s.events]));
  t.notOk(exported.includes('D01A8103014003'), 'no URC payload exported');
});
