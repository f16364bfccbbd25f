// `npm run fuzz`: the long fuzz run of every pure decoder (FUZZ_CASES per decoder, default
// 1,000,000; FUZZ_SEED, default 42, so that a failure is reproduced by its seed and other seeds
// reach other cases): no throw, bounded time per case and flat memory. The short runs are in `npm test`.
import fc from 'fast-check';
import { fileURLToPath } from 'node:url';
import { fmt, printTable } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dist = (p) => import(`${ROOT}dist/${p}`);
const apdu = await dist('instrumentations/shared/apdu.js');
const scp81 = await dist('instrumentations/tls/scp81.js');
const http = await dist('instrumentations/tls/http-stream.js');
const at = await dist('instrumentations/serialport/at.js');
const adb = await dist('instrumentations/adb/adb.js');
const sql = await dist('instrumentations/db/sql.js');
const prom = await dist('src/prom/text-parser.js');
const stk = await dist('instrumentations/shared/stk.js');
const stkUrc = await dist('instrumentations/serialport/stk-urc.js');
const logcatStk = await dist('instrumentations/adb/logcat-stk.js');
const tlsSession = await dist('instrumentations/tls/session-identity.js');

const bytes = fc.uint8Array({ maxLength: 600, size: 'large' });
const text = fc.string({ maxLength: 400, unit: 'binary', size: 'large' });
const chunks = fc.array(fc.uint8Array({ maxLength: 200, size: 'large' }), { maxLength: 8, size: 'large' });

const targets = {
  'APDU (command + response)': [bytes, (b) => { apdu.decodeCommandApdu(b); apdu.decodeResponseApdu(b); }],
  'SCP81 scripts': [bytes, (b) => { scp81.decodeCommandScript(b); scp81.decodeResponseScript(b); }],
  // Bodies that start like frames (a small length) reach past the first frame more often than random bytes.
  'SCP81 body formats (frames and scripts)': [
    fc.oneof(bytes, fc.tuple(fc.integer({ min: 1, max: 64 }), bytes).map(([n, b]) => Uint8Array.from([0, n, ...b]))),
    (b) => { scp81.walkCommandBody(b, () => {}); scp81.walkResponseBody(b, () => {}); },
  ],
  // Bytes behind a SEQUENCE header reach its fields more often than random bytes.
  'TLS session (PSK identity of a resumed session)': [
    fc.oneof(bytes, bytes.map((b) => Uint8Array.from([0x30, 0x81, b.length & 0xff, ...b]))),
    (b) => { tlsSession.pskIdentityOfSession(b); },
  ],
  'HTTP scanner (chunked pushes)': [chunks, (cs) => { const s = new http.HttpMessageScanner('request', { onMessageStart: () => true }); for (const c of cs) s.push(c); s.end(); }],
  'AT stream (both directions)': [chunks, (cs) => { const d = new at.AtDecoder({}); let t = 0; for (const c of cs) { d.written(c, t); d.read(c, (t += 7)); } d.tick(t + 100_000); }],
  'adb output and arguments': [text, (s) => { adb.parseAdbDevices(s); adb.parseShellCommandLine(s); adb.parseShellCommandLine(s, undefined, 'win32'); adb.decodeAdbArgs(s.split(' ')); adb.classifyAdbError({ exitCode: 1, stderr: s }); }],
  'SQL classifier': [text, (s) => { sql.classifySql(s); sql.redactConnectionString(s); }],
  'Prometheus text parser': [text, (s) => { prom.parsePrometheusText(s); }],
  // Bytes behind a D0 tag reach past the template header more often than random bytes.
  'STK proactive commands and terminal responses': [
    fc.oneof(bytes, bytes.map((b) => Uint8Array.from([0xd0, b.length & 0x7f, ...b]))),
    (b) => { stk.decodeStk(b); stk.decodeStkHex(Buffer.from(b).toString('hex')); },
  ],
  'STK dialects (modem URCs, radio log)': [chunks, (cs) => {
    const s = new logcatStk.LogcatStkScanner(() => {});
    for (const c of cs) {
      const line = Buffer.from(c).toString('latin1');
      stkUrc.stkFromUrc('+CUSATP', `+CUSATP: ${line}`);
      stkUrc.stkFromCommand('+CUSATT', `AT+CUSATT=${line}`);
      s.add(c);
    }
  }],
};

export async function run({ cases = Number(process.env.FUZZ_CASES ?? 1_000_000), seed = Number(process.env.FUZZ_SEED ?? 42) } = {}) {
  if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, not ${process.env.FUZZ_SEED}`);
  const rows = [];
  for (const [name, [arb, fn]] of Object.entries(targets)) {
    let maxUs = 0;
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    fc.assert(
      fc.property(arb, (input) => {
        const s = performance.now();
        fn(input);
        const us = (performance.now() - s) * 1000;
        if (us > maxUs) maxUs = us;
      }),
      { numRuns: cases, seed },
    );
    const secs = (performance.now() - t0) / 1000;
    const heapMb = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
    rows.push({
      row: `fuzz: ${name}`,
      compared: `${cases.toLocaleString('en')} random cases (seed ${seed})`,
      measured: `0 throws in ${fmt(secs)} s; slowest case ${fmt(maxUs / 1000, 2)} ms; heap ${fmt(heapMb)} MB after`,
      goal: 'no throw, bounded time and memory',
      met: maxUs < 250_000 && heapMb < 100,
    });
    process.stderr.write(`fuzz: ${name} done\n`);
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printTable(await run());
