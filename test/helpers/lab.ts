/**
 * The lab of test/fixtures/apps/lab-app.ts under `--import ./register.js`, its modem simulator on a
 * fresh pty pair; everything is closed when the test ends.
 */
import { join } from 'node:path';
import { runNode, REPO_ROOT, type NodeChild } from './child.js';
import { openPtyPair, startModemSimulator } from '../fixtures/modem-simulator.js';

const LAB_APP = join(REPO_ROOT, 'dist/test/fixtures/apps/lab-app.js');

export async function startLab(t: { teardown(fn: () => unknown): void }, env: Record<string, string | undefined>, timeoutMs = 60_000): Promise<NodeChild> {
  const pair = await openPtyPair();
  const modem = await startModemSimulator(pair.modemPath);
  t.teardown(async () => {
    await modem.close();
    await pair.close();
  });
  return runNode({
    t,
    importRegister: true,
    args: [LAB_APP, pair.appPath],
    timeoutMs,
    env: { CARDLINK_HEALTH_ENABLED: 'false', OTEL_LOGS_EXPORTER: 'none', ...env },
  });
}
