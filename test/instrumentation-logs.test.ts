/**
 * The instrumentations' own log lines, in-process with the real SDK and real peers: PSK-TLS
 * handshake failures and OTA session ends (admin server + card simulator), modem timeouts, error
 * answers and a vanished port (socat pty + modem simulator), adb device errors (fake adb), slow
 * SQLite queries (better-sqlite3, threshold from CARDLINK_DB_SLOW_QUERY_MS through the factory).
 *
 * Each event must give exactly one line with its fields and the ids of its span (also on the OTel
 * log record), per-component levels must filter, and no secret may appear: not the PSK, not the
 * PUT KEY data, not a PIN, not an SQL literal, not an adb shell argument. Then one child under
 * `--import ./register.js` proves the environment variables reach the same lines.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { trace, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type BetterSqlite3 from 'better-sqlite3';
import { TlsInstrumentation } from '../instrumentations/tls/index.js';
import { SerialportInstrumentation } from '../instrumentations/serialport/index.js';
import { AdbInstrumentation } from '../instrumentations/adb/index.js';
import { createSqliteInstrumentations, type SqliteInstrumentation } from '../instrumentations/db/index.js';
import { parseConfig } from '../src/config.js';
import { configureLogging } from '../src/logging/index.js';
import { setTracingEnabled } from '../src/tracing-state.js';
import { pendingOtaJournals } from '../instrumentations/tls/ota-connection.js';
import { setupLogRecords, setupHarness, eventually } from './helpers/otel-harness.js';
import { REPO_ROOT, runNode } from './helpers/child.js';
import { startAdminServer, GP_SESSION, PUT_KEY_SECRET_HEX } from './fixtures/admin-server.js';
import { runCard } from './fixtures/card-simulator.js';
import { openPtyPair, startModemSimulator } from './fixtures/modem-simulator.js';
import { startOtlpReceiver } from './fixtures/otlp-receiver.js';

const KEY_HEX = '0102030405060708090A0B0C0D0E0F10';
const KEY = Buffer.from(KEY_HEX, 'hex');
const WRONG_KEY_HEX = 'F0E1D2C3B4A5968778695A4B3C2D1E0F';
const keys = new Map([['card-001', KEY]]);
const PIN = '97531864';
const SHELL_SECRET = 'topsecretarg';
const SQL_SECRET = 'literal-secret-9f3a';
const FAKE_ADB = join(REPO_ROOT, 'test/fixtures/fake-adb/adb');
/** Everything that must never show in a log line or record (compared upper-cased). */
const SECRETS = [KEY_HEX, WRONG_KEY_HEX, PUT_KEY_SECRET_HEX, PIN, SHELL_SECRET.toUpperCase(), SQL_SECRET.toUpperCase()];

const SLOW_MS = 50;
const sqliteInstr = createSqliteInstrumentations(parseConfig({ CARDLINK_DB_SLOW_QUERY_MS: String(SLOW_MS) }).config)[0] as SqliteInstrumentation;
const tlsInstr = new TlsInstrumentation();
const h = setupHarness([
  tlsInstr,
  new SerialportInstrumentation({ commandTimeoutsMs: { '+CSQ': 300 } }),
  new AdbInstrumentation({ closeGraceMs: 500 }),
  sqliteInstr,
]);
const logExporter = setupLogRecords(t, h);

// Loaded only now: the require hooks patch them as they load.
const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as typeof BetterSqlite3;
const { ModemController } = await import('./fixtures/modem-controller.js');
const { SerialPort } = await import('serialport');

type Line = Record<string, unknown>;
let raw: string[] = [];
const lines = (): Line[] => raw.map((l) => JSON.parse(l) as Line);
const named = (message: string): Line[] => lines().filter((l) => l['message'] === message);

/** Captures every line from now on, with `CARDLINK_LOG_LEVEL` as given (default `info`). */
function capture(level = 'info'): void {
  raw = [];
  logExporter.reset();
  h.spans.reset();
  const c = parseConfig({ CARDLINK_LOG_LEVEL: level }).config;
  configureLogging({ level: c.logLevel, componentLevels: c.componentLogLevels, format: 'json', destination: { write: (s: string) => raw.push(s) } });
}

/** The tap test object the helpers below are handed. */
type Tap = Test;

function noSecrets(t: Tap, what: string): void {
  const text = (raw.join('\n') + JSON.stringify(logExporter.getFinishedLogRecords().map((r) => [r.body, r.attributes]))).toUpperCase();
  for (const s of SECRETS) t.notOk(text.includes(s.toUpperCase()), `${what}: no ${s.slice(0, 6)}... in logs`);
}

function sameSpan(t: Tap, line: Line | undefined, span: ReadableSpan | undefined, what: string): void {
  t.equal(typeof span?.spanContext().spanId, 'string', `${what}: the span exists`);
  t.equal(line?.['trace_id'], span?.spanContext().traceId, `${what}: trace id of its span`);
  t.equal(line?.['span_id'], span?.spanContext().spanId, `${what}: span id of its span`);
  t.equal(line?.['trace_flags'], '01', `${what}: sampled`);
}

/** An in-memory database with `busy_ms(ms)` (spins, returns 1) and `busy_fail(ms)` (spins, throws): slow queries on demand. */
function openBusyDb(): BetterSqlite3.Database {
  const db = new Database(':memory:');
  const spin = (ms: unknown): void => {
    const until = performance.now() + Number(ms);
    while (performance.now() < until);
  };
  db.function('busy_ms', (ms: unknown) => {
    spin(ms);
    return 1;
  });
  db.function('busy_fail', (ms: unknown) => {
    spin(ms);
    throw new Error('busy_fail gave up');
  });
  return db;
}

/**
 * A card that connects and never completes its handshake (a partial ClientHello), then goes.
 * Resolves with its own (local) port: the port the server saw it come from.
 */
function abortHandshake(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    let localPort: number | undefined;
    const c = net.connect(port, '127.0.0.1', () => {
      localPort = c.localPort;
      c.write(Buffer.from('16030100a5010000a10303', 'hex'));
      setTimeout(() => c.destroy(), 50);
    });
    c.on('close', () => resolve(localPort));
    c.on('error', () => resolve(localPort));
  });
}

t.test('tls: handshake failures (warn; client_abort info) and OTA session ends (info; warn when failed or timed out)', async (t) => {
  capture();
  const server = await startAdminServer({ kind: 'https', keys, scriptsFor: () => GP_SESSION, idleTimeoutMs: 300 });
  t.teardown(() => server.close());

  t.equal((await runCard({ port: server.port, identity: 'card-001', key: Buffer.from(WRONG_KEY_HEX, 'hex') })).end, 'error');
  t.equal((await runCard({ port: server.port, identity: 'nobody', key: KEY })).end, 'error');
  const abortPort = await abortHandshake(server.port);
  await eventually(() => named('TLS handshake failed').length === 3, 5000, 'three handshake lines');

  const failures = named('TLS handshake failed');
  const byReason = new Map(failures.map((l) => [l['failure_reason'], l]));
  t.same([...byReason.keys()].sort(), ['bad_psk', 'client_abort', 'unknown_identity'], 'one line per failure');
  const badPsk = byReason.get('bad_psk')!;
  t.match(badPsk, {
    level: 'warn',
    component: 'tls',
    peer_address: '127.0.0.1',
    psk_identity: 'card-001',
    cipher: 'TLS_PSK_WITH_AES_128_CBC_SHA256',
    error_code: 'ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC',
  });
  t.type(badPsk['peer_port'], 'number');
  t.type(badPsk['duration_ms'], 'number');
  const unknown = byReason.get('unknown_identity')!;
  t.match(unknown, { level: 'warn', psk_identity: 'nobody', peer_address: '127.0.0.1' });
  t.notOk('cipher' in unknown, 'no cipher when none was chosen');
  t.equal(byReason.get('client_abort')?.['level'], 'info', 'a peer hanging up mid-handshake is info');
  t.type(abortPort, 'number');
  t.match(byReason.get('client_abort'), { peer_address: '127.0.0.1', peer_port: abortPort }, "the card's own address and port, though it hung up");

  const handshakes = h.finished().filter((s) => s.name === 'tls.handshake');
  for (const line of failures) {
    const span = handshakes.find((s) => s.attributes['network.peer.port'] === line['peer_port']);
    sameSpan(t, line, span, `handshake ${String(line['failure_reason'])}`);
  }
  // The OTel log record carries the same span.
  const record = logExporter.getFinishedLogRecords().find((r) => r.attributes['failure_reason'] === 'bad_psk');
  const badSpan = handshakes.find((s) => s.attributes['error.type'] === 'bad_psk');
  t.equal(record?.spanContext?.spanId, badSpan?.spanContext().spanId, 'OTel record linked to the handshake span');
  t.equal(record?.severityText, 'WARN');

  // Sessions: completed, stopped mid-script (failed), hung (idle timeout).
  t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY })).end, 'completed');
  t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY, stopAfter: 3 })).end, 'stopped');
  t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY, hangAfterFirst: true })).end, 'closed');
  await eventually(() => named('OTA session ended').length === 3, 5000, 'three session lines');
  const ends = named('OTA session ended');
  const byStatus = new Map(ends.map((l) => [l['status'], l]));
  t.same([...byStatus.keys()].sort(), ['completed', 'failed', 'timeout']);
  t.match(byStatus.get('completed'), {
    level: 'info',
    component: 'tls',
    end_reason: 'no_content',
    session_type: 'polled',
    device_type: 'unknown',
    apdu_count: 7,
    error_count: 1,
    psk_identity: 'card-001',
    peer_address: '127.0.0.1',
  });
  t.ok((byStatus.get('completed')!['duration_ms'] as number) > 0, 'duration');
  t.notOk('not_executed_count' in byStatus.get('completed')!);
  // Stopped after 3 APDUs: the rest of its script not executed, and the next script too when the
  // server sent it before it saw the card hang up (every C-APDU sent is an APDU of the session).
  const failed = byStatus.get('failed')!;
  t.match(failed, { level: 'warn' });
  t.equal((failed['apdu_count'] as number) - (failed['not_executed_count'] as number), 3, 'the 3 executed');
  t.ok([2, 4].includes(failed['not_executed_count'] as number), `not executed: ${String(failed['not_executed_count'])}`);
  t.match(failed['end_reason'], /^connection_/);
  // Hung after the first POST: the SELECT sent then, never executed.
  t.match(byStatus.get('timeout'), { level: 'warn', end_reason: 'socket_timeout', apdu_count: 1, not_executed_count: 1 });
  for (const l of ends) t.equal(l['peer_address'], '127.0.0.1', `${String(l['status'])}: the peer, even after the socket closed`);
  const sessions = h.finished().filter((s) => s.name === 'ota.session');
  for (const line of ends) {
    const span = sessions.find((s) => s.attributes['cardlink.session.status'] === line['status']);
    sameSpan(t, line, span, `session ${String(line['status'])}`);
  }
  t.equal(raw.length, 6, 'nothing else logged (no line per APDU, handshake or request)');
  noSecrets(t, 'tls');
});

t.test('tls, batched (no tracing): session-end lines recorded after the close carry the peer (read while the socket was up) and the APDU counts', async (t) => {
  capture('info');
  setTracingEnabled(false);
  const config = tlsInstr.getConfig();
  // Longer than the test: only a collection records the batch.
  tlsInstr.setConfig({ ...config, recordingDelayMs: 60_000 });
  const server = await startAdminServer({ kind: 'https', keys, scriptsFor: () => GP_SESSION, idleTimeoutMs: 300 });
  t.teardown(async () => {
    setTracingEnabled(true);
    tlsInstr.setConfig(config);
    await server.close();
  });
  // Waiting on the gauge collects metrics, which records the batch (after the close).
  const closed = (what: string): Promise<void> =>
    eventually(async () => (await h.value('cardlink_tls_connections_active')) === 0 && pendingOtaJournals() === 0, 5000, what);
  // A card that stops mid-script resets the connection: Node cannot tell the address after that.
  t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY, stopAfter: 3 })).end, 'stopped');
  await closed('stopped session');
  t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY, hangAfterFirst: true })).end, 'closed');
  await closed('hung session');
  t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY })).end, 'completed');
  t.ok(pendingOtaJournals() > 0, 'the completed session waits in the journal');
  t.equal(named('OTA session ended').length, 2, 'its line is not written before the batch is recorded');
  await closed('completed session');
  // Without spans the APDUs are only counted (no object per APDU): the same counts as the tracing test above.
  const lines = named('OTA session ended').map((l) => [l['status'], l['level'], l['peer_address'], l['apdu_count'], l['error_count'], l['not_executed_count']]);
  // The stopped session: 3 executed, and 2 or 4 not (see the tracing test above).
  const stopped = lines[0] as [string, string, string, number, number, number];
  t.ok(
    (stopped[3] === 5 && stopped[5] === 2) || (stopped[3] === 7 && stopped[5] === 4),
    `stopped: ${stopped[3]} APDUs, ${stopped[5]} not executed`,
  );
  t.same(
    lines.map((l, i) => (i === 0 ? l.slice(0, 3).concat(l[4]) : l)),
    [
      ['failed', 'warn', '127.0.0.1', 0],
      ['timeout', 'warn', '127.0.0.1', 1, 0, 1],
      ['completed', 'info', '127.0.0.1', 7, 1, undefined],
    ],
  );
});

t.test('modem: timeout (warn), +CME/+CMS ERROR (warn), ERROR (info), a vanished port (error)', async (t) => {
  capture();
  const pair = await openPtyPair();
  const modem = await startModemSimulator(pair.modemPath);
  const ctl = await ModemController.open(pair.appPath);
  let closed = false;
  t.teardown(async () => {
    if (!closed) await ctl.close();
    await modem.close();
    await pair.close();
  });

  t.same(await ctl.sendCommand('AT'), ['OK']);
  modem.setOverride('+CSQ', { silent: true, once: true });
  await t.rejects(ctl.sendCommand('AT+CSQ', 700), { code: 'ETIMEDOUT' });
  // The same command again: the controller takes the late echo of the first for this one's.
  t.same(await ctl.sendCommand('AT+CSQ'), ['+CSQ: 20,99', 'OK']);
  modem.setOverride('+CPIN', { cmeError: 16, once: true });
  t.same(await ctl.sendCommand(`AT+CPIN="${PIN}"`), ['+CME ERROR: 16']);
  modem.setOverride('+CSIM', { cmeError: 50, once: true });
  const putKey = `80D8018119018010${PUT_KEY_SECRET_HEX}03A1B2C3`;
  t.same(await ctl.sendCommand(`AT+CSIM=${putKey.length},"${putKey}"`), ['+CME ERROR: 50']);
  t.same(await ctl.sendCommand('AT+NOSUCH'), ['ERROR']);
  modem.setOverride('+CMGS', { cmsError: 500, once: true });
  const sms = await ctl.sendSms('0011000B919471234567F80000AA05C8329BFD06', 19);
  t.equal(sms.mr, null);

  await eventually(() => raw.length >= 5, 3000, 'five modem lines');
  const got = lines().map((l) => [l['level'], l['message'], l['command'], l['result'], l['error_code']]);
  t.same(got, [
    ['warn', 'AT command timed out', '+CSQ', 'timeout', undefined],
    ['warn', 'modem answered +CME ERROR', '+CPIN', 'cme_error', '16'],
    ['warn', 'modem answered +CME ERROR', '+CSIM', 'cme_error', '50'],
    ['info', 'modem answered ERROR', '+NOSUCH', 'error', undefined],
    ['warn', 'modem answered +CMS ERROR', '+CMGS', 'cms_error', '500'],
  ]);
  for (const l of lines()) {
    t.equal(l['component'], 'modem');
    t.equal(l['port'], pair.appPath, 'the port path');
    t.type(l['duration_ms'], 'number');
  }
  t.ok((lines()[0]!['duration_ms'] as number) >= 299, 'the timeout waited its 300 ms');
  const at = h.finished().filter((s) => s.name.startsWith('at '));
  sameSpan(t, lines()[0], at.find((s) => s.name === 'at +CSQ' && s.attributes['cardlink.at.result'] === 'timeout'), 'timeout');
  sameSpan(t, lines()[1], at.find((s) => s.name === 'at +CPIN'), '+CME ERROR');
  sameSpan(t, lines()[3], at.find((s) => s.name === 'at +NOSUCH'), 'ERROR');

  // Unplugged: socat goes away under an open port.
  await ctl.close();
  closed = true;
  const port = new SerialPort({ path: pair.appPath, baudRate: 115200 });
  const gone = new Promise<unknown>((resolve) => port.on('close', resolve));
  port.on('error', () => undefined);
  port.on('data', () => undefined);
  await new Promise((r) => port.once('open', r));
  await modem.close();
  await pair.close();
  // A read may see the hung-up pty as end of file (serialport then reads again, forever) rather
  // than EIO; a write always fails with EIO, and serialport closes the port as disconnected.
  port.write('AT\r', () => undefined);
  // serialport reports it as a disconnect error (EIO first) or ends the stream (EOF first): both are
  // a vanished modem for us.
  await gone;
  await eventually(() => named('modem port disconnected').length === 1, 2000, 'disconnect line');
  t.match(named('modem port disconnected')[0], { level: 'error', component: 'modem', port: pair.appPath, error_type: 'disconnected' });
  t.equal(raw.length, 6, 'one line per event, none for the commands that succeeded');
  noSecrets(t, 'modem');
});

t.test('adb: a device error (warn) with operation, error type, serial, exit code; never the arguments', async (t) => {
  capture();
  const tracer = trace.getTracer('app');
  const run = (args: string[], env: Record<string, string> = {}): Promise<unknown> =>
    new Promise((resolve) => execFile(FAKE_ADB, args, { env: { ...process.env, ...env } }, (err) => resolve(err)));

  await tracer.startActiveSpan('app.trigger', async (span) => {
    await run(['-s', 'NOPE', 'shell', 'echo', SHELL_SECRET]);
    span.end();
  });
  t.ok(await run(['shell', 'echo', SHELL_SECRET], { FAKE_ADB_DEVICES: 'none' }), 'no phone: adb fails');
  t.equal(await run(['-s', 'R58M123ABC', 'shell', 'echo', SHELL_SECRET]), null, 'a run that works');
  await eventually(() => named('adb run failed').length === 2, 3000, 'two adb lines');
  const [notFound, noDevices] = named('adb run failed');
  t.match(notFound, { level: 'warn', component: 'adb', operation: 'shell', error_type: 'device_not_found', serial: 'NOPE', exit_code: 1 });
  t.match(noDevices, { level: 'warn', operation: 'shell', error_type: 'no_devices', exit_code: 1 });
  t.notOk('serial' in noDevices!, 'no serial when none was given');
  const adbSpans = h.finished().filter((s) => s.name === 'adb shell');
  const failedSpan = adbSpans.find((s) => s.attributes['cardlink.device.serial'] === 'NOPE');
  sameSpan(t, notFound, failedSpan, 'adb error');
  t.equal(failedSpan?.status.code, SpanStatusCode.ERROR);
  t.equal(
    failedSpan?.parentSpanContext?.spanId,
    h.finished().find((s) => s.name === 'app.trigger')?.spanContext().spanId,
    'the adb span is the application span\'s child',
  );
  t.equal(raw.length, 2, 'nothing for the run that worked');
  noSecrets(t, 'adb');
});

t.test(`db: slow queries (warn) over CARDLINK_DB_SLOW_QUERY_MS=${SLOW_MS}, sanitised SQL, in the query span`, async (t) => {
  t.equal(sqliteInstr.getConfig().slowQueryThresholdMs, SLOW_MS, 'the factory passed the threshold on');
  capture();
  const db = openBusyDb();
  t.teardown(() => db.close());
  db.exec('CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)');
  db.prepare('INSERT INTO kv (k, v) VALUES (?, ?)').run('card-001', SQL_SECRET);
  t.same(db.prepare(`SELECT k FROM kv WHERE v = '${SQL_SECRET}'`).all(), [{ k: 'card-001' }], 'a fast query');
  const tracer = trace.getTracer('app');
  tracer.startActiveSpan('app.report', (span) => {
    db.prepare(`SELECT busy_ms(${SLOW_MS + 30}) AS x, k FROM kv WHERE v = '${SQL_SECRET}'`).all();
    span.end();
  });
  t.throws(() => db.prepare(`SELECT busy_ms(${SLOW_MS + 30}) FROM kv WHERE k = '${SQL_SECRET}' AND nosuch = 1`).all(), 'fails fast at prepare');
  t.throws(() => db.prepare(`UPDATE kv SET v = busy_fail(${SLOW_MS + 30}) WHERE k = '${SQL_SECRET}' OR k = 'card-001'`).run(), /busy_fail gave up/);

  const slow = named('slow query');
  t.equal(slow.length, 2, 'one line per slow query, none for the fast ones');
  t.match(slow[0], {
    level: 'warn',
    component: 'db',
    db_system: 'sqlite',
    query_type: 'SELECT',
    table: 'kv',
    database: ':memory:',
    threshold_ms: SLOW_MS,
  });
  t.match(slow[0]!['sql'], /^SELECT busy_ms\(\?\) AS x, k FROM kv WHERE v = \?$/, 'literals replaced');
  t.ok((slow[0]!['duration_ms'] as number) >= SLOW_MS, 'its duration');
  t.notOk('error_type' in slow[0]!);
  const querySpan = h.finished().find((s) => s.name === 'SELECT kv' && s.attributes['cardlink.db.slow_query'] === true);
  sameSpan(t, slow[0], querySpan, 'slow query');
  t.equal(querySpan?.parentSpanContext?.spanId, h.finished().find((s) => s.name === 'app.report')?.spanContext().spanId);
  t.match(slow[1], { level: 'warn', query_type: 'UPDATE', table: 'kv' });
  t.type(slow[1]!['error_type'], 'string', 'a failed slow query carries its error type');
  noSecrets(t, 'db');
});

t.test('per-component levels: info,tls=error,modem=warn drops the tls lines and the modem ERROR, keeps the rest', async (t) => {
  capture('info,tls=error,modem=warn');
  const server = await startAdminServer({ kind: 'tls', keys, scriptsFor: () => GP_SESSION });
  t.teardown(() => server.close());
  const before = await h.value('cardlink_tls_handshakes_total', { failure_reason: 'bad_psk' });
  t.equal((await runCard({ port: server.port, identity: 'card-001', key: Buffer.from(WRONG_KEY_HEX, 'hex') })).end, 'error');
  t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY, stopAfter: 1 })).end, 'stopped');

  const pair = await openPtyPair();
  const modem = await startModemSimulator(pair.modemPath);
  const ctl = await ModemController.open(pair.appPath);
  t.teardown(async () => {
    await ctl.close();
    await modem.close();
    await pair.close();
  });
  t.same(await ctl.sendCommand('AT+NOSUCH'), ['ERROR']);
  modem.setOverride('+CPIN', { cmeError: 10, once: true });
  t.same(await ctl.sendCommand('AT+CPIN?'), ['+CME ERROR: 10']);
  await new Promise((resolve) => execFile(FAKE_ADB, ['-s', 'NOPE', 'get-state'], resolve));

  await eventually(async () => (await h.value('cardlink_tls_handshakes_total', { failure_reason: 'bad_psk' })) === before + 1, 3000, 'handshake seen');
  await eventually(() => h.finished().some((s) => s.name === 'ota.session'), 3000, 'session ended');
  await eventually(() => named('adb run failed').length === 1, 3000, 'adb line');
  t.same(
    lines().map((l) => [l['component'], l['level'], l['message']]),
    [
      ['modem', 'warn', 'modem answered +CME ERROR'],
      ['adb', 'warn', 'adb run failed'],
    ],
    'tls=error: no handshake or session line; modem=warn: no ERROR line; adb at the default',
  );
});

t.test('levels off: the events still count, nothing is written, no OTel record', async (t) => {
  capture('silent');
  const db = openBusyDb();
  t.teardown(() => db.close());
  db.prepare(`SELECT busy_ms(${SLOW_MS + 10})`).get();
  t.ok(h.finished().some((s) => s.attributes['cardlink.db.slow_query'] === true), 'the slow query was seen');
  await new Promise((resolve) => execFile(FAKE_ADB, ['-s', 'NOPE', 'get-state'], resolve));
  await eventually(() => h.finished().some((s) => s.name === 'adb get-state'), 3000, 'adb span');
  t.same(raw, [], 'silent');
  t.same(logExporter.getFinishedLogRecords(), [], 'no OTel record either');
});

t.test('under --import ./register.js: CARDLINK_DB_SLOW_QUERY_MS and CARDLINK_LOG_LEVEL reach the lines; ids match the exported span', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const app = `
    const Database = require('better-sqlite3');
    const { execFile } = require('node:child_process');
    const db = new Database(':memory:');
    db.function('busy_ms', (ms) => { const until = Date.now() + ms; while (Date.now() < until); return 1; });
    db.exec('CREATE TABLE kv (k TEXT, v TEXT)');
    db.prepare("INSERT INTO kv VALUES ('card-001', '${SQL_SECRET}')").run();
    db.prepare("SELECT busy_ms(150) FROM kv WHERE v = '${SQL_SECRET}'").all();
    execFile(${JSON.stringify(FAKE_ADB)}, ['-s', 'NOPE', 'shell', '${SHELL_SECRET}'], () => console.log('done'));
  `;
  const child = runNode({
    t,
    importRegister: true,
    args: ['-e', app],
    env: {
      CARDLINK_DB_SLOW_QUERY_MS: '100',
      CARDLINK_LOG_LEVEL: 'info,adb=error',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_BLRP_SCHEDULE_DELAY: '100',
      OTEL_METRICS_EXPORTER: 'none',
      CARDLINK_HEALTH_ENABLED: 'false',
    },
  });
  await child.waitForLine(/^done$/, 20_000);
  await receiver.waitFor((r) => r.spans.some((s) => s.name === 'SELECT kv'), 10_000, 'the query span');
  await receiver.waitFor((r) => r.logs.length >= 1, 10_000, 'the log record');
  child.kill('SIGTERM');
  await child.waitForExit(10_000);

  const out = child
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);
  t.same(out.map((l) => [l['component'], l['level'], l['message']]), [['db', 'warn', 'slow query']], 'the slow query only (adb=error)');
  t.match(out[0], { query_type: 'SELECT', table: 'kv', threshold_ms: 100, sql: 'SELECT busy_ms(?) FROM kv WHERE v = ?' });
  const spans = receiver.spans.filter((s) => s.name === 'SELECT kv');
  const slowSpan = spans.find((s) => s.attributes['cardlink.db.slow_query'] === true);
  t.equal(spans.length, 1, 'only the slow SELECT (the INSERT is not SELECT kv)');
  t.equal(out[0]!['trace_id'], slowSpan?.traceId, 'trace id of the exported span');
  t.equal(out[0]!['span_id'], slowSpan?.spanId);
  t.same(receiver.logs.map((r) => r.body), ['slow query'], 'the same record over OTLP');
  t.equal(receiver.logs[0]?.spanId, slowSpan?.spanId);
  const all = (child.stdout() + JSON.stringify(receiver.logs.map((r) => [r.body, r.attributes]))).toUpperCase();
  t.notOk(all.includes(SQL_SECRET.toUpperCase()), 'no SQL literal');
  t.notOk(all.includes(SHELL_SECRET.toUpperCase()), 'no shell argument');
});
