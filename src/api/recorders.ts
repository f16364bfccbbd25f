/**
 * Recording what no patch can see (a PC/SC reader, a custom transport) into the same instruments
 * and span shapes as the automatic paths. Input is validated first: a bad call throws a
 * CardlinkInputError and records nothing.
 */
import { context, trace } from '@opentelemetry/api';
import { decodeCommandApdu, decodeResponseApdu, statusWordHex, type StatusCategory } from '../../instrumentations/shared/apdu.js';
import { countApduBytes, countCommand, countResponseCategory, endApduSpan, startApduSpan, timeApdu } from '../../instrumentations/shared/apdu-recorder.js';
import { getInstruments } from '../metrics/instruments.js';
import { noteTriggerSent } from '../triggers.js';
import { VERSION } from '../version.js';
import { CardlinkInputError } from './errors.js';
import { DEVICE_TYPES } from '../metrics/catalogue.js';
import { apduDeviceType, deviceType as checkDeviceType, duration, labelName, oneOf, toBytes, type DeviceType, type SessionStatus, type SessionType } from './validate.js';
import { SESSION_STATUSES, SESSION_TYPES } from '../metrics/catalogue.js';
import { getSdk } from '../sdk.js';
import { nowMs } from '../clock.js';

const TRACER = 'cardlink-otel/api';
const tracer = () => trace.getTracer(TRACER, VERSION);
const capture = (): boolean => getSdk()?.config.captureApduData === true;

export interface ApduInput {
  /** The C-APDU: bytes or hex (`00A4040007A0000000871002`). At least 4 bytes. */
  command: Uint8Array | string;
  /** The R-APDU (data + SW1 SW2): bytes or hex. Omit when the card never answered. */
  response?: Uint8Array | string;
  /** Default: the device type of the `sessionSpan` the call runs in, else `unknown`. */
  deviceType?: DeviceType;
  /** Command sent to response received, in ms. */
  durationMs: number;
}

export interface ApduResult {
  commandType: string;
  statusWord: string | undefined;
  statusCategory: StatusCategory | undefined;
}

/** One APDU exchange: counters, duration histogram and an `apdu.<TYPE>` span (child of the active span). */
export function recordApdu(input: ApduInput): ApduResult {
  const commandBytes = toBytes('command', input.command, 4);
  const responseBytes = input.response === undefined ? null : toBytes('response', input.response, 2);
  const device = apduDeviceType(input.deviceType);
  const ms = duration('durationMs', input.durationMs);
  const command = decodeCommandApdu(commandBytes);
  const response = responseBytes === null ? null : decodeResponseApdu(responseBytes);
  if (command === null) throw new CardlinkInputError('command', 'not an APDU');

  const m = getInstruments();
  const end = nowMs();
  const type = command.commandType;
  countCommand(m, type, device);
  countApduBytes(m, 'sent', commandBytes.length);
  const span = startApduSpan(tracer(), command, commandBytes, device, end - ms, context.active(), capture());
  let swHex: string | undefined;
  let category: StatusCategory | undefined;
  if (response !== null && responseBytes !== null) {
    category = countResponseCategory(m, response.sw);
    swHex = statusWordHex(response.sw);
    countApduBytes(m, 'received', responseBytes.length);
    timeApdu(m, type, ms / 1000);
  }
  endApduSpan(span, type, response, responseBytes, swHex, category, capture(), end);
  return { commandType: type, statusWord: response ? statusWordHex(response.sw) : undefined, statusCategory: category };
}

export interface SessionEndInput {
  status: SessionStatus;
  sessionType?: SessionType;
  deviceType?: DeviceType;
  durationMs: number;
}

/** An OTA session that ended (when the session was not observed on a PSK-TLS socket). */
export function recordSessionEnd(input: SessionEndInput): void {
  const status = oneOf('status', input.status, SESSION_STATUSES);
  const sessionType = oneOf('sessionType', input.sessionType, SESSION_TYPES, 'polled');
  const device = checkDeviceType(input.deviceType);
  const ms = duration('durationMs', input.durationMs);
  const m = getInstruments();
  m.sessions.add(1, { status, session_type: sessionType, device_type: device });
  m.sessionDuration.record(ms / 1000, { status });
}

export interface TriggerInput {
  triggerType?: 'sms' | 'poll';
  deviceType?: DeviceType;
}

/**
 * A session trigger sent by code no patch sees. The next OTA session on the admin server is then
 * `triggered` and links to the active span (if any).
 */
export function recordTrigger(input: TriggerInput = {}): void {
  const triggerType = oneOf('triggerType', input.triggerType, ['sms', 'poll'] as const, 'sms');
  const device = checkDeviceType(input.deviceType);
  getInstruments().triggersSent.add(1, { trigger_type: triggerType });
  noteTriggerSent({ atMs: nowMs(), deviceType: device, triggerType, spanContext: trace.getActiveSpan()?.spanContext() });
}

export interface DeviceErrorInput {
  deviceType: DeviceType;
  /** A bounded name chosen in code: `cme_error`, `reader_removed` ... (1-64 of A-Z a-z 0-9 _ . : -). */
  errorType: string;
}

export function recordDeviceError(input: DeviceErrorInput): void {
  const device = oneOf('deviceType', input.deviceType, DEVICE_TYPES);
  const errorType = labelName('errorType', input.errorType);
  getInstruments().deviceErrors.add(1, { device_type: device, error_type: errorType });
}
