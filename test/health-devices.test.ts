/**
 * Readiness with real devices: a child under `--import ./register.js` with a SQLite database, a
 * serial port on a socat pty (the modem simulator on the far end) and a fake adb on PATH. Healthy;
 * then socat dies: the serial check goes unhealthy and readiness answers 503 while liveness stays 200.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runNode, freePort, REPO_ROOT } from './helpers/child.js';
import { openPtyPair, startModemSimulator } from './fixtures/modem-simulator.js';
import { getJson } from './helpers/http.js';

const APP = join(REPO_ROOT, 'test/fixtures/health/lab-app.mjs');
const PATH = `${join(REPO_ROOT, 'test/fixtures/fake-adb')}:${process.env['PATH'] ?? ''}`;

type Health = { status?: string; checks?: Array<{ name: string; status: string; message?: string }> };
const get = (port: number, path: string) => getJson<Health>(port, path);

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > end) throw new Error(`condition not met in ${ms} ms: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('database, serial port and adb checks; socat dies -> 503 ready, 200 live', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cardlink-health-devices-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pair = await openPtyPair();
  t.teardown(async () => {
    try {
      await pair.close();
    } catch {
      /* already closed by the test */
    }
  });
  const modem = await startModemSimulator(pair.modemPath);
  t.teardown(async () => {
    try {
      await modem.close();
    } catch {
      /* its pty is gone with socat */
    }
  });
  const port = await freePort();
  const child = runNode({
    t,
    importRegister: true,
    args: [APP],
    env: {
      PATH,
      APP_SQLITE: join(dir, 'lab.db'),
      APP_SERIAL: pair.appPath,
      APP_ADB: '1',
      CARDLINK_HEALTH_PORT: String(port),
      CARDLINK_HEALTH_HOST: '127.0.0.1',
      CARDLINK_HEALTH_CACHE_MS: '0',
      CARDLINK_HEALTH_DETAILS: 'true',
    },
  });
  await child.waitForLine(/^ready$/, 15_000);
  const ready = await until(() => get(port, '/health/ready'), (r) => r.status === 200, 15_000);
  t.equal(ready.body.status, 'healthy', JSON.stringify(ready.body.checks));
  const names = (ready.body.checks ?? []).map((c) => c.name);
  for (const n of ['database', 'serial_ports', 'adb']) t.ok(names.includes(n), `${n} check present`);
  t.match(ready.body.checks?.find((c) => c.name === 'adb')?.message ?? '', /2 phone\(s\) listed, 1 ready/);

  await modem.close(); // the simulator lets go of its end first (its tty streams must not outlive the pty)
  await pair.close(); // socat gone: the modem vanished
  const down = await until(() => get(port, '/health/ready'), (r) => r.status === 503, 15_000);
  t.equal(down.body.status, 'unhealthy');
  t.equal(down.body.checks?.find((c) => c.name === 'serial_ports')?.status, 'unhealthy');
  const live = await get(port, '/health/live');
  t.equal(live.status, 200, 'liveness does not depend on devices');
  t.equal(live.body.status, 'healthy');
  child.kill('SIGTERM');
  await child.waitForExit(10_000);
});
