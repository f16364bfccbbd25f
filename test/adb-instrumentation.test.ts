/**
 * The adb instrumentation in-process: the real Debian adb on a private server port, the fake adb
 * (test/fixtures/fake-adb/adb) for phones and errors, every child_process call style compared with
 * the same call made without instrumentation, stream transparency, SMS triggers, TRACEPARENT.
 */
import t from 'tap';
import fc from 'fast-check';
// ESM named imports made BEFORE the instrumentation is enabled: they must see the patched functions.
import { spawn, execFile, exec, spawnSync, execFileSync, execSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SpanKind, SpanStatusCode, trace, type Tracer, type TracerProvider } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { AdbInstrumentation, DeviceStates, OutputCapture, createInstrumentations } from '../instrumentations/adb/index.js';
import { setupHarness, eventually } from './helpers/otel-harness.js';
import { REPO_ROOT, freePort } from './helpers/child.js';
import { clearTriggers, takeTrigger } from '../src/triggers.js';
import { parseConfig } from '../src/config.js';
import type { AdbDevice } from '../instrumentations/adb/adb.js';

const require = createRequire(import.meta.url);
const cjs = require('node:child_process') as typeof import('node:child_process');
/** The same exports object, for reading and replacing functions by name. */
const cpObj = cjs as unknown as Record<string, unknown>;
const NAMES = ['spawn', 'execFile', 'exec', 'spawnSync', 'execFileSync', 'execSync'] as const;
const unpatched = Object.fromEntries(NAMES.map((n) => [n, cpObj[n]])) as Record<(typeof NAMES)[number], unknown>;

const FAKE_DIR = join(REPO_ROOT, 'test/fixtures/fake-adb');
const FAKE = join(FAKE_DIR, 'adb');
const PHONE = 'R58M123ABC';
const LOCKED = '0123456789ABCDEF';
const SMS_ARGS = ['-s', PHONE, 'shell', 'am', 'broadcast', '-a', 'android.provider.Telephony.SMS_DELIVER', '--es', 'pdu', '07911326040000F0'];

/** The fake adb first on PATH, plus FAKE_ADB_* settings. */
function fakeEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${FAKE_DIR}:${process.env['PATH'] ?? ''}`, ...extra };
  for (const k of Object.keys(env)) if (k.startsWith('FAKE_ADB_') && !(k in extra)) delete env[k];
  delete env['ANDROID_SERIAL'];
  return env;
}

const instr = new AdbInstrumentation({ closeGraceMs: 500 });
const baseConfig = instr.getConfig();
const h = setupHarness([instr]);
t.teardown(() => h.shutdown());

const execFileP = promisify(cjs.execFile);

function adbSpans(): ReadableSpan[] {
  return h.finished().filter((s) => s.name.startsWith('adb '));
}
function only(name: string): ReadableSpan {
  const list = h.finished().filter((s) => s.name === name);
  if (list.length !== 1) throw new Error(`expected one ${name} span, got ${h.finished().map((s) => s.name).join(', ')}`);
  return list[0] as ReadableSpan;
}
const errors = (type: string): Promise<number> => h.value('cardlink_device_errors_total', { device_type: 'phone', error_type: type });
const phones = (): Promise<number> => h.value('cardlink_devices_connected', { device_type: 'phone' });
const durations = async (op: string): Promise<number> => (await h.histogram('cardlink_adb_operation_duration_seconds', { operation: op })).count;

interface Done {
  err: unknown;
  stdout: string;
  stderr: string;
}
function execFileDone(file: string, args: string[], options: Record<string, unknown>): Promise<Done> {
  return new Promise((resolve) => {
    cjs.execFile(file, args, options, (err, stdout, stderr) => resolve({ err, stdout: String(stdout), stderr: String(stderr) }));
  });
}

t.test('ESM named imports and CommonJS requires see the patched functions', async (t) => {
  for (const n of NAMES) {
    t.not(cpObj[n], unpatched[n], `${n} is patched on the exports object`);
    t.equal((cpObj[n] as () => void).name, n, `${n} keeps its name`);
    t.equal((cpObj[n] as () => void).length, (unpatched[n] as () => void).length, `${n} keeps its length`);
  }
  t.equal(spawn, cjs.spawn, 'ESM named import of spawn was synced');
  t.equal(execFile, cjs.execFile);
  t.equal(exec, cjs.exec);
  t.equal(spawnSync, cjs.spawnSync);
  t.equal(execFileSync, cjs.execFileSync);
  t.equal(execSync, cjs.execSync);
  t.type((execFile as unknown as Record<symbol, unknown>)[promisify.custom], 'function', 'execFile keeps a promisify.custom');
  t.type((exec as unknown as Record<symbol, unknown>)[promisify.custom], 'function', 'exec keeps a promisify.custom');
  const dyn = await import('node:child_process');
  t.equal(dyn.spawn, cjs.spawn, 'a later dynamic import gets the patched function too');

  h.spans.reset();
  const out = execFileSync('adb', ['devices'], { env: fakeEnv(), encoding: 'utf8' });
  t.match(out, /^List of devices attached\n/);
  t.equal(adbSpans().length, 1, 'the ESM named import is observed');
});

t.test('the real Debian adb on a private server: exact spans and metrics', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'adb-home-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, ANDROID_ADB_SERVER_PORT: String(port) };
  delete env['ANDROID_SERIAL'];
  await execFileP('adb', ['start-server'], { env });
  t.teardown(async () => {
    await execFileP('adb', ['kill-server'], { env }).catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  });
  const before = {
    noDevices: await errors('no_devices'),
    notFound: await errors('device_not_found'),
    version: await durations('version'),
    devices: await durations('devices'),
    shell: await durations('shell'),
  };
  h.spans.reset();

  const version = await execFileP('adb', ['version'], { env });
  t.match(version.stdout, /^Android Debug Bridge version /);
  const v = only('adb version');
  t.equal(v.kind, SpanKind.CLIENT);
  t.same(v.attributes, {
    'process.executable.name': 'adb',
    'process.command_args': ['adb', 'version'],
    'cardlink.adb.operation': 'version',
    'cardlink.device.type': 'phone',
    'process.exit.code': 0,
  });
  t.equal(v.status.code, SpanStatusCode.UNSET);

  const devices = await execFileP('adb', ['devices', '-l'], { env });
  t.equal(devices.stdout, 'List of devices attached\n\n');
  const d = only('adb devices');
  t.same(d.attributes, {
    'process.executable.name': 'adb',
    'process.command_args': ['adb', 'devices', '-l'],
    'cardlink.adb.operation': 'devices',
    'cardlink.device.type': 'phone',
    'process.exit.code': 0,
    'cardlink.adb.devices.listed': 0,
    'cardlink.adb.devices.online': 0,
  });
  const points = (await h.collect()).find((m) => m.descriptor.name === 'cardlink.devices.connected')?.dataPoints ?? [];
  t.same(
    points.map((p) => [p.attributes, p.value]),
    [[{ device_type: 'phone' }, 0]],
    'the gauge series exists and reads 0 phones',
  );

  const shell = await execFileDone('adb', ['shell', 'true'], { env });
  t.equal(shell.stderr, 'error: no devices/emulators found\n');
  t.equal((shell.err as { code?: number }).code, 1);
  const s = only('adb shell');
  t.same(s.attributes, {
    'process.executable.name': 'adb',
    'process.command_args': ['adb', 'shell', 'true'],
    'cardlink.adb.operation': 'shell',
    'cardlink.device.type': 'phone',
    'process.exit.code': 1,
    'error.type': 'no_devices',
  });
  t.same(s.status, { code: SpanStatusCode.ERROR, message: 'no_devices: exit code 1' });

  h.spans.reset();
  const nope = await execFileDone('adb', ['-s', 'nope', 'shell', 'true'], { env });
  t.equal(nope.stderr, "error: device 'nope' not found\n");
  const n = only('adb shell');
  t.same(n.attributes, {
    'process.executable.name': 'adb',
    'process.command_args': ['adb', '-s', 'shell', 'true'],
    'cardlink.adb.operation': 'shell',
    'cardlink.device.type': 'phone',
    'cardlink.device.serial': 'nope',
    'process.exit.code': 1,
    'error.type': 'device_not_found',
  });
  t.equal(n.status.code, SpanStatusCode.ERROR);

  // older adb (before its 2024 LinePrinter change) prints the sync client's errors (push, pull, install) on stdout, not stderr.
  h.spans.reset();
  const push = await execFileDone('adb', ['-s', 'nope', 'push', '/etc/hostname', '/sdcard/'], { env });
  t.equal(push.stderr, '', 'nothing on stderr');
  t.match(push.stdout, /failed to get feature set: device 'nope' not found/, 'the error is on stdout');
  const p = only('adb push');
  t.equal(p.attributes['error.type'], 'device_not_found');
  t.equal(p.attributes['process.exit.code'], 1);

  // `adb connect` to nothing: adb says so on stdout and exits 0.
  h.spans.reset();
  const refused = await execFileP('adb', ['connect', '127.0.0.1:1'], { env });
  t.match(refused.stdout, /^failed to connect to '127\.0\.0\.1:1': Connection refused/);
  const c = only('adb connect');
  t.equal(c.attributes['error.type'], 'connect_failed');
  t.equal(c.status.message, 'connect_failed: refused on stdout, exit code 0');

  // A shell line that goes on after adb: its status is the last command's, adb's error still counts.
  h.spans.reset();
  const piped = await new Promise<{ err: unknown; stderr: string }>((r) =>
    cjs.exec("adb -s nope shell getprop ro.serialno | tr -d '\\r'", { env }, (err, _out, stderr) => r({ err, stderr: String(stderr) })),
  );
  t.equal(piped.err, null, "the pipeline exits 0 (tr's status)");
  t.equal(piped.stderr, "error: device 'nope' not found\n");
  const q = only('adb shell');
  t.equal(q.attributes['error.type'], 'device_not_found', "adb's own error line decides");
  t.notOk('process.exit.code' in q.attributes, "tr's exit code is not adb's");

  t.equal((await errors('no_devices')) - before.noDevices, 1);
  t.equal((await errors('device_not_found')) - before.notFound, 3);
  t.equal((await durations('version')) - before.version, 1);
  t.equal((await durations('devices')) - before.devices, 1);
  t.equal((await durations('shell')) - before.shell, 3);
  for (const span of [v, d, s, n]) {
    const ms = (span.endTime[0] - span.startTime[0]) * 1000 + (span.endTime[1] - span.startTime[1]) / 1e6;
    t.ok(ms >= 0 && ms < 5000, `${span.name} lasted ${ms.toFixed(1)} ms`);
  }
});

t.test('fake adb: connected phones follow each `adb devices`, state changes are span events', async (t) => {
  h.spans.reset();
  await execFileP('adb', ['devices', '-l'], { env: fakeEnv() });
  t.equal(await phones(), 1, 'two phones listed, one unauthorized: the gauge reads 1');
  let span = only('adb devices');
  t.equal(span.attributes['cardlink.adb.devices.listed'], 2);
  t.equal(span.attributes['cardlink.adb.devices.online'], 1);
  t.same(
    span.events.map((e) => [e.name, e.attributes]),
    [
      [
        'cardlink.device.state_change',
        { 'cardlink.device.serial': PHONE, 'cardlink.device.state': 'device', 'cardlink.device.previous_state': 'absent', 'cardlink.device.model': 'SM_G973F' },
      ],
      [
        'cardlink.device.state_change',
        { 'cardlink.device.serial': LOCKED, 'cardlink.device.state': 'unauthorized', 'cardlink.device.previous_state': 'absent' },
      ],
    ],
  );

  h.spans.reset();
  await execFileP('adb', ['devices'], { env: fakeEnv() });
  t.equal(await phones(), 1, 'same listing (short form): same count');
  t.same(only('adb devices').events, [], 'no change, no event');

  h.spans.reset();
  await execFileP('adb', ['devices', '-l'], {
    env: fakeEnv({ FAKE_ADB_DEVICES: `${PHONE}:device,${LOCKED}:device,emulator-5554:offline` }),
  });
  t.equal(await phones(), 2, 'the RSA prompt accepted: two phones');
  span = only('adb devices');
  t.same(
    span.events.map((e) => [e.attributes?.['cardlink.device.serial'], e.attributes?.['cardlink.device.previous_state'], e.attributes?.['cardlink.device.state']]),
    [
      [LOCKED, 'unauthorized', 'device'],
      ['emulator-5554', 'absent', 'offline'],
    ],
  );

  h.spans.reset();
  spawnSync('adb', ['devices'], { env: fakeEnv({ FAKE_ADB_DEVICES: 'none' }) });
  t.equal(await phones(), 0, 'unplugged: 0 (spawnSync stdout read from its result)');
  t.same(
    only('adb devices').events.map((e) => [e.attributes?.['cardlink.device.serial'], e.attributes?.['cardlink.device.state']]),
    [
      [PHONE, 'absent'],
      [LOCKED, 'absent'],
      ['emulator-5554', 'absent'],
    ],
  );

  instr.setConfig({ ...baseConfig, maxDevicesOutputBytes: 40 });
  t.teardown(() => instr.setConfig(baseConfig));
  h.spans.reset();
  await execFileP('adb', ['devices', '-l'], { env: fakeEnv() });
  t.equal(await phones(), 0, 'a listing longer than the bound is not judged: the gauge keeps its value');
  t.equal(only('adb devices').attributes['cardlink.adb.devices.listed'], undefined);
  t.equal(only('adb devices').attributes['cardlink.adb.devices.truncated'], true, 'and the span says why');
  instr.setConfig(baseConfig);

  const out = execFileSync('adb', ['devices', '-l'], { env: fakeEnv(), encoding: 'utf8' });
  t.match(out, /R58M123ABC\s+device usb:/);
  t.equal(await phones(), 1, 'execFileSync stdout counted: back to 1');
});

t.test('fake adb: error kinds from stderr, exit status, spawn failures and timeouts', async (t) => {
  const cases: Array<{ what: string; file?: string; args: string[]; env?: Record<string, string>; options?: Record<string, unknown>; type: string }> = [
    { what: 'two phones, no -s', args: ['shell', 'true'], type: 'more_than_one_device' },
    { what: 'the unauthorized phone', args: ['-s', LOCKED, 'shell', 'true'], type: 'unauthorized' },
    { what: 'an offline phone', args: ['shell', 'true'], env: { FAKE_ADB_DEVICES: `${PHONE}:offline` }, type: 'offline' },
    { what: 'an unknown serial', args: ['-s', 'gone', 'shell', 'true'], type: 'device_not_found' },
    { what: 'no phone', args: ['get-state'], env: { FAKE_ADB_DEVICES: 'none' }, type: 'no_devices' },
    {
      what: "the remote command's own stderr is not adb's verdict",
      args: ['-s', PHONE, 'shell', 'false'],
      env: { FAKE_ADB_EXIT: '3', FAKE_ADB_STDERR: 'sh: device offline (said the remote program)' },
      type: 'exit_nonzero',
    },
    // Newer adb words (AOSP packages/modules/adb): the failed step, then the reason.
    {
      what: 'push to a phone gone offline',
      args: ['-s', PHONE, 'push', '/etc/hostname', '/sdcard/x'],
      env: { FAKE_ADB_EXIT: '1', FAKE_ADB_STDERR: 'adb: error: failed to get feature set: device offline' },
      type: 'offline',
    },
    {
      what: 'install with no phone (feature set)',
      args: ['-s', PHONE, 'install', '/tmp/x.apk'],
      env: { FAKE_ADB_EXIT: '1', FAKE_ADB_STDERR: 'adb: error: failed to get feature set: no devices/emulators found' },
      type: 'no_devices',
    },
    {
      what: 'root on an offline phone',
      args: ['-s', PHONE, 'root'],
      env: { FAKE_ADB_EXIT: '1', FAKE_ADB_STDERR: 'adb: unable to connect for root: device offline' },
      type: 'offline',
    },
    { what: 'adb not installed there', file: '/nonexistent/platform-tools/adb', args: ['devices'], type: 'adb_missing' },
    { what: 'a timeout', args: ['-s', PHONE, 'logcat'], options: { timeout: 300 }, type: 'killed' },
  ];
  for (const c of cases) {
    const before = await errors(c.type);
    h.spans.reset();
    const r = await execFileDone(c.file ?? 'adb', c.args, { env: fakeEnv(c.env), ...c.options });
    t.ok(r.err, `${c.what}: the app sees the failure`);
    const spans = adbSpans();
    t.equal(spans.length, 1, `${c.what}: one span`);
    t.equal(spans[0]?.attributes['error.type'], c.type, `${c.what}: ${c.type}`);
    t.equal(spans[0]?.status.code, SpanStatusCode.ERROR);
    t.equal((await errors(c.type)) - before, 1, `${c.what}: counted once`);
  }
  const missing = h.finished()[0];
  t.equal(missing?.attributes['process.exit.code'], undefined, 'a failed spawn has no exit code');
});

// ---------------------------------------------------------------------------------------------
// Call styles: the same call without and with instrumentation must give the same result.

function describeError(e: unknown): unknown {
  if (e === null || e === undefined) return e;
  const x = e as Record<string, unknown>;
  const out: Record<string, unknown> = { message: String(x['message']) };
  for (const k of ['code', 'killed', 'signal', 'cmd', 'status', 'errno', 'syscall', 'path', 'spawnargs']) if (k in x) out[k] = x[k];
  if ('stdout' in x) out['stdout'] = String(x['stdout']);
  if ('stderr' in x) out['stderr'] = String(x['stderr']);
  return out;
}

function runSpawn(file: string, args: string[], options: Record<string, unknown>): Promise<unknown> {
  return new Promise((resolve) => {
    // Lifecycle events in order; output per stream (how the OS chunks it is not ours to keep).
    const events: unknown[] = [];
    let stdout = '';
    let stderr = '';
    const child: ChildProcess = cjs.spawn(file, args, options);
    const flowing = [child.stdout?.readableFlowing ?? 'none', child.stderr?.readableFlowing ?? 'none'];
    child.on('spawn', () => events.push(['spawn']));
    child.on('error', (e) => events.push(['error', describeError(e)]));
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code, signal) => events.push(['exit', code, signal]));
    child.on('close', (code, signal) => {
      events.push(['close', code, signal]);
      resolve({ flowing, events, stdout, stderr, killed: child.killed, exitCode: child.exitCode, spawnargs: child.spawnargs });
    });
  });
}

/** Reads stdout the pull way (`readable` + `read()`), as some controllers do. */
function runSpawnPull(file: string, args: string[], options: Record<string, unknown>): Promise<unknown> {
  return new Promise((resolve) => {
    const child = cjs.spawn(file, args, options);
    let out = '';
    child.stdout?.on('readable', () => {
      let c: Buffer | null;
      while ((c = child.stdout?.read() as Buffer | null) !== null) out += c.toString();
    });
    child.on('close', (code) => resolve({ code, out }));
  });
}

function cb(fn: (done: (err: unknown, stdout: unknown, stderr: unknown) => void) => unknown): Promise<unknown> {
  return new Promise((resolve) => {
    fn((err, stdout, stderr) => resolve({ err: describeError(err), stdout: String(stdout), stderr: String(stderr) }));
  });
}

async function settle(p: Promise<unknown>): Promise<unknown> {
  try {
    const v = (await p) as { stdout: unknown; stderr: unknown };
    return { ok: { stdout: String(v.stdout), stderr: String(v.stderr) } };
  } catch (e) {
    return { rejected: describeError(e) };
  }
}

function sync(fn: () => unknown): unknown {
  try {
    const r = fn();
    if (r !== null && typeof r === 'object' && 'status' in (r as object)) {
      const x = r as { status: unknown; signal: unknown; stdout: unknown; stderr: unknown; error?: unknown };
      return { status: x.status, signal: x.signal, stdout: String(x.stdout), stderr: String(x.stderr), error: describeError(x.error) };
    }
    return { returned: String(r) };
  } catch (e) {
    return { threw: describeError(e) };
  }
}

const SCENARIOS: Array<{ name: string; spans: string[]; run: () => Promise<unknown> | unknown }> = [
  { name: 'spawn devices -l', spans: ['adb devices'], run: () => runSpawn('adb', ['devices', '-l'], { env: fakeEnv() }) },
  { name: 'spawn, pull reads', spans: ['adb devices'], run: () => runSpawnPull('adb', ['devices'], { env: fakeEnv() }) },
  { name: 'spawn failing', spans: ['adb shell'], run: () => runSpawn('adb', ['-s', LOCKED, 'shell', 'id'], { env: fakeEnv() }) },
  { name: 'spawn ENOENT', spans: ['adb devices'], run: () => runSpawn('/nonexistent/adb', ['devices'], { env: fakeEnv() }) },
  { name: 'spawn shell: true', spans: ['adb get-state'], run: () => runSpawn(`adb -s ${PHONE} get-state`, [], { env: fakeEnv(), shell: true }) },
  { name: 'execFile callback', spans: ['adb devices'], run: () => cb((d) => cjs.execFile('adb', ['devices'], { env: fakeEnv() }, d)) },
  { name: 'execFile callback failing', spans: ['adb install'], run: () => cb((d) => cjs.execFile('adb', ['install', '-r', 'app.apk'], { env: fakeEnv() }, d)) },
  { name: 'execFile buffer encoding', spans: ['adb version'], run: () => cb((d) => cjs.execFile(FAKE, ['version'], { env: fakeEnv(), encoding: 'buffer' }, d)) },
  { name: 'execFile ENOENT', spans: ['adb version'], run: () => cb((d) => cjs.execFile('/nonexistent/adb', ['version'], d)) },
  {
    name: 'execFile timeout',
    spans: ['adb logcat'],
    run: () => cb((d) => cjs.execFile('adb', ['-s', PHONE, 'logcat'], { env: fakeEnv(), timeout: 200 }, d)),
  },
  { name: 'exec shell string', spans: ['adb shell', 'sms.trigger'], run: () => cb((d) => cjs.exec(`adb ${SMS_ARGS.join(' ')}`, { env: fakeEnv() }, d)) },
  { name: 'exec failing', spans: ['adb shell'], run: () => cb((d) => cjs.exec(`ANDROID_SERIAL=x adb -s nope shell 'echo hi' 2>&1`, { env: fakeEnv() }, d)) },
  { name: 'promisified execFile', spans: ['adb devices'], run: () => settle(promisify(cjs.execFile)('adb', ['devices', '-l'], { env: fakeEnv() })) },
  {
    name: 'promisified execFile failing',
    spans: ['adb shell'],
    run: () => settle(promisify(cjs.execFile)('adb', ['shell', 'ls'], { env: fakeEnv() })),
  },
  { name: 'promisified exec', spans: ['adb get-serialno'], run: () => settle(promisify(cjs.exec)(`adb -s ${PHONE} get-serialno`, { env: fakeEnv() })) },
  { name: 'execFileSync', spans: ['adb version'], run: () => sync(() => cjs.execFileSync('adb', ['version'], { env: fakeEnv(), encoding: 'utf8' })) },
  {
    name: 'execFileSync failing',
    spans: ['adb shell'],
    run: () => sync(() => cjs.execFileSync('adb', ['-s', LOCKED, 'shell', 'id'], { env: fakeEnv(), stdio: 'pipe' })),
  },
  { name: 'execFileSync ENOENT', spans: ['adb devices'], run: () => sync(() => cjs.execFileSync('/nonexistent/adb', ['devices'], { stdio: 'pipe' })) },
  { name: 'spawnSync', spans: ['adb devices'], run: () => sync(() => cjs.spawnSync('adb', ['devices', '-l'], { env: fakeEnv() })) },
  { name: 'spawnSync failing', spans: ['adb shell'], run: () => sync(() => cjs.spawnSync('adb', ['shell', 'id'], { env: fakeEnv(), encoding: 'utf8' })) },
  { name: 'spawnSync ENOENT', spans: ['adb devices'], run: () => sync(() => cjs.spawnSync('/nonexistent/adb', ['devices'])) },
  {
    name: 'spawnSync timeout',
    spans: ['adb logcat'],
    run: () => sync(() => cjs.spawnSync('adb', ['-s', PHONE, 'logcat'], { env: fakeEnv(), timeout: 200 })),
  },
  { name: 'execSync failing', spans: ['adb shell'], run: () => sync(() => cjs.execSync('adb shell id', { env: fakeEnv(), stdio: 'pipe' })) },
  { name: 'non-adb execFile', spans: [], run: () => cb((d) => cjs.execFile('/bin/echo', ['adb', 'devices'], d)) },
  { name: 'non-adb exec mentioning adb', spans: [], run: () => cb((d) => cjs.exec('echo adb devices; exit 2', d)) },
  { name: 'non-adb shell: true line mentioning adb', spans: [], run: () => runSpawn('echo adb devices', [], { shell: true }) },
  { name: 'non-adb spawnSync', spans: [], run: () => sync(() => cjs.spawnSync('/bin/sh', ['-c', 'echo out; echo err >&2; exit 4'])) },
];

t.test('every call style: one span per adb run, and the same results as without instrumentation', async (t) => {
  instr.disable();
  h.spans.reset();
  const plain: unknown[] = [];
  for (const s of SCENARIOS) plain.push(await s.run());
  t.equal(adbSpans().length, 0);
  instr.enable();
  t.teardown(() => instr.enable());
  for (const [i, s] of SCENARIOS.entries()) {
    h.spans.reset();
    const observed = await s.run();
    t.same(observed, plain[i], `${s.name}: same result as uninstrumented`);
    t.same(
      h.finished().map((x) => x.name).sort(),
      [...s.spans].sort(),
      `${s.name}: ${s.spans.length === 0 ? 'no span' : s.spans.join(' + ')}`,
    );
  }
});

t.test('the original functions get the very same `this` and arguments', async (t) => {
  instr.disable();
  const seen: Array<{ name: string; self: unknown; args: unknown[] }> = [];
  const fakeChild = (): unknown => ({ emit: () => false, stdout: null, stderr: null, pid: 1 });
  for (const n of NAMES) {
    cpObj[n] = function (this: unknown, ...args: unknown[]) {
      seen.push({ name: n, self: this, args });
      return n.endsWith('Sync') ? (n === 'spawnSync' ? { status: 0, signal: null, stdout: null, stderr: null } : '') : fakeChild();
    };
  }
  const spies = Object.fromEntries(NAMES.map((n) => [n, cpObj[n]]));
  instr.enable();
  t.teardown(() => {
    instr.disable();
    for (const n of NAMES) cpObj[n] = unpatched[n];
    instr.enable();
  });
  const opts = { env: { A: '1' } };
  const args = ['-la'];
  const cbk = (): void => {};
  const self = { me: true };
  const calls: Array<[(typeof NAMES)[number], unknown[]]> = [
    ['spawn', ['/bin/ls', args, opts]],
    ['spawn', ['adb', ['devices'], opts]],
    ['execFile', ['/bin/ls', args, opts, cbk]],
    ['execFile', ['adb', ['version'], cbk]],
    ['exec', ['ls -la | wc -l', opts, cbk]],
    ['exec', ['adb devices', cbk]],
    ['spawnSync', ['/bin/ls', args, opts]],
    ['execFileSync', ['adb', ['get-state'], opts]],
    ['execSync', ['true', opts]],
  ];
  for (const [n, a] of calls) {
    seen.length = 0;
    (cpObj[n] as (...x: unknown[]) => unknown).apply(self, a);
    t.equal(seen.length, 1, `${n}(${String(a[0])}): one call to the original`);
    t.equal(seen[0]?.self, self, 'same this');
    t.equal(seen[0]?.args.length, a.length, 'same argument count');
    a.forEach((x, i) => t.equal(seen[0]?.args[i], x, `argument ${i} is the same object`));
  }
  t.ok(NAMES.every((n) => cpObj[n] !== spies[n]), 'the spies were wrapped');
});

t.test('streams: no listener added, flowing mode untouched, own properties only while running', async (t) => {
  h.spans.reset();
  // The listing is printed at once, then adb lingers 300 ms: the app starts reading only later.
  const child = cjs.spawn('adb', ['devices', '-l'], { env: fakeEnv({ FAKE_ADB_SLEEP: '0.3' }) });
  t.equal(child.stdout?.readableFlowing, null, 'stdout still paused-by-default');
  t.equal(child.stderr?.readableFlowing, null);
  t.equal(child.listenerCount('exit') + child.listenerCount('close') + child.listenerCount('error'), 0, 'no listener on the child');
  t.equal(child.stdout?.listenerCount('data'), 0);
  t.notOk(Object.keys(child).includes('emit'), 'our emit is not enumerable');
  t.notOk(Object.keys(child.stdout as object).includes('push'), 'our push is not enumerable');
  await new Promise((r) => setTimeout(r, 150));
  t.equal(child.stdout?.readableFlowing, null, 'still paused while the data waits in the stream');
  t.ok((child.stdout?.readableLength ?? 0) > 0, 'the listing is buffered in the stream, not consumed');
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(c: Buffer, _e, next) {
      chunks.push(c);
      next();
    },
  });
  child.stdout?.pipe(sink);
  await new Promise((r) => child.once('close', r));
  t.match(Buffer.concat(chunks).toString(), /^List of devices attached\nR58M123ABC {13}device usb:1-1.1 .*\n0123456789ABCDEF {7}unauthorized usb:1-1.2 transport_id:2\n\n$/);
  t.notOk(Object.hasOwn(child, 'emit'), 'emit restored after close');
  t.notOk(Object.hasOwn(child.stdout as object, 'push'), 'push restored after close');
  t.equal(only('adb devices').attributes['cardlink.adb.devices.online'], 1, 'and the listing was seen');
});

t.test('an SMS injected through the phone is a trigger', async (t) => {
  clearTriggers();
  const before = await h.value('cardlink_triggers_sent_total', { trigger_type: 'sms' });
  h.spans.reset();
  await execFileP('adb', SMS_ARGS, { env: fakeEnv() });
  t.equal((await h.value('cardlink_triggers_sent_total', { trigger_type: 'sms' })) - before, 1);
  const adb = only('adb shell');
  const sms = only('sms.trigger');
  t.equal(sms.kind, SpanKind.PRODUCER);
  t.equal(sms.parentSpanContext?.spanId, adb.spanContext().spanId, 'child of the adb run');
  t.same(sms.attributes, {
    'cardlink.trigger.type': 'sms',
    'cardlink.device.type': 'phone',
    'cardlink.sms.method': 'broadcast',
    'cardlink.device.serial': PHONE,
  });
  t.same(adb.attributes['process.command_args'], ['adb', '-s', 'shell', 'am'], 'the SMS PDU never reaches the span');
  const trigger = takeTrigger(Date.now(), 60_000);
  t.equal(trigger?.deviceType, 'phone');
  t.equal(trigger?.triggerType, 'sms');
  t.equal(trigger?.spanContext?.spanId, sms.spanContext().spanId, 'the next OTA session links to this span');

  h.spans.reset();
  await execFileDone('adb', ['-s', LOCKED, ...SMS_ARGS.slice(2)], { env: fakeEnv() });
  t.equal((await h.value('cardlink_triggers_sent_total', { trigger_type: 'sms' })) - before, 1, 'a failed injection is no trigger');
  t.equal(only('sms.trigger').status.code, SpanStatusCode.ERROR);
  t.equal(takeTrigger(Date.now(), 60_000), undefined);

  h.spans.reset();
  await execFileP('adb', ['-s', PHONE, 'emu', 'sms', 'send', '+15551234', 'hello'], { env: fakeEnv() });
  t.equal(only('sms.trigger').attributes['cardlink.sms.method'], 'emulator_console');
  t.same(only('adb emu').attributes['process.command_args'], ['adb', '-s', 'emu']);
  clearTriggers();
});

t.test('an SMS the emulator console refuses (KO) is no trigger', async (t) => {
  clearTriggers();
  const before = { sent: await h.value('cardlink_triggers_sent_total', { trigger_type: 'sms' }), refused: await errors('console_refused') };
  h.spans.reset();
  const out = await execFileP('adb', ['-s', PHONE, 'emu', 'sms', 'pdu', '07911326040000F0'], { env: fakeEnv({ FAKE_ADB_STDOUT: 'KO: bad PDU' }) });
  t.equal(out.stdout, 'KO: bad PDU\n');
  t.equal(await h.value('cardlink_triggers_sent_total', { trigger_type: 'sms' }), before.sent, 'not counted as sent');
  t.equal((await errors('console_refused')) - before.refused, 1);
  t.equal(only('sms.trigger').status.code, SpanStatusCode.ERROR);
  t.equal(takeTrigger(Date.now(), 10_000), undefined, 'no trigger for a session to answer');
});

t.test("CardLink's phone controller: AT commands by name on the adb span, SMS injections as phone triggers", async (t) => {
  const PDU = '0011000B916407281553F80000AA0AE8329BFD4697D9EC37';
  const triggers = (): Promise<number> => h.value('cardlink_triggers_sent_total', { trigger_type: 'sms' });
  clearTriggers();
  const before = await triggers();
  const run = async (command: string): Promise<{ adb: ReadableSpan; sms: ReadableSpan | undefined }> => {
    h.spans.reset();
    await execFileP('adb', ['-s', PHONE, 'shell', command], { env: fakeEnv() });
    return { adb: only('adb shell'), sms: h.finished().find((x) => x.name === 'sms.trigger') };
  };

  // An AT command through the phone service: its name on the span, never its arguments; no trigger.
  const cpin = await run("service call phone 115 i32 1 i32 8 s16 'AT+CPIN?'");
  t.equal(cpin.adb.attributes['cardlink.at.command'], '+CPIN');
  t.same(cpin.adb.attributes['process.command_args'], ['adb', '-s', 'shell', 'service']);
  t.equal(cpin.sms, undefined);
  // AT+CMGS=<length> alone sends nothing yet.
  const cmgs = await run("service call phone 115 i32 1 i32 10 s16 'AT+CMGS=23'");
  t.equal(cmgs.adb.attributes['cardlink.at.command'], '+CMGS');
  t.equal(cmgs.sms, undefined);
  t.equal((await triggers()) - before, 0, 'no trigger yet');

  // The whole submission echoed into the modem's node, then the content provider, then the broadcast.
  const methods: Array<[string, string, string | undefined]> = [
    [`echo -e "AT+CMGS=23\r${PDU}\x1a" > /dev/smd0`, 'modem_device', '+CMGS'],
    [`content insert --uri content://sms/inbox --bind protocol:i:0 --bind body:s:${PDU}`, 'content_provider', undefined],
    [`am broadcast -a android.provider.Telephony.SMS_DELIVER -n com.android.phone/.InboundSmsHandler --es "pdu" "${PDU}"`, 'broadcast', undefined],
  ];
  for (const [command, method, at] of methods) {
    const r = await run(command);
    t.equal(r.adb.attributes['cardlink.at.command'], at, `${method}: AT command`);
    t.same(r.sms?.attributes, {
      'cardlink.trigger.type': 'sms',
      'cardlink.device.type': 'phone',
      'cardlink.sms.method': method,
      'cardlink.device.serial': PHONE,
    });
    t.equal(r.sms?.parentSpanContext?.spanId, r.adb.spanContext().spanId);
    const trigger = takeTrigger(Date.now(), 60_000);
    t.equal(trigger?.deviceType, 'phone', `${method}: a phone trigger`);
    t.equal(trigger?.spanContext?.spanId, r.sms?.spanContext().spanId);
    t.notOk(JSON.stringify([r.adb.attributes, r.sms?.attributes]).includes(PDU), `${method}: the PDU is never exported`);
  }
  t.equal((await triggers()) - before, 3, 'one trigger per injection');
  clearTriggers();
});

t.test('logcat: the span lasts until the process ends', async (t) => {
  h.spans.reset();
  const child = cjs.spawn('adb', ['-s', PHONE, 'logcat'], { env: fakeEnv({ FAKE_ADB_SLEEP: '30' }) });
  const first = await new Promise<string>((r) => child.stdout?.once('data', (c: Buffer) => r(c.toString())));
  t.match(first, /beginning of main/);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(adbSpans().length, 0, 'still running: no span yet');
  child.kill('SIGTERM');
  const [code, signal] = await new Promise<unknown[]>((r) => child.once('close', (...a) => r(a)));
  t.same([code, signal], [null, 'SIGTERM']);
  const span = only('adb logcat');
  const ms = (span.endTime[0] - span.startTime[0]) * 1000 + (span.endTime[1] - span.startTime[1]) / 1e6;
  t.ok(ms >= 300, `lasted ${ms.toFixed(0)} ms`);
  t.equal(span.attributes['error.type'], 'killed');
  t.same(span.status, { code: SpanStatusCode.ERROR, message: 'killed: killed by SIGTERM' });
});

t.test('a shell line that pipes or redirects adb\'s output, or goes on after it: the outcome is not taken for adb\'s', async (t) => {
  const env = fakeEnv();
  const run = (line: string): Promise<{ code: number; stdout: string }> =>
    new Promise((r) => cjs.exec(line, { env }, (err, stdout) => r({ code: (err as { code?: number } | null)?.code ?? 0, stdout: String(stdout) })));
  await execFileP('adb', ['devices'], { env });
  const phones0 = await phones();
  t.equal(phones0, 1, 'one ready phone listed');
  const failures0 = await errors('exit_nonzero');
  const dir = mkdtempSync(join(tmpdir(), 'adb-line-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const line of [`${FAKE} devices | grep -q emulator-5554`, `${FAKE} devices -l | grep -c " device "`, `${FAKE} devices > ${dir}/out.txt`, `${FAKE} devices; echo done`]) {
    h.spans.reset();
    const r = await run(line);
    const span = only('adb devices');
    t.equal(span.status.code, SpanStatusCode.UNSET, `${line}: no error (exit ${r.code} is not adb's)`);
    t.notOk('cardlink.adb.devices.listed' in span.attributes, `${line}: its stdout is no listing`);
    t.equal(await phones(), phones0, `${line}: the phone is still connected`);
  }
  t.equal(await errors('exit_nonzero'), failures0, 'no failure counted');
  h.spans.reset();
  await run(`${FAKE} devices 2>/dev/null`);
  t.equal(only('adb devices').attributes['cardlink.adb.devices.listed'], 2, 'stderr redirected: stdout is still the listing');
});

t.test('logcat -d: a dump of the radio log is not the card\'s traffic now', async (t) => {
  const { openChannel, rilLine } = await import('./fixtures/stk-commands.js');
  const dir = mkdtempSync(join(tmpdir(), 'adb-logcat-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'radio.log');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, `${rilLine(openChannel('10.0.0.1', 4443))}\n`);
  const opened = (): Promise<number> => h.value('cardlink_bip_commands_total', { command: 'OPEN_CHANNEL', device_type: 'phone' });
  const before = await opened();
  for (let i = 0; i < 3; i++) {
    const dump = await execFileP('adb', ['-s', PHONE, 'logcat', '-d', '-b', 'radio'], { env: fakeEnv({ FAKE_ADB_LOGCAT_FILE: file }) });
    t.match(dump.stdout, /UNSOL_STK_PROACTIVE_COMMAND/, 'the dump holds the OPEN CHANNEL line');
  }
  t.equal(await opened(), before, 'three dumps of the same history: nothing counted');
  const live = cjs.spawn('adb', ['-s', PHONE, 'logcat', '-b', 'radio'], { env: fakeEnv({ FAKE_ADB_LOGCAT_FILE: file }) });
  live.stdout.resume();
  await eventually(async () => (await opened()) === before + 1, 5000, 'the live log is read');
  const exited = new Promise((r) => live.once('close', r));
  live.kill();
  await exited;
  // Live through a filter: still the phone's radio log.
  const filtered = cjs.spawn(`exec ${FAKE} -s ${PHONE} logcat -b radio | grep --line-buffered UNSOL`, { shell: true, env: fakeEnv({ FAKE_ADB_LOGCAT_FILE: file }), detached: true });
  filtered.stdout.resume();
  await eventually(async () => (await opened()) === before + 2, 5000, 'the filtered live log is read');
  const gone = new Promise((r) => filtered.once('close', r));
  process.kill(-(filtered.pid as number), 'SIGTERM');
  await gone;
});

t.test('pipes held open after exit: the span still ends, at the exit (closeGraceMs)', async (t) => {
  instr.setConfig({ ...baseConfig, closeGraceMs: 300 });
  t.teardown(() => instr.setConfig(baseConfig));
  h.spans.reset();
  // A forked helper keeps adb's stdout/stderr open for 1.5 s after adb itself has exited.
  const child = cjs.spawn('adb', ['-s', 'nope', 'shell', 'true'], { env: fakeEnv({ FAKE_ADB_LINGER: '1.5' }) });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  await new Promise((r) => child.once('exit', r));
  const exitedAt = Date.now();
  t.equal(adbSpans().length, 0, 'not ended at exit: stderr may still be on its way');
  const closed = new Promise<number>((r) => child.once('close', () => r(Date.now())));
  await new Promise((r) => setTimeout(r, 600));
  const span = only('adb shell');
  t.equal(span.attributes['error.type'], 'device_not_found', 'classified from what stderr said before');
  const ms = (span.endTime[0] - span.startTime[0]) * 1000 + (span.endTime[1] - span.startTime[1]) / 1e6;
  t.ok(ms < 1000, `the span ends at the exit (${ms.toFixed(0)} ms), not when the pipes close`);
  t.ok((await closed) - exitedAt >= 1000, 'the pipes really closed late');
  t.equal(stderr, "error: device 'nope' not found\n", 'the app still gets every byte');
});

t.test('TRACEPARENT in the child environment, only when asked for', async (t) => {
  const env = fakeEnv({ FAKE_ADB_ECHO_ENV: 'TRACEPARENT' });
  h.spans.reset();
  const off = await execFileP('adb', ['-s', PHONE, 'shell', 'true'], { env });
  t.equal(off.stdout, 'TRACEPARENT=\n', 'off by default');

  instr.setConfig({ ...baseConfig, propagateTraceContext: true });
  t.teardown(() => instr.setConfig(baseConfig));
  h.spans.reset();
  const opts = { env };
  const on = await execFileP('adb', ['-s', PHONE, 'shell', 'true'], opts);
  const span = only('adb shell');
  const sc = span.spanContext();
  t.equal(on.stdout, `TRACEPARENT=00-${sc.traceId}-${sc.spanId}-01\n`);
  t.notOk('TRACEPARENT' in opts.env, "the app's env object is not changed");
  // An environment whose values are inherited (`Object.create(process.env)`): Node passes those on, so do we.
  const inherited = Object.create(fakeEnv({ FAKE_ADB_ECHO_ENV: 'HOME' })) as NodeJS.ProcessEnv;
  const home = await execFileP(FAKE, ['-s', PHONE, 'shell', 'true'], { env: inherited });
  t.equal(home.stdout, `HOME=${process.env['HOME'] ?? ''}\n`, 'inherited variables reach the child');

  // Every call shape, including ones without options (the child then inherits process.env).
  process.env['FAKE_ADB_ECHO_ENV'] = 'TRACEPARENT';
  process.env['ANDROID_SERIAL'] = PHONE;
  t.teardown(() => {
    delete process.env['FAKE_ADB_ECHO_ENV'];
    delete process.env['ANDROID_SERIAL'];
  });
  const shapes: Array<[string, () => Promise<string> | string]> = [
    ['exec(cmd, cb)', () => new Promise((r) => cjs.exec(`${FAKE} shell true`, (_e, out) => r(String(out))))],
    ['execFile(file, cb)', () => new Promise((r) => cjs.execFile(FAKE, (_e, out) => r(String(out))))],
    ['execFile(file, args, cb)', () => new Promise((r) => cjs.execFile(FAKE, ['shell', 'true'], (_e, out) => r(String(out))))],
    ['spawnSync(file, args)', () => String(cjs.spawnSync(FAKE, ['shell', 'true']).stdout)],
    ['execFileSync(file, args)', () => String(cjs.execFileSync(FAKE, ['shell', 'true']))],
    ['execSync(cmd)', () => String(cjs.execSync(`${FAKE} shell true`))],
  ];
  for (const [what, run] of shapes) {
    h.spans.reset();
    const out = await run();
    const s = adbSpans()[0];
    t.equal(out.split('\n')[0], `TRACEPARENT=00-${s?.spanContext().traceId}-${s?.spanContext().spanId}-01`, what);
    t.equal(s?.attributes['cardlink.device.serial'], PHONE, `${what}: serial from ANDROID_SERIAL`);
  }
  // The command line's own prefix decides over the environment, as the shell does for adb.
  for (const [line, serial] of [
    [`ANDROID_SERIAL=R58M123ABC ${FAKE} shell true`, 'R58M123ABC'],
    [`env ANDROID_SERIAL=emulator-5554 ${FAKE} shell true`, 'emulator-5554'],
    [`env -u ANDROID_SERIAL ${FAKE} shell true`, undefined],
  ] as const) {
    h.spans.reset();
    await new Promise((r) => cjs.exec(line, r));
    t.equal(adbSpans()[0]?.attributes['cardlink.device.serial'], serial, `${line}: the serial the prefix gives`);
  }
});

t.test('a failing tracer never reaches the application', async (t) => {
  const broken: TracerProvider = {
    getTracer: () =>
      ({
        startSpan: () => {
          throw new Error('tracer exploded');
        },
      }) as unknown as Tracer,
  };
  instr.setTracerProvider(broken);
  t.teardown(() => instr.setTracerProvider(trace.getTracerProvider()));
  const r = await execFileP('adb', ['devices'], { env: fakeEnv() });
  t.match(r.stdout, /^List of devices attached/);
  const s = cjs.spawnSync('adb', ['version'], { env: fakeEnv(), encoding: 'utf8' });
  t.equal(s.status, 0);
});

t.test('createInstrumentations takes CARDLINK_ADB_PATH and CARDLINK_ADB_PROPAGATE_TRACE_CONTEXT from the config', async (t) => {
  const [a] = createInstrumentations(parseConfig({ CARDLINK_ADB_PATH: '/opt/lab/bin/phonectl', CARDLINK_ADB_PROPAGATE_TRACE_CONTEXT: 'true' }).config);
  t.same((a as AdbInstrumentation).getConfig(), { enabled: false, adbPath: '/opt/lab/bin/phonectl', propagateTraceContext: true });
  t.equal(a?.instrumentationName, 'cardlink-otel/adb');
  const parsed = parseConfig({ CARDLINK_ADB_PROPAGATE_TRACE_CONTEXT: 'maybe' });
  t.match(parsed.errors, [/CARDLINK_ADB_PROPAGATE_TRACE_CONTEXT="maybe" is not valid/]);
  const [b] = createInstrumentations(parsed.config);
  t.same((b as AdbInstrumentation).getConfig(), { enabled: false });
});

/** The fake adb under another name (a symlink in a temp directory removed at teardown). */
function fakeNamed(t: { teardown(fn: () => unknown): void }, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fake-adb-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  symlinkSync(FAKE, path);
  return path;
}

t.test('a configured adb path with another name is recognised', async (t) => {
  const wrapper = fakeNamed(t, 'phonectl');
  h.spans.reset();
  await execFileP(wrapper, ['version'], { env: fakeEnv() });
  t.equal(adbSpans().length, 0, 'not adb by name');
  instr.setConfig({ ...baseConfig, adbPath: wrapper });
  t.teardown(() => instr.setConfig(baseConfig));
  await execFileP(wrapper, ['version'], { env: fakeEnv() });
  await promisify(cjs.exec)(`${wrapper} -s ${PHONE} get-state`, { env: fakeEnv() });
  t.same(
    adbSpans().map((s) => [s.name, s.attributes['process.executable.name']]),
    [
      ['adb version', 'phonectl'],
      ['adb get-state', 'phonectl'],
    ],
  );
  // adb prefixes some errors with its own executable's name.
  h.spans.reset();
  await execFileDone(wrapper, ['-s', PHONE, 'shell', 'true'], { env: fakeEnv({ FAKE_ADB_EXIT: '1', FAKE_ADB_STDERR: 'phonectl: device offline' }) });
  t.equal(only('adb shell').attributes['error.type'], 'offline');
});

t.test('adb.exe: errors prefixed with the Windows executable name get their kinds', async (t) => {
  const exe = fakeNamed(t, 'adb.exe');
  for (const [stderr, type] of [
    ['adb.exe: no devices/emulators found', 'no_devices'],
    ['adb.exe: error: failed to get feature set: device offline', 'offline'],
    ["adb.exe: device 'R58M999' not found", 'device_not_found'],
  ] as const) {
    const before = await errors(type);
    h.spans.reset();
    const r = await execFileDone(exe, ['-s', PHONE, 'push', '/etc/hostname', '/sdcard/x'], { env: fakeEnv({ FAKE_ADB_EXIT: '1', FAKE_ADB_STDERR: `${stderr}\r` }) });
    t.ok(r.err, 'the app sees the failure');
    t.match(only('adb push').attributes, { 'error.type': type, 'process.executable.name': 'adb.exe' }, stderr);
    t.equal((await errors(type)) - before, 1, `${type} counted once`);
  }
});

t.test('OutputCapture keeps head and tail whatever the chunking (property)', async (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.array(fc.nat(300), { maxLength: 12 }),
      fc.integer({ min: 0, max: 64 }),
      fc.integer({ min: 0, max: 64 }),
      (bytes, cuts, headMax, tailMax) => {
        const whole = new OutputCapture(headMax, tailMax);
        whole.add(Buffer.from(bytes));
        const parts = new OutputCapture(headMax, tailMax);
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        let at = 0;
        for (const p of [...points, bytes.length]) {
          parts.add(Buffer.from(bytes.subarray(at, p)));
          at = p;
        }
        const latin1 = Buffer.from(bytes).toString('latin1');
        const expected =
          bytes.length <= headMax + tailMax
            ? latin1
            : tailMax === 0
              ? latin1.slice(0, headMax)
              : `${latin1.slice(0, headMax)}\n${latin1.slice(bytes.length - tailMax)}`;
        return whole.text() === expected && parts.text() === expected && parts.total === bytes.length;
      },
    ),
    { numRuns: 1000 },
  );
  t.pass('head/tail independent of chunking');
});

t.test('DeviceStates: the gauge deltas always add up to the latest count (property)', async (t) => {
  const STATES = ['device', 'offline', 'unauthorized', 'recovery'] as const;
  const listing = fc.array(fc.record({ serial: fc.constantFrom('a', 'b', 'c', 'd', 'e'), state: fc.constantFrom(...STATES) }), { maxLength: 6 });
  fc.assert(
    fc.property(fc.array(listing, { minLength: 1, maxLength: 8 }), (listings) => {
      const ds = new DeviceStates();
      let gauge = 0;
      let known = new Map<string, string>();
      for (const l of listings) {
        const u = ds.update(l as AdbDevice[]);
        gauge += u.delta;
        const next = new Map<string, string>();
        for (const d of l) if (!next.has(d.serial)) next.set(d.serial, d.state);
        const expectedOnline = [...next.values()].filter((s) => s === 'device').length;
        if (gauge !== expectedOnline || u.online !== expectedOnline) return false;
        // Every serial whose state differs between two listings has exactly one event.
        const serials = new Set([...known.keys(), ...next.keys()]);
        const changed = [...serials].filter((s) => (known.get(s) ?? 'absent') !== (next.get(s) ?? 'absent'));
        if (u.changes.length !== changed.length) return false;
        known = next;
      }
      return true;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

t.test('disable() restores the originals for CommonJS and ESM imports', async (t) => {
  instr.disable();
  t.teardown(() => instr.enable());
  for (const n of NAMES) t.equal(cpObj[n], unpatched[n], `${n} restored`);
  t.equal(spawn, unpatched.spawn, 'ESM named import restored');
  h.spans.reset();
  await execFileP('adb', ['devices'], { env: fakeEnv() });
  t.equal(adbSpans().length, 0, 'nothing observed while disabled');
});
