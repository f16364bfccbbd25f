/**
 * HTTP's order, whatever order the events come in: the R-APDUs of a POST answer the script of the
 * response before it, also when an https handler answers before the card's body arrived, when a
 * card pipelines the next session's first POST behind the last one, or when a server sends the
 * next script without an answer to the last. And the server shapes that deliver requests other
 * than by https's `request` event (a `checkContinue` listener, a tls server handing its sockets to
 * an http server), a resumed TLS session (no pskCallback), a request line with trailing blanks.
 * Real PSK-TLS on both sides; each case checked against what the card actually answered.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { TlsInstrumentation } from '../instrumentations/tls/index.js';
import {
  ADMIN_PROTOCOL,
  SCP81_COMMAND_CONTENT_TYPE,
  SCP81_RESPONSE_CONTENT_TYPE,
  encodeCommandScript,
  encodeResponseScript,
} from '../instrumentations/tls/scp81.js';
import { pskIdentityOfSession } from '../instrumentations/tls/session-identity.js';
import { PSK_CIPHERS, startAdminServer } from './fixtures/admin-server.js';
import { setupHarness, eventually } from './helpers/otel-harness.js';
import { configureLogging } from '../src/logging/index.js';

const KEY = Buffer.from('0102030405060708090A0B0C0D0E0F10', 'hex');
const IDENTITY = 'card-Ω01';
const h = setupHarness([new TlsInstrumentation()]);
const logLines: string[] = [];
configureLogging({ level: 'info', componentLevels: { tls: 'info' }, format: 'json', destination: { write: (s: string) => logLines.push(s) } });

const hex = (s: string) => Buffer.from(s, 'hex');
const SELECT = hex('00A4040000');
const GET_DATA = hex('80CA006600');
/** Two scripts, then 204; the card answers SELECT 9000 and GET DATA 6A82. */
const SCRIPTS = [Buffer.from(encodeCommandScript([SELECT])), Buffer.from(encodeCommandScript([GET_DATA]))];
const ANSWERS = [Buffer.from(encodeResponseScript([hex('9000')], 1)), Buffer.from(encodeResponseScript([hex('6A82')], 1))];

const serverOptions: tls.TlsOptions = {
  ciphers: PSK_CIPHERS,
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.2',
  pskCallback: (_s, identity) => (identity === IDENTITY ? KEY : null),
};

function post(body: Buffer, extra = ''): Buffer {
  return Buffer.concat([
    Buffer.from(
      `POST /admin HTTP/1.1\r\nHost: cardlink\r\nX-Admin-Protocol: ${ADMIN_PROTOCOL}\r\nContent-Type: ${SCP81_RESPONSE_CONTENT_TYPE}\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n${extra}\r\n`,
      'latin1',
    ),
    body,
  ]);
}

/** A card over real PSK-TLS that writes raw bytes and reads whole responses (Content-Length framed). */
class RawCard {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  readonly responses: Array<{ status: number; body: Buffer }> = [];
  constructor(readonly socket: tls.TLSSocket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (;;) {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) break;
        const head = this.buf.subarray(0, end).toString('latin1');
        const n = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (this.buf.length < end + 4 + n) break;
        this.responses.push({ status: Number(head.slice(9, 12)), body: this.buf.subarray(end + 4, end + 4 + n) });
        this.buf = this.buf.subarray(end + 4 + n);
      }
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => {});
  }

  static connect(port: number, session?: Buffer): Promise<RawCard> {
    return new Promise((resolve, reject) => {
      const s = tls.connect(
        {
          port,
          host: '127.0.0.1',
          session,
          ciphers: PSK_CIPHERS,
          maxVersion: 'TLSv1.2',
          checkServerIdentity: () => undefined,
          pskCallback: () => ({ psk: KEY, identity: IDENTITY }),
        },
        () => resolve(new RawCard(s)),
      );
      s.once('error', reject);
    });
  }

  /** Wait until `n` responses in all came. */
  async until(n: number): Promise<void> {
    while (this.responses.length < n) await new Promise<void>((r) => this.waiters.push(r));
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.socket.once('close', () => r());
      this.socket.end();
    });
  }
}

async function snapshot(): Promise<Record<string, number>> {
  const v = (n: string, a?: Record<string, string>) => h.value(n, a);
  const dur = async (type: string) => (await h.histogram('cardlink_apdu_duration_seconds', { command_type: type })).count;
  return {
    select: await v('cardlink_apdu_commands_total', { command_type: 'SELECT' }),
    getData: await v('cardlink_apdu_commands_total', { command_type: 'GET_DATA' }),
    sw9000: await v('cardlink_apdu_responses_total', { status_word: '9000' }),
    sw6a82: await v('cardlink_apdu_responses_total', { status_word: '6A82' }),
    selectDur: await dur('SELECT'),
    getDataDur: await dur('GET_DATA'),
    received: await v('cardlink_scp81_bodies_total', { direction: 'received' }),
    polled: await v('cardlink_sessions_total', { status: 'completed', session_type: 'polled' }),
    resumed: await v('cardlink_sessions_total', { status: 'completed', session_type: 'resumed' }),
    failed: await v('cardlink_sessions_total', { status: 'failed' }),
  };
}

async function delta(before: Record<string, number>): Promise<Record<string, number>> {
  const after = await snapshot();
  return Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - before[k]!]));
}

/** The whole two-script session, each APDU paired with the card's own answer. */
const ONE_SESSION = { select: 1, getData: 1, sw9000: 1, sw6a82: 1, selectDur: 1, getDataDur: 1, received: 2, polled: 1, resumed: 0, failed: 0 };

function listen(server: tls.Server | http.Server): Promise<number> {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));
}

function close(server: tls.Server | http.Server): Promise<void> {
  return new Promise((r) => server.close(() => r()));
}

/** An https admin server stepping through SCRIPTS per connection; `early`: it answers before reading the card's body. */
function httpsServer(early: boolean, seen: string[]): https.Server {
  const step = new WeakMap<object, number>();
  return https.createServer(serverOptions, (req, res) => {
    // A resumed session starts over.
    const i = req.headers['x-admin-resume'] === 'true' ? 0 : (step.get(req.socket) ?? -1) + 1;
    step.set(req.socket, i);
    const answer = () => {
      const s = SCRIPTS[i];
      if (s === undefined) res.writeHead(204, { 'X-Admin-Protocol': ADMIN_PROTOCOL }).end();
      else res.writeHead(200, { 'Content-Type': SCP81_COMMAND_CONTENT_TYPE, 'X-Admin-Protocol': ADMIN_PROTOCOL, 'Content-Length': s.length }).end(s);
    };
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push(Buffer.concat(chunks).toString('hex'));
      if (!early) answer();
    });
    if (early) answer();
  });
}

/** An admin server of either kind stepping through SCRIPTS (the raw tls one is the fixture's own HTTP). */
async function adminServer(kind: 'https' | 'tls'): Promise<{ port: number; close(): Promise<void> }> {
  if (kind === 'tls') return startAdminServer({ kind, keys: new Map([[IDENTITY, KEY]]), scriptsFor: () => [[SELECT], [GET_DATA]] });
  const server = httpsServer(false, []);
  return { port: await listen(server), close: () => close(server) };
}

/** The card's side of one session: empty first POST, then the answer to each script, as the responses come. */
async function runSession(card: RawCard, from = 0): Promise<void> {
  card.socket.write(post(Buffer.alloc(0)));
  for (let i = 0; i < ANSWERS.length; i++) {
    await card.until(from + i + 1);
    card.socket.write(post(ANSWERS[i]!));
  }
  await card.until(from + ANSWERS.length + 1);
}

t.test('an https handler that answers before the card body arrived: each R-APDU still answers the script before it', async (t) => {
  for (const early of [false, true]) {
    const before = await snapshot();
    const seen: string[] = [];
    const server = httpsServer(early, seen);
    const port = await listen(server);
    const card = await RawCard.connect(port);
    await runSession(card);
    await card.close();
    await eventually(async () => (await delta(before)).polled === 1, 5000, 'session ended');
    t.same(await delta(before), ONE_SESSION, `${early ? 'early' : 'after the body'}: SELECT 9000, GET DATA 6A82`);
    t.same(seen, ['', ...ANSWERS.map((a) => a.toString('hex'))], 'the server read every body, unchanged');
    t.same(
      card.responses.map((r) => r.status),
      [200, 200, 204],
      'the replies',
    );
    await close(server);
  }
});

for (const kind of ['https', 'tls'] as const) {
  t.test(`${kind}: the next session's first POST pipelined behind the last POST of the session before`, async (t) => {
    const before = await snapshot();
    const server = await adminServer(kind);
    const port = server.port;
    const card = await RawCard.connect(port);
    card.socket.write(post(Buffer.alloc(0)));
    await card.until(1);
    card.socket.write(post(ANSWERS[0]!));
    await card.until(2);
    // The last answer of session 1 and the resumed session's first POST in one write.
    card.socket.write(Buffer.concat([post(ANSWERS[1]!), post(Buffer.alloc(0), 'X-Admin-Resume: true\r\n')]));
    await card.until(4);
    card.socket.write(post(ANSWERS[0]!));
    await card.until(5);
    card.socket.write(post(ANSWERS[1]!));
    await card.until(6);
    await card.close();
    await eventually(async () => (await delta(before)).resumed === 1, 5000, 'second session ended');
    t.same(
      await delta(before),
      { select: 2, getData: 2, sw9000: 2, sw6a82: 2, selectDur: 2, getDataDur: 2, received: 4, polled: 1, resumed: 1, failed: 0 },
      'two whole sessions, every R-APDU on its own C-APDU',
    );
    t.same(
      card.responses.map((r) => r.status),
      [200, 200, 204, 200, 200, 204],
    );
    await server.close();
  });
}

for (const kind of ['https', 'tls'] as const) {
  t.test(`${kind}: 20 two-script sessions, each POST pipelined behind the one before: every APDU on its own answer`, async (t) => {
    const before = await snapshot();
    const server = await adminServer(kind);
    const port = server.port;
    const card = await RawCard.connect(port);
    // The card knows the scripts, so it writes all of its POSTs at once: 60 requests in one write.
    const one = [post(Buffer.alloc(0), 'X-Admin-Resume: true\r\n'), post(ANSWERS[0]!), post(ANSWERS[1]!)];
    card.socket.write(Buffer.concat(Array.from({ length: 20 }, () => one).flat()));
    await card.until(60);
    await card.close();
    await eventually(async () => (await delta(before)).resumed === 20, 5000, 'twenty sessions');
    // No durations: each answer came before its script was sent (only a card that knew it could).
    t.same(
      await delta(before),
      { select: 20, getData: 20, sw9000: 20, sw6a82: 20, selectDur: 0, getDataDur: 0, received: 40, polled: 0, resumed: 20, failed: 0 },
    );
    t.same(new Set(card.responses.map((r) => r.status)), new Set([200, 204]));
    await server.close();
  });
}

t.test('a script the server replaces before the card answered it: its C-APDUs are not executed, and counted in the session', async (t) => {
  h.spans.reset();
  const server = httpsServer(false, []);
  const port = await listen(server);
  const card = await RawCard.connect(port);
  const before = await snapshot();
  card.socket.write(post(Buffer.alloc(0)));
  await card.until(1);
  card.socket.write(post(Buffer.alloc(0))); // no answer to SELECT: the server moves on
  await card.until(2);
  card.socket.write(post(ANSWERS[1]!));
  await card.until(3);
  await card.close();
  await eventually(async () => (await delta(before)).polled === 1, 5000, 'session ended');
  const d = await delta(before);
  t.same({ select: d.select, getData: d.getData, sw9000: d.sw9000, sw6a82: d.sw6a82, selectDur: d.selectDur }, { select: 1, getData: 1, sw9000: 0, sw6a82: 1, selectDur: 0 });
  const spans = h.finished();
  const session = spans.find((s) => s.name === 'ota.session');
  t.equal(session?.attributes['cardlink.apdu.count'], 2, 'C-APDUs sent, the replaced one included');
  t.equal(session?.attributes['cardlink.apdu.not_executed'], 1);
  const select = spans.find((s) => s.name === 'apdu.SELECT');
  t.ok(select, 'the replaced SELECT has its span');
  t.equal(select?.attributes['cardlink.apdu.executed'], false);
  const line = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).findLast((l) => l['message'] === 'OTA session ended');
  t.equal(line?.['not_executed_count'], 1, 'the session-end line says so');
  await close(server);
});

t.test('Expect: 100-continue with a checkContinue listener (also one that emits request itself): the session is recorded once', async (t) => {
  for (const reemit of [false, true]) {
    const before = await snapshot();
    const server = httpsServer(false, []);
    const handler = server.listeners('request')[0] as (req: http.IncomingMessage, res: http.ServerResponse) => void;
    server.on('checkContinue', (req, res) => {
      res.writeContinue();
      if (reemit) server.emit('request', req, res);
      else handler(req, res);
    });
    const port = await listen(server);
    const card = await RawCard.connect(port);
    card.socket.write(post(Buffer.alloc(0)));
    for (let i = 0; i < ANSWERS.length; i++) {
      await card.until(i + 1);
      const body = ANSWERS[i]!;
      const msg = post(body, 'Expect: 100-continue\r\n');
      card.socket.write(msg.subarray(0, msg.length - body.length));
      await new Promise((r) => setTimeout(r, 20)); // the 100 Continue, which RawCard skips (no Content-Length: body 0)
      card.socket.write(body);
    }
    await card.until(ANSWERS.length + 1 + ANSWERS.length);
    await card.close();
    await eventually(async () => (await delta(before)).polled === 1, 5000, 'session ended');
    t.same(await delta(before), ONE_SESSION, reemit ? 'listener re-emitting request' : 'listener calling the handler');
    await close(server);
  }
});

t.test('a tls server that hands its sockets to an http server: followed as an https server', async (t) => {
  const before = await snapshot();
  const inner = httpsServer(false, []);
  const handler = inner.listeners('request')[0] as (req: http.IncomingMessage, res: http.ServerResponse) => void;
  const httpServer = http.createServer(handler);
  const server = tls.createServer(serverOptions, (socket) => httpServer.emit('connection', socket));
  const port = await listen(server);
  const card = await RawCard.connect(port);
  await runSession(card);
  await card.close();
  await eventually(async () => (await delta(before)).polled === 1, 5000, 'session ended');
  t.same(await delta(before), ONE_SESSION);
  await close(server);
  httpServer.close();
});

t.test('a tls server that looks the card up first and hands the socket to an http server later: counted once', async (t) => {
  const before = await snapshot();
  const inner = httpsServer(false, []);
  const handler = inner.listeners('request')[0] as (req: http.IncomingMessage, res: http.ServerResponse) => void;
  const httpServer = http.createServer(handler);
  // The card's first POST arrives (and is read) before the hand-over.
  const server = tls.createServer(serverOptions, (socket) => setTimeout(() => httpServer.emit('connection', socket), 30));
  const port = await listen(server);
  const card = await RawCard.connect(port);
  await runSession(card);
  await card.close();
  await eventually(async () => (await delta(before)).polled === 1, 5000, 'session ended');
  t.same(await delta(before), ONE_SESSION, 'one feed: the http server\'s messages');
  await close(server);
  httpServer.close();
});

t.test('a resumed TLS 1.2 session (no pskCallback runs): the card identity is on the session span and its line', async (t) => {
  h.spans.reset();
  const server = httpsServer(false, []);
  const port = await listen(server);
  const first = await RawCard.connect(port);
  const ticket = await new Promise<Buffer>((r) => {
    const s = first.socket.getSession();
    if (s !== undefined) r(s);
    else first.socket.once('session', r);
  });
  await runSession(first);
  await first.close();
  const second = await RawCard.connect(port, ticket);
  t.equal(second.socket.isSessionReused(), true, 'the second handshake resumed the first session');
  await runSession(second);
  await second.close();
  await eventually(() => h.finished().filter((s) => s.name === 'ota.session').length === 2, 5000, 'two sessions');
  for (const s of h.finished().filter((x) => x.name === 'ota.session')) t.equal(s.attributes['cardlink.psk.identity'], IDENTITY);
  const lines = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['message'] === 'OTA session ended');
  t.equal(lines.at(-1)?.['psk_identity'], IDENTITY);
  const text = [...logLines, JSON.stringify(h.finished().map((s) => s.attributes))].join('\n');
  t.notOk(text.includes(KEY.toString('hex')) || text.toUpperCase().includes(KEY.toString('hex').toUpperCase()), 'no key');
  await close(server);
});

t.test('raw tls: a request line with trailing blanks is still HTTP', async (t) => {
  const before = await snapshot();
  const server = await adminServer('tls');
  const port = server.port;
  const card = await RawCard.connect(port);
  const blank = (b: Buffer) => Buffer.from(b.toString('latin1').replace('POST /admin HTTP/1.1\r\n', 'POST /admin HTTP/1.1 \r\n'), 'latin1');
  card.socket.write(blank(post(Buffer.alloc(0))));
  for (let i = 0; i < ANSWERS.length; i++) {
    await card.until(i + 1);
    card.socket.write(blank(post(ANSWERS[i]!)));
  }
  await card.until(ANSWERS.length + 1);
  await card.close();
  await eventually(async () => (await delta(before)).polled === 1, 5000, 'session ended');
  t.same(await delta(before), ONE_SESSION);
  await server.close();
});

t.test('pskIdentityOfSession: an OpenSSL session of this machine, and any bytes without a throw', async (t) => {
  // A TLS 1.2 PSK session as Node's getSession() returned it on this machine's server (its master key zeroed).
  const real = hex(
    '30818802010102020303040200ae04000430' + '00'.repeat(48) + 'a10602046b16ea89a20402021c20a42204206463633836383766653966396338663539336532366434326337303561613136a80b0409636172642dcea93031ad03020101b303020100',
  );
  t.equal(pskIdentityOfSession(real), IDENTITY);
  t.equal(pskIdentityOfSession(real.subarray(0, 100)), undefined, 'a session cut short: nothing');
  t.equal(pskIdentityOfSession(real, 4), undefined, 'an identity past the bound is not read');
  for (let cut = 0; cut < real.length; cut++) t.doesNotThrow(() => pskIdentityOfSession(real.subarray(0, cut)));
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  for (let i = 0; i < 5000; i++) {
    const b = Buffer.from(Array.from({ length: rnd() % 200 }, rnd));
    if (i % 2 === 0 && b.length > 2) b[0] = 0x30;
    const v = pskIdentityOfSession(b);
    if (v !== undefined && v.length > 1024) t.fail('unbounded');
  }
  t.pass('5000 random sessions');
});
