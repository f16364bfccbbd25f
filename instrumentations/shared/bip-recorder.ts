/**
 * Records the SIM Toolkit traffic of a card seen on a device (a modem's STK URCs, a phone's radio
 * log), shared by the serialport and adb instrumentations:
 *
 * - `cardlink_bip_commands_total{command, device_type}` per proactive command;
 * - a `bip.channel` span per device from OPEN CHANNEL to CLOSE CHANNEL, in the trace of the trigger
 *   the card answers (sent through the same device), with the address and port the card dials,
 *   the transport, bearer and buffer size; SEND DATA, RECEIVE DATA, GET CHANNEL STATUS and the
 *   terminal responses as its events. The handshake and OTA session that follow become its
 *   children (src/triggers.ts hands the channel over to the tls instrumentation).
 *
 * Bounded: one open channel per device (a new OPEN CHANNEL ends the previous one), at most
 * MAX_OPEN_CHANNELS devices; label values come from fixed sets.
 */
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import type { CardlinkInstruments } from '../../src/metrics/instruments.js';
import { claimTrigger, noteChannelOpened } from '../../src/triggers.js';
import { tracingEnabled } from '../../src/tracing-state.js';
import { ATTR_ERROR_TYPE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import { BIP_COMMANDS, stkResultSucceeded, type BipCommand, type StkMessage } from './stk.js';
import { BIP_ATTR, BIP_EVENTS, BIP_SPAN_NAME } from './bip-spans.js';
import { DEVICE_TYPE_ATTR } from './apdu-spans.js';

export type BipDeviceType = 'modem' | 'phone';

/** Where the card's STK traffic was seen. */
export interface BipDevice {
  readonly deviceType: BipDeviceType;
  /** The device's identity within the process: a modem's port path, a phone's serial (see phoneKey). */
  readonly key: string;
  /** Attributes naming the device on the channel span (`cardlink.modem.port`, `cardlink.adb.serial`). */
  readonly attributes: Attributes;
  /** Where the commands were read (`+CUSATP`, `logcat`): `cardlink.stk.source` on the span. */
  readonly source: string;
}

export { BIP_ATTR };

const MAX_OPEN_CHANNELS = 64;

/** The device key of a phone: its serial, or the only phone adb talks to without one. */
export function phoneKey(serial: string | undefined): string {
  return serial === undefined ? 'adb' : `adb:${serial}`;
}

/** cardlink_bip_commands_total attributes by device type, then command (fixed sets: built once). */
const COMMAND_ATTRS = {} as Record<BipDeviceType, Record<BipCommand, Attributes>>;
for (const deviceType of ['modem', 'phone'] as const) {
  COMMAND_ATTRS[deviceType] = {} as Record<BipCommand, Attributes>;
  for (const command of BIP_COMMANDS) COMMAND_ATTRS[deviceType][command] = { command, device_type: deviceType };
}

const EVENT_NAMES: Readonly<Record<BipCommand, string>> = BIP_EVENTS;

/** The open `bip.channel` span of each device (undefined: open, but no trace exporter). */
const open = new Map<string, Span | undefined>();

const hex2 = (v: number): string => v.toString(16).toUpperCase().padStart(2, '0');

/** One proactive command or terminal response seen at `atMs` on `device`. Never throws. */
export function recordStk(tracer: Tracer, m: CardlinkInstruments, device: BipDevice, msg: StkMessage, atMs: number): void {
  if (msg.kind === 'terminal_response') {
    terminalResponse(device, msg, atMs);
    return;
  }
  m.bipCommands.add(1, COMMAND_ATTRS[device.deviceType][msg.bipCommand]);
  switch (msg.bipCommand) {
    case 'OPEN_CHANNEL':
      openChannel(tracer, device, msg, atMs);
      return;
    case 'CLOSE_CHANNEL': {
      const span = open.get(device.key);
      open.delete(device.key);
      span?.addEvent(EVENT_NAMES.CLOSE_CHANNEL, undefined, atMs);
      span?.setAttribute(BIP_ATTR.closed, true);
      span?.end(atMs);
      return;
    }
    default: {
      const span = open.get(device.key);
      if (span === undefined) return;
      const bytes = msg.channelDataBytes ?? msg.channelDataLength;
      span.addEvent(EVENT_NAMES[msg.bipCommand], msg.bipCommand === 'OTHER' ? { [BIP_ATTR.command]: msg.command } : bytes === null ? undefined : { [BIP_ATTR.bytes]: bytes }, atMs);
    }
  }
}

/** Ends the open channel of device `key` (its port closed, another channel replaced it): nothing more will be seen on it. */
export function abandonChannels(key: string, atMs: number): void {
  const span = open.get(key);
  if (!open.delete(key)) return;
  span?.setAttribute(BIP_ATTR.closed, false);
  span?.end(atMs);
}

function openChannel(tracer: Tracer, device: BipDevice, msg: StkMessage, atMs: number): void {
  // One channel per device: the card opened a new one, the old one is over.
  abandonChannels(device.key, atMs);
  if (open.size >= MAX_OPEN_CHANNELS) {
    const oldest = open.keys().next().value as string;
    abandonChannels(oldest, atMs);
  }
  const trigger = claimTrigger(device.key, atMs);
  let span: Span | undefined;
  if (tracingEnabled()) {
    const attributes: Attributes = { ...device.attributes, [DEVICE_TYPE_ATTR.key]: device.deviceType, [BIP_ATTR.source]: device.source };
    if (msg.address !== null) attributes[ATTR_SERVER_ADDRESS] = msg.address;
    if (msg.port !== null) attributes[ATTR_SERVER_PORT] = msg.port;
    if (msg.transport !== null) attributes[BIP_ATTR.transport] = msg.transport;
    if (msg.bearer !== null) attributes[BIP_ATTR.bearer] = msg.bearer;
    if (msg.bufferSize !== null) attributes[BIP_ATTR.bufferSize] = msg.bufferSize;
    if (msg.networkAccessName !== null) attributes[BIP_ATTR.accessName] = msg.networkAccessName;
    const parent = trigger?.spanContext === undefined ? context.active() : trace.setSpanContext(context.active(), trigger.spanContext);
    span = tracer.startSpan(BIP_SPAN_NAME, { kind: SpanKind.CLIENT, startTime: atMs, attributes }, parent);
    span.addEvent(EVENT_NAMES.OPEN_CHANNEL, undefined, atMs);
  }
  open.set(device.key, span);
  noteChannelOpened({ atMs, deviceType: device.deviceType, deviceKey: device.key, spanContext: span?.spanContext() }, trigger);
}

function terminalResponse(device: BipDevice, msg: StkMessage, atMs: number): void {
  const span = open.get(device.key);
  if (span === undefined) return;
  const attributes: Attributes = { [BIP_ATTR.command]: msg.command };
  if (msg.result !== null) attributes[BIP_ATTR.result] = hex2(msg.result);
  span.addEvent(BIP_EVENTS.terminalResponse, attributes, atMs);
  if (msg.bipCommand !== 'OPEN_CHANNEL') return;
  if (msg.channelId !== null) span.setAttribute(BIP_ATTR.channelId, msg.channelId);
  if (msg.result !== null && !stkResultSucceeded(msg.result)) {
    // The terminal could not open the channel: nothing will follow on it.
    open.delete(device.key);
    span.setAttribute(ATTR_ERROR_TYPE, `stk_result_${hex2(msg.result)}`);
    span.setStatus({ code: SpanStatusCode.ERROR, message: `OPEN CHANNEL failed: result ${hex2(msg.result)}` });
    span.end(atMs);
  }
}
