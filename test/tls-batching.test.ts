/**
 * Batched recording of the tls instrumentation (no trace exporter): what the data path sees is
 * journaled and decoded later, together. The metrics must be exactly those of inline recording,
 * complete at the first collection after a session (no waiting), with events ordered by when they
 * happened (a trigger sent after a session started never makes it `triggered`), and journals
 * must empty on their own.
 */
import t from 'tap';
import v8 from 'node:v8';
import vm from 'node:vm';
import { TlsInstrumentation } from '../instrumentations/tls/index.js';
import { pendingOtaBytes, pendingOtaJournals } from '../instrumentations/tls/ota-connection.js';
import { startAdminServer, GP_SESSION } from './fixtures/admin-server.js';
import { runCard } from './fixtures/card-simulator.js';
import { setupHarness, eventually, type Harness } from './helpers/otel-harness.js';
import { setTracingEnabled } from '../src/tracing-state.js';
import { clearTriggers, noteTriggerSent } from '../src/triggers.js';

const KEY = Buffer.from('0102030405060708090A0B0C0D0E0F10', 'hex');
const keys = new Map([['card-001', KEY]]);

const tls = new TlsInstrumentation({ recordingDelayMs: 60_000 });
const h = setupHarness([tls]);
t.teardown(async () => {
  setTracingEnabled(true);
  await h.shutdown();
});

/** Every number a session moves, as a flat record (collected once: collection flushes the journals). */
async function snapshot(hh: Harness): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of await hh.collect()) {
    for (const p of m.dataPoints as Array<{ attributes: Record<string, unknown>; value: unknown }>) {
      const key = `${m.descriptor.name}${JSON.stringify(p.attributes)}`;
      const v = p.value as number | { count: number };
      out[key] = typeof v === 'number' ? v : v.count;
    }
  }
  return out;
}

function delta(after: Record<string, number>, before: Record<string, number>, skip: RegExp): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    if (skip.test(k)) continue;
    const x = v - (before[k] ?? 0);
    if (x !== 0) d[k] = x;
  }
  return d;
}

// Process-wide series (CPU, memory) are not compared; histograms are compared by count (snapshot()).
const SKIP = /^(process|nodejs|cardlink_build)/;

for (const kind of ['https', 'tls'] as const) {
  t.test(`${kind}: batched recording gives exactly the inline numbers, at the first collection`, async (t) => {
    const server = await startAdminServer({ kind, keys, scriptsFor: () => GP_SESSION });
    t.teardown(() => server.close());

    setTracingEnabled(true);
    const s0 = await snapshot(h);
    const inline = await runCard({ port: server.port, identity: 'card-001', key: KEY });
    t.equal(inline.end, 'completed');
    // A card that stops mid-script: APDUs sent but never executed.
    t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY, stopAfter: 3 })).end, 'stopped');
    await eventually(async () => (await h.value('cardlink_tls_connections_active')) === 0, 5000, 'inline connection closed');
    const s1 = await snapshot(h);
    const inlineDelta = delta(s1, s0, SKIP);
    t.ok(Object.keys(inlineDelta).length > 5, 'the inline session moved the APDU and session metrics');
    const spansInline = h.finished().length;
    t.ok(spansInline > 0, 'inline recording made spans');

    setTracingEnabled(false);
    const batched = await runCard({ port: server.port, identity: 'card-001', key: KEY });
    t.equal(batched.end, 'completed');
    t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY, stopAfter: 3 })).end, 'stopped');
    t.ok(pendingOtaJournals() > 0, 'the session is journaled, not yet recorded');
    await eventually(async () => (await h.value('cardlink_tls_connections_active')) === 0, 5000, 'batched connection closed');
    const s2 = await snapshot(h);
    t.equal(pendingOtaJournals(), 0, 'collection recorded every journal');
    t.same(delta(s2, s1, SKIP), inlineDelta, 'same counts per command type, status word, bytes and session');
    t.equal(h.finished().length, spansInline, 'no spans without tracing');
  });
}

t.test('responses written as big strings: a journal that passes its bound is recorded first, nothing is lost', async (t) => {
  // Command scripts of 25 and 50 KB written as latin1 strings: the second passes the 64 KiB journal bound.
  const big = (fill: number): Buffer => Buffer.concat([Buffer.from('00D600000061A8', 'hex'), Buffer.alloc(25_000, fill)]);
  const server = await startAdminServer({ kind: 'https', keys, stringBodies: true, scriptsFor: () => [[big(1)], [big(2), big(3)]] });
  t.teardown(() => server.close());
  setTracingEnabled(true);
  const s0 = await snapshot(h);
  t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY })).exchanges.length, 3);
  await eventually(async () => (await h.value('cardlink_tls_connections_active')) === 0, 5000, 'inline connection closed');
  const s1 = await snapshot(h);
  const inlineDelta = delta(s1, s0, SKIP);
  t.equal(inlineDelta['cardlink.apdu.commands{"command_type":"UPDATE_BINARY","device_type":"unknown"}'], 3, 'inline: three UPDATE BINARY');
  setTracingEnabled(false);
  t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY })).exchanges.length, 3);
  await eventually(async () => (await h.value('cardlink_tls_connections_active')) === 0, 5000, 'batched connection closed');
  t.same(delta(await snapshot(h), s1, SKIP), inlineDelta, 'batched: the same numbers');
});

t.test('a trigger sent after a batched session started does not make it triggered', async (t) => {
  const server = await startAdminServer({ kind: 'https', keys, scriptsFor: () => GP_SESSION });
  t.teardown(() => server.close());
  clearTriggers();
  setTracingEnabled(false);
  const polledBefore = await h.value('cardlink_sessions_total', { session_type: 'polled' });
  const triggeredBefore = await h.value('cardlink_sessions_total', { session_type: 'triggered' });
  await runCard({ port: server.port, identity: 'card-001', key: KEY });
  noteTriggerSent({ atMs: performance.timeOrigin + performance.now(), deviceType: 'modem', triggerType: 'sms', spanContext: undefined });
  await eventually(async () => (await h.value('cardlink_sessions_total', { session_type: 'polled' })) === polledBefore + 1, 5000, 'polled');
  t.equal(await h.value('cardlink_sessions_total', { session_type: 'triggered' }), triggeredBefore, 'not triggered by a later trigger');
  // The trigger is still there for the session it announced.
  await runCard({ port: server.port, identity: 'card-001', key: KEY });
  await eventually(
    async () => (await h.value('cardlink_sessions_total', { session_type: 'triggered', device_type: 'modem' })) === triggeredBefore + 1,
    5000,
    'the next session is triggered',
  );
  clearTriggers();
});

t.test('big chunks are recorded in place, not copied (bounded memory)', async (t) => {
  setTracingEnabled(false);
  const big = Buffer.alloc(200 * 1024, 0x42);
  const server = await startAdminServer({
    kind: 'tls',
    keys,
    // A 200 KiB "APDU" makes a command script written in one chunk far above the copy bound.
    scriptsFor: () => [[big]],
  });
  t.teardown(() => server.close());
  const run = await runCard({ port: server.port, identity: 'card-001', key: KEY });
  t.ok(run.exchanges.length >= 1, 'the application worked as usual');
  // The delay is 60 s here: nothing has been flushed by a timer, and nothing was collected.
  t.ok(pendingOtaJournals() > 0, 'the small events are journaled');
  t.ok(pendingOtaBytes() < 16 * 1024, `the 200 KiB script is not in a journal (${pendingOtaBytes()} bytes are)`);
  await h.collect();
  t.equal(pendingOtaBytes(), 0);
});

t.test('mid-session, a collection reads the APDUs of the batch it records (tallies handed over after the journals)', async (t) => {
  setTracingEnabled(false);
  const server = await startAdminServer({ kind: 'https', keys, scriptsFor: () => GP_SESSION, idleTimeoutMs: 1500 });
  t.teardown(() => server.close());
  const count = (type: string) => h.value('cardlink_apdu_commands_total', { command_type: type, device_type: 'unknown' });
  const first = GP_SESSION[0]!;
  const ins = (b: number) => first.filter((a) => a[1] === b).length;
  const before = { select: await count('SELECT'), getStatus: await count('GET_STATUS'), active: await h.value('cardlink_sessions_active') };
  let gotFirst: () => void = () => {};
  const firstResponse = new Promise<void>((r) => (gotFirst = r));
  // The card takes the first script and never answers it: the session stays open until the idle timeout.
  const run = runCard({ port: server.port, identity: 'card-001', key: KEY, hangAfterFirst: true, onResponse: () => gotFirst() });
  await firstResponse;
  t.ok(pendingOtaJournals() > 0, 'the first exchange is journaled, not recorded');
  // One collection: it records the journal and must read what that put in the session's tally.
  const snap = await snapshot(h);
  const commands = (type: string) => snap[`cardlink.apdu.commands${JSON.stringify({ command_type: type, device_type: 'unknown' })}`] ?? 0;
  t.equal(snap['cardlink.sessions.active{"device_type":"unknown"}'], before.active + 1, 'the session is open');
  t.equal(commands('SELECT'), before.select + ins(0xa4), 'the first script\'s SELECTs, at the first collection');
  t.equal(commands('GET_STATUS'), before.getStatus + ins(0xf2), 'and its GET STATUS');
  t.equal((await run).end, 'closed');
});

t.test('a journal waiting for its batch keeps neither the socket nor the request alive', async (t) => {
  setTracingEnabled(false);
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const server = await startAdminServer({ kind: 'https', keys, scriptsFor: () => GP_SESSION });
  t.teardown(() => server.close());
  let socket: WeakRef<object> | undefined;
  let request: WeakRef<object> | undefined;
  server.server.once('secureConnection', (s: object) => (socket = new WeakRef(s)));
  server.server.once('request', (r: object) => (request = new WeakRef(r)));
  t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY })).end, 'completed');
  await eventually(
    async () => {
      await new Promise((r) => setImmediate(r));
      gc();
      return socket?.deref() === undefined && request?.deref() === undefined;
    },
    5000,
    'socket and request collected',
  );
  t.ok(pendingOtaJournals() > 0, 'while the session is still waiting for its batch (delay 60 s)');
  t.equal(socket?.deref(), undefined);
  t.equal(request?.deref(), undefined);
  await h.collect();
});

t.test('journals empty by themselves, with no collection', async (t) => {
  const before = tls.getConfig();
  tls.setConfig({ ...before, recordingDelayMs: 50 });
  t.teardown(() => tls.setConfig(before));
  setTracingEnabled(false);
  const server = await startAdminServer({ kind: 'https', keys, scriptsFor: () => GP_SESSION });
  t.teardown(() => server.close());
  await runCard({ port: server.port, identity: 'card-001', key: KEY });
  await eventually(() => pendingOtaJournals() === 0, 5000, 'journal flushed by its timer');
});

t.test('an instance enabled by hand (no registerInstrumentations) records: its instruments are not reset', async (t) => {
  const own = new TlsInstrumentation({ recordingDelayMs: 0 });
  tls.disable();
  own.enable();
  t.teardown(() => {
    own.disable();
    tls.enable();
  });
  setTracingEnabled(false);
  const server = await startAdminServer({ kind: 'https', keys, scriptsFor: () => GP_SESSION });
  t.teardown(() => server.close());
  const before = await h.value('cardlink_sessions_total', { status: 'completed' });
  await runCard({ port: server.port, identity: 'card-001', key: KEY });
  t.equal(pendingOtaJournals(), 0, 'recordingDelayMs 0 records inline: nothing journaled');
  await eventually(async () => (await h.value('cardlink_sessions_total', { status: 'completed' })) === before + 1, 5000, 'session recorded');
});

t.test('constructed enabled, disabled, enabled and disabled again: patches and unpatches cleanly, and records while enabled', async (t) => {
  const serverProto = (await import('node:tls')).default.Server.prototype as unknown as Record<string, unknown>;
  const socketProto = (await import('node:tls')).default.TLSSocket.prototype as unknown as Record<string, unknown>;
  const messageProto = (await import('node:http')).default.IncomingMessage.prototype as unknown as Record<string, unknown>;
  tls.disable();
  t.teardown(() => tls.enable());
  const pristine = { emit: serverProto['emit'], write: socketProto['_writeGeneric'], push: socketProto['push'], mpush: messageProto['push'] };
  t.notOk(Object.hasOwn(serverProto, 'emit'), 'tls.Server.prototype.emit is inherited to begin with');
  const own = new TlsInstrumentation({ enabled: true, recordingDelayMs: 0 });
  const patched = () => Object.hasOwn(serverProto, 'emit') && socketProto['_writeGeneric'] !== pristine.write && messageProto['push'] !== pristine.mpush;
  const restored = () =>
    !Object.hasOwn(serverProto, 'emit') && serverProto['emit'] === pristine.emit && socketProto['_writeGeneric'] === pristine.write &&
    socketProto['push'] === pristine.push && messageProto['push'] === pristine.mpush;
  t.ok(patched(), 'constructed enabled: patched');
  own.disable();
  t.ok(restored(), 'disabled: every patch undone');
  own.enable();
  t.ok(patched(), 'enabled again: patched again');
  setTracingEnabled(false);
  const server = await startAdminServer({ kind: 'https', keys, scriptsFor: () => GP_SESSION });
  t.teardown(() => server.close());
  const before = await h.value('cardlink_sessions_total', { status: 'completed' });
  await runCard({ port: server.port, identity: 'card-001', key: KEY });
  await eventually(async () => (await h.value('cardlink_sessions_total', { status: 'completed' })) === before + 1, 5000, 'session recorded');
  own.disable();
  t.ok(restored(), 'disabled again: every patch undone');
  await runCard({ port: server.port, identity: 'card-001', key: KEY });
  await new Promise((r) => setTimeout(r, 100));
  t.equal(await h.value('cardlink_sessions_total', { status: 'completed' }), before + 1, 'nothing recorded while disabled');
});
