/**
 * Sessions framed as the public CardLink frames them (server/http_handler.py,
 * simulator/http_client.py): every C-APDU alone in a 200 body as `[len16][APDU]`, the card's R-APDU
 * framed the same way in its next POST, 204 + `Connection: close` at the end. On an https admin
 * server and on a raw tls one, over real PSK-TLS: exact counts per command type and status word,
 * per-APDU durations and bytes, the format on the session span and its log line, no key data.
 * Then every format mixed in one real session, and a server speaking something we do not decode.
 */
import t from 'tap';
import { SpanKind } from '@opentelemetry/api';
import { TlsInstrumentation } from '../instrumentations/tls/index.js';
import { startAdminServer, GP_SESSION, PUT_KEY_SECRET_HEX, type StepFormat } from './fixtures/admin-server.js';
import { runCard } from './fixtures/card-simulator.js';
import { setupHarness, setupLogRecords, eventually } from './helpers/otel-harness.js';
import { configureLogging } from '../src/logging/index.js';

const KEY_HEX = '0102030405060708090A0B0C0D0E0F10';
const KEY = Buffer.from(KEY_HEX, 'hex');
const keys = new Map([['card-001', KEY]]);

const h = setupHarness([new TlsInstrumentation()]);
const logRecords = setupLogRecords(t, h);
const logLines: string[] = [];
configureLogging({ level: 'info', componentLevels: { tls: 'info' }, format: 'json', destination: { write: (s: string) => logLines.push(s) } });

/** Status category by the card's own status word (ISO 7816-4 / GP): the oracle for error counts. */
function isError(rapduHex: string): boolean {
  const sw1 = rapduHex.slice(-4, -2);
  return !['90', '61', '91', '92', '9F', '62', '63'].includes(sw1);
}

/** CardLink's own demo commands, then the GlobalPlatform session's, one C-APDU per round trip. */
const ONE_PER_BODY: Buffer[][] = [
  ['00A4040000', '80CA006600', '80CA004F00'].map((x) => Buffer.from(x, 'hex')),
  ...GP_SESSION,
]
  .flat()
  .map((apdu) => [apdu]);

async function snapshot(): Promise<Record<string, number>> {
  const v = (n: string, a?: Record<string, string>) => h.value(n, a);
  const hc = async (type: string) => (await h.histogram('cardlink_apdu_duration_seconds', { command_type: type })).count;
  return {
    select: await v('cardlink_apdu_commands_total', { command_type: 'SELECT', device_type: 'unknown' }),
    getData: await v('cardlink_apdu_commands_total', { command_type: 'GET_DATA', device_type: 'unknown' }),
    getStatus: await v('cardlink_apdu_commands_total', { command_type: 'GET_STATUS', device_type: 'unknown' }),
    install: await v('cardlink_apdu_commands_total', { command_type: 'INSTALL', device_type: 'unknown' }),
    putKey: await v('cardlink_apdu_commands_total', { command_type: 'PUT_KEY', device_type: 'unknown' }),
    sw9000: await v('cardlink_apdu_responses_total', { status_word: '9000', status_category: 'success' }),
    sw6a82: await v('cardlink_apdu_responses_total', { status_word: '6A82', status_category: 'error' }),
    selectDur: await hc('SELECT'),
    getDataDur: await hc('GET_DATA'),
    putKeyDur: await hc('PUT_KEY'),
    scriptDur: await hc('SCRIPT'),
    sent: await v('cardlink_apdu_bytes_total', { direction: 'sent' }),
    received: await v('cardlink_apdu_bytes_total', { direction: 'received' }),
    lpSent: await v('cardlink_scp81_bodies_total', { direction: 'sent', format: 'length_prefixed' }),
    lpReceived: await v('cardlink_scp81_bodies_total', { direction: 'received', format: 'length_prefixed' }),
    unknownSent: await v('cardlink_scp81_bodies_total', { direction: 'sent', format: 'unknown' }),
    defSent: await v('cardlink_scp81_bodies_total', { direction: 'sent', format: 'expanded_definite' }),
    indefReceived: await v('cardlink_scp81_bodies_total', { direction: 'received', format: 'expanded_indefinite' }),
    completed: await v('cardlink_sessions_total', { status: 'completed' }),
  };
}

function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - before[k]!]));
}

function sessionEndLogs(): Array<Record<string, unknown>> {
  return logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['message'] === 'OTA session ended');
}

for (const kind of ['https', 'tls'] as const) {
  t.test(`CardLink framing on a ${kind} admin server: per-APDU counts, timings, bytes, format`, async (t) => {
    const before = await snapshot();
    const logsBefore = sessionEndLogs().length;
    const server = await startAdminServer({ kind, keys, cardlink: true, scriptsFor: () => ONE_PER_BODY });
    t.teardown(() => server.close());
    const raw: Buffer[] = [];
    const run = await runCard({ port: server.port, identity: 'card-001', key: KEY, cardlink: true, onResponse: (b) => raw.push(b) });
    t.equal(run.end, 'completed');
    t.equal(run.statuses.length, ONE_PER_BODY.length + 1);
    t.match(raw.at(-1)?.toString('latin1'), /^HTTP\/1\.1 204 No Content\r\n[^]*Connection: close\r\n/i, "CardLink's closing 204");
    t.match(raw[0]?.toString('latin1'), /Connection: keep-alive\r\n/i);

    await eventually(async () => (await h.value('cardlink_sessions_total', { status: 'completed' })) === before.completed! + 1, 5000, 'session completed');
    const d = delta(await snapshot(), before);
    // 00A4040000 + the GP SELECTs (ISD, unknown AID); 2x GET DATA from CardLink, 1 from GP; 2x GET STATUS.
    t.same(
      { select: d.select, getData: d.getData, getStatus: d.getStatus, install: d.install, putKey: d.putKey },
      { select: 3, getData: 3, getStatus: 2, install: 1, putKey: 1 },
      'commands by type',
    );
    const sws = run.exchanges.map(([, r]) => r.slice(-4));
    t.equal(d.sw6a82, sws.filter((x) => x === '6A82').length, 'status words as the card answered them: 6A82');
    t.equal(d.sw9000, sws.filter((x) => x === '9000').length, 'status words as the card answered them: 9000');
    t.ok(d.sw6a82! >= 1 && d.sw9000! >= 5, 'both kinds occur');
    t.same({ select: d.selectDur, getData: d.getDataDur, putKey: d.putKeyDur, script: d.scriptDur }, { select: 3, getData: 3, putKey: 1, script: 0 }, 'one duration per APDU');
    t.equal(d.sent, ONE_PER_BODY.flat().reduce((n, b) => n + b.length, 0), 'C-APDU bytes, without the length prefixes');
    t.equal(d.received, run.exchanges.reduce((n, [, r]) => n + r.length / 2, 0), 'R-APDU bytes, without the length prefixes');
    t.same({ sent: d.lpSent, received: d.lpReceived, unknown: d.unknownSent }, { sent: ONE_PER_BODY.length, received: ONE_PER_BODY.length, unknown: 0 });

    const spans = h.finished();
    const session = spans.find((s) => s.name === 'ota.session');
    t.equal(session?.kind, SpanKind.SERVER);
    t.equal(session?.attributes['cardlink.scp81.format'], 'length_prefixed');
    t.equal(session?.attributes['cardlink.apdu.count'], ONE_PER_BODY.length);
    t.equal(session?.attributes['cardlink.apdu.error_count'], run.exchanges.filter(([, r]) => isError(r)).length);
    const apdus = spans.filter((s) => s.name.startsWith('apdu.'));
    t.same(
      apdus.map((s) => s.name),
      ['apdu.SELECT', 'apdu.GET_DATA', 'apdu.GET_DATA', 'apdu.SELECT', 'apdu.GET_STATUS', 'apdu.GET_STATUS', 'apdu.GET_DATA', 'apdu.SELECT', 'apdu.INSTALL', 'apdu.PUT_KEY'],
    );
    for (const a of apdus) t.equal(a.parentSpanContext?.spanId, session?.spanContext().spanId, `${a.name} under the session`);
    t.same(
      apdus.map((s) => s.attributes['cardlink.apdu.sw']),
      run.exchanges.map(([, r]) => r.slice(-4)),
      "each span's status word is the card's answer to that command",
    );
    await eventually(() => sessionEndLogs().length === logsBefore + 1, 5000, 'the session-end log line');
    t.match(sessionEndLogs().at(-1), { status: 'completed', scp81_format: 'length_prefixed', apdu_count: ONE_PER_BODY.length });

    const dump = JSON.stringify(spans.map((s) => ({ a: s.attributes, e: s.events, n: s.name }))).toUpperCase() + JSON.stringify(logRecords.getFinishedLogRecords().map((r) => r.attributes)).toUpperCase() + logLines.join('').toUpperCase();
    t.notOk(dump.includes(PUT_KEY_SECRET_HEX), 'no PUT KEY data');
    t.notOk(dump.includes(KEY_HEX), 'no PSK');
    h.spans.reset();
  });
}

t.test('every format mixed in one real session, on both server kinds, chunked and not', async (t) => {
  const formats: StepFormat[] = ['length_prefixed', 'definite', 'indefinite', 'length_prefixed'];
  const steps: Buffer[][] = [[ONE_PER_BODY[0]![0]!], GP_SESSION[1]!, GP_SESSION[0]!, GP_SESSION[2]!];
  // The raw server sends chunked command bodies; the https server is sent chunked response bodies.
  for (const [kind, chunked] of [['tls', false], ['tls', true], ['https', true]] as const) {
    const before = await snapshot();
    const server = await startAdminServer({ kind, keys, chunked: chunked && kind === 'tls', scriptsFor: () => steps, formatOf: (i) => formats[i]! });
    t.teardown(() => server.close());
    const run = await runCard({ port: server.port, identity: 'card-001', key: KEY, chunked: chunked && kind === 'https', indefiniteResponses: true });
    t.equal(run.end, 'completed');
    await eventually(async () => (await h.value('cardlink_sessions_total', { status: 'completed' })) === before.completed! + 1, 5000, 'session');
    const d = delta(await snapshot(), before);
    t.equal(d.select, 3);
    t.equal(d.getStatus, 2);
    t.equal(d.putKey, 1);
    t.equal(h.finished().filter((x) => x.name.startsWith('apdu.') && x.attributes['cardlink.apdu.sw'] !== undefined).length, run.exchanges.length, 'every command answered');
    t.same({ lpSent: d.lpSent, lpReceived: d.lpReceived }, { lpSent: 2, lpReceived: 2 });
    t.same({ defSent: d.defSent, indefReceived: d.indefReceived }, { defSent: 1, indefReceived: 1 }, 'one definite script sent, one indefinite response script received');
    const session = h.finished().find((s) => s.name === 'ota.session');
    t.equal(session?.attributes['cardlink.scp81.format'], 'mixed');
    t.equal(h.finished().filter((s) => s.name.startsWith('apdu.')).length, steps.flat().length);
    h.spans.reset();
  }
});

t.test('a server that sends bare, unframed APDUs: counted as unknown, no APDU invented', async (t) => {
  const before = await snapshot();
  const server = await startAdminServer({ kind: 'tls', keys, scriptsFor: () => [[Buffer.from('80CA006600', 'hex')]], formatOf: () => 'bare' });
  t.teardown(() => server.close());
  // The card cannot read it either: it gives up on the first body.
  const run = await runCard({ port: server.port, identity: 'card-001', key: KEY });
  t.equal(run.end, 'error');
  await eventually(async () => (await h.value('cardlink_scp81_bodies_total', { direction: 'sent', format: 'unknown' })) === before.unknownSent! + 1, 5000, 'unknown body');
  await eventually(() => h.finished().some((s) => s.name === 'ota.session'), 5000, 'session span');
  const d = delta(await snapshot(), before);
  t.equal(d.getData, 0, 'no command counted');
  const session = h.finished().find((s) => s.name === 'ota.session');
  t.equal(session?.attributes['cardlink.scp81.format'], 'unknown');
  t.ok(session?.events.some((e) => e.name === 'scp81.undecodable' && e.attributes?.['cardlink.scp81.input'] === 'command_script'));
  h.spans.reset();
});
