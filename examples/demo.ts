/**
 * The CardLink demo lab (`npm start`): a small CardLink-like application, run for real under
 * `node --import ./register.js`:
 *   - the PSK-TLS SCP81 admin server (https) with its key store in the database,
 *   - a fleet of simulated cards that get triggered and run GlobalPlatform scripts,
 *   - a modem controller talking AT to the modem simulator over a socat pty: its SMS-PP triggers are
 *     answered by the cards' BIP OPEN CHANNEL (STK URCs), except by one card that never calls back,
 *   - a phone controller running a simulated adb,
 *   - a SQLite database (better-sqlite3) storing sessions, APDU logs and test results,
 *   - a node:test regression suite run through the cardlink-otel test reporter.
 * It stops on Ctrl-C or after `--duration <seconds>`.
 */
import { run as runTests } from 'node:test';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAdminServer, GP_SESSION, type AdminServer } from '../test/fixtures/admin-server.js';
import { getSdk, monitor, recordDeviceError } from 'cardlink-otel';
import { behaviourFor, connect, fleet, type Card } from './lab/cards.js';
import { hasSocat, startModem, type Modem } from './lab/modem.js';
import { injectTrigger, listPhones, readProperty, LOCKED_PHONE, READY_PHONE } from './lab/phone.js';
import { openStore } from './lab/store.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');

function parseDuration(argv: string[]): number | undefined {
  const i = argv.indexOf('--duration');
  if (i < 0) return undefined;
  const s = Number(argv[i + 1]);
  if (!Number.isFinite(s) || s <= 0) {
    process.stderr.write('demo: --duration needs a number of seconds\n');
    process.exit(64);
  }
  return s;
}

const duration = parseDuration(process.argv.slice(2));
const stats = { sessions: 0, completed: 0, failed: 0, apdus: 0, errors: 0 };
let stopping = false;
const timers: NodeJS.Timeout[] = [];

// First line: how the modem is reached (the only part of the lab that depends on the machine).
process.stdout.write(
  hasSocat()
    ? 'cardlink demo lab: modem over a socat pty pair\n'
    : 'cardlink demo lab: socat is not installed, the modem uses serialport\'s mock binding (apt-get install socat for the pty)\n',
);

// The simulated adb (examples/bin) comes first on PATH, as a real one would be.
process.env['PATH'] = `${join(ROOT, 'examples', 'bin')}:${process.env['PATH'] ?? ''}`;

const lab = await openStore();
const cards = fleet(6);
const KEY_ENCRYPTION_KEY = Buffer.alloc(32, 0x42); // the lab's key-encryption key (demo value)
for (const c of cards) {
  const deviceId = await lab.store.addDevice(c.iccid, null, 'simulator', c.identity, Date.now());
  await lab.store.addCardProfile(deviceId, c.identity, c.key, KEY_ENCRYPTION_KEY);
}
// pskCallback is synchronous: the key store is loaded from the database once.
const keys = new Map<string, Buffer>();
for (const c of cards) keys.set(c.identity, (await lab.store.pskFor(c.identity, KEY_ENCRYPTION_KEY)) as Buffer);

const admin: AdminServer = await startAdminServer({ kind: 'https', keys, scriptsFor: () => GP_SESSION, idleTimeoutMs: 1500 });
const modem: Modem = await startModem(admin.port);
// The fleet's last card never answers its SMS-PP trigger: the unanswered triggers on the dashboards.
const SILENT_CARD = cards[cards.length - 1]!;
await modem.command('ATE0').catch(() => undefined);

const sdk = getSdk();
const metricsPort = sdk ? await sdk.metricsPort : undefined;
const healthPort = sdk ? await (sdk as { healthPort?: Promise<number | undefined> }).healthPort : undefined;
const host = (v: string | undefined) => (v === undefined || v === '0.0.0.0' ? '127.0.0.1' : v);
process.stdout.write(`admin server (PSK-TLS, SCP81): https://127.0.0.1:${admin.port}/server/admin\n`);
if (metricsPort !== undefined) process.stdout.write(`metrics: http://${host(sdk?.config.prometheus.host)}:${metricsPort}${sdk?.config.prometheus.path}\n`);
if (healthPort !== undefined) process.stdout.write(`health:  http://${host(sdk?.config.health.host)}:${healthPort}/health/ready\n`);
if (sdk?.config.otlp.traces.endpoint) process.stdout.write(`OTLP:    ${sdk.config.otlp.traces.endpoint}\n`);
if (sdk === undefined) process.stdout.write('telemetry is off: run with `node --import ./register.js` (npm start does)\n');
process.stdout.write(`database: ${lab.path}\n`);

let cardTurn = 0;
async function cardSession(afterTrigger = false, triggered?: Card): Promise<void> {
  const n = cardTurn++;
  const card = triggered ?? cards[n % cards.length]!;
  const behaviour = afterTrigger ? 'normal' : behaviourFor(n);
  const started = Date.now();
  const result = await connect(admin.port, card, behaviour);
  stats.sessions++;
  stats.apdus += result.exchanges.length;
  if (result.end === 'completed') stats.completed++;
  else stats.failed++;
  const status = result.end === 'completed' ? 'completed' : behaviour === 'hang' ? 'timeout' : 'failed';
  const deviceId = cards.indexOf(card) + 1;
  await lab.store.recordSession(
    deviceId,
    afterTrigger ? 'triggered' : behaviour === 'resume' ? 'resumed' : 'polled',
    result.exchanges.map(([c, r]) => ({ direction: 'command', apduHex: c, statusWord: r.slice(-4) })),
    status,
    started,
  );
}

async function modemRound(turn: number): Promise<void> {
  const cmds = ['ATI', 'AT+CSQ', 'AT+CPIN?', 'AT+CSIM=14,"00A4000C023F00"', 'AT+CREG?'];
  for (const c of cmds) await modem.command(c).catch(() => stats.errors++);
  if (turn % 3 === 1) await modem.command('AT+COPS?').catch(() => stats.errors++); // +CME ERROR: 30
  if (turn % 4 === 2) await modem.command('AT+CGSN', 800).catch(() => stats.errors++); // a silent modem: timeout
  if (turn % 2 === 0) {
    // The card answers with a BIP OPEN CHANNEL (the modem's STK URC), its OTA session, then CLOSE CHANNEL.
    const card = cards[(turn / 2) % cards.length]!;
    const answered = await modem.sendTrigger(card !== SILENT_CARD).catch(() => {
      stats.errors++;
      return false;
    });
    if (answered) {
      await cardSession(true, card);
      modem.closeChannel();
    }
  }
}

async function phoneRound(turn: number): Promise<void> {
  await listPhones().catch(() => stats.errors++);
  await readProperty(READY_PHONE, 'ro.product.model').catch(() => stats.errors++);
  if (turn % 2 === 0) await readProperty(LOCKED_PHONE, 'ro.serialno').catch(() => stats.errors++); // unauthorized
  if (turn % 3 === 1) {
    await injectTrigger().catch(() => stats.errors++);
    await cardSession(true);
  }
}

async function testRun(): Promise<void> {
  const { default: reporter } = await import('cardlink-otel/test-reporter');
  const stream = runTests({ files: [join(ROOT, 'examples', 'tests', 'ota-regression.test.mjs')], concurrency: 1 }).compose(reporter);
  let report = '';
  for await (const chunk of stream) report += String(chunk);
  const passed = (report.match(/✔/g) ?? []).length;
  const failed = (report.match(/✖/g) ?? []).length;
  await lab.store.recordTest('ota-regression', 'suite', failed > 0 ? 'failed' : 'passed', 0, null, Date.now());
  if (process.stdout.isTTY) process.stdout.write(`\ntests: ${passed} ok, ${failed} failing (see the test reporter's spans)\n`);
}

function every(ms: number, fn: (turn: number) => Promise<void>): void {
  let turn = 0;
  let busy = false;
  const tick = async () => {
    if (busy || stopping) return;
    busy = true;
    try {
      await monitor('demo.round', () => fn(turn++));
    } catch {
      stats.errors++;
    } finally {
      busy = false;
    }
  };
  void tick();
  timers.push(setInterval(tick, ms));
}

every(700, () => cardSession());
every(2000, modemRound);
every(2500, phoneRound);
every(20_000, testRun);
timers.push(
  setInterval(() => {
    void monitor('demo.maintenance', () => lab.store.purgeLogsBefore(Date.now() - 60_000)).catch(() => undefined);
    // A device error reported from code (a reader the lab lost), through the API.
    if (stats.sessions % 50 === 49) recordDeviceError({ deviceType: 'simulator', errorType: 'reader_removed' });
  }, 5000),
);

if (process.stdout.isTTY) {
  timers.push(
    setInterval(() => {
      process.stdout.write(
        `\rsessions ${stats.sessions} (completed ${stats.completed}, failed ${stats.failed}) | APDUs ${stats.apdus} | errors ${stats.errors}   `,
      );
    }, 500),
  );
}

async function stop(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const t of timers) clearInterval(t);
  process.stdout.write(`\n${reason}: ${stats.sessions} sessions (${stats.completed} completed), ${stats.apdus} APDUs\n`);
  // Let in-flight rounds finish, then close everything in order.
  await new Promise((r) => setTimeout(r, 300));
  await modem.close().catch(() => undefined);
  await admin.close().catch(() => undefined);
  lab.close();
  await sdk?.shutdown();
  process.exit(0);
}

process.once('SIGINT', () => void stop('stopped'));
process.once('SIGTERM', () => void stop('stopped'));
if (duration !== undefined) setTimeout(() => void stop(`ran ${duration} s`), duration * 1000);
