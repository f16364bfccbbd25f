/**
 * Log lines that peers cause are rate-limited per component and kind, with a summary of what was
 * left out, and the values peers choose are escaped and bounded:
 *
 * - PeerLineLimiter on a clock of its own (the default figure: 20 lines per kind per 60 s);
 * - peerText on hostile strings;
 * - a real modem (socat pty + modem simulator) answering `+CME ERROR` with hostile text to 400
 *   commands in a row, and 300 PSK handshakes (Node TLS client against the admin server) with a
 *   wrong key or an unknown identity of the client's choosing (newlines, escape sequences,
 *   a forged JSON line, 128 bytes): bounded lines, a summary per window that accounts for every
 *   event, nothing unescaped.
 */
import t from 'tap';
import { TlsInstrumentation } from '../instrumentations/tls/index.js';
import { SerialportInstrumentation } from '../instrumentations/serialport/index.js';
import { AdbInstrumentation } from '../instrumentations/adb/index.js';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './helpers/child.js';
import { configureLogging, createLogger, DEFAULT_PEER_LINE_LIMIT, MAX_PEER_TEXT, peerText, PeerLineLimiter, SUPPRESSED_MESSAGE } from '../src/logging/index.js';
import { setupHarness, eventually } from './helpers/otel-harness.js';
import { startAdminServer, GP_SESSION } from './fixtures/admin-server.js';
import { runCard } from './fixtures/card-simulator.js';
import { openPtyPair, startModemSimulator } from './fixtures/modem-simulator.js';

const h = setupHarness([new TlsInstrumentation(), new SerialportInstrumentation(), new AdbInstrumentation({ enabled: true, closeGraceMs: 500 })]);
t.teardown(() => h.shutdown());
const { ModemController } = await import('./fixtures/modem-controller.js');

type Line = Record<string, unknown>;
/** The count of `kind` in a summary line (0 when absent). */
const suppressedOf = (l: Line, kind: string): number => (l['suppressed'] as Array<{ kind: string; count: number }>).find((s) => s.kind === kind)?.count ?? 0;
let raw: string[] = [];
const lines = (): Line[] => raw.map((l) => JSON.parse(l) as Line);

function capture(peerLineLimit = DEFAULT_PEER_LINE_LIMIT): void {
  raw = [];
  configureLogging({ level: 'info', componentLevels: {}, format: 'json', destination: { write: (s: string) => raw.push(s) }, peerLineLimit });
}

/**
 * The window of the end-to-end tests: longer than a flood takes on a busy machine (so there is
 * usually one window), short enough for the summary to come within the test. The assertions hold
 * for any number of windows.
 */
const WINDOW_MS = 5000;

// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

t.test('PeerLineLimiter: 20 lines per kind per 60 s by default, then one summary per window with the count per kind', async (t) => {
  capture();
  t.same(DEFAULT_PEER_LINE_LIMIT, { lines: 20, windowMs: 60_000 });
  let now = 1_000;
  const limiter = new PeerLineLimiter(createLogger('unit'), () => now);
  const allowed = (kind: string, n: number, level: 'info' | 'warn' = 'warn'): number => {
    let k = 0;
    for (let i = 0; i < n; i++) if (limiter.allow(kind, level)) k++;
    return k;
  };
  t.equal(allowed('cme_error', 1000), 20, '20 of 1,000 cme_error');
  t.equal(allowed('timeout', 5), 5, 'another kind has its own 20');
  t.equal(allowed('error', 30, 'info'), 20);
  t.same(raw, [], 'nothing written by the limiter within the window');
  now += 59_999;
  t.equal(allowed('cme_error', 1), 0, 'still the same window');
  now += 1;
  t.equal(allowed('cme_error', 25), 20, 'a new window: 20 again');
  const summary = lines().filter((l) => l['message'] === SUPPRESSED_MESSAGE);
  t.equal(summary.length, 1, 'one summary for the first window');
  t.match(summary[0], {
    level: 'warn',
    component: 'unit',
    suppressed: [
      { kind: 'cme_error', count: 981 },
      { kind: 'error', count: 10 },
    ],
    suppressed_total: 991,
    limit_per_kind: 20,
    window_ms: 60_000,
  });
  t.equal((summary[0]!['suppressed'] as unknown[]).length, 2, 'kinds with nothing left out are not listed');
  limiter.endWindow();
  t.match(lines().at(-1), { message: SUPPRESSED_MESSAGE, suppressed: [{ kind: 'cme_error', count: 5 }] }, 'the second window');
  limiter.endWindow();
  t.equal(lines().length, 2, 'no summary for a window without suppression');

  capture({ lines: 0, windowMs: 10 });
  const quiet = new PeerLineLimiter(createLogger('unit'), () => now);
  t.equal(quiet.allow('x', 'info'), false, 'lines: 0 suppresses everything');
  for (let i = 0; i < 40; i++) quiet.allow(`kind${i}`, 'info');
  quiet.endWindow();
  const s = lines()[0]!['suppressed'] as Array<{ kind: string; count: number }>;
  t.ok(s.length <= 33, `kinds bounded (${s.length})`);
  t.equal(s.reduce((a, b) => a + b.count, 0), 41, 'every line counted');
  t.equal(s.at(-1)?.kind, 'other', 'kinds past the bound share one entry');
});

t.test('the summary comes at the end of the window by itself (a timer), even if the flood stopped', async (t) => {
  capture({ lines: 2, windowMs: 200 });
  const limiter = new PeerLineLimiter(createLogger('unit'));
  for (let i = 0; i < 10; i++) limiter.allow('bad_psk', 'warn');
  await eventually(() => lines().length === 1, 3000, 'the summary');
  t.match(lines()[0], { message: SUPPRESSED_MESSAGE, suppressed: [{ kind: 'bad_psk', count: 8 }] });
});

t.test('peerText: control characters, line separators, bidi marks, backslashes escaped; long values cut', async (t) => {
  t.equal(peerText('card-001'), 'card-001');
  const plain = 'x'.repeat(128);
  t.equal(peerText(plain), plain, 'at the bound: unchanged');
  t.equal(peerText('a\nb\r\u0000\u001b[31m\u007f\u0085'), 'a\\x0ab\\x0d\\x00\\x1b[31m\\x7f\\x85');
  t.equal(peerText('evil\u2028line\u202Eabc\u2066'), 'evil\\u2028line\\u202eabc\\u2066');
  t.equal(peerText('C:\\path'), 'C:\\\\path', 'a backslash is doubled, so \\x0a in a value cannot pass for an escape');
  t.equal(peerText('\ud83d\ude00 ok \ud800'), '\ud83d\ude00 ok \\ud800', 'pairs kept, a lone surrogate escaped');
  const long = peerText('y'.repeat(1000));
  t.equal(long, `${'y'.repeat(128)}...[+872]`);
  const escapes = peerText('\u001b'.repeat(100));
  t.ok(escapes.startsWith('\\x1b'.repeat(32)) && escapes.endsWith('...[+68]'), escapes);
  t.equal(peerText('z'.repeat(10), 4), 'zzzz...[+6]');
  t.equal(peerText(undefined), 'undefined');
});

t.test('a modem answering +CME ERROR with hostile text to 400 commands: bounded lines, summaries account for every answer', async (t) => {
  capture({ lines: 20, windowMs: WINDOW_MS });
  const pair = await openPtyPair();
  // Text a modem chooses: a forged JSON record, the 8-bit CSI (0x9B, a terminal's escape sequence
  // introducer) with a clear-screen, a backslash, and more than the decoder keeps. (A line with C0
  // control bytes is binary noise to the decoder: the command then times out instead.)
  const hostile = `SIM failure {"level":"fatal"} \u009b2J\\n ${'x'.repeat(60)}`;
  const modem = await startModemSimulator(pair.modemPath, { overrides: { '+CPIN': { cmeError: hostile } } });
  const ctl = await ModemController.open(pair.appPath);
  t.teardown(async () => {
    await ctl.close();
    await modem.close();
    await pair.close();
  });
  const N = 400;
  for (let i = 0; i < N; i++) {
    const answer = await ctl.sendCommand('AT+CPIN?');
    if (i === 0) t.match(answer.at(-1), /^\+CME ERROR: SIM /, 'the modem answers with its text');
  }
  const cme = (): Line[] => lines().filter((l) => l['message'] === 'modem answered +CME ERROR');
  const summaries = (): Line[] => lines().filter((l) => l['message'] === SUPPRESSED_MESSAGE);
  const accounted = (): number => cme().length + summaries().reduce((n, s) => n + suppressedOf(s, 'cme_error'), 0);
  await eventually(() => accounted() === N, WINDOW_MS + 5000, 'every answer written or counted in a summary');
  t.comment(`${cme().length} lines and ${summaries().length} summaries for ${N} answers`);
  t.ok(summaries().length >= 1, 'at least one summary');
  t.ok(cme().length <= 20 * (summaries().length + 1), `at most 20 lines per window (${cme().length})`);
  // Between two summaries (one window) never more than 20 lines.
  let run = 0;
  for (const l of lines()) {
    if (l['message'] === SUPPRESSED_MESSAGE) run = 0;
    else if (l['message'] === 'modem answered +CME ERROR' && ++run > 20) t.fail('more than 20 lines in one window');
  }
  for (const s of summaries()) t.match(s, { level: 'warn', component: 'modem', limit_per_kind: 20, window_ms: WINDOW_MS });
  const code = cme()[0]!['error_code'] as string;
  t.notMatch(code, RAW_CONTROL, 'no raw control character in the modem text');
  t.ok(code.startsWith('SIM failure {"level":"fatal"} \\x9b2J\\\\n xxx'), `escaped, readable: ${code}`);
  t.ok(code.length <= MAX_PEER_TEXT, `bounded (${code.length}: the decoder keeps 64 characters, escapes lengthen them)`);
  for (const l of raw) t.equal(l.split('\n').length, 2, 'one line per record');
});

const KEY = Buffer.from('0102030405060708090A0B0C0D0E0F10', 'hex');
const WRONG_KEY = Buffer.from('F0E1D2C3B4A5968778695A4B3C2D1E0F', 'hex');

t.test('300 failed PSK handshakes (wrong key, hostile unknown identities): bounded, escaped, accounted for', async (t) => {
  capture({ lines: 20, windowMs: WINDOW_MS });
  const server = await startAdminServer({ kind: 'https', keys: new Map([['card-001', KEY]]), scriptsFor: () => GP_SESSION });
  t.teardown(() => server.close());
  // What a stranger may put in the identity: a line break with a forged JSON record, an escape
  // sequence that clears a terminal, a right-to-left override, and the most bytes a client sends.
  const forged = 'x\n{"level":"error","message":"forged"}';
  const identities = [forged, '\u001b[2J\u001b[Hcleared', 'card\u202E100-drac', 'A'.repeat(64) + '\u0007'.repeat(64)];
  const N = 300;
  const runs: Array<Promise<unknown>> = [];
  for (let i = 0; i < N; i++) {
    const wrongKey = i % 2 === 0;
    runs.push(runCard({ port: server.port, identity: wrongKey ? 'card-001' : identities[(i >> 1) % identities.length]!, key: wrongKey ? WRONG_KEY : KEY }));
    if (runs.length === 10) await Promise.all(runs.splice(0));
  }
  await Promise.all(runs);
  const failed = (): Line[] => lines().filter((l) => l['message'] === 'TLS handshake failed');
  const summaries = (): Line[] => lines().filter((l) => l['message'] === SUPPRESSED_MESSAGE && l['component'] === 'tls');
  const counted = (kind: string): number =>
    failed().filter((l) => l['failure_reason'] === kind).length + summaries().reduce((n, s) => n + suppressedOf(s, kind), 0);
  await eventually(() => counted('bad_psk') === N / 2 && counted('unknown_identity') === N / 2, WINDOW_MS + 10_000, 'every failure written or counted');
  t.comment(`${failed().length} lines and ${summaries().length} summaries for ${N} failed handshakes`);
  t.ok(failed().length <= 2 * 20 * (summaries().length + 1), `at most 20 lines per kind per window (${failed().length})`);
  for (const kind of ['bad_psk', 'unknown_identity']) {
    let run = 0;
    for (const l of lines()) {
      if (l['message'] === SUPPRESSED_MESSAGE) run = 0;
      else if (l['failure_reason'] === kind && ++run > 20) t.fail(`more than 20 ${kind} lines in one window`);
    }
  }
  const shown = failed()
    .map((l) => l['psk_identity'])
    .filter((x): x is string => typeof x === 'string' && x !== 'card-001');
  t.ok(shown.length > 0, 'unknown identities are logged');
  for (const id of shown) {
    t.notMatch(id, RAW_CONTROL, `no raw control character: ${id}`);
    t.ok(id.length <= MAX_PEER_TEXT + '...[+999]'.length, `bounded (${id.length})`);
  }
  // Escaped once, as the README says, where the identity is read (for its span too).
  t.ok(shown.includes('x\\x0a{"level":"error","message":"forged"}'), 'the forged record stays inside its field');
  t.ok(shown.includes('\\x1b[2J\\x1b[Hcleared'), 'the terminal escape escaped, not lost');
  t.ok(shown.includes('card\\u202e100-drac'), 'the right-to-left override escaped');
  t.ok(shown.includes(`${'A'.repeat(64)}${'\\x07'.repeat(16)}...[+48]`), 'the longest an identity gets');
  for (const l of raw) t.equal(l.split('\n').length, 2, 'one line per record');
  t.notOk(lines().some((l) => l['message'] === 'forged'), 'no forged record');
});

t.test('60 sessions a card breaks off mid-script: session-end warnings bounded, every one accounted for', async (t) => {
  capture({ lines: 20, windowMs: WINDOW_MS });
  const server = await startAdminServer({ kind: 'tls', keys: new Map([['card-001', KEY]]), scriptsFor: () => GP_SESSION });
  t.teardown(() => server.close());
  const N = 60;
  for (let i = 0; i < N; i += 10) {
    await Promise.all(Array.from({ length: 10 }, () => runCard({ port: server.port, identity: 'card-001', key: KEY, stopAfter: 1 })));
  }
  const ended = (): Line[] => lines().filter((l) => l['message'] === 'OTA session ended' && l['status'] === 'failed');
  const summaries = (): Line[] => lines().filter((l) => l['message'] === SUPPRESSED_MESSAGE && l['component'] === 'tls');
  const counted = (): number => ended().length + summaries().reduce((n, s) => n + suppressedOf(s, 'session_failed'), 0);
  await eventually(() => counted() === N, WINDOW_MS + 10_000, 'every failed session written or counted');
  t.ok(ended().length <= 20 * (summaries().length + 1), `at most 20 lines per window (${ended().length})`);
  t.ok(ended().length < N, 'some were left out');
});

t.test('a phone that is not there fails 60 adb runs: bounded warnings, every one accounted for, the serial escaped', async (t) => {
  capture({ lines: 20, windowMs: WINDOW_MS });
  const fakeAdb = join(REPO_ROOT, 'test/fixtures/fake-adb/adb');
  const serial = 'R58M\u202Eevil';
  const N = 60;
  for (let i = 0; i < N; i += 10) {
    await Promise.all(
      Array.from({ length: 10 }, () => new Promise((resolve) => execFile(fakeAdb, ['-s', serial, 'get-state'], { env: { ...process.env, FAKE_ADB_DEVICES: 'none' } }, resolve))),
    );
  }
  const failed = (): Line[] => lines().filter((l) => l['message'] === 'adb run failed');
  const summaries = (): Line[] => lines().filter((l) => l['message'] === SUPPRESSED_MESSAGE && l['component'] === 'adb');
  const counted = (): number => failed().length + summaries().reduce((n, s) => n + (s['suppressed'] as Array<{ count: number }>).reduce((m, x) => m + x.count, 0), 0);
  await eventually(() => counted() === N, WINDOW_MS + 10_000, 'every failed run written or counted');
  t.ok(failed().length <= 20 * (summaries().length + 1), `at most 20 lines per kind per window (${failed().length})`);
  t.ok(failed().length < N, 'some were left out');
  for (const l of failed()) t.notMatch(String(l['serial']), RAW_CONTROL, 'the serial is escaped');
});
