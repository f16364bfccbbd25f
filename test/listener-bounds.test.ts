/**
 * Our two listeners (/metrics and the health endpoints) under abuse, against an application under
 * `node --import ./register.js` on 127.0.0.1 (test/fixtures/apps/fd-app.mjs):
 *
 * - a flood of 1,100 idle connections: each listener keeps at most its cap (connectionCap()),
 *   closes every other connection at once without a byte, and cuts the ones it kept at the header
 *   timeout (408); the application's own port keeps working, and a scrape succeeds afterwards;
 * - slow headers (one byte every 100 ms): cut with a 408 before the headers are complete;
 * - 4 connections pipelining 25,000 readiness probes each: at most maxRequestsPerSocket answered
 *   per connection, then the connection is closed.
 *
 * Every loop is bounded (counts and a deadline) and stops by itself; no wall-time assertion.
 */
import t from 'tap';
import net from 'node:net';
import { request } from './helpers/http.js';
import { appCommand, floodBoth, holdSlots, startFdApp } from './helpers/flood.js';
import { readFileSync } from 'node:fs';
import { LISTENER_BOUNDS, connectionCap, parseSoftFdLimit } from '../src/listen.js';

const CAP = connectionCap();

t.test('the connection cap follows the soft descriptor limit of /proc/self/limits', async (t) => {
  const limits = (soft: string) =>
    `Limit                     Soft Limit           Hard Limit           Units\nMax cpu time              unlimited            unlimited            seconds\nMax open files            ${soft}                 1048576              files\n`;
  t.equal(parseSoftFdLimit(limits('1024')), 1024);
  t.equal(parseSoftFdLimit(limits('unlimited')), Infinity);
  t.equal(parseSoftFdLimit('Max processes 100 100 processes\n'), undefined, 'no such line');
  t.same([100, 256, 1024, 2048, 20_000, Infinity].map((n) => connectionCap(n)), [8, 8, 32, 64, 64, 64]);
  t.equal(connectionCap(), connectionCap(parseSoftFdLimit(readFileSync('/proc/self/limits', 'latin1'))), 'this process: from its own limits');
});

t.test(`1,100 idle connections: each listener keeps at most ${CAP}, refuses the rest at once, cuts its own at the header timeout`, async (t) => {
  const a = await startFdApp(t);
  t.equal((await request(a.metrics, '/metrics')).status, 200, 'a scrape before');
  let during: string | undefined;
  let duringAccept: string | undefined;
  const r = await floodBoth(a, 550, CAP, LISTENER_BOUNDS.headersTimeoutMs + 10_000, async () => {
    during = await appCommand(a.app, 'work');
    duringAccept = await appCommand(a.app, 'work');
  });
  t.comment(`metrics ${JSON.stringify(r.metrics)}, health ${JSON.stringify(r.health)}`);
  for (const [name, f] of Object.entries(r)) {
    t.equal(f.stillOpen, 0, `${name}: every connection closed by the server (none left to the client's patience)`);
    t.ok(f.timedOut <= CAP, `${name}: at most ${CAP} kept (${f.timedOut})`);
    t.ok(f.refused >= 550 - CAP, `${name}: the rest refused without a byte (${f.refused})`);
    t.equal(f.refused + f.timedOut, 550, `${name}: nothing else happened to them`);
  }
  t.equal(during, 'ok', "the application's own work (open, spawn, monitor) while the flood holds");
  t.equal(duringAccept, 'ok', 'and its own accept');
  t.equal((await request(a.metrics, '/metrics')).status, 200, 'a scrape once the flood is gone');
  t.equal((await request(a.health, '/health/ready')).status, 200, 'a probe too');
  t.match(a.child.stderr(), /\/metrics holds at most \d+ open connections: the longest-held idle ones are closed to make room for new ones\./);
  t.match(a.child.stderr(), /the health endpoints holds at most \d+ open connections: the longest-held idle ones are closed to make room for new ones\./);
  t.equal(a.child.child.exitCode, null, 'the application runs');
});

t.test(`a stranger holding ${CAP + 8} idle connections (reopened as they are closed): liveness and readiness probes still answered`, async (t) => {
  const a = await startFdApp(t);
  const stranger = holdSlots(a.health, CAP + 8);
  const statuses: number[] = [];
  try {
    // Let the stranger fill every slot first.
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < 10; i++) {
      const path = i % 2 === 0 ? '/health/live' : '/health/ready';
      statuses.push((await request(a.health, path, { timeoutMs: 5_000 }).catch(() => ({ status: 0 }))).status);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    const closed = stranger.stop();
    t.ok(closed >= 8, `the server closed the stranger's longest-held connections to make room (${closed})`);
  }
  t.same(statuses, Array(10).fill(200), 'every probe answered 200');
  t.equal(a.child.child.exitCode, null, 'the application runs');
});

/** Sends `text` one byte every `everyMs`; resolves with what came back and how many bytes went out before the server closed. */
function slowHeaders(port: number, text: string, everyMs: number): Promise<{ sent: number; received: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setEncoding('latin1');
    let sent = 0;
    let received = '';
    let timer: NodeJS.Timeout | undefined;
    const finish = (closedByServer: boolean): void => {
      clearInterval(timer);
      s.destroy();
      resolve({ sent, received, closedByServer });
    };
    s.on('data', (d: string) => (received += d));
    s.on('error', () => undefined);
    s.on('close', () => finish(true));
    s.on('connect', () => {
      timer = setInterval(() => {
        if (sent < text.length) s.write(text[sent++]!);
        // All sent and still open two intervals later: the server never cut us.
        else if (sent++ >= text.length + 20) finish(false);
      }, everyMs);
    });
  });
}

t.test(`slow headers (a byte every 100 ms) are cut with a 408 at the header timeout (${LISTENER_BOUNDS.headersTimeoutMs} ms), before they are complete`, async (t) => {
  const a = await startFdApp(t);
  // 3 header timeouts' worth of bytes: the server must cut it a long way before the end.
  const everyMs = 100;
  const length = Math.ceil((3 * LISTENER_BOUNDS.headersTimeoutMs) / everyMs);
  const head = 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ';
  const text = `${head}${'a'.repeat(length - head.length - 4)}\r\n\r\n`;
  const results = await Promise.all([
    slowHeaders(a.metrics, text, everyMs),
    slowHeaders(a.health, text.replace('/metrics', '/health/ready'), everyMs),
  ]);
  for (const [i, r] of results.entries()) {
    const name = i === 0 ? 'metrics' : 'health';
    t.comment(`${name}: cut after ${r.sent} of ${text.length} bytes`);
    t.ok(r.closedByServer, `${name}: the server closed the connection`);
    t.ok(r.sent < text.length, `${name}: before the headers were complete (${r.sent} of ${text.length} bytes)`);
    t.match(r.received, /^HTTP\/1\.1 408 Request Timeout\r\n/, `${name}: 408`);
  }
});

/** Writes `count` pipelined requests on one connection; resolves with how many answers came back. */
function pipeline(port: number, path: string, count: number, deadlineMs: number): Promise<{ answers: number; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setEncoding('latin1');
    let text = '';
    const done = (closedByServer: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ answers: text.split('HTTP/1.1 ').length - 1, closedByServer });
    };
    const timer = setTimeout(() => done(false), deadlineMs);
    s.on('data', (d: string) => (text += d));
    s.on('error', () => undefined);
    s.on('close', () => done(true));
    s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`.repeat(count)));
  });
}

t.test(`4 x 25,000 pipelined readiness probes: at most ${LISTENER_BOUNDS.maxRequestsPerSocket} answered per connection, then closed`, async (t) => {
  const a = await startFdApp(t);
  const [live, ...runs] = await Promise.all([
    request(a.health, '/health/live', { timeoutMs: 30_000 }),
    ...[0, 1, 2, 3].map(() => pipeline(a.health, '/health/ready', 25_000, 20_000)),
    pipeline(a.metrics, '/metrics', 25_000, 20_000),
  ]);
  t.equal(live.status, 200, 'liveness answers beside the flood');
  for (const [i, r] of runs.entries()) {
    t.ok(r.closedByServer, `connection ${i}: closed by the server`);
    t.ok(r.answers <= LISTENER_BOUNDS.maxRequestsPerSocket, `connection ${i}: ${r.answers} answers, not 25,000`);
  }
  t.equal(await appCommand(a.app, 'work'), 'ok', 'the application works afterwards');
  t.equal((await request(a.health, '/health/ready')).status, 200, 'and a new probe is answered');
});
