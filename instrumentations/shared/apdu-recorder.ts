/**
 * Recording one APDU exchange as telemetry, the same way whichever path saw it (SCP81 over TLS,
 * AT+CSIM on a modem, the programmatic API): the catalogue's APDU counters and histogram with
 * cached attribute objects, and an `apdu.<COMMAND_TYPE>` CLIENT span with `cardlink.apdu.*`
 * attributes. Payloads go on spans only when capture is on, and never for key and PIN commands.
 */
import { SpanKind, SpanStatusCode, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import type { CardlinkInstruments } from '../../src/metrics/instruments.js';
import { DEVICE_TYPES, type DeviceType } from '../../src/metrics/catalogue.js';
import { APDU_ATTR } from './apdu-spans.js';
import { labelCache } from '../../src/metrics/series.js';
import {
  bytesToHex,
  describeStatusWord,
  isSensitiveCommand,
  statusCategory,
  statusWordHex,
  type CommandApdu,
  type ResponseApdu,
  type StatusCategory,
} from './apdu.js';

export type ApduDeviceType = DeviceType;

/*
 * Attribute objects are cached so that recording an APDU builds no string and no object: the
 * SDK-facing counters key on the object's identity. Label values are bounded (command types,
 * device types); status words are at most 65 536, of which the first MAX_SW_CACHED distinct ones
 * are cached (a card inventing status words past that costs one small object per APDU, not a
 * cache that grows with it).
 */
const MAX_SW_CACHED = 4096;
const commandAttrs = new Map<string, Record<ApduDeviceType, Attributes>>();
const durationAttrs = labelCache((type) => ({ command_type: type }));
const swAttrs: Array<Attributes | undefined> = [];
let swCached = 0;

export function commandAttributes(type: string, deviceType: ApduDeviceType): Attributes {
  let byDevice = commandAttrs.get(type);
  if (byDevice === undefined) {
    byDevice = Object.fromEntries(DEVICE_TYPES.map((d) => [d, { command_type: type, device_type: d }])) as unknown as Record<ApduDeviceType, Attributes>;
    commandAttrs.set(type, byDevice);
  }
  return byDevice[deviceType] ?? byDevice.unknown;
}

const SENT: Attributes = { direction: 'sent' };
const RECEIVED: Attributes = { direction: 'received' };
const SCRIPT: Attributes = { command_type: 'SCRIPT' };

/** `cardlink_apdu_bytes_total`: one add per direction for what was counted together (a script's APDUs, one exchange). */
export function countApduBytes(m: CardlinkInstruments, direction: 'sent' | 'received', byteLength: number): void {
  if (byteLength > 0) m.apduBytes.add(byteLength, direction === 'sent' ? SENT : RECEIVED);
}

/** Count one C-APDU (its bytes go through countApduBytes). */
export function countCommand(m: CardlinkInstruments, type: string, deviceType: ApduDeviceType): void {
  m.apduCommands.add(1, commandAttributes(type, deviceType));
}

/** `cardlink_apdu_responses_total` attributes of a status word (its `status_category` included). No allocation once cached. */
export function responseAttributes(sw: number): Attributes {
  let a = swAttrs[sw & 0xffff];
  if (a === undefined) {
    a = { status_word: statusWordHex(sw), status_category: statusCategory(sw) };
    if (swCached < MAX_SW_CACHED) {
      swAttrs[sw & 0xffff] = a;
      swCached++;
    }
  }
  return a;
}

/** Count one R-APDU's status word series; returns its status category. No allocation once the SW is cached. */
export function countResponseCategory(m: CardlinkInstruments, sw: number): StatusCategory {
  const a = responseAttributes(sw);
  m.apduResponses.add(1, a);
  return a['status_category'] as StatusCategory;
}

/** `cardlink_apdu_duration_seconds` attributes: per command type, or `SCRIPT` for a multi-APDU script. */
export function durationAttributes(type: string | 'SCRIPT'): Attributes {
  return type === 'SCRIPT' ? SCRIPT : durationAttrs(type);
}

/** `cardlink_apdu_duration_seconds`: per APDU when it was timed alone, `SCRIPT` for a multi-APDU script. */
export function timeApdu(m: CardlinkInstruments, type: string | 'SCRIPT', seconds: number): void {
  m.apduDuration.record(seconds, durationAttributes(type));
}

/** Command hex for spans; key and PIN commands keep only CLA INS P1 P2: their data is a secret. */
export function commandHexForSpan(command: CommandApdu, bytes: Uint8Array): string {
  if (isSensitiveCommand(command.commandType)) return `${bytesToHex(bytes, 0, 4)}<redacted>`;
  return bytesToHex(bytes);
}

export function startApduSpan(
  tracer: Tracer,
  command: CommandApdu,
  bytes: Uint8Array,
  deviceType: ApduDeviceType,
  startMs: number,
  parent: Context,
  capture: boolean,
): Span {
  const attributes: Attributes = {
    [APDU_ATTR.commandType]: command.commandType,
    [APDU_ATTR.cla]: command.cla,
    [APDU_ATTR.ins]: command.ins,
    [APDU_ATTR.p1]: command.p1,
    [APDU_ATTR.p2]: command.p2,
    [APDU_ATTR.deviceType]: deviceType,
  };
  if (capture) attributes[APDU_ATTR.command] = commandHexForSpan(command, bytes);
  return tracer.startSpan(`apdu.${command.commandType}`, { kind: SpanKind.CLIENT, startTime: startMs, attributes }, parent);
}

/**
 * End an APDU span with its response (null: the card never executed it). Returns the status
 * category, or undefined when there was no response.
 */
export function endApduSpan(
  span: Span,
  commandType: string,
  response: ResponseApdu | null,
  responseBytes: Uint8Array | null,
  swHex: string | undefined,
  category: StatusCategory | undefined,
  capture: boolean,
  endMs: number,
): void {
  if (response === null || swHex === undefined || category === undefined) {
    span.setAttribute(APDU_ATTR.executed, false);
  } else {
    span.setAttribute(APDU_ATTR.sw, swHex);
    span.setAttribute(APDU_ATTR.statusCategory, category);
    if (capture && responseBytes !== null) {
      span.setAttribute(APDU_ATTR.response, isSensitiveCommand(commandType) ? `<redacted>${swHex}` : bytesToHex(responseBytes));
    }
    if (category !== 'success') span.setStatus({ code: SpanStatusCode.ERROR, message: `${swHex} ${describeStatusWord(response.sw)}` });
  }
  span.end(endMs);
}
