/**
 * The batch of OTA events waiting to be recorded, shared by every followed connection (see
 * ota-connection.ts for why events are batched).
 *
 * One log in arrival order, so each connection's events stay in order and the batch is recorded
 * in one pass. Journaling an event makes no object of its own: its time and kind go into typed
 * arrays and the bytes of a chunk (which the application may reuse once written) are copied into a
 * slab shared by the whole batch, sized by what the last batch needed; a view of them is made only
 * when the batch is recorded. Strings, request heads and flags are kept by reference. A batch is
 * recorded at once when it holds MAX_EVENTS events or MAX_BYTES bytes (bounded memory); a chunk or
 * string larger than COPY_MAX is recorded in place after the batch, never copied.
 */
import { reportOnce } from '../../src/diag.js';

/** What a journaled event is recorded into (one per connection). */
export interface JournalTarget {
  record(kind: number, a: unknown, b: unknown, t: number): void;
}

const MAX_EVENTS = 4096;
const MAX_BYTES = 256 * 1024;
const MIN_SLAB = 16 * 1024;
/** Larger chunks and strings are recorded in place, not journaled. */
export const COPY_MAX = 16 * 1024;

interface Batch {
  count: number;
  /** Bytes copied into the slab plus the length of the strings held. */
  bytes: number;
  slabUsed: number;
  readonly targets: (JournalTarget | undefined)[];
  /** a and b of each event; a is undefined when its bytes are in the slab. */
  readonly args: unknown[];
  readonly kinds: Uint8Array;
  /** Time, slab offset (-1: none), length of each event. */
  readonly nums: Float64Array;
  /** Never reused once recorded: views of it may be kept (a body collected across batches). */
  slab: Uint8Array | undefined;
}

function newBatch(): Batch {
  return {
    count: 0,
    bytes: 0,
    slabUsed: 0,
    targets: new Array<JournalTarget | undefined>(MAX_EVENTS).fill(undefined),
    args: new Array<unknown>(MAX_EVENTS * 2).fill(undefined),
    kinds: new Uint8Array(MAX_EVENTS),
    nums: new Float64Array(MAX_EVENTS * 3),
    slab: undefined,
  };
}

let batch: Batch | undefined;
/** Size of the next batch's first slab: what the last batch needed (a quiet server copies a few KiB per batch, a busy one 100 KiB and more). */
let slabSize = MIN_SLAB;
/** The arrays of the last batch recorded, emptied, for the next one. */
let spare: Batch | undefined;
let timer: NodeJS.Timeout | undefined;
let timerAt = 0;

/**
 * Journal an event of `target`, to be recorded within `delayMs` (or before, with the rest of the
 * batch). Events too big to copy are recorded at once, after everything journaled before them.
 */
export function journal(target: JournalTarget, kind: number, a: unknown, b: unknown, t: number, delayMs: number): void {
  let len = 0;
  const bytes = a instanceof Uint8Array;
  if (bytes || typeof a === 'string') {
    len = (a as Uint8Array | string).length;
    if (len > COPY_MAX) {
      flushOtaJournals();
      target.record(kind, a, b, t);
      return;
    }
  }
  let j = batch;
  if (j === undefined || j.count === MAX_EVENTS || j.bytes + len > MAX_BYTES) {
    if (j !== undefined) flushOtaJournals();
    j = batch = spare ?? newBatch();
    spare = undefined;
  }
  const i = j.count++;
  let offset = -1;
  if (bytes) {
    offset = j.slabUsed;
    (j.slab === undefined || offset + len > j.slab.length ? growSlab(j, offset + len) : j.slab).set(a as Uint8Array, offset);
    j.slabUsed += len;
    a = undefined;
  }
  j.bytes += len;
  j.targets[i] = target;
  j.args[2 * i] = a;
  j.args[2 * i + 1] = b;
  j.kinds[i] = kind;
  const n = j.nums;
  n[3 * i] = t;
  n[3 * i + 1] = offset;
  n[3 * i + 2] = len;
  if (timer === undefined || t + delayMs < timerAt) {
    // One timer for the batch, due at the earliest time one of its events asked for.
    if (timer !== undefined) clearTimeout(timer);
    timerAt = t + delayMs;
    timer = setTimeout(flushOtaJournals, delayMs);
    timer.unref();
  }
}

/** A slab for `need` bytes (at most MAX_BYTES): nothing of the batch has been handed out yet, so its bytes move. */
function growSlab(j: Batch, need: number): Uint8Array {
  let size = j.slab === undefined ? slabSize : j.slab.length * 2;
  while (size < need) size *= 2;
  const slab = new Uint8Array(Math.min(size, MAX_BYTES));
  if (j.slab !== undefined) slab.set(j.slab.subarray(0, j.slabUsed));
  j.slab = slab;
  return slab;
}

/** Record every journaled event now, in order (also runs before each metric collection). */
export function flushOtaJournals(): void {
  if (timer !== undefined) {
    clearTimeout(timer);
    timer = undefined;
  }
  const j = batch;
  if (j === undefined) return;
  // Taken first: an event journaled while this batch is recorded goes into the next one.
  batch = undefined;
  const { count, targets, args, kinds, nums, slab } = j;
  for (let i = 0; i < count; i++) {
    const target = targets[i] as JournalTarget;
    let a = args[2 * i];
    const b = args[2 * i + 1];
    targets[i] = undefined;
    args[2 * i] = undefined;
    args[2 * i + 1] = undefined;
    const offset = nums[3 * i + 1] as number;
    if (offset >= 0) a = (slab as Uint8Array).subarray(offset, offset + (nums[3 * i + 2] as number));
    try {
      target.record(kinds[i] as number, a, b, nums[3 * i] as number);
    } catch (err) {
      reportOnce('tls session recording', err);
    }
  }
  let next = MIN_SLAB;
  while (next < j.slabUsed && next < MAX_BYTES) next *= 2;
  slabSize = next;
  j.count = 0;
  j.bytes = 0;
  j.slabUsed = 0;
  j.slab = undefined;
  spare = j;
}

/** Connections with events not yet recorded (for tests and diagnostics). */
export function pendingOtaJournals(): number {
  const j = batch;
  return j === undefined ? 0 : new Set(j.targets.slice(0, j.count)).size;
}

/** Bytes held in the batch not yet recorded (for tests and diagnostics). */
export function pendingOtaBytes(): number {
  return batch?.bytes ?? 0;
}
