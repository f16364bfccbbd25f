import { context, createContextKey, type Context } from '@opentelemetry/api';
import { hexToBytes } from '../../instrumentations/shared/apdu.js';
import { DEVICE_TYPES, SESSION_STATUSES, SESSION_TYPES, type DeviceType } from '../metrics/catalogue.js';
import { CardlinkInputError } from './errors.js';

export type { DeviceType };
export type SessionStatus = (typeof SESSION_STATUSES)[number];
export type SessionType = (typeof SESSION_TYPES)[number];

/** Bytes from a Uint8Array or a hex string (spaces allowed); anything else is a CardlinkInputError. */
export function toBytes(field: string, value: unknown, minLength: number): Uint8Array {
  let bytes: Uint8Array | null;
  if (value instanceof Uint8Array) bytes = value;
  else if (typeof value === 'string') {
    bytes = hexToBytes(value);
    if (bytes === null) throw new CardlinkInputError(field, 'not valid hex (odd length or a non-hex character)');
  } else throw new CardlinkInputError(field, 'expected a Uint8Array or a hex string');
  if (bytes.length < minLength) throw new CardlinkInputError(field, `needs at least ${minLength} bytes, got ${bytes.length}`);
  return bytes;
}

/** A function the API will call: anything else is a CardlinkInputError thrown before anything is recorded. */
export function callable<F>(field: string, value: F): F {
  if (typeof value !== 'function') throw new CardlinkInputError(field, `expected a function, got ${shown(value)}`);
  return value;
}

/** A rejected value as an error message shows it: never throws (a BigInt, a cycle), NaN stays NaN. */
function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  return Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[], dflt?: T): T {
  if (value === undefined && dflt !== undefined) return dflt;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new CardlinkInputError(field, `expected one of ${allowed.join(', ')}, got ${shown(value)}`);
}

export function duration(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new CardlinkInputError(field, `expected a finite, non-negative number of milliseconds, got ${shown(value)}`);
  }
  return value;
}

const NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/** A bounded label value chosen in code (operation names, error types). */
export function labelName(field: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new CardlinkInputError(field, 'expected 1-64 characters of A-Z a-z 0-9 _ . : -');
  }
  return value;
}

/** A span name chosen in code: a non-empty string. */
export function spanName(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new CardlinkInputError(field, `expected a non-empty string, got ${shown(value)}`);
  return value;
}

/** Span attributes: an object (or nothing). */
export function attributesOf(field: string, value: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw new CardlinkInputError(field, `expected an object of attributes, got ${shown(value)}`);
  return value as Record<string, unknown>;
}

export const deviceType = (v: unknown): DeviceType => oneOf('deviceType', v, DEVICE_TYPES, 'unknown');

const kSessionDevice = createContextKey('cardlink-otel session device type');

/** `ctx` inside a `sessionSpan` of this device type. */
export function withSessionDevice(ctx: Context, device: DeviceType): Context {
  return ctx.setValue(kSessionDevice, device);
}

/** An APDU's device type: the one given, else that of the `sessionSpan` it runs in, else `unknown`. */
export function apduDeviceType(v: unknown): DeviceType {
  if (v !== undefined) return deviceType(v);
  const inherited = context.active().getValue(kSessionDevice);
  return typeof inherited === 'string' ? (inherited as DeviceType) : 'unknown';
}
