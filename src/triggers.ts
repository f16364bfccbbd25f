/**
 * The hand-over between whoever sends a session trigger (an SMS-PP through a modem's AT+CMGS, an
 * adb SMS injection) and the OTA session that follows on the admin server.
 *
 * A card answers a trigger by opening a PSK-TLS session a few seconds later; nothing in the TLS
 * session names the trigger, so the session takes the oldest unconsumed trigger recorded within the
 * window (FIFO): with one card per trigger that is the right one, and the span link says which
 * trigger it was. Bounded: at most MAX_PENDING triggers are remembered.
 */
import type { SpanContext } from '@opentelemetry/api';
import type { DeviceType } from './metrics/catalogue.js';

export type TriggerDeviceType = DeviceType;

export interface RecordedTrigger {
  readonly atMs: number;
  readonly deviceType: TriggerDeviceType;
  readonly triggerType: 'sms' | 'poll';
  /** The `sms.trigger` span, for the session's span link. */
  readonly spanContext: SpanContext | undefined;
}

const MAX_PENDING = 256;
const pending: RecordedTrigger[] = [];

/** Called by the modem and phone instrumentations (and the API) when a trigger was sent. */
export function noteTriggerSent(trigger: RecordedTrigger): void {
  if (pending.length >= MAX_PENDING) pending.shift();
  pending.push(trigger);
}

/** Called when an OTA session starts: the oldest trigger within `windowMs`, removed so it is used once. */
export function takeTrigger(nowMs: number, windowMs: number): RecordedTrigger | undefined {
  while (pending.length > 0) {
    const t = pending[0] as RecordedTrigger;
    // A session recorded in a batch may be looked at after later triggers were sent: never take those.
    if (t.atMs > nowMs) return undefined;
    pending.shift();
    if (nowMs - t.atMs <= windowMs) return t;
  }
  return undefined;
}

/** For tests. */
export function clearTriggers(): void {
  pending.length = 0;
}
