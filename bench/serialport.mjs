// Overhead of the serialport instrumentation, measured side by side in one process. Two copies of
// `serialport` are loaded: one before the instrumentation is registered (plain), one after
// (instrumented, patched by the require hook as in production). Each phase has one socat pty pair
// and one peer process; the two copies' ports take turns on it, block by block, in alternating
// order, so load from other processes hits both alike; the overhead printed is the median over
// rounds of the per-round ratio. Nothing is patched or restored while measuring: flipping the
// shared prototype (enable()/disable()) throws V8's optimized code for the stream methods away
// each time, and a pty pair per variant differed by up to 10% in A/A runs (BENCH_SERIALPORT_AA=1
// loads two plain copies: the overhead it prints is this bench's own noise). Measured:
//
//   - pure data: random binary (no AT traffic, but CR and LF bytes like any binary payload) through
//     a real `serialport` on a socat pty pair (`pty,raw,echo=0` both ends), a peer process on the
//     far end; app -> peer and peer -> app measured separately, each flow-controlled: at most
//     WINDOW bytes in flight, the receiver acknowledging out of band (over the peer's
//     stdin/stdout, never through the pty), so no block can stall on a full pty. Every block is
//     the same BLOCK_BYTES of seeded pseudo-random bytes (payload()): both variants and every run
//     decode the same bytes. One random 4 KB chunk sent over and over, as before, made the
//     decoder's work a roll of the dice per run: written lines per chunk are its CR count
//     (16 +- 4), and a CR LF followed by a short line without control bytes in it made every read
//     chunk a URC (recorded, a setImmediate each);
//   - AT round trips: `AT+CSQ` -> `+CSQ: 20,99` / `OK` through ReadlineParser against the modem
//     simulator in a peer process, on a socat pty pair, answering after 2 ms (a fast real modem;
//     IoT modems take several ms per command), with spans and metrics only (no trace exporter, as
//     `register.js` by default), and, informational, at once;
//   - the same round trips against serialport's in-process mock binding, which answers in
//     microseconds: no modem does, so this row shows the absolute cost per command (worst case).
//
// Why not both directions at once: @serialport/bindings-cpp 13's Poller restarts its uv_poll with
// only the newly asked event (`uv_poll_start(handle, events, ...)`, not the union it keeps in
// `this->events`). A port that waits for `writable` (pty full) therefore stops watching `readable`;
// when the far side floods too, socat blocks writing towards the app, the app's write never drains
// and both directions stall for good, instrumented or not (seen with DEBUG=serialport/bindings-cpp/*:
// the last lines are "Polling for readable", then "Polling for writable"). One direction at a time,
// the port only ever waits for one of the two, which is what a modem data session does anyway.
//
// Every block has a deadline: a stall fails the run with what was moved so far, never hangs it.
// "app CPU" is this process's CPU time (all threads) per MB or round trip: where the cost shows even
// when socat, the peer or the pty bound the throughput.
// The `met` column judges the realistic rows: pure data both directions and AT round trips against
// the simulator answering after 2 ms, with and without spans; the other two AT rows are informational.
//
// BENCH_SERIALPORT_ROWS=data runs only the two pure-data rows, =at only the four AT rows (default:
// all six); BENCH_ROUNDS sets the measured rounds of every row (default 9 for the AT rows, 25 for
// the pure-data rows: their per-round ratios spread more, and A/A runs of 9 rounds printed -2.3 to
// +2.1%, as much as the goal).
//
// Needs `npm run build` (imports dist/) and socat. `node bench/serialport.mjs` or `npm run bench serialport`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import tty from 'node:tty';
import { fileURLToPath } from 'node:url';
import { metrics, trace } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { median, spreadPct, fmt, printTable } from './lib.mjs';

const DIST = new URL('../dist/', import.meta.url);
const SELF = fileURLToPath(import.meta.url);
// Per direction, variant and round; moved in blocks, the variant alternating block by block.
const DATA_BYTES = 16 * 1024 * 1024;
const BLOCK_BYTES = 512 * 1024;
const CHUNK = 4 * 1024; // one write (app: port.write, peer: fs.write on the pty)
const WINDOW = 64 * 1024; // bytes in flight at most, sent but not acknowledged by the receiver
const ACK_EVERY = 16 * 1024; // the receiver acknowledges (cumulative count) at least this often
// Round trips per variant and round, and per block.
const SLOW_ROUND_TRIPS = 250;
const SLOW_BLOCK = 25;
const MODEM_DELAY_MS = 2;
const PTY_ROUND_TRIPS = 1000;
const PTY_BLOCK = 100;
const AT_WARMUP_ROUNDS = 3; // of PTY_ROUND_TRIPS per variant, before any AT row is measured
const MOCK_ROUND_TRIPS = 20_000;
const MOCK_BLOCK = 2000;
const SETUP_TIMEOUT_MS = 10_000; // socat up, peer ready, port open / closed
const DATA_TIMEOUT_MS = 20_000; // one block of pure data (512 KB: about 10 ms normally)
const AT_TIMEOUT_MS = 20_000; // one block of round trips (under 100 ms normally)

/**
 * `n` pseudo-random bytes from `seed` (xorshift32): what the pure-data rows send, the same in every
 * run, with the CR, LF and other control bytes of random binary at their usual rates.
 */
function payload(n, seed) {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = (x >>> 24) & 0xff;
  }
  return b;
}

/** `p` or a rejection after `ms` naming `what` and, if given, the progress made so far. */
function deadline(p, ms, what, progress) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const detail = progress ? ` (${progress()})` : '';
      reject(new Error(`serialport bench: ${what} did not finish within ${ms / 1000} s${detail}`));
    }, ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// ------------------------------------------------------------------------------ peer process

/**
 * `node bench/serialport.mjs --peer <pty path> modem|modem-delayed|data`: the far end of a pty pair.
 * data: driven by lines on stdin, reports on stdout (out of band, never through the pty):
 *   `p2a <bytes>`  write <bytes> to the pty, at most WINDOW beyond the last `credit`;
 *   `credit <n>`   the app has received n bytes of the current p2a transfer;
 *   `a2p <bytes>`  print `armed`, then expect <bytes> from the app and print `ack <n>` (cumulative)
 *                  every ACK_EVERY bytes and at the end.
 */
async function peer(path, role) {
  if (role === 'modem' || role === 'modem-delayed') {
    const { startModemSimulator } = await import(new URL('test/fixtures/modem-simulator.js', DIST).href);
    await startModemSimulator(path, role === 'modem' ? {} : { overrides: { '+CSQ': { delayMs: MODEM_DELAY_MS } } });
    console.log('ready');
    return;
  }
  const out = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NOCTTY); // blocking: fs.write waits for room
  const input = new tty.ReadStream(fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NOCTTY));
  const data = payload(BLOCK_BYTES, 2); // p2a: a transfer is one block, sent from its start
  let expect = 0; // a2p
  let got = 0;
  let acked = 0;
  let total = 0; // p2a
  let sent = 0;
  let credit = 0;
  let transfer = 0; // a write of the previous transfer may finish after the next one began
  let pumping = false;
  const fail = (err) => {
    console.error(`serialport bench peer: ${err?.stack ?? err}`);
    process.exit(2);
  };
  input.on('data', (d) => {
    got += d.length;
    if (got > expect) fail(new Error(`received ${got} bytes, expected ${expect}`));
    if (got - acked >= ACK_EVERY || got === expect) {
      acked = got;
      console.log(`ack ${got}`);
    }
  });
  input.on('error', fail);
  const pump = async () => {
    if (pumping) return;
    pumping = true;
    try {
      while (sent < total && sent - credit < WINDOW) {
        const n = Math.min(CHUNK, total - sent, WINDOW - (sent - credit));
        const t = transfer;
        const written = await new Promise((resolve, reject) =>
          fs.write(out, data, sent, n, null, (e, w) => (e ? reject(e) : resolve(w))),
        );
        if (t === transfer) sent += written;
      }
    } catch (err) {
      fail(err);
    } finally {
      pumping = false;
    }
  };
  let partial = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (s) => {
    const lines = (partial + s).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      const [cmd, arg] = line.split(' ');
      const n = Number(arg);
      if (cmd === 'a2p') {
        expect = n;
        got = 0;
        acked = 0;
        console.log('armed');
        continue;
      } else if (cmd === 'p2a') {
        transfer++;
        total = n;
        sent = 0;
        credit = 0;
      } else if (cmd === 'credit') credit = n;
      else continue;
      void pump();
    }
  });
  process.stdin.on('end', () => process.exit(0));
  console.log('ready');
}

function startPeer(path, role) {
  const child = spawn(process.execPath, [SELF, '--peer', path, role], { stdio: ['pipe', 'pipe', 'inherit'] });
  const listeners = new Set();
  let partial = '';
  let exited = null;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s) => {
    const parts = (partial + s).split('\n');
    partial = parts.pop();
    for (const line of parts) for (const l of [...listeners]) l(line);
  });
  child.on('exit', (code, signal) => {
    exited = `peer (${role}) exited with ${signal ?? code}`;
    for (const l of [...listeners]) l(null);
  });
  child.stdin.on('error', () => {}); // a dead peer is reported by its exit
  /** Calls fn(line) for each line the peer prints (null once it exited) until it is removed. */
  const onLine = (fn) => {
    listeners.add(fn);
    return () => listeners.delete(fn);
  };
  const ready = deadline(
    new Promise((resolve, reject) => {
      const off = onLine((line) => {
        if (line === null) reject(new Error(exited));
        else if (line === 'ready') resolve(off());
      });
    }),
    SETUP_TIMEOUT_MS,
    `peer (${role}) start`,
  );
  const kill = () =>
    exited === null
      ? deadline(new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGKILL'))), SETUP_TIMEOUT_MS, 'peer exit')
      : undefined;
  return { child, ready, onLine, kill, exitReason: () => exited, send: (s) => child.stdin.write(`${s}\n`) };
}

async function ptyPair() {
  const { openPtyPair } = await import(new URL('test/fixtures/modem-simulator.js', DIST).href);
  return deadline(openPtyPair(), SETUP_TIMEOUT_MS, 'socat pty pair');
}

// ------------------------------------------------------------------------------ benchmark

class Reader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}

/**
 * Two copies of `serialport` in this process: `plain` loaded before the instrumentation is
 * registered (never patched), `instrumented` loaded after (patched by the require hook, as under
 * --import ./register.js). Both use the same native binding; only the JS of `serialport` and
 * `@serialport/stream` is loaded twice.
 */
function loadTwoCopies(register, aa) {
  const require = createRequire(import.meta.url);
  const ours = /[\\/]node_modules[\\/](serialport|@serialport[\\/]stream)[\\/]/;
  const forget = () => {
    for (const key of Object.keys(require.cache)) if (ours.test(key)) delete require.cache[key];
  };
  forget(); // a copy another benchmark of the same run loaded (and maybe patched)
  const plain = require('serialport');
  forget();
  if (!aa) register();
  const instrumented = require('serialport');
  const patched = (m) => {
    const proto = Object.getPrototypeOf(m.SerialPort.prototype);
    return proto[Symbol.for('cardlink-otel.serialport.patched')] === true;
  };
  if (aa) return { plain, instrumented };
  if (patched(plain) || !patched(instrumented)) {
    throw new Error('serialport bench: could not load one plain and one instrumented copy of serialport');
  }
  return { plain, instrumented };
}

export async function run({
  rounds = Number(process.env.BENCH_ROUNDS ?? 9),
  dataRounds = Number(process.env.BENCH_ROUNDS ?? 25),
} = {}) {
  const { catalogueViews } = await import(new URL('src/metrics/views.js', DIST).href);
  const { SerialportInstrumentation } = await import(new URL('instrumentations/serialport/index.js', DIST).href);
  const { setTracingEnabled } = await import(new URL('src/tracing-state.js', DIST).href);
  const tracerProvider = new BasicTracerProvider(); // spans are sampled, created and ended; not exported
  trace.setGlobalTracerProvider(tracerProvider);
  const meterProvider = new MeterProvider({ views: catalogueViews(), readers: [new Reader()] });
  metrics.setGlobalMeterProvider(meterProvider);
  const instr = new SerialportInstrumentation();
  // BENCH_SERIALPORT_AA=1: both copies plain (an A/A run): what is then printed as overhead is the
  // bench's own noise, below which no real overhead can be told apart.
  const aa = process.env.BENCH_SERIALPORT_AA === '1';
  const rowsWanted = process.env.BENCH_SERIALPORT_ROWS ?? 'all';
  if (!['all', 'data', 'at'].includes(rowsWanted)) throw new Error(`BENCH_SERIALPORT_ROWS: all, data or at, not ${rowsWanted}`);
  const dataRows = rowsWanted !== 'at';
  const atRows = rowsWanted !== 'data';
  const copies = loadTwoCopies(() => registerInstrumentations({ instrumentations: [instr], tracerProvider, meterProvider }), aa);
  const { ReadlineParser } = await import('@serialport/parser-readline');
  const VARIANTS = ['plain', 'instrumented'];

  const openPort = (port) =>
    deadline(new Promise((resolve, reject) => port.open((e) => (e ? reject(e) : resolve()))), SETUP_TIMEOUT_MS, `open ${port.path}`);
  const closePort = (port) =>
    port.isOpen ? deadline(new Promise((resolve) => port.close(() => resolve())), SETUP_TIMEOUT_MS, `close ${port.path}`) : undefined;
  const cleanup = [];

  /**
   * One socat pty pair with a peer process on its far end, and one port per copy of serialport on
   * its near end, taking turns: a block opens its variant's port, moves its traffic and closes it
   * (open and close are not timed). The same pty, socat and peer for both variants: a pty pair and
   * peer per variant differed by up to 10% in A/A runs (depending on where their processes ran).
   */
  const ptyLane = async (role) => {
    const pair = await ptyPair();
    cleanup.push(() => pair.close());
    const peerProc = startPeer(pair.modemPath, role);
    cleanup.push(() => peerProc.kill());
    await peerProc.ready;
    // Keeps the app side of the pty open while neither port has it open (no hang-up in between).
    const holder = fs.openSync(pair.appPath, fs.constants.O_RDWR | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK);
    cleanup.push(() => fs.closeSync(holder));
    const ports = {};
    for (const v of VARIANTS) {
      ports[v] = new copies[v].SerialPort({ path: pair.appPath, baudRate: 115200, autoOpen: false });
      ports[v].on('error', () => {}); // surfaced by the stalled block's deadline instead
      cleanup.push(() => closePort(ports[v]));
    }
    return { peer: peerProc, ports, enter: (v) => openPort(ports[v]), leave: (v) => closePort(ports[v]) };
  };

  /**
   * `warmup` rounds, then `measured` rounds (default: `rounds`). A round runs `pairs` pairs of
   * blocks, one block per variant, in alternating order (plain first, then instrumented first, ...), so load from
   * other processes hits both alike. `lane.block(v)` moves `units` (bytes, round trips) through
   * variant v's port, between `lane.enter(v)` and `lane.leave(v)` (not timed). Returns per round
   * and variant: units per second (wall) and CPU µs of this process per unit.
   */
  const measure = async (lane, pairs, units, warmup = 1, measured = rounds) => {
    const out = { plain: [], instrumented: [], cpuPlain: [], cpuInstrumented: [] };
    for (let r = 0; r < warmup + measured; r++) {
      const acc = { plain: { s: 0, cpu: 0 }, instrumented: { s: 0, cpu: 0 } };
      for (let k = 0; k < pairs; k++) {
        for (const v of (k + r) % 2 ? [...VARIANTS].reverse() : VARIANTS) {
          await lane.enter?.(v);
          const c0 = process.cpuUsage();
          const t0 = process.hrtime.bigint();
          await lane.block(v);
          acc[v].s += Number(process.hrtime.bigint() - t0) / 1e9;
          const c = process.cpuUsage(c0);
          acc[v].cpu += c.user + c.system;
          await lane.leave?.(v);
        }
      }
      if (r < warmup) continue; // JIT, first sight of the port
      const total = units * pairs;
      out.plain.push(total / acc.plain.s);
      out.instrumented.push(total / acc.instrumented.s);
      out.cpuPlain.push(acc.plain.cpu / total);
      out.cpuInstrumented.push(acc.instrumented.cpu / total);
    }
    return out;
  };

  /** Pure data through a pty, one direction at a time, flow-controlled. */
  const dataBench = async () => {
    const data = payload(BLOCK_BYTES, 1); // a2p: every block sends it from its start
    const dataLane = await ptyLane('data');
    const dataPeer = dataLane.peer;
    let received = 0;
    let onReceived = null;
    for (const v of VARIANTS) {
      dataLane.ports[v].on('data', (d) => {
        received += d.length;
        onReceived?.();
      });
    }

    // app -> peer: write while fewer than WINDOW bytes are unacknowledged (and the port takes them);
    // done when the peer acknowledged the last byte.
    const appToPeer = (v) => {
      const port = dataLane.ports[v];
      let sent = 0;
      let acked = 0;
      let stop = () => {};
      const transfer = new Promise((resolve, reject) => {
        let wake = null;
        let armed;
        const isArmed = new Promise((r) => (armed = r));
        stop = dataPeer.onLine((line) => {
          if (line === null) return reject(new Error(dataPeer.exitReason()));
          if (line === 'armed') return armed();
          if (!line.startsWith('ack ')) return;
          acked = Number(line.slice(4));
          wake?.();
        });
        dataPeer.send(`a2p ${BLOCK_BYTES}`);
        (async () => {
          await isArmed;
          while (sent < BLOCK_BYTES) {
            if (sent - acked >= WINDOW) await new Promise((r) => (wake = r));
            else {
              const n = Math.min(CHUNK, BLOCK_BYTES - sent);
              sent += n;
              if (!port.write(data.subarray(sent - n, sent))) await new Promise((r) => port.once('drain', r));
            }
          }
          while (acked < BLOCK_BYTES) await new Promise((r) => (wake = r));
        })().then(resolve, reject);
      });
      return deadline(transfer, DATA_TIMEOUT_MS, `pure data app -> peer (${v})`, () =>
        `app wrote ${sent} of ${BLOCK_BYTES} bytes, peer acknowledged ${acked}`,
      ).finally(() => stop());
    };

    // peer -> app: the peer writes while fewer than WINDOW bytes are beyond the app's last credit;
    // done when the app received the last byte.
    const peerToApp = (v) => {
      let stop = () => {};
      const transfer = new Promise((resolve, reject) => {
        received = 0;
        let credited = 0;
        stop = dataPeer.onLine((line) => line === null && reject(new Error(dataPeer.exitReason())));
        onReceived = () => {
          if (received > BLOCK_BYTES) return reject(new Error(`received ${received} bytes, expected ${BLOCK_BYTES}`));
          if (received - credited >= ACK_EVERY || received === BLOCK_BYTES) {
            credited = received;
            dataPeer.send(`credit ${received}`);
          }
          if (received === BLOCK_BYTES) resolve();
        };
        dataPeer.send(`p2a ${BLOCK_BYTES}`);
      });
      return deadline(transfer, DATA_TIMEOUT_MS, `pure data peer -> app (${v})`, () =>
        `app received ${received} of ${BLOCK_BYTES} bytes`,
      ).finally(() => {
        onReceived = null;
        stop();
      });
    };

    const DATA_PAIRS = DATA_BYTES / BLOCK_BYTES;
    const a2p = await measure({ ...dataLane, block: appToPeer }, DATA_PAIRS, BLOCK_BYTES, 1, dataRounds);
    const p2a = await measure({ ...dataLane, block: peerToApp }, DATA_PAIRS, BLOCK_BYTES, 1, dataRounds);
    return { a2p, p2a };
  };

  /** AT round trips: `n` times AT+CSQ, the next one written once `OK` arrived. */
  const atBench = async () => {
    const roundTrips = (port, n, answer) => {
      const parser = port.pipe(new ReadlineParser({ delimiter: '\r\n' }));
      let done = 0;
      let resolveBlock = null;
      const write = () => port.write('AT+CSQ\r', answer);
      parser.on('data', (line) => {
        if (line !== 'OK' || resolveBlock === null) return;
        if (++done >= n) resolveBlock();
        else write();
      });
      return () => {
        done = 0;
        const block = new Promise((resolve) => {
          resolveBlock = resolve;
          write();
        });
        return deadline(block, AT_TIMEOUT_MS, `AT round trips on ${port.path}`, () => `${done} of ${n} answered`).finally(
          () => (resolveBlock = null),
        );
      };
    };
    const atLane = async (role, n) => {
      const lane = await ptyLane(role);
      const blocks = { plain: roundTrips(lane.ports.plain, n), instrumented: roundTrips(lane.ports.instrumented, n) };
      return { ...lane, block: (v) => blocks[v]() };
    };
    // The simulator answering at once goes first, with AT_WARMUP_ROUNDS: V8 optimizes the decoder's
    // command path only after a few thousand commands (before that, on this kind of machine, a
    // command costs over 100 µs more instead of a few); the rows report the steady state of a
    // long-running process, which the modem answering after 2 ms then measures.
    const ptyAt = await measure(await atLane('modem', PTY_BLOCK), PTY_ROUND_TRIPS / PTY_BLOCK, PTY_BLOCK, AT_WARMUP_ROUNDS);
    const slowLane = await atLane('modem-delayed', SLOW_BLOCK);
    const slowAt = await measure(slowLane, SLOW_ROUND_TRIPS / SLOW_BLOCK, SLOW_BLOCK);
    // The same without spans: what `register.js` does when no trace exporter is configured (its
    // default: metrics on the Prometheus endpoint only), as in bench/tls-session.
    setTracingEnabled(false);
    const slowAtMetrics = await measure(slowLane, SLOW_ROUND_TRIPS / SLOW_BLOCK, SLOW_BLOCK);
    setTracingEnabled(true);

    // ---- the same round trips against the in-process mock binding (answers at once); one mock
    // port per copy, both left open
    const ANSWER = Buffer.from('\r\n+CSQ: 20,99\r\n\r\nOK\r\n');
    const mockBlocks = {};
    for (const v of VARIANTS) {
      const { SerialPortMock } = copies[v];
      SerialPortMock.binding.createPort(`/dev/bench-${v}`, { echo: false });
      const port = new SerialPortMock({ path: `/dev/bench-${v}`, baudRate: 115200, autoOpen: false });
      await openPort(port);
      cleanup.push(() => closePort(port));
      mockBlocks[v] = roundTrips(port, MOCK_BLOCK, () => port.port.emitData(ANSWER));
    }
    const mockAt = await measure({ block: (v) => mockBlocks[v]() }, MOCK_ROUND_TRIPS / MOCK_BLOCK, MOCK_BLOCK);
    return { ptyAt, slowAt, slowAtMetrics, mockAt };
  };

  try {
    const data = dataRows ? await dataBench() : null;
    const at = atRows ? await atBench() : null;

    // Overhead: the median over rounds of plain / instrumented within the round (± the median
    // deviation of those ratios: what this machine's noise allows to resolve).
    const row = (what, r, unit, scale, goal, cpuUnit) => {
      const p = median(r.plain);
      const i = median(r.instrumented);
      const ratios = r.plain.map((x, k) => (x / r.instrumented[k] - 1) * 100);
      const overhead = median(ratios);
      const noise = median(ratios.map((x) => Math.abs(x - overhead)));
      const cp = median(r.cpuPlain);
      const ci = median(r.cpuInstrumented);
      const [cpuName, cpuScale] = cpuUnit;
      const added = (ci - cp) * cpuScale;
      return {
        row: `serialport: ${what}`,
        compared: 'same traffic through an uninstrumented copy of serialport',
        measured:
          `plain ${fmt(p * scale)} ${unit} (±${fmt(spreadPct(r.plain))}%), instrumented ${fmt(i * scale)} ${unit} ` +
          `(±${fmt(spreadPct(r.instrumented))}%); overhead ${fmt(overhead)}% (±${fmt(noise)}, median of ${ratios.length} rounds); ` +
          `app CPU ${fmt(cp * cpuScale, 2)} vs ${fmt(ci * cpuScale, 2)} ${cpuName} (${added >= 0 ? '+' : ''}${fmt(added, 2)})`,
        goal: goal === null ? 'informational' : `< ${goal}% overhead`,
        met: goal === null ? true : overhead < goal,
      };
    };
    const MB = 2 ** 20;
    const size = `${DATA_BYTES / MB} MB per variant and round in ${BLOCK_BYTES / 1024} KB blocks, ${CHUNK / 1024} KB writes, ${WINDOW / 1024} KB window`;
    const perMB = ['ms/MB', MB / 1000];
    const perRT = ['µs/round trip', 1];
    return [
      ...(data === null
        ? []
        : [
            row(`pure data app -> peer, socat pty (${size})`, data.a2p, 'MB/s', 1 / MB, 2, perMB),
            row(`pure data peer -> app, socat pty (${size})`, data.p2a, 'MB/s', 1 / MB, 2, perMB),
          ]),
      ...(at === null
        ? []
        : [
            row(`AT round trips, simulator answering after ${MODEM_DELAY_MS} ms on a socat pty, with spans (a trace exporter configured)`, at.slowAt, 'round trips/s', 1, 2, perRT),
            row(`AT round trips, the same, metrics only (no trace exporter: register.js's default)`, at.slowAtMetrics, 'round trips/s', 1, 2, perRT),
            row('AT round trips, simulator answering at once on a socat pty', at.ptyAt, 'round trips/s', 1, null, perRT),
            row('AT round trips, in-process mock modem (worst case)', at.mockAt, 'round trips/s', 1, null, perRT),
          ]),
    ];
  } finally {
    instr.disable();
    for (const c of cleanup.reverse()) {
      try {
        await c();
      } catch (err) {
        process.stderr.write(`serialport bench cleanup: ${err instanceof Error ? err.message : err}\n`);
      }
    }
  }
}

if (process.argv[2] === '--peer') await peer(process.argv[3], process.argv[4]);
else if (process.argv[1] === SELF) {
  try {
    printTable(await run());
    process.exit(0);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : err}\n`);
    process.exit(1);
  }
}
