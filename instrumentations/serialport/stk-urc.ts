/**
 * The SIM Toolkit dialects of AT modems: which URCs carry a proactive command and which commands
 * carry the application's terminal response, and how to get the STK bytes out of them.
 *
 * Pure (no I/O, no OpenTelemetry). Called only for a URC or command of one of these names, never
 * per byte: the stream decoder (at.ts) has already found the line and its name.
 *
 * Proactive commands, as hex:
 *   `+CUSATP: <hex>`              3GPP TS 27.007 8.52 (ofono atmodem, ModemManager)
 *   `+QSTK: "<hex>"`              Quectel (CardLink's modem controller reads it)
 *   `+STKPCI: [<n>,]"<hex>"`      SIMCom (CardLink's modem controller reads it)
 *   `+SATI: <hex>` / `+SATN: <hex>`  Infineon (ofono ifxmodem); `N`: handled by the modem, reported
 *   `%SATI: <hex>` / `%SATN: <hex>`  TI Calypso (ofono calypsomodem)
 *   `*STKI: <hex>` / `*STKN: <hex>`  Ericsson MBM (ofono mbmmodem)
 *   `+KSTC: <type>,<hex>`         Sagem
 * and by type only: Telit `#STN: <type>[,...]` (the type of command in decimal: 64 OPEN CHANNEL).
 * Terminal responses the application writes: `AT+CUSATT=<hex>` (27.007), `AT+SATR="<hex>"`,
 * `AT%SATR="<hex>"`, `AT*STKR="<hex>"`, SIMCom `AT+STKTR=<hex>`.
 */
import { decodeStkHex, stkMessageOfType, type StkMessage } from '../shared/stk.js';

/** URCs whose argument is a proactive command in hex. */
const HEX_URCS: ReadonlySet<string> = new Set(['+CUSATP', '+QSTK', '+STKPCI', '+SATI', '+SATN', '%SATI', '%SATN', '*STKI', '*STKN', '+KSTC']);

/** Every URC name read here (the recorder looks a URC up in this before anything else). */
export const STK_URC_NAMES: ReadonlySet<string> = new Set([...HEX_URCS, '#STN']);

/** Commands whose argument is a terminal response in hex. */
export const STK_RESPONSE_COMMANDS: ReadonlySet<string> = new Set(['+CUSATT', '+SATR', '%SATR', '*STKR', '+STKTR']);

/** Longest argument looked at: a proactive command is at most 257 bytes, 514 hex digits (quotes and a type before it). */
const MAX_ARGUMENT = 1100;

/** The proactive command a URC line of `name` (one of STK_URC_NAMES) carries; null when it carries none that decodes. */
export function stkFromUrc(name: string, line: string): StkMessage | null {
  if (typeof line !== 'string') return null;
  const colon = line.indexOf(':');
  if (colon < 0) return null;
  if (name === '#STN') return telitStn(line, colon + 1);
  if (!HEX_URCS.has(name)) return null;
  const m = lastHexArgument(line, colon + 1);
  return m !== null && m.kind === 'proactive' ? m : null;
}

/** The terminal response a command line of `name` (one of STK_RESPONSE_COMMANDS) carries; null otherwise. */
export function stkFromCommand(name: string, text: string): StkMessage | null {
  if (typeof text !== 'string' || !STK_RESPONSE_COMMANDS.has(name)) return null;
  const eq = text.indexOf('=');
  if (eq < 0 || text.charCodeAt(eq + 1) === 0x3f /* =? */) return null;
  const m = lastHexArgument(text, eq + 1);
  return m !== null && m.kind === 'terminal_response' ? m : null;
}

/** The last comma-separated argument after `from` that decodes as STK (quotes and blanks stripped). */
function lastHexArgument(s: string, from: number): StkMessage | null {
  let end = s.length;
  if (end - from > MAX_ARGUMENT) return null;
  while (end > from) {
    const comma = s.lastIndexOf(',', end - 1);
    const start = comma < from ? from : comma + 1;
    const arg = s.slice(start, end).trim();
    if (arg.length >= 4) {
      const m = decodeStkHex(arg);
      if (m !== null) return m;
    }
    if (comma < from) return null;
    end = comma;
  }
  return null;
}

/** Telit `#STN: <cmdType>[,...]`: the type of command in decimal (the URC of a command the modem handles). */
function telitStn(line: string, from: number): StkMessage | null {
  let i = from;
  while (i < line.length && line.charCodeAt(i) === 0x20) i++;
  let v = 0;
  let digits = 0;
  for (; i < line.length && digits < 4; i++, digits++) {
    const c = line.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + (c - 0x30);
  }
  if (digits === 0 || digits > 3 || (i < line.length && line.charCodeAt(i) !== 0x2c)) return null;
  return stkMessageOfType(v);
}
