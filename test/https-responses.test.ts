/**
 * An https admin server's responses are followed as the application writes them (ServerResponse
 * write/end, before Node frames them): every way an application can write a command script gives
 * the same APDU counts, status words, bytes and body formats, and the replies are byte-identical.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { ADMIN_PROTOCOL, SCP81_COMMAND_CONTENT_TYPE, encodeCommandScript } from '../instrumentations/tls/scp81.js';
import { TlsInstrumentation } from '../instrumentations/tls/index.js';
import { startAdminServer, GP_SESSION, PSK_CIPHERS, type AdminServerOptions } from './fixtures/admin-server.js';
import { runCard } from './fixtures/card-simulator.js';
import { setupHarness, eventually } from './helpers/otel-harness.js';

const KEY = Buffer.from('0102030405060708090A0B0C0D0E0F10', 'hex');
const keys = new Map([['card-001', KEY]]);
const tls = new TlsInstrumentation();
const h = setupHarness([tls]);

const STYLES = ['writeHead', 'setHeader', 'pieces', 'setHeaderPieces', 'shouting', 'pairs', 'flat', 'mixed'] as const;
const ALL_APDUS = GP_SESSION.flat();
/** Commands by their INS byte (ISO 7816-4 / GlobalPlatform), counted from the fixture: A4 SELECT, F2 GET STATUS, E6 INSTALL, D8 PUT KEY. */
const byIns = (ins: number) => ALL_APDUS.filter((a) => a[1] === ins).length;
const EXPECTED = { select: byIns(0xa4), getStatus: byIns(0xf2), install: byIns(0xe6), putKey: byIns(0xd8) };

async function snapshot(): Promise<Record<string, number>> {
  const v = (n: string, a?: Record<string, string>) => h.value(n, a);
  return {
    select: await v('cardlink_apdu_commands_total', { command_type: 'SELECT', device_type: 'unknown' }),
    getStatus: await v('cardlink_apdu_commands_total', { command_type: 'GET_STATUS', device_type: 'unknown' }),
    install: await v('cardlink_apdu_commands_total', { command_type: 'INSTALL', device_type: 'unknown' }),
    putKey: await v('cardlink_apdu_commands_total', { command_type: 'PUT_KEY', device_type: 'unknown' }),
    sw9000: await v('cardlink_apdu_responses_total', { status_word: '9000', status_category: 'success' }),
    sw6a82: await v('cardlink_apdu_responses_total', { status_word: '6A82', status_category: 'error' }),
    sent: await v('cardlink_apdu_bytes_total', { direction: 'sent' }),
    received: await v('cardlink_apdu_bytes_total', { direction: 'received' }),
    definiteSent: await v('cardlink_scp81_bodies_total', { direction: 'sent', format: 'expanded_definite' }),
    prefixedSent: await v('cardlink_scp81_bodies_total', { direction: 'sent', format: 'length_prefixed' }),
    unknownSent: await v('cardlink_scp81_bodies_total', { direction: 'sent', format: 'unknown' }),
    completed: await v('cardlink_sessions_total', { status: 'completed' }),
  };
}

async function session(o: Partial<AdminServerOptions>, cardlink = false): Promise<{ d: Record<string, number>; replies: string[]; exchanges: [string, string][] }> {
  const before = await snapshot();
  const server = await startAdminServer({ kind: 'https', keys, scriptsFor: () => (cardlink ? ALL_APDUS.map((a) => [a]) : GP_SESSION), cardlink, ...o });
  try {
    const replies: string[] = [];
    const run = await runCard({ port: server.port, identity: 'card-001', key: KEY, cardlink, onResponse: (b) => replies.push(b.toString('hex')) });
    if (run.end !== 'completed') throw new Error(`session ended ${run.end}`);
    await eventually(async () => (await h.value('cardlink_sessions_total', { status: 'completed' })) === before.completed! + 1, 5000, 'session completed');
    const after = await snapshot();
    return { d: Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - before[k]!])), replies, exchanges: run.exchanges };
  } finally {
    await server.close();
  }
}

for (const cardlink of [false, true]) {
  t.test(`${cardlink ? 'CardLink-framed' : 'TS 102 226'} command scripts written every way an application can: the same telemetry`, async (t) => {
    const expectedSent = ALL_APDUS.reduce((n, b) => n + b.length, 0);
    let reference: string[] | undefined;
    for (const style of STYLES) {
      const { d, replies, exchanges } = await session({ responseStyle: style }, cardlink);
      t.same(
        { select: d.select, getStatus: d.getStatus, install: d.install, putKey: d.putKey },
        EXPECTED,
        `${style}: commands by type`,
      );
      const sws = exchanges.map(([, r]) => r.slice(-4));
      t.equal(d.sw9000, sws.filter((x) => x === '9000').length, `${style}: 9000 as the card answered`);
      t.equal(d.sw6a82, sws.filter((x) => x === '6A82').length, `${style}: 6A82 as the card answered`);
      t.equal(d.sent, expectedSent, `${style}: C-APDU bytes`);
      t.equal(d.received, exchanges.reduce((n, [, r]) => n + r.length / 2, 0), `${style}: R-APDU bytes`);
      const bodies = cardlink ? ALL_APDUS.length : GP_SESSION.length;
      t.same(
        { definite: d.definiteSent, prefixed: d.prefixedSent, unknown: d.unknownSent },
        cardlink ? { definite: 0, prefixed: bodies, unknown: 0 } : { definite: bodies, prefixed: 0, unknown: 0 },
        `${style}: body formats`,
      );
      // Framing differs by style (Content-Length or chunked, header case); the bodies the card got do not.
      const payloads = replies.map((r) => Buffer.from(r, 'hex').toString('latin1').split('\r\n\r\n').slice(1).join('\r\n\r\n'));
      if (style === 'writeHead' || style === 'setHeader') {
        if (reference === undefined) reference = payloads;
        else t.same(payloads, reference, `${style}: the same bodies as writeHead`);
      }
    }
  });
}

t.test('byte-identical replies with and without the instrumentation, for every style', async (t) => {
  for (const style of STYLES) {
    const replies: string[][] = [];
    for (const enabled of [true, false, true]) {
      if (enabled) tls.enable();
      else tls.disable();
      const server = await startAdminServer({ kind: 'https', keys, scriptsFor: () => GP_SESSION, responseStyle: style });
      const got: string[] = [];
      const run = await runCard({ port: server.port, identity: 'card-001', key: KEY, onResponse: (b) => got.push(b.toString('hex')) });
      await server.close();
      t.equal(run.end, 'completed', `${style}, instrumented ${enabled}`);
      replies.push(got);
    }
    t.same(replies[1], replies[0], `${style}: the same bytes uninstrumented`);
    t.same(replies[2], replies[0], `${style}: and instrumented again`);
  }
  tls.enable();
});

t.test('a command script past the 64 KiB capture bound is counted unknown, not decoded in part', async (t) => {
  // Three extended-length STORE DATA APDUs of 25,007 bytes each: one body of 75,027 bytes.
  const big = Buffer.concat([Buffer.from('80E290000061A8', 'hex'), Buffer.alloc(25_000, 0x41)]);
  for (const style of ['writeHead', 'pieces'] as const) {
    const before = await snapshot();
    const server = await startAdminServer({ kind: 'https', keys, cardlink: true, scriptsFor: () => [[Buffer.from('00A4040000', 'hex')], [big, big, big]], responseStyle: style });
    await runCard({ port: server.port, identity: 'card-001', key: KEY, cardlink: true });
    await server.close();
    await eventually(async () => (await h.value('cardlink_scp81_bodies_total', { direction: 'sent', format: 'unknown' })) === before.unknownSent! + 1, 5000, `${style}: the big body counted`);
    const after = await snapshot();
    t.equal(after.prefixedSent! - before.prefixedSent!, 1, `${style}: the first body decoded`);
    t.equal(after.select! - before.select!, 1, `${style}: only its SELECT counted`);
  }
});

t.test('a response written before its request body arrived (an early reject) ends the session, and opens no other', async (t) => {
  const before = {
    failed: await h.value('cardlink_sessions_total', { status: 'failed' }),
    completed: await h.value('cardlink_sessions_total', { status: 'completed' }),
    active: await h.value('cardlink_sessions_active', { device_type: 'unknown' }),
  };
  let requests = 0;
  let lateBodyRead: () => void = () => {};
  const lateBody = new Promise<void>((r) => (lateBodyRead = r));
  const server = https.createServer(
    { ciphers: PSK_CIPHERS, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', pskCallback: () => KEY } as https.ServerOptions,
    (req, res) => {
      requests++;
      if (requests === 1) {
        req.resume();
        req.on('end', () => res.writeHead(200, { 'Content-Type': SCP81_COMMAND_CONTENT_TYPE, 'X-Admin-Protocol': ADMIN_PROTOCOL }).end(Buffer.from(encodeCommandScript([Buffer.from('00A4040000', 'hex')]))));
      } else {
        // Rejected at once, before a byte of the card's response script is read.
        res.writeHead(500, { Connection: 'close' }).end();
        req.on('end', () => lateBodyRead());
        req.resume();
      }
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  );
  await runCard({ port: (server.address() as AddressInfo).port, identity: 'card-001', key: KEY });
  await eventually(async () => (await h.value('cardlink_sessions_total', { status: 'failed' })) === before.failed + 1, 5000, 'the session failed');
  await lateBody; // its head and body reached the instrumentation after the 500
  t.equal(requests, 2, 'the card sent its response script');
  t.equal(await h.value('cardlink_sessions_total', { status: 'completed' }), before.completed, 'nothing completed');
  t.equal(await h.value('cardlink_sessions_total', { status: 'failed' }), before.failed + 1, 'one failed session');
  t.equal(await h.value('cardlink_sessions_active', { device_type: 'unknown' }), before.active, 'and no session left open by the late request head');
  const session = h.finished().filter((s) => s.name === 'ota.session').at(-1);
  t.equal(session?.attributes['cardlink.session.end_reason'], 'http_500');
});
