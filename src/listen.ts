import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { printLine, reportOnce, warnOnce } from './diag.js';

/**
 * The bounds of our HTTP listeners (/metrics and the health endpoints). A scrape or a probe sends
 * a few hundred bytes of headers at once and reads one answer, so anything slower or bigger is
 * cut early: our listeners must never hold the descriptors, memory or event loop the application
 * needs.
 */
export const LISTENER_BOUNDS = Object.freeze({
  /** Headers not complete within this are answered 408 and closed (idle new connections too). */
  headersTimeoutMs: 5_000,
  /** The whole request (headers and body) within this. */
  requestTimeoutMs: 10_000,
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: 5_000,
  /** How often Node checks the two limits above (its default, 30 s, let slow headers live 60 to 90 s). */
  checkIntervalMs: 1_000,
  /** A connection with no traffic at all for this long is closed (a client that stopped reading). */
  idleTimeoutMs: 30_000,
  /** Requests served on one connection; the last is answered with `Connection: close`. */
  maxRequestsPerSocket: 32,
  /** Connections per listener: the soft descriptor limit divided by this, within the two figures below. */
  fdShareDivisor: 32,
  minConnections: 8,
  maxConnections: 64,
});

/** Assumed when /proc/self/limits cannot be read (the usual default soft limit). */
const DEFAULT_SOFT_FD_LIMIT = 1024;

/** The soft RLIMIT_NOFILE from the text of /proc/self/limits; undefined when absent, Infinity when unlimited. */
export function parseSoftFdLimit(limitsText: string): number | undefined {
  const line = limitsText.split('\n').find((l) => l.startsWith('Max open files'));
  if (line === undefined) return undefined;
  const soft = line.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === 'unlimited') return Infinity;
  const n = Number(soft);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** This process' soft descriptor limit (read once per call; undefined off Linux or when unreadable). */
export function softFdLimit(): number | undefined {
  try {
    return parseSoftFdLimit(readFileSync('/proc/self/limits', 'latin1'));
  } catch {
    return undefined;
  }
}

/**
 * How many connections one of our listeners accepts at once: a thirty-second of the soft descriptor
 * limit (a sixteenth for both listeners), never fewer than 8 nor more than 64.
 */
export function connectionCap(softLimit: number | undefined = softFdLimit()): number {
  // Unreadable limits (not Linux): as for the usual default.
  const b = LISTENER_BOUNDS;
  const share = Math.floor((softLimit ?? DEFAULT_SOFT_FD_LIMIT) / b.fdShareDivisor);
  return Math.min(b.maxConnections, Math.max(b.minConnections, share));
}

export interface BoundedServerOptions {
  /** What the server serves, for the one stderr line when its cap closes or refuses connections. */
  what: string;
  /** Inactivity limit of a connection (default LISTENER_BOUNDS.idleTimeoutMs). */
  idleTimeoutMs?: number;
  /** Connection cap (default connectionCap() of this process). */
  maxConnections?: number;
  /**
   * At the cap, an answer this long without a byte moving can be closed to make room (default the
   * header timeout: a client that stopped reading). The health endpoints use 0: a readiness probe
   * waits for its checks with nothing moving, and liveness must still get in.
   */
  stalledAfterMs?: number;
}

/** What the bounded server keeps per connection. */
interface Held {
  /** A request is being answered (its response not yet handed to the kernel). */
  busy: boolean;
  /** Bytes read plus bytes handed on, less those still queued: moves with any traffic either way. */
  progress: number;
  sinceMs: number;
}

function progressOf(socket: Socket): number {
  const queued = (socket as unknown as { _handle?: { writeQueueSize?: number } | null })._handle?.writeQueueSize ?? 0;
  return socket.bytesRead + socket.bytesWritten - queued;
}

/**
 * An HTTP server with every bound above applied.
 *
 * At its connection cap a new connection makes room by closing the longest-held idle one (no
 * request being answered): connections that send nothing cannot lock probes out, since each new
 * one, a probe's included, displaces the oldest of them. Failing that, the answer stalled longest
 * (nothing moved for the header timeout: a client that stopped reading); only when every
 * connection is busy and moving is the new one closed at once. A connection with no traffic either way for the idle limit is closed;
 * this is swept here every checkIntervalMs because Node's socket timeout waits twice as long for a
 * client that stopped reading a response. A connection that pipelines more than
 * maxRequestsPerSocket requests is destroyed at the first extra one: the parser stops at the chunk
 * it holds, instead of answering thousands of queued requests.
 */
export function createBoundedServer(o: BoundedServerOptions, handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const b = LISTENER_BOUNDS;
  const server = createServer(
    {
      headersTimeout: b.headersTimeoutMs,
      requestTimeout: b.requestTimeoutMs,
      keepAliveTimeout: b.keepAliveTimeoutMs,
      connectionsCheckingInterval: b.checkIntervalMs,
    },
    handler,
  );
  const cap = o.maxConnections ?? connectionCap();
  const idleMs = o.idleTimeoutMs ?? b.idleTimeoutMs;
  // In arrival order: the first idle one is the longest held.
  const held = new Map<Socket, Held>();
  server.maxRequestsPerSocket = b.maxRequestsPerSocket;
  server.on('connection', (socket: Socket) => {
    if (held.size >= cap && !makeRoom(held)) {
      socket.destroy();
      warnOnce(`refused:${o.what}`, `${o.what} refused connections: all ${cap} connections it holds at most are answering requests.`);
      return;
    }
    held.set(socket, { busy: false, progress: progressOf(socket), sinceMs: Date.now() });
    socket.once('close', () => held.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const h = held.get(req.socket);
    if (h === undefined || res.writableFinished) return;
    h.busy = true;
    h.sinceMs = Date.now();
    res.once('finish', () => (h.busy = false));
    res.once('close', () => (h.busy = false));
  });
  server.on('dropRequest', (_req: IncomingMessage, socket: Socket) => socket.destroy());
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [socket, h] of held) {
      const p = progressOf(socket);
      if (p !== h.progress) {
        h.progress = p;
        h.sinceMs = now;
      } else if (now - h.sinceMs >= idleMs) socket.destroy();
    }
  }, b.checkIntervalMs);
  sweep.unref();
  server.once('close', () => clearInterval(sweep));
  /** Makes room: the longest-held idle connection, else the longest-stalled answer (nothing moved for the header timeout). */
  function makeRoom(all: Map<Socket, Held>): boolean {
    let stalled: Socket | undefined;
    let stalledSince = Date.now() - (o.stalledAfterMs ?? b.headersTimeoutMs);
    for (const [socket, h] of all) {
      if (h.busy) {
        if (h.sinceMs <= stalledSince) {
          stalled = socket;
          stalledSince = h.sinceMs;
        }
        continue;
      }
      all.delete(socket);
      socket.destroy();
      warnOnce(`evicted:${o.what}`, `${o.what} holds at most ${cap} open connections: the longest-held idle ones are closed to make room for new ones.`);
      return true;
    }
    if (stalled === undefined) return false;
    all.delete(stalled);
    stalled.destroy();
    warnOnce(`stalled:${o.what}`, `${o.what} holds at most ${cap} open connections: answers nobody reads are closed to make room for new ones.`);
    return true;
  }
  return server;
}

/**
 * Listen for one of our endpoints without ever failing the application: a port in use (or any
 * other listen error) is one line on stderr naming what is not served and the variable to change.
 * Errors after that (accept failing with EMFILE when the process is out of descriptors) are reported
 * once and the server goes on: an 'error' event with no listener would end the process.
 * Resolves with the bound port, or undefined when listening failed.
 */
export function listenOrReport(
  server: Server,
  host: string,
  port: number,
  what: string,
  vars: { host: string; port: string; orElse?: string },
): Promise<number | undefined> {
  return new Promise((resolve) => {
    let listening = false;
    server.on('error', (err: NodeJS.ErrnoException) => {
      if (listening) {
        reportOnce(`serving ${what}`, err);
        return;
      }
      printLine(`cannot serve ${what} on ${host}:${port}: ${listenFailure(err, vars)}; the application keeps running without ${what === 'the health endpoints' ? 'them' : 'it'}.`);
      resolve(undefined);
    });
    server.listen(port, host, () => {
      listening = true;
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Why a listen failed, and which variable to change. */
function listenFailure(err: NodeJS.ErrnoException, vars: { host: string; port: string; orElse?: string }): string {
  const orElse = vars.orElse === undefined ? '' : ` (or ${vars.orElse})`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `the address is already in use. Set ${vars.port} to a free port${orElse}`;
    case 'EACCES':
      return `${err.message}. Set ${vars.port} to a port this user may open${orElse}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EADDRNOTAVAIL':
      return `${err.message}. Set ${vars.host} to an address of this machine (0.0.0.0: all of them)${orElse}`;
    default:
      return `${err.message}. Check ${vars.host} and ${vars.port}${orElse}`;
  }
}

/** The path of a request target, without its query. */
export function pathOf(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** What basicAuthMatches compares against; undefined unless both are set. */
export function credentialsDigest(username: string | undefined, password: string | undefined): Buffer | undefined {
  return username !== undefined && password !== undefined ? digest(`${username}:${password}`) : undefined;
}

/** Constant-time check of an `Authorization: Basic ...` header against the expected credentials. */
export function basicAuthMatches(header: string | undefined, expectedDigest: Buffer): boolean {
  let given = '';
  if (header !== undefined && header.length < 4096 && /^basic /i.test(header)) {
    given = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  }
  // Comparing fixed-size digests keeps the time independent of where (or whether) the strings differ.
  return timingSafeEqual(digest(given), expectedDigest);
}

/** Close a server and its keep-alive connections; resolves when done (at once if not listening). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
