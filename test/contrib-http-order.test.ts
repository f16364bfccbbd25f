/**
 * The contrib http instrumentation wraps `https.Server.prototype.emit` as its own property, over
 * whatever emit it inherited when it patched. Enabled before ours, it would hide every https admin
 * server from us; enabled after, it keeps calling our wrapper after ours is disabled. Here it
 * patches https first, then ours is enabled, disabled with a card connected, and enabled again:
 * every session is counted exactly once while ours is enabled, none while it is disabled, and the
 * active gauges come back to zero.
 */
import { createRequire } from 'node:module';
import t from 'tap';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { TlsInstrumentation } from '../instrumentations/tls/index.js';
import { startAdminServer, GP_SESSION } from './fixtures/admin-server.js';
import { runCard } from './fixtures/card-simulator.js';
import { setupHarness, eventually } from './helpers/otel-harness.js';

const KEY = Buffer.from('0102030405060708090A0B0C0D0E0F10', 'hex');
const keys = new Map([['card-001', KEY]]);

const contrib = new HttpInstrumentation();
const h = setupHarness([contrib]);
// Loaded through require after the contrib instrumentation is enabled: it patches https now.
const https = createRequire(import.meta.url)('node:https') as typeof import('node:https');
t.ok(Object.prototype.hasOwnProperty.call(https.Server.prototype, 'emit'), 'the contrib instrumentation wrapped https.Server.prototype.emit');

const ours = new TlsInstrumentation({ enabled: false });
registerInstrumentations({ instrumentations: [ours] });

async function counts(): Promise<Record<string, number>> {
  return {
    handshakes: await h.value('cardlink_tls_handshakes_total'),
    sessions: await h.value('cardlink_sessions_total', { status: 'completed' }),
    select: await h.value('cardlink_apdu_commands_total', { command_type: 'SELECT' }),
    connections: await h.value('cardlink_tls_connections_active'),
    active: await h.value('cardlink_sessions_active'),
  };
}

async function oneSession(): Promise<void> {
  const server = await startAdminServer({ kind: 'https', keys, scriptsFor: () => GP_SESSION });
  try {
    const run = await runCard({ port: server.port, identity: 'card-001', key: KEY });
    if (run.end !== 'completed') throw new Error(`session ended ${run.end}`);
  } finally {
    await server.close();
  }
}

const selects = GP_SESSION.flat().filter((a) => a[1] === 0xa4).length;

t.test('enabled after the contrib http instrumentation patched https: the admin server is followed', async (t) => {
  ours.enable();
  const before = await counts();
  await oneSession();
  await eventually(async () => (await counts()).sessions === before.sessions! + 1, 5000, 'session counted');
  await eventually(async () => (await counts()).connections === 0, 5000, 'connection closed');
  const after = await counts();
  t.same(
    { handshakes: after.handshakes! - before.handshakes!, sessions: 1, select: after.select! - before.select!, connections: after.connections, active: after.active },
    { handshakes: 1, sessions: 1, select: selects, connections: 0, active: 0 },
  );
  t.ok(
    h.finished().some((s) => s.instrumentationScope.name === '@opentelemetry/instrumentation-http' && s.name.startsWith('POST')),
    'the contrib instrumentation still made its POST spans',
  );
});

t.test('disabled with a card connected, then enabled again: nothing recorded while disabled, gauges back to zero, no double count', async (t) => {
  const before = await counts();
  const server = await startAdminServer({ kind: 'https', keys, scriptsFor: () => GP_SESSION, idleTimeoutMs: 0 });
  // A card mid-session when ours is disabled (the second script never answered: it hangs after the first).
  const hanging = runCard({ port: server.port, identity: 'card-001', key: KEY, hangAfterFirst: true });
  await eventually(async () => (await counts()).active === 1, 5000, 'a session open');
  t.equal((await counts()).connections, 1);
  ours.disable();
  const mid = await counts();
  t.same({ connections: mid.connections, active: mid.active }, { connections: 0, active: 0 }, 'the open connection and session left the gauges');
  await oneSession();
  await server.close();
  await hanging.catch(() => undefined);
  const disabled = await counts();
  t.same(
    { handshakes: disabled.handshakes! - before.handshakes!, sessions: disabled.sessions! - before.sessions!, connections: disabled.connections, active: disabled.active },
    { handshakes: 1, sessions: 0, connections: 0, active: 0 },
    'only the handshake from before the disable',
  );
  ours.enable();
  await oneSession();
  await eventually(async () => (await counts()).sessions === disabled.sessions! + 1, 5000, 'session counted');
  await eventually(async () => (await counts()).connections === 0, 5000, 'connection closed');
  const after = await counts();
  t.same(
    { handshakes: after.handshakes! - disabled.handshakes!, select: after.select! - disabled.select!, connections: after.connections, active: after.active },
    { handshakes: 1, select: selects, connections: 0, active: 0 },
    'enabled again: once each',
  );
});

t.test('a wrapper another tool put over ours on the data path stays on disable; enabled again, nothing counts twice', async (t) => {
  const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');
  const proto = http.ServerResponse.prototype as unknown as { end: (...a: unknown[]) => unknown };
  const ours0 = proto.end;
  let calls = 0;
  // As an APM agent does (elastic-apm-node shimmer-wraps ServerResponse.prototype methods): an own property over what it found.
  const theirs = function (this: unknown, ...a: unknown[]) {
    calls++;
    return ours0.apply(this, a);
  };
  proto.end = theirs;
  t.teardown(() => {
    if (proto.end === theirs) delete (proto as { end?: unknown }).end;
  });
  ours.disable();
  t.equal(proto.end, theirs, 'their wrapper kept');
  const off = await counts();
  await oneSession();
  t.ok(calls > 0, 'their wrapper still runs');
  const disabled = await counts();
  t.equal(disabled.sessions, off.sessions, 'nothing recorded while disabled (our old wrapper inside theirs passes through)');
  ours.enable();
  await oneSession();
  await eventually(async () => (await counts()).sessions === disabled.sessions! + 1, 5000, 'session counted');
  const after = await counts();
  t.equal(after.select! - disabled.select!, selects, 'each SELECT once, not twice');
  ours.disable();
  ours.enable();
});
