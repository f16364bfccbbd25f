/**
 * createBoundedServer (src/listen.ts) on real sockets, with small figures: at its cap a new
 * connection displaces the longest-held idle one, and is refused only when every connection is
 * answering a request; a client that stops reading a response is cut at the idle limit (Node's own
 * socket timeout waits twice as long while a write is pending).
 */
import t from 'tap';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { LISTENER_BOUNDS, closeServer, createBoundedServer } from '../src/listen.js';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

interface Client {
  socket: net.Socket;
  received: string;
  closed: Promise<void>;
  isClosed: () => boolean;
}

function connect(port: number, send?: string): Client {
  const socket = net.connect(port, '127.0.0.1');
  const c = { socket, received: '' } as Client;
  let closed = false;
  c.isClosed = () => closed;
  c.closed = new Promise((r) =>
    socket.on('close', () => {
      closed = true;
      r();
    }),
  );
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (c.received += d));
  socket.on('error', () => undefined);
  if (send !== undefined) socket.on('connect', () => socket.write(send));
  return c;
}

const GET = 'GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
const settle = (ms = 200) => new Promise((r) => setTimeout(r, ms));

t.test('at the cap, a new connection closes the longest-held idle one', async (t) => {
  const server = createBoundedServer({ what: 'test', maxConnections: 4 }, (_req, res) => res.end('ok'));
  t.teardown(() => closeServer(server));
  const port = await listen(server);
  const idle = [0, 1, 2, 3].map(() => connect(port));
  await settle();
  const probe = connect(port, GET);
  await settle();
  t.match(probe.received, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/, 'the new connection is answered');
  t.same(
    idle.map((c) => c.isClosed()),
    [true, false, false, false],
    'the longest-held idle one made room',
  );
  const second = connect(port, GET);
  await settle();
  t.match(second.received, /^HTTP\/1\.1 200 OK/);
  t.same(
    idle.map((c) => c.isClosed()),
    [true, true, false, false],
    'then the next longest-held (the probe, answered and idle, was held after it)',
  );
  for (const c of [...idle, probe, second]) c.socket.destroy();
});

t.test('at the cap with every connection answering a request, a new one is refused', async (t) => {
  const pending: Array<() => void> = [];
  const server = createBoundedServer({ what: 'test', maxConnections: 2 }, (_req, res) => pending.push(() => res.end('late')));
  t.teardown(() => closeServer(server));
  const port = await listen(server);
  const busy = [connect(port, GET), connect(port, GET)];
  await settle();
  const extra = connect(port, GET);
  await extra.closed;
  t.equal(extra.received, '', 'closed without a byte');
  t.same(
    busy.map((c) => c.isClosed()),
    [false, false],
    'the busy ones were kept',
  );
  for (const p of pending) p();
  await settle();
  for (const c of busy) t.match(c.received, /\r\n\r\nlate$/, 'and answered');
  for (const c of busy) c.socket.destroy();
});

t.test('at the cap with every connection busy, an answer nobody has read for the header timeout makes room', async (t) => {
  const big = Buffer.alloc(16 * 1024 * 1024, 0x61);
  const server = createBoundedServer({ what: 'test', maxConnections: 2 }, (req, res) => res.end(req.url === '/big' ? big : 'ok'));
  t.teardown(() => closeServer(server));
  const port = await listen(server);
  // Two clients ask for a big answer and never read it.
  const stuck = [0, 1].map(() => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
    s.on('error', () => undefined);
    s.pause();
    return s;
  });
  t.teardown(() => stuck.forEach((s) => s.destroy()));
  await settle(); // their requests are being answered
  const early = connect(port, GET);
  await early.closed;
  t.equal(early.received, '', 'while they still move, a new connection is refused');
  await settle(LISTENER_BOUNDS.headersTimeoutMs + 2 * LISTENER_BOUNDS.checkIntervalMs);
  const probe = connect(port, GET);
  await settle();
  t.match(probe.received, /^HTTP\/1\.1 200 OK[\s\S]*\r\n\r\nok$/, 'once stalled, one of them makes room and the new one is answered');
  probe.socket.destroy();
});

t.test('a client that stops reading a response is cut at the idle limit, not twice it', async (t) => {
  const idleTimeoutMs = 2_000;
  const big = Buffer.alloc(64 * 1024 * 1024, 0x61);
  let serverSide: Promise<void> | undefined;
  const server = createBoundedServer({ what: 'test', idleTimeoutMs }, (req, res) => {
    serverSide = new Promise((r) => req.socket.once('close', () => r()));
    res.end(big);
  });
  t.teardown(() => closeServer(server));
  const port = await listen(server);
  // Never reads: the response stalls in the socket buffers (a paused socket does not see the close either).
  const client = net.connect(port, '127.0.0.1', () => client.write(GET));
  client.on('error', () => undefined);
  client.pause();
  t.teardown(() => client.destroy());
  while (serverSide === undefined) await settle(20);
  const t0 = Date.now();
  const deadline = new Promise<'deadline'>((r) => setTimeout(() => r('deadline'), 2 * idleTimeoutMs - 300).unref());
  const outcome = await Promise.race([serverSide.then(() => 'closed' as const), deadline]);
  t.equal(outcome, 'closed', `closed by the server (after ${Date.now() - t0} ms; Node's socket timeout alone: ${2 * idleTimeoutMs} ms)`);
});

t.test('a connection waiting for its answer with no traffic is cut at the idle limit too', async (t) => {
  const idleTimeoutMs = 1_500;
  const server = createBoundedServer({ what: 'test', idleTimeoutMs }, () => undefined);
  t.teardown(() => closeServer(server));
  const port = await listen(server);
  const client = connect(port, GET);
  await client.closed;
  t.equal(client.received, '', 'closed without an answer (none was ever written)');
});
