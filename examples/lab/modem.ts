/**
 * The lab's modem controller: AT commands over a serial port, as a CardLink IoT-modem controller
 * drives a modem. With socat installed the port is one end of a pty pair whose other end is the
 * scripted modem simulator; without it, serialport's mock binding and a small responder stand in.
 */
import { existsSync } from 'node:fs';
import { SerialPortMock } from 'serialport';
import { openPtyPair, startModemSimulator, type PtyPair, type ModemSimulator } from '../../test/fixtures/modem-simulator.js';
import { ModemController } from '../../test/fixtures/modem-controller.js';
import { closeChannel, openChannel, openChannelResponse, stkUrc, type StkDialect } from '../../test/fixtures/stk-commands.js';

export const SOCAT = '/usr/bin/socat';
export const hasSocat = (): boolean => existsSync(SOCAT);

/** The commands the lab sends; what matters is that they look like a modem controller's day. */
export interface Modem {
  readonly transport: 'socat pty pair' | 'serialport mock binding';
  command(cmd: string, timeoutMs?: number): Promise<string[]>;
  /**
   * An SMS-PP trigger (AT+CMGS in PDU mode). When the card answers, the modem reports its BIP OPEN
   * CHANNEL (to the admin server) as a STK URC and the lab answers it (AT+CUSATT); resolves with
   * whether the card answered.
   */
  sendTrigger(cardAnswers: boolean): Promise<boolean>;
  /** The card's CLOSE CHANNEL once its OTA session is over. */
  closeChannel(): void;
  close(): Promise<void>;
}

// A GSM 03.40 SMS-SUBMIT PDU to +46708251358 with 8-bit data: a stand-in for an SMS-PP push trigger.
const TRIGGER_PDU = '0011000B916407281553F80004AA0A0102030405060708090A';
const TRIGGER_OCTETS = 24;

/** The STK URC dialects the lab's modem takes turns with (3GPP, Quectel, SIMCom). */
const DIALECTS: readonly StkDialect[] = ['+CUSATP', '+QSTK', '+STKPCI'];

/** `adminPort`: where the cards' BIP channels connect (the OPEN CHANNEL's address and port). */
export async function startModem(adminPort: number): Promise<Modem> {
  if (hasSocat()) return socatModem(adminPort);
  return mockModem(adminPort);
}

async function socatModem(adminPort: number): Promise<Modem> {
  const pair: PtyPair = await openPtyPair();
  let answers = false;
  let dialect: StkDialect = '+CUSATP';
  let triggers = 0;
  const sim: ModemSimulator = await startModemSimulator(pair.modemPath, {
    overrides: { 'AT+CGSN': { silent: true }, 'AT+COPS?': { cmeError: 30 } },
    afterSms: () => (answers ? [stkUrc(dialect, openChannel('127.0.0.1', adminPort))] : []),
  });
  const ctl = await ModemController.open(pair.appPath, { mode: 'parser' });
  return {
    transport: 'socat pty pair',
    command: (cmd, timeoutMs = 2000) => ctl.sendCommand(cmd, timeoutMs),
    async sendTrigger(cardAnswers) {
      answers = cardAnswers;
      dialect = DIALECTS[triggers++ % DIALECTS.length] as StkDialect;
      await ctl.sendSms(TRIGGER_PDU, TRIGGER_OCTETS);
      if (cardAnswers) await ctl.sendCommand(`AT+CUSATT=${openChannelResponse()}`);
      return cardAnswers;
    },
    closeChannel() {
      sim.injectUrc(stkUrc(dialect, closeChannel()));
    },
    async close() {
      await ctl.close().catch(() => undefined);
      await sim.close().catch(() => undefined);
      await pair.close().catch(() => undefined);
    },
  };
}

/** serialport's mock binding with a minimal responder (echo off, a few answers, the CMGS prompt). */
async function mockModem(adminPort: number): Promise<Modem> {
  const path = '/dev/cardlink-demo-modem';
  SerialPortMock.binding.createPort(path, { echo: false, record: false });
  const port = new SerialPortMock({ path, baudRate: 115200 });
  await new Promise<void>((resolve, reject) => port.on('open', resolve).on('error', reject));
  const answer = (line: string): string => {
    if (line === 'ATI') return '\r\nQuectel\r\nBG96\r\nRevision: BG96MAR02A07M1G\r\n\r\nOK\r\n';
    if (line.startsWith('AT+CSIM=')) return '\r\n+CSIM: 4,"9000"\r\n\r\nOK\r\n';
    if (line === 'AT+CSQ') return '\r\n+CSQ: 20,99\r\n\r\nOK\r\n';
    if (line === 'AT+COPS?') return '\r\n+CME ERROR: 30\r\n';
    if (line === 'AT+CGSN') return '';
    return '\r\nOK\r\n';
  };
  let buffered = '';
  let pending: ((lines: string[]) => void) | undefined;
  let collected: string[] = [];
  port.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('latin1');
    for (let i = buffered.indexOf('\r\n'); i >= 0; i = buffered.indexOf('\r\n')) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 2);
      if (line === '') continue;
      collected.push(line);
      if (/^(OK|ERROR|\+CME ERROR|\+CMS ERROR)/.test(line)) {
        const done = pending;
        pending = undefined;
        done?.(collected);
        collected = [];
      }
    }
    if (buffered.startsWith('> ')) buffered = buffered.slice(2);
  });
  const send = (text: string, timeoutMs: number): Promise<string[]> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending = undefined;
        collected = [];
        reject(new Error(`timeout after ${timeoutMs} ms waiting for ${text.trim()}`));
      }, timeoutMs);
      pending = (lines) => {
        clearTimeout(timer);
        resolve(lines);
      };
      port.write(text);
      const line = text.replace(/[\r\x1a]+$/, '');
      const reply = line.startsWith('AT+CMGS=') ? '> ' : line.startsWith('00') ? '\r\n+CMGS: 7\r\n\r\nOK\r\n' : answer(line);
      if (reply !== '') setTimeout(() => port.port?.emitData(Buffer.from(reply, 'latin1')), 5);
    });
  return {
    transport: 'serialport mock binding',
    command: (cmd, timeoutMs = 2000) => send(`${cmd}\r`, timeoutMs),
    async sendTrigger(cardAnswers) {
      port.write(`AT+CMGS=${TRIGGER_OCTETS}\r`);
      port.port?.emitData(Buffer.from('\r\n> ', 'latin1'));
      await send(`${TRIGGER_PDU}\x1a`, 5000);
      if (cardAnswers) port.port?.emitData(Buffer.from(`\r\n${stkUrc('+CUSATP', openChannel('127.0.0.1', adminPort))}\r\n`, 'latin1'));
      return cardAnswers;
    },
    closeChannel() {
      port.port?.emitData(Buffer.from(`\r\n${stkUrc('+CUSATP', closeChannel())}\r\n`, 'latin1'));
    },
    async close() {
      await new Promise<void>((resolve) => port.close(() => resolve()));
    },
  };
}
