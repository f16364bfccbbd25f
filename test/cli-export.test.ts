/**
 * `cardlink-metrics dashboards export DIR`, `alerts export FILE [--set ...]`, `alerts thresholds`,
 * `--version`, `--help`, usage errors: what gets written, what promtool thinks of it, exit codes.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runNode, REPO_ROOT } from './helpers/child.js';
import { VERSION } from '../src/version.js';
import { DASHBOARDS, DASHBOARDS_DIR } from '../src/dashboards/index.js';
import { renderAlertRules } from '../src/alerts/rules.js';
import { resolveThresholds } from '../src/alerts/thresholds.js';
import { runCli } from '../src/cli/program.js';
import type { CliIo } from '../src/cli/io.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');
type Tap = { teardown(fn: () => unknown): void };

function tmp(t: Tap): string {
  const dir = mkdtempSync(join(tmpdir(), 'cardlink-cli-export-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function cli(t: Tap, args: string[], cwd?: string) {
  const c = runNode({ t, args: [CLI, ...args], ...(cwd ? { cwd } : {}), env: { NO_COLOR: undefined, FORCE_COLOR: undefined } });
  const exit = await c.waitForExit(20_000);
  return { code: exit.code, stdout: c.stdout(), stderr: c.stderr() };
}

t.test('dashboards export DIR writes the six dashboards, identical to the committed ones', async (t) => {
  const dir = tmp(t);
  const r = await cli(t, ['dashboards', 'export', 'grafana/out'], dir);
  t.equal(r.code, 0, r.stderr);
  const out = join(dir, 'grafana/out');
  t.same(readdirSync(out).sort(), DASHBOARDS.map((d) => d.file).sort());
  for (const d of DASHBOARDS) {
    t.equal(readFileSync(join(out, d.file), 'utf8'), readFileSync(join(REPO_ROOT, DASHBOARDS_DIR, d.file), 'utf8'), d.file);
    t.match(r.stdout, `wrote ${join('grafana/out', d.file)}  (${d.title}, uid ${d.uid})`);
  }
  writeFileSync(join(dir, 'file'), 'x');
  const bad = await cli(t, ['dashboards', 'export', 'file/sub'], dir);
  t.equal(bad.code, 74);
  t.match(bad.stderr, /^cardlink-metrics: cannot write dashboards into .*file\/sub: /);
  const missing = await cli(t, ['dashboards', 'export'], dir);
  t.equal(missing.code, 64);
  t.match(missing.stderr, /missing required argument 'dir'/);
});

t.test('alerts export FILE with thresholds set at export; promtool accepts the result', async (t) => {
  const dir = tmp(t);
  const r = await cli(t, ['alerts', 'export', 'rules/cardlink.yml', '--set', 'HighAPDUErrorRate.threshold=0.1', '-s', 'HighAPDUErrorRate.for=10m', '--set', 'ModemCommandTimeouts.severity=critical'], dir);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, 'wrote rules/cardlink.yml (10 alert rules)\n');
  const text = readFileSync(join(dir, 'rules/cardlink.yml'), 'utf8');
  t.equal(text, renderAlertRules(resolveThresholds(['HighAPDUErrorRate.threshold=0.1', 'HighAPDUErrorRate.for=10m', 'ModemCommandTimeouts.severity=critical'])));
  t.match(text, /> 0\.1\n\s+for: 10m\n/);
  t.match(text, /summary: 'APDU error rate above 10% on/);
  const check = await new Promise<{ code: number; out: string }>((resolve) =>
    execFile('promtool', ['check', 'rules', join(dir, 'rules/cardlink.yml')], (err, stdout, stderr) =>
      resolve({ code: err ? 1 : 0, out: stdout + stderr }),
    ),
  );
  t.equal(check.code, 0, check.out);

  const stdout = await cli(t, ['alerts', 'export', '-']);
  t.equal(stdout.code, 0);
  t.equal(stdout.stdout, renderAlertRules(), '"-": the default rules on stdout');
  t.equal(stdout.stderr, '');

  const bad = await cli(t, ['alerts', 'export', '-', '--set', 'HighAPDUErrorRate.threshold=lots']);
  t.equal(bad.code, 64);
  t.equal(bad.stderr, 'cardlink-metrics: HighAPDUErrorRate.threshold="lots": expected a non-negative number\n');
  t.equal(bad.stdout, '', 'nothing written on a bad threshold');

  const list = await cli(t, ['alerts', 'thresholds']);
  t.equal(list.code, 0);
  t.match(list.stdout, /^ALERT\s+THRESHOLD\s+WINDOW\s+FOR\s+SEVERITY\s+MEANING$/m);
  t.match(list.stdout, /^HighAPDUErrorRate\s+0\.05\s+5m\s+5m\s+warning\s+ratio/m);
  t.match(list.stdout, /^TLSHandshakeFailures\s+0\.25\s+5m\s+5m\s+critical/m);
  t.equal(list.stdout.trimEnd().split('\n').length, 11);
});

t.test('--version, --help, usage errors', async (t) => {
  const v = await cli(t, ['--version']);
  t.equal(v.code, 0);
  t.equal(v.stdout, `${VERSION}\n`);
  const h = await cli(t, ['--help']);
  t.equal(h.code, 0);
  for (const c of ['status', 'export', 'health', 'config', 'test', 'dashboards', 'alerts']) t.match(h.stdout, new RegExp(`^  ${c} `, 'm'));
  t.match(h.stdout, /Exit codes:\n\s+0\s+success/);
  const sub = await cli(t, ['health', '--help']);
  t.equal(sub.code, 0);
  t.match(sub.stdout, /--verbose/);
  const none = await cli(t, []);
  t.equal(none.code, 64);
  t.match(none.stdout, /^Usage: cardlink-metrics/);
  const unknown = await cli(t, ['stauts']);
  t.equal(unknown.code, 64);
  t.match(unknown.stderr, /^error: unknown command 'stauts'\n\(Did you mean status\?\)\n$/);
  const opt = await cli(t, ['status', '--colour']);
  t.equal(opt.code, 64);
  t.match(opt.stderr, /unknown option '--colour'/);
  const group = await cli(t, ['config']);
  t.equal(group.code, 64, 'a command group without its subcommand');
  const timeout = await cli(t, ['--timeout', '0', 'status']);
  t.equal(timeout.code, 64);
  t.equal(timeout.stderr, 'cardlink-metrics: --timeout "0": expected milliseconds from 1 to 600000\n');
});

t.test('runCli in-process: resolves with the exit code, never throws, never exits', async (t) => {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (s) => out.push(s),
    stderr: (s) => err.push(s),
    env: {},
    cwd: tmp(t),
    stdoutIsTTY: true,
    stderrIsTTY: true,
  };
  t.equal(await runCli(['alerts', 'thresholds'], io), 0);
  t.match(out.join(''), /\bHighAPDUErrorRate\b/);
  t.equal(await runCli(['--timeout', '200', 'health', '--url', 'http://127.0.0.1:9/health'], io), 3);
  t.match(err.join(''), /cannot reach http:\/\/127\.0\.0\.1:9\/health/);
  out.length = 0;
  t.equal(await runCli(['config', 'show'], io), 0);
  t.match(out.join(''), /\u001b\[1mConfig file\u001b\[22m/, 'a TTY gets colour');
  out.length = 0;
  t.equal(await runCli(['config', 'show'], { ...io, env: { NO_COLOR: '1' } }), 0);
  t.notMatch(out.join(''), /\u001b/, 'NO_COLOR on a TTY');
});
