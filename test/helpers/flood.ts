/**
 * Floods of idle connections against the listeners of test/fixtures/apps/fd-app.mjs (an application
 * under `node --import ./register.js` with a line protocol of its own), for the listener-bounds
 * and descriptor-exhaustion tests. Every loop is bounded by a count and a deadline.
 */
import net from 'node:net';
import { join } from 'node:path';
import { runNode, REPO_ROOT, type NodeChild } from './child.js';

const APP = join(REPO_ROOT, 'test/fixtures/apps/fd-app.mjs');

export interface App {
  child: NodeChild;
  metrics: number;
  health: number;
  app: number;
}

/** The app on free ports of 127.0.0.1; `fdLimit` runs it under `ulimit -n`; `env` is added to its environment. */
export async function startFdApp(t: { teardown(fn: () => unknown): void }, fdLimit?: number, env: Record<string, string> = {}): Promise<App> {
  const child = runNode({
    t,
    ...(fdLimit !== undefined ? { fdLimit } : {}),
    importRegister: true,
    args: [APP],
    env: { OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1', CARDLINK_HEALTH_HOST: '127.0.0.1', OTEL_EXPORTER_OTLP_ENDPOINT: undefined, ...env },
    timeoutMs: 120_000,
  });
  const [, metrics, health, app] = (await child.waitForLine(/^ports \d+ \d+ \d+$/, 15_000)).split(' ').map(Number);
  return { child, metrics: metrics!, health: health!, app: app! };
}

/** One connection to the application's own server for several commands, each answered by one line. */
export async function appSession(port: number): Promise<{ send(command: string): Promise<string>; close(): void }> {
  const s = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  s.setEncoding('utf8');
  s.setTimeout(20_000, () => s.destroy(new Error('app session: no answer')));
  let buf = '';
  const waiting: Array<{ resolve: (line: string) => void; reject: (err: Error) => void }> = [];
  s.on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      waiting.shift()?.resolve(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  s.on('error', () => undefined);
  s.on('close', () => {
    for (const w of waiting.splice(0)) w.reject(new Error('app session: closed before an answer'));
  });
  return {
    send: (command) =>
      new Promise((resolve, reject) => {
        if (s.destroyed) return reject(new Error(`${command}: connection closed`));
        waiting.push({ resolve, reject });
        s.write(`${command}\n`);
      }),
    close: () => s.end(),
  };
}

/** One line exchanged with the application's own server, on a new connection (its own accept). */
export async function appCommand(port: number, command: string): Promise<string> {
  const session = await appSession(port);
  try {
    return await session.send(command);
  } finally {
    session.close();
  }
}

interface Held {
  socket: net.Socket;
  received: string;
  closed: boolean;
}

/** Opens `n` connections that send nothing; each records what it received and whether the server closed it. */
function openIdle(port: number, n: number): Held[] {
  const held: Held[] = [];
  for (let i = 0; i < n; i++) {
    const h: Held = { socket: net.connect(port, '127.0.0.1'), received: '', closed: false };
    h.socket.setEncoding('latin1');
    h.socket.on('data', (d: string) => (h.received += d));
    h.socket.on('error', () => undefined);
    h.socket.on('close', () => (h.closed = true));
    held.push(h);
  }
  return held;
}

/**
 * Keeps `n` connections that send nothing open on `port`, opening a new one whenever the server
 * closes one (a stranger holding a listener's slots); `stop()` closes them and says how many the
 * server closed meanwhile.
 */
export function holdSlots(port: number, n: number): { stop(): number } {
  let stopped = false;
  let closedByServer = 0;
  const open = new Set<net.Socket>();
  const one = (): void => {
    const s = net.connect(port, '127.0.0.1');
    open.add(s);
    s.on('error', () => undefined);
    s.on('close', () => {
      open.delete(s);
      if (stopped) return;
      closedByServer++;
      one();
    });
  };
  for (let i = 0; i < n; i++) one();
  return {
    stop() {
      stopped = true;
      for (const s of open) s.destroy();
      return closedByServer;
    },
  };
}

/** Resolves when `done()` holds or `deadlineMs` passed (then false); polls every 50 ms. */
async function until(done: () => boolean, deadlineMs: number): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (!done()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

export interface FloodResult {
  /** Closed by the server without a byte: refused over the cap. */
  refused: number;
  /** Kept, then answered 408 at the header timeout. */
  timedOut: number;
  /** Still open at the deadline (then destroyed by the test). */
  stillOpen: number;
}

function tally(held: Held[]): FloodResult {
  const r: FloodResult = { refused: 0, timedOut: 0, stillOpen: 0 };
  for (const h of held) {
    if (!h.closed) r.stillOpen++;
    else if (h.received === '') r.refused++;
    else if (h.received.startsWith('HTTP/1.1 408')) r.timedOut++;
  }
  return r;
}

/** Floods both listeners with `perPort` idle connections each; every one must be closed by the server within `deadlineMs`. */
export async function floodBoth(
  a: App,
  perPort: number,
  cap: number,
  deadlineMs: number,
  whileHeld?: () => Promise<void>,
): Promise<Record<'metrics' | 'health', FloodResult>> {
  const metrics = openIdle(a.metrics, perPort);
  const health = openIdle(a.health, perPort);
  const all = [...metrics, ...health];
  try {
    // Every connection over the caps is closed at once; the ones kept stay open until the header timeout.
    await until(() => all.filter((h) => h.closed).length >= all.length - 2 * cap, 10_000);
    if (whileHeld) await whileHeld();
    await until(() => all.every((h) => h.closed), deadlineMs);
    return { metrics: tally(metrics), health: tally(health) };
  } finally {
    for (const h of all) h.socket.destroy();
  }
}

