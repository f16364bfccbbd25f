/**
 * The APDU metrics of one OTA session, added up in plain numbers while the session runs and handed
 * to the instruments together: when it ends, before any metric is collected (so a scrape is never
 * behind), and whenever one of its bounded tables is full. An exchange then costs a few array
 * stores instead of five or six instrument calls, each with its own attribute lookup, run between
 * the server's own work; the instruments are called once per session, in one warm loop.
 */
import type { Attributes } from '@opentelemetry/api';
import type { CardlinkInstruments } from '../../src/metrics/instruments.js';
import type { DeviceType } from '../../src/metrics/catalogue.js';
import { onBeforeCollect } from '../../src/metrics/before-collect.js';
import { reportOnce } from '../../src/diag.js';
import { commandAttributes, countApduBytes, durationAttributes, responseAttributes } from '../shared/apdu-recorder.js';
import type { StatusCategory } from '../shared/apdu.js';

/** Distinct command types, status words and body kinds one tally holds before it is handed over. */
const MAX_KEYS = 16;
/** APDU durations held before they are handed over. */
const MAX_DURATIONS = 64;

export interface TallyOwner {
  instruments(): CardlinkInstruments;
}

/** Tallies holding something not yet handed over: flushed before every collection. */
const pending = new Set<OtaTally>();

/** Hands over every tally holding something. */
function flushTallies(): void {
  for (const t of pending) t.flush();
}
// After the journals: a batch recorded before a collection adds to the tallies.
onBeforeCollect(flushTallies, 'hand-over');

/** Tallies not in use, shared by all connections (their arrays are reused, not regrown per session). */
const pool: OtaTally[] = [];
const POOL_MAX = 64;

/** A tally for a session whose APDUs carry this device type. */
export function takeTally(owner: TallyOwner, deviceType: DeviceType): OtaTally {
  const t = pool.pop() ?? new OtaTally();
  t.owner = owner;
  t.deviceType = deviceType;
  return t;
}

/** The session ended: what its tally holds goes to the instruments, and the tally back to the pool. */
export function releaseTally(t: OtaTally): void {
  t.flush();
  t.owner = undefined;
  if (pool.length < POOL_MAX) pool.push(t);
}

/** Counts by key (compared by identity), at most MAX_KEYS keys. */
class KeyCounts<K> {
  n = 0;
  readonly keys: K[] = [];
  readonly counts: number[] = [];

  /** False when the key is new and the table full (nothing counted). */
  add(key: K): boolean {
    const n = this.n;
    const keys = this.keys;
    for (let i = 0; i < n; i++) {
      if (keys[i] === key) {
        this.counts[i]!++;
        return true;
      }
    }
    if (n === MAX_KEYS) return false;
    keys[n] = key;
    this.counts[n] = 1;
    this.n = n + 1;
    return true;
  }
}

export class OtaTally {
  owner: TallyOwner | undefined;
  deviceType: DeviceType = 'unknown';
  private readonly commands = new KeyCounts<string>();
  private readonly responses = new KeyCounts<Attributes>();
  private readonly bodies = new KeyCounts<Attributes>();
  private nDurations = 0;
  private readonly durationTypes: string[] = [];
  private readonly durations: number[] = [];
  private sentBytes = 0;
  private receivedBytes = 0;
  private isPending = false;

  command(type: string): void {
    this.count(this.commands, type);
  }

  /** Counts a status word; returns its category. */
  response(sw: number): StatusCategory {
    const a = responseAttributes(sw);
    this.count(this.responses, a);
    return a['status_category'] as StatusCategory;
  }

  /** One body of the kind these (cached) attributes name. */
  body(attributes: Attributes): void {
    this.count(this.bodies, attributes);
  }

  private count<K>(table: KeyCounts<K>, key: K): void {
    this.mark();
    if (table.add(key)) return;
    this.flush(); // full: handed over, then counted afresh
    this.mark();
    table.add(key);
  }

  duration(type: string, seconds: number): void {
    if (this.nDurations === MAX_DURATIONS) this.flush();
    const j = this.nDurations;
    this.durationTypes[j] = type;
    this.durations[j] = seconds;
    this.nDurations = j + 1;
    this.mark();
  }

  bytes(direction: 'sent' | 'received', n: number): void {
    if (n <= 0) return;
    if (direction === 'sent') this.sentBytes += n;
    else this.receivedBytes += n;
    this.mark();
  }

  private mark(): void {
    if (this.isPending) return;
    this.isPending = true;
    pending.add(this);
  }

  /** Hands everything held to the instruments. */
  flush(): void {
    if (!this.isPending) return;
    this.isPending = false;
    pending.delete(this);
    try {
      const m = (this.owner as TallyOwner).instruments();
      const d = this.deviceType;
      const c = this.commands;
      for (let i = 0; i < c.n; i++) m.apduCommands.add(c.counts[i]!, commandAttributes(c.keys[i]!, d));
      const r = this.responses;
      for (let i = 0; i < r.n; i++) m.apduResponses.add(r.counts[i]!, r.keys[i]);
      const b = this.bodies;
      for (let i = 0; i < b.n; i++) m.scp81Bodies.add(b.counts[i]!, b.keys[i]);
      for (let i = 0; i < this.nDurations; i++) m.apduDuration.record(this.durations[i]!, durationAttributes(this.durationTypes[i]!));
      countApduBytes(m, 'sent', this.sentBytes);
      countApduBytes(m, 'received', this.receivedBytes);
    } catch (err) {
      reportOnce('tls apdu metrics', err);
    } finally {
      this.commands.n = 0;
      this.responses.n = 0;
      this.bodies.n = 0;
      this.nDurations = 0;
      this.sentBytes = 0;
      this.receivedBytes = 0;
    }
  }
}
