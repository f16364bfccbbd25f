/**
 * APDU decoding shared by the TLS/SCP81 and modem (AT+CSIM) instrumentations.
 *
 * Pure: no OpenTelemetry, no I/O. Every function accepts any bytes / numbers and never throws;
 * whatever cannot be classified is reported as `UNKNOWN` (command) or `error` (status word), so
 * metric label values stay inside the bounded domains of docs/architecture.md ("The metric catalogue").
 *
 * References: ISO/IEC 7816-3 (command cases), ISO/IEC 7816-4 (interindustry commands, status
 * words), ETSI TS 102 221 (UICC commands, table 10.5), ETSI TS 102 222 (file administration),
 * 3GPP TS 31.102 (AUTHENTICATE), GlobalPlatform Card Specification 2.3 (card content management).
 */

/**
 * Every value `commandType` can return (the bounded `command_type` label domain).
 * `UNKNOWN` is last.
 */
export const COMMAND_TYPES = [
  // ISO 7816-4 / ETSI TS 102 221 file and security commands
  'SELECT',
  'GET_RESPONSE',
  'READ_BINARY',
  'UPDATE_BINARY',
  'READ_RECORD',
  'UPDATE_RECORD',
  'SEARCH_RECORD',
  'INCREASE',
  'VERIFY',
  'CHANGE_PIN',
  'DISABLE_PIN',
  'ENABLE_PIN',
  'UNBLOCK_PIN',
  'DEACTIVATE_FILE',
  'ACTIVATE_FILE',
  'AUTHENTICATE',
  'GET_CHALLENGE',
  'MANAGE_CHANNEL',
  'MANAGE_SECURE_CHANNEL',
  'TRANSACT_DATA',
  'GET_IDENTITY',
  'SLEEP',
  'STATUS',
  'GET_DATA',
  'PUT_DATA',
  'MANAGE_SECURITY_ENVIRONMENT',
  'PERFORM_SECURITY_OPERATION',
  // ETSI TS 102 222 file administration (RFM)
  'CREATE_FILE',
  'RESIZE_FILE',
  'TERMINATE_DF',
  'TERMINATE_EF',
  'TERMINATE_CARD_USAGE',
  // ETSI TS 102 221 CAT / terminal commands
  'TERMINAL_CAPABILITY',
  'TERMINAL_PROFILE',
  'ENVELOPE',
  'FETCH',
  'TERMINAL_RESPONSE',
  'SUSPEND_UICC',
  // GlobalPlatform card content management and secure channel
  'GET_STATUS',
  'SET_STATUS',
  'INSTALL',
  'LOAD',
  'DELETE',
  'PUT_KEY',
  'STORE_DATA',
  'INITIALIZE_UPDATE',
  'EXTERNAL_AUTHENTICATE',
  'INTERNAL_AUTHENTICATE',
  'UNKNOWN',
] as const;

export type CommandType = (typeof COMMAND_TYPES)[number];

/** Commands whose data field carries key material or a PIN / PUK: their data must never be exported. */
const SENSITIVE: ReadonlySet<string> = new Set<CommandType>(['PUT_KEY', 'STORE_DATA', 'VERIFY', 'CHANGE_PIN', 'DISABLE_PIN', 'ENABLE_PIN', 'UNBLOCK_PIN']);

/**
 * INS -> name for the interindustry / ETSI classes (CLA 0x, 4x-7x, A0 ...). Odd INS variants
 * (BER-TLV data, ISO 7816-4 5.1.2) map to the same name as their even instruction.
 */
const ISO_NAMES: CommandType[] = new Array<CommandType>(256).fill('UNKNOWN');
const ISO_ENTRIES: ReadonlyArray<readonly [number, CommandType]> = [
  [0x04, 'DEACTIVATE_FILE'],
  [0x10, 'TERMINAL_PROFILE'],
  [0x12, 'FETCH'],
  [0x14, 'TERMINAL_RESPONSE'],
  [0x20, 'VERIFY'],
  [0x22, 'MANAGE_SECURITY_ENVIRONMENT'],
  [0x24, 'CHANGE_PIN'],
  [0x26, 'DISABLE_PIN'],
  [0x28, 'ENABLE_PIN'],
  [0x2a, 'PERFORM_SECURITY_OPERATION'],
  [0x2c, 'UNBLOCK_PIN'],
  [0x32, 'INCREASE'],
  [0x44, 'ACTIVATE_FILE'],
  [0x50, 'INITIALIZE_UPDATE'],
  [0x70, 'MANAGE_CHANNEL'],
  [0x73, 'MANAGE_SECURE_CHANNEL'],
  [0x75, 'TRANSACT_DATA'],
  [0x76, 'SUSPEND_UICC'],
  // 78 is also GP END R-MAC SESSION; TS 102 221 GET IDENTITY is the one a UICC answers.
  [0x78, 'GET_IDENTITY'],
  [0x82, 'EXTERNAL_AUTHENTICATE'],
  [0x84, 'GET_CHALLENGE'],
  // 88: on a UICC with an interindustry class this is AUTHENTICATE (TS 102 221 / TS 31.102;
  // RUN GSM ALGORITHM under CLA A0). The GP class maps it to INTERNAL AUTHENTICATE below.
  [0x88, 'AUTHENTICATE'],
  [0x89, 'AUTHENTICATE'],
  [0xa2, 'SEARCH_RECORD'],
  [0xa4, 'SELECT'],
  [0xaa, 'TERMINAL_CAPABILITY'],
  [0xb0, 'READ_BINARY'],
  [0xb1, 'READ_BINARY'],
  [0xb2, 'READ_RECORD'],
  [0xb3, 'READ_RECORD'],
  [0xc0, 'GET_RESPONSE'],
  [0xc2, 'ENVELOPE'],
  [0xca, 'GET_DATA'],
  [0xcb, 'GET_DATA'], // GP GET DATA (odd INS); TS 102 221 calls it RETRIEVE DATA

  [0xd4, 'RESIZE_FILE'],
  [0xd6, 'UPDATE_BINARY'],
  [0xd7, 'UPDATE_BINARY'],
  [0xd8, 'PUT_KEY'],
  [0xda, 'PUT_DATA'],
  [0xdb, 'PUT_DATA'], // ISO PUT DATA (odd INS); TS 102 221 calls it SET DATA

  [0xdc, 'UPDATE_RECORD'],
  [0xdd, 'UPDATE_RECORD'],
  [0xe0, 'CREATE_FILE'],
  // E2 is also ISO APPEND RECORD, but it is always named STORE_DATA so that its data is redacted
  // whatever class a card or server uses: a wrong name is cheaper than a leaked key.
  [0xe2, 'STORE_DATA'],
  [0xe4, 'DELETE'],
  [0xe6, 'TERMINATE_DF'],
  [0xe8, 'TERMINATE_EF'],
  [0xf0, 'SET_STATUS'],
  [0xf2, 'STATUS'],
  [0xfa, 'SLEEP'], // GSM 11.11
  [0xfe, 'TERMINATE_CARD_USAGE'],
];
for (const [ins, name] of ISO_ENTRIES) ISO_NAMES[ins] = name;

/** INS -> name for GlobalPlatform classes (CLA 8x, Cx, Ex): only the collisions differ. */
const GP_NAMES: CommandType[] = ISO_NAMES.slice();
GP_NAMES[0x88] = 'INTERNAL_AUTHENTICATE';
GP_NAMES[0xe6] = 'INSTALL';
GP_NAMES[0xe8] = 'LOAD';

/** A command type's index in COMMAND_TYPES: a number a caller can count by in a typed array. */
export const COMMAND_TYPE_CODE: Readonly<Record<CommandType, number>> = Object.fromEntries(COMMAND_TYPES.map((type, i) => [type, i])) as Record<CommandType, number>;
const ISO_CODES = Uint8Array.from(ISO_NAMES, (name) => COMMAND_TYPE_CODE[name]);
const GP_CODES = Uint8Array.from(GP_NAMES, (name) => COMMAND_TYPE_CODE[name]);
const GET_STATUS_CODE = COMMAND_TYPE_CODE.GET_STATUS;
const STATUS_CODE = COMMAND_TYPE_CODE.STATUS;

/** GP GET STATUS P1 values (ISD, applications + SSDs, load files, load files + modules). */
const GP_STATUS_P1 = new Uint8Array(256);
GP_STATUS_P1[0x80] = 1;
GP_STATUS_P1[0x40] = 1;
GP_STATUS_P1[0x20] = 1;
GP_STATUS_P1[0x10] = 1;

function isGpClass(cla: number): boolean {
  const hi = cla & 0xf0;
  return hi === 0x80 || hi === 0xc0 || hi === 0xe0;
}

/**
 * The command's name from INS, resolved with CLA and P1 where instructions collide:
 * - F2: GET_STATUS for a GP class (8x/Cx/Ex) with P1 80/40/20/10, STATUS otherwise
 *   (TS 102 221 STATUS uses CLA 80 with P1 00/01/02).
 * - E6/E8: INSTALL/LOAD with a GP class, TERMINATE_DF/TERMINATE_EF (TS 102 222) otherwise.
 * - 88: INTERNAL_AUTHENTICATE with a GP class (GP SCP11), AUTHENTICATE otherwise (UICC/USIM).
 * Anything unlisted is `UNKNOWN`. Hot path: one or two table lookups, no allocation.
 */
export function commandType(cla: number, ins: number, p1: number): CommandType {
  return COMMAND_TYPES[commandTypeCode(cla, ins, p1)]!;
}

/** `commandType` as its index in COMMAND_TYPES. */
export function commandTypeCode(cla: number, ins: number, p1: number): number {
  const i = ins & 0xff;
  const gp = isGpClass(cla & 0xff);
  if (i === 0xf2) return gp && GP_STATUS_P1[p1 & 0xff] === 1 ? GET_STATUS_CODE : STATUS_CODE;
  return (gp ? GP_CODES : ISO_CODES)[i]!;
}

/** Whether a command's data field may hold secrets (PUT KEY, STORE DATA, the PIN commands): never export it. */
export function isSensitiveCommand(type: string): boolean {
  return SENSITIVE.has(type);
}

/** A decoded command APDU. Offsets are absolute indexes into the buffer that was decoded. */
export interface CommandApdu {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  /** Nc as encoded in Lc (0 when absent). May exceed `dataLength` when the APDU is truncated. */
  lc: number;
  /** Ne decoded from Le (short 00 = 256, extended 0000 = 65536); null when Le is absent. */
  le: number | null;
  /** Index of the first data byte in the input buffer. */
  dataOffset: number;
  /** Data bytes actually present (Lc clamped to what the buffer holds). */
  dataLength: number;
  commandType: CommandType;
  /** ISO 7816-3 case: 1 no data no Le, 2 Le only, 3 data only, 4 data and Le. */
  case: 1 | 2 | 3 | 4;
  /** Extended length fields (3-byte Lc / 2-3 byte Le). */
  extended: boolean;
  /** False when the body did not match any ISO case exactly (clamped Lc, trailing bytes ...). */
  wellFormed: boolean;
}

/** A decoded response APDU (data followed by SW1 SW2). */
export interface ResponseApdu {
  sw: number;
  sw1: number;
  sw2: number;
  /** Response data bytes before the status word. */
  dataLength: number;
}

/** Clamp (offset, length) to the buffer; tolerant of undefined, negative, fractional or NaN. */
function clampRange(total: number, offset: number | undefined, length: number | undefined): [number, number] {
  let o = offset === undefined ? 0 : Math.trunc(offset);
  if (!(o >= 0)) o = 0;
  if (o > total) o = total;
  let l = length === undefined ? total - o : Math.trunc(length);
  if (!(l >= 0)) l = 0;
  if (l > total - o) l = total - o;
  return [o, l];
}

/**
 * Decode a command APDU (ISO 7816-3 12.1 cases 1, 2S/2E, 3S/3E, 4S/4E).
 * Returns null when fewer than 4 bytes are available. An inconsistent Lc is clamped to the bytes
 * present and reported through `wellFormed: false`; it never throws.
 */
export function decodeCommandApdu(bytes: Uint8Array, offset?: number, length?: number): CommandApdu | null {
  if (!(bytes instanceof Uint8Array)) return null;
  const [o, len] = clampRange(bytes.length, offset, length);
  if (len < 4) return null;
  const cla = bytes[o]!;
  const ins = bytes[o + 1]!;
  const p1 = bytes[o + 2]!;
  const p2 = bytes[o + 3]!;
  const body = len - 4;
  const res: CommandApdu = {
    cla,
    ins,
    p1,
    p2,
    lc: 0,
    le: null,
    dataOffset: o + 4,
    dataLength: 0,
    commandType: commandType(cla, ins, p1),
    case: 1,
    extended: false,
    wellFormed: true,
  };
  if (body === 0) return res;
  const b4 = bytes[o + 4]!;
  if (body === 1) {
    // Case 2S: Le only; 00 means 256 (also how a T=0 TPDU encodes P3 = 0 for outgoing data).
    res.case = 2;
    res.le = b4 === 0 ? 256 : b4;
    res.dataOffset = o + 5;
    return res;
  }
  if (b4 !== 0) {
    // Short Lc.
    const lc = b4;
    const avail = body - 1;
    res.lc = lc;
    res.dataOffset = o + 5;
    res.dataLength = avail < lc ? avail : lc;
    if (avail <= lc) {
      res.case = 3;
      res.wellFormed = avail === lc;
    } else {
      const leByte = bytes[o + 5 + lc]!;
      res.case = 4;
      res.le = leByte === 0 ? 256 : leByte;
      res.wellFormed = avail === lc + 1;
    }
    return res;
  }
  // b4 === 0 and more than one body byte: extended length.
  res.extended = true;
  if (body === 2) {
    // "00 xx": matches no case; read it as an extended Le with a missing byte.
    res.case = 2;
    res.le = bytes[o + 5]! === 0 ? 65536 : bytes[o + 5]!;
    res.dataOffset = o + 6;
    res.wellFormed = false;
    return res;
  }
  const n = (bytes[o + 5]! << 8) | bytes[o + 6]!;
  res.dataOffset = o + 7;
  if (body === 3) {
    res.case = 2;
    res.le = n === 0 ? 65536 : n;
    return res;
  }
  if (n === 0) {
    // Extended Lc of zero is invalid: keep the Le reading, flag the trailing bytes.
    res.case = 2;
    res.le = 65536;
    res.wellFormed = false;
    return res;
  }
  const avail = body - 3;
  res.lc = n;
  res.dataLength = avail < n ? avail : n;
  const rest = avail - n;
  if (rest >= 2) {
    const le = (bytes[o + 7 + n]! << 8) | bytes[o + 8 + n]!;
    res.case = 4;
    res.le = le === 0 ? 65536 : le;
    res.wellFormed = rest === 2;
  } else {
    res.case = 3;
    res.wellFormed = rest === 0;
  }
  return res;
}

/** Decode a response APDU: the last two bytes are SW1 SW2. Null when fewer than 2 bytes. */
export function decodeResponseApdu(bytes: Uint8Array, offset?: number, length?: number): ResponseApdu | null {
  if (!(bytes instanceof Uint8Array)) return null;
  const [o, len] = clampRange(bytes.length, offset, length);
  if (len < 2) return null;
  const sw1 = bytes[o + len - 2]!;
  const sw2 = bytes[o + len - 1]!;
  return { sw: (sw1 << 8) | sw2, sw1, sw2, dataLength: len - 2 };
}

function normalizeSw(sw: number): number {
  // `>>> 0` maps NaN/undefined to 0 and keeps the low 16 bits of anything else.
  return (sw >>> 0) & 0xffff;
}

const HEX_DIGITS = '0123456789ABCDEF';
/** Two upper-case hex digits per byte value. */
const BYTE_HEX: readonly string[] = Array.from({ length: 256 }, (_, b) => HEX_DIGITS[b >> 4]! + HEX_DIGITS[b & 15]!);

/** Lazily filled per SW1: 256 rows of 256 strings, so memory grows only with the SWs seen. */
const SW_HEX_ROWS: Array<string[] | undefined> = new Array<string[] | undefined>(256);

/** The status word as 4 upper-case hex digits (`9000`, `6A82`); cached, so no string building after the first call. */
export function statusWordHex(sw: number): string {
  const v = normalizeSw(sw);
  const hi = v >> 8;
  const lo = v & 0xff;
  let row = SW_HEX_ROWS[hi];
  if (row === undefined) {
    row = new Array<string>(256);
    SW_HEX_ROWS[hi] = row;
  }
  const cached = row[lo];
  if (cached !== undefined) return cached;
  const s = BYTE_HEX[hi]! + BYTE_HEX[lo]!;
  row[lo] = s;
  return s;
}

export type StatusCategory = 'success' | 'warning' | 'error';

/** success: 9000, 61xx, 91xx, 92xx, 9Fxx; warning: 62xx, 63xx; error: everything else. */
export function statusCategory(sw: number): StatusCategory {
  const v = normalizeSw(sw);
  const sw1 = v >> 8;
  if (v === 0x9000 || sw1 === 0x61 || sw1 === 0x91 || sw1 === 0x92 || sw1 === 0x9f) return 'success';
  if (sw1 === 0x62 || sw1 === 0x63) return 'warning';
  return 'error';
}

/** Fixed texts for 63Cx (verification failed, x retries left), built once. */
const RETRIES_LEFT: readonly string[] = Array.from(
  { length: 16 },
  (_, x) => `verification failed, ${x} ${x === 1 ? 'retry' : 'retries'} left`,
);

/**
 * A short human meaning of a status word (ISO 7816-4 5.6, TS 102 221 10.2.1, GSM 11.11), for span
 * status messages. Always one of a fixed set of strings; `unknown status word` when unlisted.
 */
export function describeStatusWord(sw: number): string {
  const v = normalizeSw(sw);
  const sw1 = v >> 8;
  const sw2 = v & 0xff;
  switch (sw1) {
    case 0x90:
      return sw2 === 0 ? 'normal ending' : 'unknown status word';
    case 0x91:
      return 'normal ending, proactive command pending';
    case 0x92:
      return sw2 === 0x40 ? 'memory problem' : 'normal ending after internal retries';
    case 0x93:
      return 'toolkit busy, command cannot be executed now';
    case 0x94:
      if (sw2 === 0x00) return 'no EF selected';
      if (sw2 === 0x02) return 'out of range (invalid address)';
      if (sw2 === 0x04) return 'file or pattern not found';
      if (sw2 === 0x08) return 'file inconsistent with the command';
      return 'unknown status word';
    case 0x98:
      if (sw2 === 0x02) return 'no CHV initialized';
      if (sw2 === 0x04) return 'access condition not fulfilled';
      if (sw2 === 0x08) return 'in contradiction with CHV status';
      if (sw2 === 0x10) return 'in contradiction with invalidation status';
      if (sw2 === 0x40) return 'CHV blocked';
      if (sw2 === 0x50) return 'increase cannot be performed, maximum value reached';
      if (sw2 === 0x62) return 'authentication error, application specific';
      if (sw2 === 0x64) return 'authentication error, security context not supported';
      if (sw2 === 0x65) return 'key freshness failure';
      return 'security management error';
    case 0x9f:
      return 'response data available (GET RESPONSE)';
    case 0x61:
      return 'more response data available (GET RESPONSE)';
    case 0x62:
      if (sw2 === 0x81) return 'warning: part of returned data may be corrupted';
      if (sw2 === 0x82) return 'warning: end of file or record reached before reading Le bytes';
      if (sw2 === 0x83) return 'warning: selected file invalidated';
      if (sw2 === 0x85) return 'warning: selected file in termination state';
      if (sw2 === 0xf1) return 'warning: more data available';
      if (sw2 === 0xf2) return 'warning: more data available, proactive command pending';
      if (sw2 === 0xf3) return 'warning: response data available';
      return 'warning: state of non-volatile memory unchanged';
    case 0x63:
      if ((sw2 & 0xf0) === 0xc0) return RETRIES_LEFT[sw2 & 0x0f]!;
      if (sw2 === 0x10) return 'warning: more data available';
      if (sw2 === 0xf1) return 'warning: more data expected';
      if (sw2 === 0xf2) return 'warning: more data expected, proactive command pending';
      return 'warning: state of non-volatile memory changed';
    case 0x64:
      return 'execution error: state of non-volatile memory unchanged';
    case 0x65:
      return sw2 === 0x81 ? 'memory problem' : 'execution error: state of non-volatile memory changed';
    case 0x66:
      return 'security-related issue';
    case 0x67:
      return 'wrong length';
    case 0x68:
      if (sw2 === 0x81) return 'logical channel not supported';
      if (sw2 === 0x82) return 'secure messaging not supported';
      return 'function in CLA not supported';
    case 0x69:
      if (sw2 === 0x81) return 'command incompatible with file structure';
      if (sw2 === 0x82) return 'security status not satisfied';
      if (sw2 === 0x83) return 'authentication method blocked';
      if (sw2 === 0x84) return 'referenced data invalidated';
      if (sw2 === 0x85) return 'conditions of use not satisfied';
      if (sw2 === 0x86) return 'command not allowed (no current EF)';
      if (sw2 === 0x87) return 'expected secure messaging data objects missing';
      if (sw2 === 0x88) return 'incorrect secure messaging data objects';
      return 'command not allowed';
    case 0x6a:
      if (sw2 === 0x80) return 'incorrect parameters in the data field';
      if (sw2 === 0x81) return 'function not supported';
      if (sw2 === 0x82) return 'file or application not found';
      if (sw2 === 0x83) return 'record not found';
      if (sw2 === 0x84) return 'not enough memory space';
      if (sw2 === 0x86) return 'incorrect parameters P1-P2';
      if (sw2 === 0x87) return 'Lc inconsistent with P1-P2';
      if (sw2 === 0x88) return 'referenced data not found';
      return 'wrong parameters';
    case 0x6b:
      return 'wrong parameters P1-P2';
    case 0x6c:
      return 'wrong Le: SW2 gives the exact length';
    case 0x6d:
      return 'instruction code not supported or invalid';
    case 0x6e:
      return 'class not supported';
    case 0x6f:
      return 'technical problem, no precise diagnosis';
    default:
      return 'unknown status word';
  }
}

/** ASCII hex digit value, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

function isHexSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/**
 * Parse hex text (either case). ASCII whitespace (space, tab, CR, LF) is ignored anywhere, so
 * `"00 A4 04 00"` works; any other character, or an odd number of digits, gives null.
 */
export function hexToBytes(hex: string): Uint8Array | null {
  if (typeof hex !== 'string') return null;
  let digits = 0;
  for (let i = 0; i < hex.length; i++) {
    const c = hex.charCodeAt(i);
    if (hexValue(c) >= 0) digits++;
    else if (!isHexSpace(c)) return null;
  }
  if ((digits & 1) !== 0) return null;
  const out = new Uint8Array(digits >> 1);
  let hi = -1;
  let j = 0;
  for (let i = 0; i < hex.length; i++) {
    const v = hexValue(hex.charCodeAt(i));
    if (v < 0) continue;
    if (hi < 0) hi = v;
    else {
      out[j++] = (hi << 4) | v;
      hi = -1;
    }
  }
  return out;
}

/** Upper-case hex of `bytes[offset, offset + length)` (clamped to the buffer). */
export function bytesToHex(bytes: Uint8Array, offset?: number, length?: number): string {
  if (!(bytes instanceof Uint8Array)) return '';
  const [o, len] = clampRange(bytes.length, offset, length);
  let s = '';
  for (let i = o; i < o + len; i++) s += BYTE_HEX[bytes[i]!]!;
  return s;
}
