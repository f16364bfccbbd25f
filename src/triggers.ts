/**
 * The hand-over between whoever sends a session trigger (an SMS-PP through a modem's AT+CMGS, an
 * adb SMS injection), the card's BIP OPEN CHANNEL (seen in a modem's STK URCs or a phone's radio
 * log) and the OTA session that follows on the admin server: one chain, one trace.
 *
 * A card answers a trigger by opening a BIP channel and a PSK-TLS session a few seconds later;
 * nothing in the TLS session names the trigger or the device. So:
 * - an OPEN CHANNEL claims the oldest unanswered trigger sent through the same device (the same
 *   modem port, the same phone), when there is one (its span is the channel's parent);
 * - a session takes the oldest unconsumed channel opened within the window (its device type, its
 *   span as the session's parent, its trigger), else the oldest unconsumed trigger (FIFO) sent
 *   through a device that never reported a channel (on one that does, a session without a channel
 *   is a card polling, not an answer): with one card per trigger that is the right one, and the
 *   span link says which trigger it was.
 * A trigger taken by a session counts as `session` (with the time it took); one nobody took within
 * the window (CARDLINK_TRIGGER_WINDOW_S) as `no_session`, noticed by a timer, before every metric
 * collection, and whenever triggers are noted or taken. Bounded: at most MAX_PENDING triggers and
 * MAX_CHANNELS channels are remembered.
 */
import { trace, type SpanContext } from '@opentelemetry/api';
import type { DeviceType } from './metrics/catalogue.js';
import { getInstruments } from './metrics/instruments.js';
import { labelCache } from './metrics/series.js';
import { onBeforeCollect } from './metrics/before-collect.js';
import { createLogger } from './logging/logger.js';
import { logInSpan, roundMs } from './logging/in-span.js';
import { nowMs } from './clock.js';

export type TriggerDeviceType = DeviceType;

export interface RecordedTrigger {
  readonly atMs: number;
  readonly deviceType: TriggerDeviceType;
  readonly triggerType: 'sms' | 'poll';
  /** The `sms.trigger` span, for the session's span link. */
  readonly spanContext: SpanContext | undefined;
  /** The device it went through (a modem's port path, a phone's serial), to match the card's OPEN CHANNEL. */
  readonly deviceKey?: string;
}

/** A card's BIP OPEN CHANNEL, as the modem or phone instrumentation saw it. */
export interface OpenedChannel {
  readonly atMs: number;
  readonly deviceType: TriggerDeviceType;
  readonly deviceKey: string;
  /** The channel's span: the parent of the handshake and session that follow. */
  readonly spanContext: SpanContext | undefined;
}

/** What a starting OTA session takes over: its trigger, its device type, its parent span. */
export interface SessionChain {
  readonly trigger: RecordedTrigger | undefined;
  readonly deviceType: TriggerDeviceType | undefined;
  readonly parent: SpanContext | undefined;
}

const MAX_PENDING = 256;
const MAX_CHANNELS = 64;
export const DEFAULT_TRIGGER_WINDOW_MS = 60_000;

interface ChannelEntry extends OpenedChannel {
  /** The trigger this channel answers (claimed from `pending`). */
  trigger: RecordedTrigger | undefined;
}

const pending: RecordedTrigger[] = [];
const channels: ChannelEntry[] = [];
/** Devices that reported a card's OPEN CHANNEL: their triggers are answered through channels. */
const bipDevices = new Set<string>();
let windowMs = DEFAULT_TRIGGER_WINDOW_MS;
let timer: NodeJS.Timeout | undefined;

const log = createLogger('trigger');
const latencyAttrs = labelCache((triggerType) => ({ trigger_type: triggerType }));
const sessionAttrs = labelCache((triggerType) => ({ trigger_type: triggerType, outcome: 'session' }));
const noSessionAttrs = labelCache((triggerType) => ({ trigger_type: triggerType, outcome: 'no_session' }));

/** The window after which an unanswered trigger is `no_session` (CARDLINK_TRIGGER_WINDOW_S). */
export function setTriggerWindowMs(ms: number): void {
  if (typeof ms === 'number' && Number.isFinite(ms) && ms > 0) windowMs = ms;
}

export function triggerWindowMs(): number {
  return windowMs;
}

/** Called by the modem and phone instrumentations (and the API) when a trigger was sent. */
export function noteTriggerSent(trigger: RecordedTrigger): void {
  sweep(trigger.atMs);
  if (pending.length >= MAX_PENDING) unanswered(pending.shift() as RecordedTrigger);
  pending.push(trigger);
  arm();
}

/**
 * The oldest unanswered trigger sent through `deviceKey` within the window, removed from the FIFO:
 * the one a card on that device answers with the OPEN CHANNEL seen at `atMs`.
 */
export function claimTrigger(deviceKey: string, atMs: number): RecordedTrigger | undefined {
  sweep(atMs);
  for (let i = 0; i < pending.length; i++) {
    const t = pending[i] as RecordedTrigger;
    if (t.atMs > atMs) break;
    if (t.deviceKey === deviceKey) {
      pending.splice(i, 1);
      return t;
    }
  }
  return undefined;
}

/** Called when a card opened a BIP channel (with the trigger it answers, from claimTrigger). */
export function noteChannelOpened(channel: OpenedChannel, trigger?: RecordedTrigger): void {
  sweep(channel.atMs);
  if (!bipDevices.has(channel.deviceKey)) {
    if (bipDevices.size >= MAX_PENDING) bipDevices.clear();
    bipDevices.add(channel.deviceKey);
  }
  if (channels.length >= MAX_CHANNELS) {
    const old = channels.shift() as ChannelEntry;
    if (old.trigger !== undefined) unanswered(old.trigger);
  }
  channels.push({ ...channel, trigger });
}

/** The span of the channel a connection arriving now belongs to (not taken: its session takes it). */
export function peekChain(atMs: number, window = windowMs): SpanContext | undefined {
  for (const c of channels) {
    if (c.atMs > atMs) break;
    if (atMs - c.atMs <= window) return c.spanContext ?? c.trigger?.spanContext;
  }
  for (const t of pending) {
    if (t.atMs > atMs) break;
    if (atMs - t.atMs <= window && answerableWithoutChannel(t)) return t.spanContext;
  }
  return undefined;
}

/** A trigger through a device that reports its cards' channels is answered through a channel, never without one. */
function answerableWithoutChannel(t: RecordedTrigger): boolean {
  return t.deviceKey === undefined || !bipDevices.has(t.deviceKey);
}

/** Called when an OTA session starts: its channel and trigger, each removed so it is used once. */
export function takeChain(atMs: number, window = windowMs): SessionChain {
  sweep(atMs, window);
  let channel: ChannelEntry | undefined;
  while (channels.length > 0) {
    const c = channels[0] as ChannelEntry;
    if (c.atMs > atMs) break;
    channels.shift();
    if (atMs - c.atMs <= window) {
      channel = c;
      break;
    }
    if (c.trigger !== undefined) unanswered(c.trigger);
  }
  let trigger = channel?.trigger;
  if (trigger !== undefined) answered(trigger, atMs);
  else {
    // A session without a channel (a card polling) is not the answer to a channel-reporting device's trigger.
    const i = pending.findIndex((t) => t.atMs <= atMs && answerableWithoutChannel(t));
    if (i >= 0) {
      trigger = pending.splice(i, 1)[0] as RecordedTrigger;
      answered(trigger, atMs);
    }
  }
  return {
    trigger,
    deviceType: channel?.deviceType ?? trigger?.deviceType,
    parent: channel?.spanContext ?? trigger?.spanContext,
  };
}

/** The oldest trigger within `window` of `nowMs`, removed so it is used once (counted as answered). */
export function takeTrigger(nowMs: number, window = windowMs): RecordedTrigger | undefined {
  while (pending.length > 0) {
    const t = pending[0] as RecordedTrigger;
    // A session recorded in a batch may be looked at after later triggers were sent: never take those.
    if (t.atMs > nowMs) return undefined;
    pending.shift();
    if (nowMs - t.atMs <= window) {
      answered(t, nowMs);
      return t;
    }
    unanswered(t);
  }
  return undefined;
}

/** Counts every trigger (pending or claimed by an untaken channel) older than the window as `no_session`. */
export function sweepTriggers(atMs: number = nowMs()): void {
  sweep(atMs);
}

/** For tests: forgets every trigger and channel without counting them. */
export function clearTriggers(): void {
  pending.length = 0;
  channels.length = 0;
  bipDevices.clear();
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
}

function sweep(atMs: number, window = windowMs): void {
  while (pending.length > 0 && atMs - (pending[0] as RecordedTrigger).atMs > window) unanswered(pending.shift() as RecordedTrigger);
  while (channels.length > 0 && atMs - (channels[0] as ChannelEntry).atMs > window) {
    const c = channels.shift() as ChannelEntry;
    if (c.trigger !== undefined) unanswered(c.trigger);
  }
}

function answered(t: RecordedTrigger, atMs: number): void {
  try {
    const m = getInstruments();
    m.triggerOutcomes.add(1, sessionAttrs(t.triggerType));
    m.triggerToSession.record(Math.max(0, atMs - t.atMs) / 1000, latencyAttrs(t.triggerType));
  } catch {
    /* metrics never break the hand-over */
  }
}

function unanswered(t: RecordedTrigger): void {
  try {
    getInstruments().triggerOutcomes.add(1, noSessionAttrs(t.triggerType));
    if (!log.isLevelEnabled('warn')) return;
    const fields = { trigger_type: t.triggerType, device_type: t.deviceType, window_ms: roundMs(windowMs) };
    // In the trigger's trace: the line sits next to the sms.trigger span it is about.
    logInSpan(log.warn, t.spanContext === undefined ? undefined : trace.wrapSpanContext(t.spanContext), 'trigger got no OTA session', fields);
  } catch {
    /* never reaches the application */
  }
}

/** Notices unanswered triggers without waiting for a collection: once the oldest one's window is over. */
function arm(): void {
  if (timer !== undefined || pending.length === 0) return;
  const due = (pending[0] as RecordedTrigger).atMs + windowMs - nowMs();
  timer = setTimeout(onTimer, Math.max(10, Math.min(due + 5, 2_147_483_647)));
  timer.unref();
}

function onTimer(): void {
  timer = undefined;
  sweep(nowMs());
  arm();
}

onBeforeCollect(() => {
  if (pending.length > 0 || channels.length > 0) sweep(nowMs());
});
