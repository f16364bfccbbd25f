/**
 * The batch of journaled OTA events (instrumentations/tls/journal.ts): order, private copies of the
 * bytes, bounds, and views that stay valid after later batches.
 */
import t from 'tap';
import { COPY_MAX, flushOtaJournals, journal, pendingOtaBytes, pendingOtaJournals, type JournalTarget } from '../instrumentations/tls/journal.js';

type Seen = [name: string, kind: number, a: unknown, b: unknown, t: number];

function target(name: string, seen: Seen[], onRecord?: () => void): JournalTarget {
  return {
    record(kind, a, b, time) {
      seen.push([name, kind, a instanceof Uint8Array ? Buffer.from(a).toString('latin1') : a, b, time]);
      onRecord?.();
    },
  };
}

const DELAY = 60_000;

t.test('events are recorded in the order they came, with private copies of the bytes', async (t) => {
  const seen: Seen[] = [];
  const a = target('a', seen);
  const b = target('b', seen);
  const chunk = Buffer.from('POST /x');
  journal(a, 0, chunk, 'latin1', 1, DELAY);
  chunk.fill(0x58); // the application reuses its buffer once written
  journal(b, 2, { info: 1 }, undefined, 2, DELAY);
  journal(a, 0, 'a string', 'utf8', 3, DELAY);
  journal(a, 5, true, undefined, 4, DELAY);
  t.equal(pendingOtaJournals(), 2);
  t.equal(pendingOtaBytes(), chunk.length + 'a string'.length);
  t.same(seen, [], 'nothing recorded before the flush');
  flushOtaJournals();
  t.same(seen, [
    ['a', 0, 'POST /x', 'latin1', 1],
    ['b', 2, { info: 1 }, undefined, 2],
    ['a', 0, 'a string', 'utf8', 3],
    ['a', 5, true, undefined, 4],
  ]);
  t.equal(pendingOtaJournals(), 0);
  t.equal(pendingOtaBytes(), 0);
});

t.test('a chunk too big to copy is recorded in place, after everything journaled before it', async (t) => {
  const seen: Seen[] = [];
  const a = target('a', seen);
  const big = Buffer.alloc(COPY_MAX + 1, 0x41);
  journal(a, 0, Buffer.from('head'), undefined, 1, DELAY);
  journal(a, 0, big, undefined, 2, DELAY);
  t.same(
    seen.map((s) => [s[0], typeof s[2] === 'string' ? s[2].length : s[2], s[4]]),
    [
      ['a', 4, 1],
      ['a', COPY_MAX + 1, 2],
    ],
  );
  t.equal(pendingOtaBytes(), 0, 'nothing held');
  const bigString = 'x'.repeat(COPY_MAX + 1);
  journal(a, 0, bigString, 'latin1', 3, DELAY);
  t.equal(seen.length, 3, 'a big string too');
});

t.test('the bytes stay exact while the batch outgrows its first slab', async (t) => {
  const seen: Seen[] = [];
  const a = target('a', seen);
  // 40 chunks of 10 KB, each filled with its own byte: 400 KB, past the 16 KiB first slab and the 256 KiB bound.
  for (let i = 0; i < 40; i++) journal(a, 0, Buffer.alloc(10_000, i), undefined, i, DELAY);
  flushOtaJournals();
  t.equal(seen.length, 40);
  t.ok(
    seen.every((s, i) => typeof s[2] === 'string' && s[2] === String.fromCharCode(i).repeat(10_000)),
    'every chunk recorded with its own bytes, in order',
  );
});

t.test('a full batch is recorded before the next event: memory stays bounded', async (t) => {
  const seen: Seen[] = [];
  const a = target('a', seen);
  const chunk = Buffer.alloc(COPY_MAX, 0x42);
  let maxHeld = 0;
  for (let i = 0; i < 100; i++) {
    journal(a, 0, chunk, undefined, i, DELAY);
    maxHeld = Math.max(maxHeld, pendingOtaBytes());
  }
  t.ok(seen.length > 0, 'batches were recorded on the way');
  t.ok(maxHeld <= 256 * 1024, `at most 256 KiB held (${maxHeld})`);
  let events = 0;
  for (let i = 0; i < 10_000; i++) journal(a, 4, undefined, undefined, i, DELAY);
  flushOtaJournals();
  events = seen.length;
  t.equal(events, 10_100, 'every event recorded once');
  t.same(
    seen.map((s) => s[4]),
    [...Array.from({ length: 100 }, (_, i) => i), ...Array.from({ length: 10_000 }, (_, i) => i)],
    'in order',
  );
});

t.test('the bytes of a recorded batch stay valid: a view kept by a target is never overwritten', async (t) => {
  const kept: Uint8Array[] = [];
  const keeper: JournalTarget = { record: (_k, a) => void (a instanceof Uint8Array && kept.push(a)) };
  journal(keeper, 0, Buffer.from('first'), undefined, 1, DELAY);
  flushOtaJournals();
  journal(keeper, 0, Buffer.from('second'), undefined, 2, DELAY);
  flushOtaJournals();
  t.same(
    kept.map((k) => Buffer.from(k).toString()),
    ['first', 'second'],
  );
});

t.test('an event journaled while a batch is recorded goes into the next batch, in order', async (t) => {
  const seen: Seen[] = [];
  const late = target('late', seen);
  let once = true;
  const a = target('a', seen, () => {
    if (once) {
      once = false;
      journal(late, 1, Buffer.from('late'), undefined, 10, DELAY);
    }
  });
  journal(a, 0, Buffer.from('one'), undefined, 1, DELAY);
  journal(a, 0, Buffer.from('two'), undefined, 2, DELAY);
  flushOtaJournals();
  t.same(
    seen.map((s) => s[2]),
    ['one', 'two'],
  );
  t.equal(pendingOtaJournals(), 1, 'the late event waits for the next batch');
  flushOtaJournals();
  t.same(
    seen.map((s) => s[2]),
    ['one', 'two', 'late'],
  );
});

t.test('a target that throws does not stop the batch', async (t) => {
  const seen: Seen[] = [];
  const bad: JournalTarget = {
    record() {
      throw new Error('boom');
    },
  };
  journal(bad, 0, 'x', undefined, 1, DELAY);
  journal(target('ok', seen), 0, 'y', undefined, 2, DELAY);
  flushOtaJournals();
  t.same(
    seen.map((s) => s[2]),
    ['y'],
  );
});

t.test('the batch is recorded by its timer, at the earliest delay asked for', async (t) => {
  const seen: Seen[] = [];
  journal(target('slow', seen), 0, 'a', undefined, performance.now(), DELAY);
  journal(target('fast', seen), 0, 'b', undefined, performance.now(), 20);
  await new Promise((r) => setTimeout(r, 200));
  t.same(
    seen.map((s) => s[0]),
    ['slow', 'fast'],
    'both recorded, by the 20 ms timer',
  );
});
