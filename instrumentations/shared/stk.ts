/**
 * Pure decoder of SIM Toolkit proactive commands and terminal responses (ETSI TS 102 223,
 * 3GPP TS 31.111), as modems print them in their STK URCs and Android phones in their radio log.
 *
 * A proactive command is the BER-TLV `D0` whose value is a list of COMPREHENSION-TLVs; a terminal
 * response is that list on its own, starting with the command details. A COMPREHENSION-TLV tag is
 * one byte (bit 8: comprehension required, CR) or `7F` and two bytes (the first's bit 8: CR); its
 * length one byte up to 7F, else `81`/`82`/`83` and one to three bytes. What is decoded is what
 * the BIP chain needs: the command (number, type, qualifier), the device identities, the bearer,
 * the buffer size, the network access name, the UICC/terminal interface transport level (protocol
 * and port) and the data destination address, channel data lengths, channel status and the general
 * result. Never the text strings (the user login and password of OPEN CHANNEL), never channel data.
 *
 * No I/O, no OpenTelemetry; never throws; bounded: at most MAX_STK_BYTES are looked at, and every
 * string it returns comes from a fixed table or is built from a bounded number of bytes.
 */

/** The `command` label of cardlink_bip_commands_total: the BIP commands, every other proactive command `OTHER`. */
export const BIP_COMMANDS = ['OPEN_CHANNEL', 'CLOSE_CHANNEL', 'SEND_DATA', 'RECEIVE_DATA', 'GET_CHANNEL_STATUS', 'OTHER'] as const;
export type BipCommand = (typeof BIP_COMMANDS)[number];

/** Longest input decoded: a proactive command is at most 2 + 255 bytes (TS 102 223 6.6); room for a longer terminal response. */
export const MAX_STK_BYTES = 1024;

/** Type of command names (TS 102 223 section 9.4, TS 31.111). */
const COMMAND_TYPES: ReadonlyMap<number, string> = new Map([
  [0x01, 'REFRESH'],
  [0x02, 'MORE_TIME'],
  [0x03, 'POLL_INTERVAL'],
  [0x04, 'POLLING_OFF'],
  [0x05, 'SET_UP_EVENT_LIST'],
  [0x10, 'SET_UP_CALL'],
  [0x11, 'SEND_SS'],
  [0x12, 'SEND_USSD'],
  [0x13, 'SEND_SHORT_MESSAGE'],
  [0x14, 'SEND_DTMF'],
  [0x15, 'LAUNCH_BROWSER'],
  [0x16, 'GEOGRAPHICAL_LOCATION_REQUEST'],
  [0x20, 'PLAY_TONE'],
  [0x21, 'DISPLAY_TEXT'],
  [0x22, 'GET_INKEY'],
  [0x23, 'GET_INPUT'],
  [0x24, 'SELECT_ITEM'],
  [0x25, 'SET_UP_MENU'],
  [0x26, 'PROVIDE_LOCAL_INFORMATION'],
  [0x27, 'TIMER_MANAGEMENT'],
  [0x28, 'SET_UP_IDLE_MODE_TEXT'],
  [0x30, 'PERFORM_CARD_APDU'],
  [0x31, 'POWER_ON_CARD'],
  [0x32, 'POWER_OFF_CARD'],
  [0x33, 'GET_READER_STATUS'],
  [0x34, 'RUN_AT_COMMAND'],
  [0x35, 'LANGUAGE_NOTIFICATION'],
  [0x40, 'OPEN_CHANNEL'],
  [0x41, 'CLOSE_CHANNEL'],
  [0x42, 'RECEIVE_DATA'],
  [0x43, 'SEND_DATA'],
  [0x44, 'GET_CHANNEL_STATUS'],
  [0x45, 'SERVICE_SEARCH'],
  [0x46, 'GET_SERVICE_INFORMATION'],
  [0x47, 'DECLARE_SERVICE'],
  [0x50, 'SET_FRAMES'],
  [0x51, 'GET_FRAMES_STATUS'],
  [0x60, 'RETRIEVE_MULTIMEDIA_MESSAGE'],
  [0x61, 'SUBMIT_MULTIMEDIA_MESSAGE'],
  [0x62, 'DISPLAY_MULTIMEDIA_MESSAGE'],
  [0x70, 'ACTIVATE'],
  [0x71, 'CONTACTLESS_STATE_CHANGED'],
  [0x72, 'COMMAND_CONTAINER'],
  [0x73, 'ENCAPSULATED_SESSION_CONTROL'],
  [0x81, 'END_OF_PROACTIVE_SESSION'],
]);

/** The name of a type of command; `UNKNOWN` for a value TS 102 223 does not define. */
export function stkCommandName(type: number): string {
  return COMMAND_TYPES.get(type) ?? 'UNKNOWN';
}

/** Names accepted by stkCommandTypeOf (the table above, and Android's `SEND_SMS` for SEND SHORT MESSAGE). */
const TYPES_BY_NAME: ReadonlyMap<string, number> = new Map([
  ...[...COMMAND_TYPES].map(([code, name]): [string, number] => [name, code]),
  ['SEND_SMS', 0x13],
]);

/** The type of command of a name (`OPEN_CHANNEL`); undefined for any other text. */
export function stkCommandTypeOf(name: string): number | undefined {
  return name.length <= 32 ? TYPES_BY_NAME.get(name) : undefined;
}

/** The BIP label of a type of command. */
export function bipCommandOf(type: number): BipCommand {
  switch (type) {
    case 0x40:
      return 'OPEN_CHANNEL';
    case 0x41:
      return 'CLOSE_CHANNEL';
    case 0x42:
      return 'RECEIVE_DATA';
    case 0x43:
      return 'SEND_DATA';
    case 0x44:
      return 'GET_CHANNEL_STATUS';
    default:
      return 'OTHER';
  }
}

/** Bearer types (TS 102 223 8.52, TS 31.111 8.52). */
const BEARERS: ReadonlyMap<number, string> = new Map([
  [0x01, 'csd'],
  [0x02, 'gprs'],
  [0x03, 'default'],
  [0x04, 'local_link'],
  [0x05, 'bluetooth'],
  [0x06, 'irda'],
  [0x07, 'rs232'],
  [0x08, 'cdma2000'],
  [0x09, 'utran_packet_extended'],
  [0x0a, 'wlan'],
  [0x0b, 'eutran'],
  [0x0c, 'ng_ran'],
  [0x10, 'usb'],
]);

/** UICC/terminal interface transport protocols (TS 102 223 8.59). */
const TRANSPORTS: ReadonlyMap<number, string> = new Map([
  [0x01, 'udp_client_remote'],
  [0x02, 'tcp_client_remote'],
  [0x03, 'tcp_server'],
  [0x04, 'udp_client_local'],
  [0x05, 'tcp_client_local'],
  [0x06, 'direct'],
]);

/** Every `transport` value a decoded OPEN CHANNEL can carry: TS 102 223's, then `other`. */
export const BIP_TRANSPORTS: readonly string[] = Object.freeze([...TRANSPORTS.values(), 'other']);

/** What a proactive command or terminal response says (null: absent or undecodable). */
export interface StkMessage {
  /** `proactive`: a `D0` proactive command; `terminal_response`: the terminal's answer to one. */
  readonly kind: 'proactive' | 'terminal_response';
  readonly commandNumber: number | null;
  /** Type of command (`0x40` OPEN CHANNEL); null without command details. */
  readonly typeCode: number | null;
  /** Its name (`OPEN_CHANNEL`), `UNKNOWN` for an undefined type or none. */
  readonly command: string;
  /** The cardlink_bip_commands_total label. */
  readonly bipCommand: BipCommand;
  readonly qualifier: number | null;
  /** Device identities: `81` UICC, `82` terminal, `83` network, `21`..`27` channels 1..7. */
  readonly sourceDevice: number | null;
  readonly destinationDevice: number | null;
  /** The channel: from a channel device identity or the channel status; null otherwise. */
  readonly channelId: number | null;
  /** Bearer type name (`gprs`, `default`, `eutran` ...), `other` for an undefined one. */
  readonly bearer: string | null;
  readonly bufferSize: number | null;
  /** Network access name (APN), its labels joined by `.`; printable ASCII only, else null. */
  readonly networkAccessName: string | null;
  /** Transport protocol name (`tcp_client_remote` ...), `other` for an undefined one. */
  readonly transport: string | null;
  readonly port: number | null;
  /** Data destination address (the one after the transport level): dotted IPv4 or IPv6. */
  readonly address: string | null;
  /** Its type: `ipv4`, `ipv6`, `dynamic` (present but empty), `other`. */
  readonly addressType: string | null;
  /** Bytes of channel data carried (SEND DATA, a RECEIVE DATA terminal response); never the data itself. */
  readonly channelDataBytes: number | null;
  /** The channel data length element: RECEIVE DATA: bytes asked for; a terminal response: bytes left or free (FF: more than 255). */
  readonly channelDataLength: number | null;
  /** Channel status: link established. */
  readonly linkEstablished: boolean | null;
  /** Terminal response: the general result (`00` performed successfully, `3A` BIP error ...). */
  readonly result: number | null;
  /** The input ended inside a TLV, a length disagreed, or a reserved tag was met. */
  readonly malformed: boolean;
}

interface Builder {
  kind: 'proactive' | 'terminal_response';
  commandNumber: number | null;
  typeCode: number | null;
  qualifier: number | null;
  sourceDevice: number | null;
  destinationDevice: number | null;
  channelId: number | null;
  bearer: string | null;
  bufferSize: number | null;
  networkAccessName: string | null;
  transport: string | null;
  port: number | null;
  address: string | null;
  addressType: string | null;
  channelDataBytes: number | null;
  channelDataLength: number | null;
  linkEstablished: boolean | null;
  result: number | null;
  malformed: boolean;
  sawTransport: boolean;
}

function newBuilder(): Builder {
  return {
    kind: 'proactive',
    commandNumber: null,
    typeCode: null,
    qualifier: null,
    sourceDevice: null,
    destinationDevice: null,
    channelId: null,
    bearer: null,
    bufferSize: null,
    networkAccessName: null,
    transport: null,
    port: null,
    address: null,
    addressType: null,
    channelDataBytes: null,
    channelDataLength: null,
    linkEstablished: null,
    result: null,
    malformed: false,
    sawTransport: false,
  };
}

/**
 * Decodes `bytes[offset, offset + length)`: a proactive command (`D0 ...`) or a terminal response
 * (COMPREHENSION-TLVs starting with the command details, tag `01`/`81`). Null when it is neither.
 */
export function decodeStk(bytes: Uint8Array, offset = 0, length?: number): StkMessage | null {
  try {
    if (!(bytes instanceof Uint8Array)) return null;
    const start = Math.max(0, Math.floor(offset) || 0);
    let end = length === undefined ? bytes.length : Math.min(bytes.length, start + Math.max(0, Math.floor(length) || 0));
    if (end - start > MAX_STK_BYTES) end = start + MAX_STK_BYTES;
    if (end - start < 2) return null;
    const b = newBuilder();
    const first = bytes[start] as number;
    if (first === 0xd0) {
      const len = readLength(bytes, start + 1, end);
      if (len === null) return null;
      let valueEnd = len.next + len.value;
      if (valueEnd > end) {
        b.malformed = true; // cut (a URC line cut short): decode what is there
        valueEnd = end;
      } else if (valueEnd < end) b.malformed = true; // bytes after the template
      walk(bytes, len.next, valueEnd, b);
    } else if ((first & 0x7f) === 0x01) {
      b.kind = 'terminal_response';
      walk(bytes, start, end, b);
    } else return null;
    if (b.typeCode === null) return null;
    return finish(b);
  } catch {
    return null;
  }
}

/** decodeStk of a hex string (upper or lower case, optionally quoted); null when it is not even-length hex. */
export function decodeStkHex(hex: string): StkMessage | null {
  if (typeof hex !== 'string') return null;
  let from = 0;
  let to = hex.length;
  if (to >= 2 && hex.charCodeAt(0) === 0x22 && hex.charCodeAt(to - 1) === 0x22) {
    from = 1;
    to--;
  }
  const n = to - from;
  if (n < 4 || (n & 1) !== 0) return null;
  const max = Math.min(n >> 1, MAX_STK_BYTES);
  const out = new Uint8Array(max);
  for (let i = 0; i < max; i++) {
    const hi = hexValue(hex.charCodeAt(from + 2 * i));
    const lo = hexValue(hex.charCodeAt(from + 2 * i + 1));
    if (hi < 0 || lo < 0) return null;
    out[i] = (hi << 4) | lo;
  }
  return decodeStk(out);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** A BER/COMPREHENSION-TLV length at `i`: its value and where the value starts; null past `end` or invalid. */
function readLength(bytes: Uint8Array, i: number, end: number): { value: number; next: number } | null {
  if (i >= end) return null;
  const l = bytes[i] as number;
  if (l < 0x80) return { value: l, next: i + 1 };
  const n = l - 0x80;
  if (n < 1 || n > 3 || i + n >= end) return null;
  let v = 0;
  for (let k = 1; k <= n; k++) v = v * 256 + (bytes[i + k] as number);
  return { value: v, next: i + 1 + n };
}

/** Walks the COMPREHENSION-TLVs of `bytes[i, end)` into `b`. */
function walk(bytes: Uint8Array, i: number, end: number, b: Builder): void {
  while (i < end) {
    let tag = bytes[i] as number;
    if (tag === 0x00 || tag === 0xff || tag === 0x80) {
      // Reserved values (TS 101 220 7.1.1): padding or garbage, nothing more to read.
      if (tag !== 0xff) b.malformed = true;
      return;
    }
    let p = i + 1;
    if (tag === 0x7f) {
      if (p + 2 > end) {
        b.malformed = true;
        return;
      }
      tag = (((bytes[p] as number) & 0x7f) << 8) | (bytes[p + 1] as number);
      p += 2;
    } else tag &= 0x7f;
    const len = readLength(bytes, p, end);
    if (len === null) {
      b.malformed = true;
      return;
    }
    let vEnd = len.next + len.value;
    if (vEnd > end) {
      b.malformed = true;
      vEnd = end;
    }
    element(bytes, tag, len.next, vEnd, len.value, b);
    i = vEnd;
  }
}

function element(bytes: Uint8Array, tag: number, v: number, vEnd: number, declared: number, b: Builder): void {
  const n = vEnd - v;
  switch (tag) {
    case 0x01: // command details
      if (n < 3 || b.typeCode !== null) {
        if (n < 3) b.malformed = true;
        return;
      }
      b.commandNumber = bytes[v] as number;
      b.typeCode = bytes[v + 1] as number;
      b.qualifier = bytes[v + 2] as number;
      return;
    case 0x02: // device identities
      if (n < 2) {
        b.malformed = true;
        return;
      }
      b.sourceDevice = bytes[v] as number;
      b.destinationDevice = bytes[v + 1] as number;
      if (b.destinationDevice >= 0x21 && b.destinationDevice <= 0x27) b.channelId = b.destinationDevice - 0x20;
      else if (b.sourceDevice >= 0x21 && b.sourceDevice <= 0x27) b.channelId = b.sourceDevice - 0x20;
      return;
    case 0x03: // result
      if (n >= 1 && b.result === null) b.result = bytes[v] as number;
      return;
    case 0x35: // bearer description
      if (n >= 1) b.bearer = BEARERS.get(bytes[v] as number) ?? 'other';
      return;
    case 0x36: // channel data: its length only, never its content
      b.channelDataBytes = declared;
      return;
    case 0x37: // channel data length
      if (n >= 1) b.channelDataLength = bytes[v] as number;
      return;
    case 0x38: // channel status
      if (n >= 1) {
        const s = bytes[v] as number;
        if (b.channelId === null && (s & 0x07) !== 0) b.channelId = s & 0x07;
        b.linkEstablished = (s & 0x80) !== 0;
      }
      return;
    case 0x39: // buffer size
      if (n >= 2) b.bufferSize = ((bytes[v] as number) << 8) | (bytes[v + 1] as number);
      return;
    case 0x3c: // UICC/terminal interface transport level
      b.sawTransport = true;
      if (n >= 1) b.transport = TRANSPORTS.get(bytes[v] as number) ?? 'other';
      if (n >= 3) b.port = ((bytes[v + 1] as number) << 8) | (bytes[v + 2] as number);
      return;
    case 0x3e: // other address: the local address before the transport level, the data destination after it
      if (b.kind === 'proactive' && b.typeCode === 0x40 && !b.sawTransport) return;
      otherAddress(bytes, v, vEnd, b);
      return;
    case 0x47: // network access name
      b.networkAccessName = accessName(bytes, v, vEnd);
      return;
  }
}

function otherAddress(bytes: Uint8Array, v: number, vEnd: number, b: Builder): void {
  const n = vEnd - v;
  if (n === 0) {
    b.addressType = 'dynamic';
    return;
  }
  const type = bytes[v] as number;
  if (type === 0x21 && n === 5) {
    b.addressType = 'ipv4';
    b.address = `${bytes[v + 1]}.${bytes[v + 2]}.${bytes[v + 3]}.${bytes[v + 4]}`;
  } else if (type === 0x57 && n === 17) {
    b.addressType = 'ipv6';
    const groups: string[] = [];
    for (let k = 0; k < 8; k++) groups.push((((bytes[v + 1 + 2 * k] as number) << 8) | (bytes[v + 2 + 2 * k] as number)).toString(16));
    b.address = groups.join(':');
  } else {
    b.addressType = type === 0x21 || type === 0x57 ? (type === 0x21 ? 'ipv4' : 'ipv6') : 'other';
    if (type === 0x21 || type === 0x57) b.malformed = true;
  }
}

/** An APN (TS 23.003 9.1: length-prefixed labels), labels joined by `.`; null unless printable ASCII, at most 100 bytes. */
function accessName(bytes: Uint8Array, v: number, vEnd: number): string | null {
  if (vEnd - v > 100 || vEnd === v) return null;
  let out = '';
  let i = v;
  while (i < vEnd) {
    const l = bytes[i] as number;
    if (l === 0 || i + 1 + l > vEnd) return null;
    if (out.length > 0) out += '.';
    for (let k = i + 1; k <= i + l; k++) {
      const c = bytes[k] as number;
      if (c < 0x21 || c > 0x7e) return null;
      out += String.fromCharCode(c);
    }
    i += 1 + l;
  }
  return out;
}

function finish(b: Builder): StkMessage {
  const type = b.typeCode as number;
  return {
    kind: b.kind,
    commandNumber: b.commandNumber,
    typeCode: type,
    command: stkCommandName(type),
    bipCommand: bipCommandOf(type),
    qualifier: b.qualifier,
    sourceDevice: b.sourceDevice,
    destinationDevice: b.destinationDevice,
    channelId: b.channelId,
    bearer: b.bearer,
    bufferSize: b.bufferSize,
    networkAccessName: b.networkAccessName,
    transport: b.transport,
    port: b.port,
    address: b.address,
    addressType: b.addressType,
    channelDataBytes: b.channelDataBytes,
    channelDataLength: b.channelDataLength,
    linkEstablished: b.linkEstablished,
    result: b.result,
    malformed: b.malformed,
  };
}

/**
 * A message known only by its type of command (dialects that print the type, not the bytes: Telit
 * `#STN: 64`, Android's `CatService: OPEN_CHANNEL`); null for a type TS 102 223 does not define.
 */
export function stkMessageOfType(type: number, kind: StkMessage['kind'] = 'proactive'): StkMessage | null {
  if (!COMMAND_TYPES.has(type)) return null;
  const b = newBuilder();
  b.kind = kind;
  b.typeCode = type;
  return finish(b);
}

/** Whether a terminal response's general result says the command was performed (`0x`; TS 102 223 8.12). */
export function stkResultSucceeded(result: number | null): boolean {
  return result !== null && result < 0x10;
}
