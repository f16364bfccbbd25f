/**
 * The APDU metrics of one OTA session, added up in plain numbers while the session runs and handed
 * to the instruments together: when it ends, before any metric is collected (so a scrape is never
 * behind), and whenever its status word or duration log is full. An exchange then costs a few
 * stores into one typed array instead of five or six instrument calls, each with its own attribute
 * lookup, run between the server's own work; the instruments are called once per session, in one
 * warm loop.
 */
import type { Attributes } from '@opentelemetry/api';
import type { CardlinkInstruments } from '../../src/metrics/instruments.js';
import type { DeviceType } from '../../src/metrics/catalogue.js';
import { onBeforeCollect } from '../../src/metrics/before-collect.js';
import { reportOnce } from '../../src/diag.js';
import { commandAttributes, countApduBytes, durationAttributes, responseAttributes } from '../shared/apdu-recorder.js';
import { COMMAND_TYPES, statusCategory, type StatusCategory } from '../shared/apdu.js';
import { BODY_FORMATS, type BodyFormat } from './scp81.js';

/** Status words and durations one tally logs before it hands them over. */
const MAX_LOG = 64;
const N_TYPES = COMMAND_TYPES.length;
/** The duration code of a script of several C-APDUs (timed once, as `SCRIPT`). */
export const SCRIPT_CODE = N_TYPES;

// One Float64Array per tally, laid out so that an exchange touches a few neighbouring slots:
// counts by command type code, bodies by direction and format, bytes, then the logs.
const BODIES = N_TYPES + 1;
const SENT_BYTES = BODIES + 2 * BODY_FORMATS.length;
const RECEIVED_BYTES = SENT_BYTES + 1;
const SWS = RECEIVED_BYTES + 1;
const DURATION_CODES = SWS + MAX_LOG;
const DURATIONS = DURATION_CODES + MAX_LOG;
const SIZE = DURATIONS + MAX_LOG;

/** A body's direction, as the tally counts it. */
export const SENT = 0;
export const RECEIVED = 1;

/** `cardlink_scp81_bodies_total` attributes by direction * formats + format index. */
const BODY_ATTRS: Attributes[] = [];
for (const direction of ['sent', 'received'] as const) for (const format of BODY_FORMATS) BODY_ATTRS.push({ direction, format });

/** A body format's index in BODY_FORMATS. */
export function formatIndex(format: BodyFormat): number {
  return format === 'length_prefixed' ? 2 : format === 'expanded_definite' ? 0 : format === 'expanded_indefinite' ? 1 : 3;
}

export interface TallyOwner {
  instruments(): CardlinkInstruments;
}

/** Tallies of open sessions: flushed before every collection. */
const open = new Set<OtaTally>();

/** Hands over what every open tally holds. */
function flushTallies(): void {
  for (const t of open) t.flush();
}
// After the journals: a batch recorded before a collection adds to the tallies.
onBeforeCollect(flushTallies, 'hand-over');

/** Tallies not in use, shared by all connections (their arrays are reused, not reallocated per session). */
const pool: OtaTally[] = [];
const POOL_MAX = 64;

/** A tally for a session whose APDUs carry this device type. */
export function takeTally(owner: TallyOwner, deviceType: DeviceType): OtaTally {
  const t = pool.pop() ?? new OtaTally();
  t.owner = owner;
  t.deviceType = deviceType;
  open.add(t);
  return t;
}

/** The session ended: what its tally holds goes to the instruments, and the tally back to the pool. */
export function releaseTally(t: OtaTally): void {
  t.flush();
  open.delete(t);
  t.owner = undefined;
  if (pool.length < POOL_MAX) pool.push(t);
}

export class OtaTally {
  owner: TallyOwner | undefined;
  deviceType: DeviceType = 'unknown';
  private readonly v = new Float64Array(SIZE);
  private nSws = 0;
  private nDurations = 0;
  /** Something was counted since the last hand-over. */
  private dirty = false;

  /** One C-APDU of this command type code (COMMAND_TYPES index). */
  command(code: number): void {
    this.v[code]!++;
    this.dirty = true;
  }

  /** Counts a status word; returns its category. */
  response(sw: number): StatusCategory {
    if (this.nSws === MAX_LOG) this.flush();
    this.v[SWS + this.nSws++] = sw;
    this.dirty = true;
    return statusCategory(sw);
  }

  /** One body, SENT or RECEIVED, of the format at this BODY_FORMATS index. */
  body(direction: number, format: number): void {
    this.v[BODIES + direction * BODY_FORMATS.length + format]!++;
    this.dirty = true;
  }

  /** An APDU's (or, with SCRIPT_CODE, a script's) duration. */
  duration(code: number, seconds: number): void {
    if (this.nDurations === MAX_LOG) this.flush();
    const j = this.nDurations++;
    this.v[DURATION_CODES + j] = code;
    this.v[DURATIONS + j] = seconds;
    this.dirty = true;
  }

  bytes(direction: number, n: number): void {
    if (n <= 0) return;
    this.v[direction === SENT ? SENT_BYTES : RECEIVED_BYTES]! += n;
    this.dirty = true;
  }

  /** Hands everything held to the instruments. */
  flush(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const v = this.v;
    try {
      const m = (this.owner as TallyOwner).instruments();
      const d = this.deviceType;
      for (let i = 0; i < N_TYPES; i++) if (v[i] !== 0) m.apduCommands.add(v[i]!, commandAttributes(COMMAND_TYPES[i]!, d));
      this.handOverSws(m);
      for (let i = 0; i < BODY_ATTRS.length; i++) if (v[BODIES + i] !== 0) m.scp81Bodies.add(v[BODIES + i]!, BODY_ATTRS[i]);
      for (let j = 0; j < this.nDurations; j++) {
        const code = v[DURATION_CODES + j]!;
        m.apduDuration.record(v[DURATIONS + j]!, durationAttributes(code === SCRIPT_CODE ? 'SCRIPT' : COMMAND_TYPES[code]!));
      }
      countApduBytes(m, 'sent', v[SENT_BYTES]!);
      countApduBytes(m, 'received', v[RECEIVED_BYTES]!);
    } catch (err) {
      reportOnce('tls apdu metrics', err);
    } finally {
      v.fill(0, 0, SWS);
      this.nSws = 0;
      this.nDurations = 0;
    }
  }

  /** The logged status words, one add per distinct value. */
  private handOverSws(m: CardlinkInstruments): void {
    const v = this.v;
    const end = SWS + this.nSws;
    for (let i = SWS; i < end; i++) {
      const sw = v[i]!;
      if (sw < 0) continue;
      let n = 1;
      for (let j = i + 1; j < end; j++) {
        if (v[j] === sw) {
          n++;
          v[j] = -1;
        }
      }
      m.apduResponses.add(n, responseAttributes(sw));
    }
  }
}
