/**
 * Every instrumentation, used as a user's own SDK would use it (test/fixtures/lifecycle): given a
 * MeterProvider and a TracerProvider of the user's, constructed disabled or enabled, then enabled,
 * disabled and enabled again. Each state is checked on the patched targets themselves and on what one
 * real call (a PSK handshake, a fake adb run, a mock serial port, an SQLite query, a refused
 * PostgreSQL connection) records in the user's providers. One process per case: a module the require
 * hook has seen is never offered to a later hook.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './helpers/child.js';

const CHILD = join(REPO_ROOT, 'test/fixtures/lifecycle/lifecycle-child.mjs');

function run(target: string, mode: 'enabled' | 'disabled' | 'twice'): Array<Record<string, unknown>> {
  const out = execFileSync(process.execPath, [CHILD, target, mode], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const MODULE_TARGETS = new Set(['serialport', 'sqlite', 'pg']);

for (const target of ['tls', 'adb', 'serialport', 'sqlite', 'pg']) {
  t.test(`${target}: constructed disabled, enabled, disabled, enabled, disabled`, async (t) => {
    const steps = run(target, 'disabled');
    t.same(
      steps.filter((s) => s['step'] !== 'buckets'),
      [
        // Its package is not loaded yet when constructed (nothing to patch or call).
        { step: 'constructed', patched: false, recorded: MODULE_TARGETS.has(target) ? null : 0 },
        { step: 'enable', patched: true, recorded: 1 },
        { step: 'disable', patched: false, recorded: 0 },
        { step: 'enable', patched: true, recorded: 1 },
        { step: 'disable', patched: false, recorded: 0 },
      ],
    );
  });
  t.test(`${target}: constructed enabled, disabled, enabled, disabled`, async (t) => {
    const steps = run(target, 'enabled');
    t.same(
      steps.filter((s) => s['step'] !== 'buckets'),
      [
        { step: 'constructed', patched: true, recorded: 1 },
        { step: 'disable', patched: false, recorded: 0 },
        { step: 'enable', patched: true, recorded: 1 },
        { step: 'disable', patched: false, recorded: 0 },
      ],
    );
    if (target === 'sqlite') {
      t.same(steps.find((s) => s['step'] === 'buckets'), { step: 'buckets', boundaries: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5] }, "the SDK's histogram, with the catalogue's buckets");
    }
  });
  t.test(`${target}: a second instance enabled beside the first stays disabled until the first is`, async (t) => {
    const steps = run(target, 'twice');
    // A package loaded while the second instance was disabled is never offered to its hook (as for
    // any instance enabled after the application loaded its target); builtins are patched at enable().
    const takesOver = MODULE_TARGETS.has(target) ? { patched: false, recorded: 0 } : { patched: true, recorded: 1 };
    t.same(steps, [
      { step: 'second enabled', firstEnabled: true, secondEnabled: false },
      { step: 'both', patched: true, recorded: 1 },
      { step: 'first disabled', patched: false, recorded: 0 },
      { step: 'second enabled again', ...takesOver },
      { step: 'second disabled', patched: false, recorded: 0 },
    ]);
  });
}
