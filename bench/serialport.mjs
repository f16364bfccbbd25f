// Overhead of the serialport instrumentation, measured side by side in one process (interleaved
// rounds; the prototype is patched and restored between rounds with enable()/disable()):
//
//   - pure data: 8 MB of binary (no AT traffic) each way at once through a real `serialport` on a
//     socat pty pair, a peer process on the far end;
//   - AT round trips: `AT+CSQ` -> `+CSQ: 20,99` / `OK` through ReadlineParser against the modem
//     simulator in a peer process, on a socat pty pair, answering after 2 ms (a fast real modem;
//     IoT modems take several ms per command) and, informational, at once;
//   - the same round trips against serialport's in-process mock binding, which answers in
//     microseconds: no modem does, so this row shows the absolute cost per command (worst case).
//
// Needs `npm run build` (imports dist/) and socat. `node bench/serialport.mjs` or `npm run bench serialport`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import tty from 'node:tty';
import { fileURLToPath } from 'node:url';
import { metrics, trace } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { interleave, median, spreadPct, fmt, printTable } from './lib.mjs';

const DIST = new URL('../dist/', import.meta.url);
const SELF = fileURLToPath(import.meta.url);
const DATA_BYTES = 8 * 1024 * 1024;
const CHUNK = 16 * 1024;
const PTY_ROUND_TRIPS = 1000;
const SLOW_ROUND_TRIPS = 250;
const MODEM_DELAY_MS = 2;
const MOCK_ROUND_TRIPS = 20_000;

// ------------------------------------------------------------------------------ peer process

/** `node bench/serialport.mjs --peer <modem path> modem|modem-delayed|data`: the far end of the pty pair. */
async function peer(path, role) {
  if (role === 'modem' || role === 'modem-delayed') {
    const { startModemSimulator } = await import(new URL('test/fixtures/modem-simulator.js', DIST).href);
    await startModemSimulator(path, role === 'modem' ? {} : { overrides: { '+CSQ': { delayMs: MODEM_DELAY_MS } } });
    console.log('ready');
    return;
  }
  // data: on each `go` line, write DATA_BYTES and print `got` once DATA_BYTES were read.
  const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
  const input = new tty.ReadStream(fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NOCTTY));
  let got = 0;
  input.on('data', (d) => {
    got += d.length;
    if (got >= DATA_BYTES) {
      got -= DATA_BYTES;
      console.log('got');
    }
  });
  const chunk = Buffer.alloc(CHUNK, 0x55);
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', async () => {
    for (let sent = 0; sent < DATA_BYTES; sent += CHUNK) {
      await new Promise((resolve, reject) => fs.write(fd, chunk, (e) => (e ? reject(e) : resolve())));
    }
  });
  console.log('ready');
}

function startPeer(path, role) {
  const child = spawn(process.execPath, [SELF, '--peer', path, role], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = [];
  let waiting = null;
  let partial = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s) => {
    const parts = (partial + s).split('\n');
    partial = parts.pop();
    lines.push(...parts);
    waiting?.();
  });
  const nextLine = (want) =>
    new Promise((resolve) => {
      waiting = () => {
        const i = lines.indexOf(want);
        if (i < 0) return;
        lines.splice(i, 1);
        waiting = null;
        resolve();
      };
      waiting();
    });
  return { child, nextLine, send: (s) => child.stdin.write(`${s}\n`) };
}

async function ptyPair() {
  const { openPtyPair } = await import(new URL('test/fixtures/modem-simulator.js', DIST).href);
  return openPtyPair();
}

// ------------------------------------------------------------------------------ benchmark

class Reader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}

export async function run({ rounds = Number(process.env.BENCH_ROUNDS ?? 9) } = {}) {
  const { catalogueViews } = await import(new URL('src/metrics/views.js', DIST).href);
  const { SerialportInstrumentation } = await import(new URL('instrumentations/serialport/index.js', DIST).href);
  const tracerProvider = new BasicTracerProvider(); // spans are sampled, created and ended; not exported
  trace.setGlobalTracerProvider(tracerProvider);
  const meterProvider = new MeterProvider({ views: catalogueViews(), readers: [new Reader()] });
  metrics.setGlobalMeterProvider(meterProvider);
  const instr = new SerialportInstrumentation();
  registerInstrumentations({ instrumentations: [instr], tracerProvider, meterProvider });
  // Loaded after the hook is in place, as under --import ./register.js.
  const { SerialPort, SerialPortMock } = await import('serialport');
  const { ReadlineParser } = await import('@serialport/parser-readline');

  const open = async (Ctor, path) => {
    const port = new Ctor({ path, baudRate: 115200, autoOpen: false });
    await new Promise((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    return port;
  };
  const close = (port) => new Promise((resolve) => port.close(() => resolve()));
  const on = (fn) => () => (instr.enable(), fn());
  const off = (fn) => () => (instr.disable(), fn());
  const cleanup = [];

  try {
    // Pure data through a pty, both directions at once.
    const dataPair = await ptyPair();
    cleanup.push(() => dataPair.close());
    const dataPeer = startPeer(dataPair.modemPath, 'data');
    cleanup.push(() => dataPeer.child.kill());
    await dataPeer.nextLine('ready');
    const dataPort = await open(SerialPort, dataPair.appPath);
    cleanup.push(() => close(dataPort));
    const chunk = Buffer.alloc(CHUNK, 0xaa);
    let received = 0;
    let onReceived = null;
    dataPort.on('data', (d) => {
      received += d.length;
      onReceived?.();
    });
    const pureData = async () => {
      received = 0;
      const t0 = process.hrtime.bigint();
      const peerGot = dataPeer.nextLine('got');
      const weGot = new Promise((resolve) => {
        onReceived = () => received >= DATA_BYTES && resolve();
      });
      dataPeer.send('go');
      for (let sent = 0; sent < DATA_BYTES; sent += CHUNK) {
        if (!dataPort.write(chunk)) await new Promise((r) => dataPort.once('drain', r));
      }
      await Promise.all([peerGot, weGot]);
      return (2 * DATA_BYTES) / (Number(process.hrtime.bigint() - t0) / 1e9);
    };
    const data = await interleave({ plain: off(pureData), instrumented: on(pureData) }, rounds);

    // AT round trips through a pty against the modem simulator, answering after 2 ms and at once.
    const roundTrips = (port, n, answer) => async () => {
      const parser = port.pipe(new ReadlineParser({ delimiter: '\r\n' }));
      let done = 0;
      const t0 = process.hrtime.bigint();
      await new Promise((resolve) => {
        const next = () => port.write('AT+CSQ\r', answer);
        parser.on('data', (line) => {
          if (line !== 'OK') return;
          if (++done >= n) resolve();
          else next();
        });
        next();
      });
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      port.unpipe(parser);
      return n / s;
    };
    const modemPort = async (role) => {
      const pair = await ptyPair();
      cleanup.push(() => pair.close());
      const modem = startPeer(pair.modemPath, role);
      cleanup.push(() => modem.child.kill());
      await modem.nextLine('ready');
      const port = await open(SerialPort, pair.appPath);
      cleanup.push(() => close(port));
      return port;
    };
    const slowPort = await modemPort('modem-delayed');
    const slowAt = await interleave(
      { plain: off(roundTrips(slowPort, SLOW_ROUND_TRIPS)), instrumented: on(roundTrips(slowPort, SLOW_ROUND_TRIPS)) },
      rounds,
    );
    const atPort = await modemPort('modem');
    const ptyAt = await interleave(
      { plain: off(roundTrips(atPort, PTY_ROUND_TRIPS)), instrumented: on(roundTrips(atPort, PTY_ROUND_TRIPS)) },
      rounds,
    );

    // The same round trips against the in-process mock binding (answers at once).
    SerialPortMock.binding.createPort('/dev/bench-modem', { echo: false });
    const mockPort = await open(SerialPortMock, '/dev/bench-modem');
    cleanup.push(() => close(mockPort));
    const ANSWER = Buffer.from('\r\n+CSQ: 20,99\r\n\r\nOK\r\n');
    const mockAnswer = () => mockPort.port.emitData(ANSWER);
    const mockAt = await interleave(
      {
        plain: off(roundTrips(mockPort, MOCK_ROUND_TRIPS, mockAnswer)),
        instrumented: on(roundTrips(mockPort, MOCK_ROUND_TRIPS, mockAnswer)),
      },
      rounds,
    );

    const row = (what, r, unit, scale, goal, extra = '') => {
      const p = median(r.plain);
      const i = median(r.instrumented);
      const overhead = (p / i - 1) * 100;
      return {
        row: `serialport: ${what}`,
        compared: 'same port, instrumentation disabled',
        measured:
          `plain ${fmt(p * scale)} ${unit} (±${fmt(spreadPct(r.plain))}%), instrumented ${fmt(i * scale)} ${unit} ` +
          `(±${fmt(spreadPct(r.instrumented))}%); overhead ${fmt(overhead)}%${extra}`,
        goal: goal === null ? 'informational' : `< ${goal}% overhead`,
        met: goal === null ? true : overhead < goal,
      };
    };
    const perCommandUs = (1 / median(mockAt.instrumented) - 1 / median(mockAt.plain)) * 1e6;
    return [
      row('pure data, both ways, socat pty', data, 'MB/s', 1 / 2 ** 20, 2),
      row(`AT round trips, simulator answering after ${MODEM_DELAY_MS} ms on a socat pty`, slowAt, 'round trips/s', 1, 2),
      row('AT round trips, simulator answering at once on a socat pty', ptyAt, 'round trips/s', 1, null),
      row('AT round trips, in-process mock modem (worst case)', mockAt, 'round trips/s', 1, null, `; ${fmt(perCommandUs, 2)} µs added per command`),
    ];
  } finally {
    instr.disable();
    for (const c of cleanup.reverse()) await c();
  }
}

if (process.argv[2] === '--peer') await peer(process.argv[3], process.argv[4]);
else if (process.argv[1] === SELF) printTable(await run());
