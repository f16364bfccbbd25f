/**
 * Every command in the README's `sh` blocks is run here, so the README cannot rot. A command with
 * no way to run it in this test fails the test: adding a command to the README means adding how it
 * is checked. `npm start` is the demo lab's acceptance test (issue: every catalogue metric has data
 * within 30 s, /health/ready healthy, exit 0 after --duration).
 */
import t, { type Test } from 'tap';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, freePort } from './helpers/child.js';
import { scrape } from './helpers/scrape.js';
import { METRICS } from '../src/metrics/catalogue.js';
import { getJson } from './helpers/http.js';
import { peersBinDir } from './helpers/peers.js';

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

/** Lines of every ```sh block, comments dropped. */
function readmeCommands(): string[] {
  const out: string[] = [];
  for (const m of README.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const raw of (m[1] ?? '').split('\n')) {
      const line = raw.replace(/\s+#.*$/, '').trim();
      if (line !== '' && !line.startsWith('#')) out.push(line);
    }
  }
  return out;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A shell command line, run for real (bounded), in `cwd`, with `env` over a clean environment. */
function sh(command: string, cwd: string, env: Record<string, string>, timeoutMs: number, during?: () => Promise<void>): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd,
      env: { ...process.env, NODE_OPTIONS: '', OTEL_EXPORTER_PROMETHEUS_PORT: '0', CARDLINK_HEALTH_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const killer = setTimeout(() => process.kill(-(child.pid as number), 'SIGKILL'), timeoutMs);
    void during?.();
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A consumer project next to the repository: `cardlink-otel` resolves to this checkout. */
function consumerDir(t: Tap): string {
  const dir = mkdtempSync(join(tmpdir(), 'cardlink-readme-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(REPO_ROOT, join(dir, 'node_modules', 'cardlink-otel'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'lab', type: 'module' }));
  return dir;
}
type Tap = Test;

const runners: Array<{ match: RegExp; check: (t: Tap, command: string) => Promise<void> }> = [
  {
    // The set-up commands are CI's: .ci/run must run exactly them (and it runs this test).
    match: /^npm (ci|test)$/,
    async check(t, command) {
      const ci = readFileSync(join(REPO_ROOT, '.ci/run'), 'utf8');
      t.match(ci, new RegExp(`^${command}$|^${command} `, 'm'), `.ci/run runs \`${command}\``);
      const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
      if (command === 'npm test') t.equal(pkg.scripts['test'], 'tap');
      else t.match(pkg.scripts['prepare'], /npm run build/, 'npm ci builds through prepare');
    },
  },
  {
    // The Go-built peers: .ci/run builds them before the tests; here the cached build answers.
    match: /^bash test\/peers\/build\.sh$/,
    async check(t, command) {
      const ci = readFileSync(join(REPO_ROOT, '.ci/run'), 'utf8');
      t.match(ci, /^bash test\/peers\/build\.sh$/m, '.ci/run builds the peers');
      t.ok(ci.indexOf('bash test/peers/build.sh') < ci.indexOf('npm ci'), 'before npm ci');
      const run = await sh(command, REPO_ROOT, {}, 600_000);
      t.equal(run.code, 0, run.stderr.slice(-2000));
      const dir = run.stdout.trim().split('\n').pop() ?? '';
      t.equal(dir, peersBinDir(), 'it prints the folder the tests take the binaries from');
      for (const name of ['jaeger', 'otelcol', 'prometheus']) t.ok(existsSync(join(dir, name)), `${name} built`);
    },
  },
  {
    // The demo lab: every catalogue metric gets data within 30 s, readiness healthy, clean exit.
    match: /^npm start$/,
    async check(t, command) {
      const metrics = await freePort();
      const health = await freePort();
      let scraped: Awaited<ReturnType<typeof scrape>> | undefined;
      let ready: { status: number; body: { status?: string } } | undefined;
      const run = await sh(
        `${command} -- --duration 32`,
        REPO_ROOT,
        { OTEL_EXPORTER_PROMETHEUS_PORT: String(metrics), CARDLINK_HEALTH_PORT: String(health) },
        90_000,
        async () => {
          await sleep(28_000);
          scraped = await scrape(`http://127.0.0.1:${metrics}/metrics`).catch(() => undefined);
          ready = await getJson(health, '/health/ready').catch(() => undefined);
        },
      );
      t.equal(run.code, 0, `npm start -- --duration 32 exits 0\n${run.stderr.slice(-2000)}`);
      t.match(run.stdout, /^cardlink demo lab: /m, 'the first line says how the modem is reached');
      t.match(run.stdout, new RegExp(`metrics: http://127\\.0\\.0\\.1:${metrics}/metrics`), 'it says where to look');
      t.equal(ready?.status, 200, 'readiness answered 200');
      t.equal(ready?.body.status, 'healthy');
      // Gauges of things in progress may read 0 at the scrape instant; everything else counts.
      const mayBeZero = new Set(['cardlink_tls_connections_active', 'cardlink_sessions_active']);
      for (const m of METRICS) {
        const fam = scraped?.families.get(m.prometheusName);
        const total = (fam?.samples ?? [])
          .filter((s) => m.prometheusType !== 'histogram' || s.name.endsWith('_count'))
          .reduce((sum, s) => sum + s.value, 0);
        if (mayBeZero.has(m.prometheusName)) t.ok((fam?.samples.length ?? 0) > 0, `${m.prometheusName} is served`);
        else t.ok(total > 0, `${m.prometheusName} has data within 30 s (${total})`);
      }
    },
  },
  {
    match: /^node --import \.\/register\.js app\.js$/,
    async check(t, command) {
      const dir = mkdtempSync(join(tmpdir(), 'cardlink-readme-app-'));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      writeFileSync(join(dir, 'app.js'), "console.log('app ran');\n");
      // `app.js` is the reader's application: here, a file that prints a line.
      const run = await sh(command.replace('app.js', join(dir, 'app.js')), REPO_ROOT, {}, 20_000);
      t.same([run.code, run.stdout.trim(), run.stderr.trim()], [0, 'app ran', '']);
    },
  },
  {
    match: /^node --import cardlink-otel\/register app\.js$/,
    async check(t, command) {
      const dir = consumerDir(t);
      writeFileSync(join(dir, 'app.js'), "import { getSdk } from 'cardlink-otel'; console.log(getSdk() ? 'instrumented' : 'plain');\n");
      const run = await sh(command, dir, {}, 20_000);
      t.same([run.code, run.stdout.trim()], [0, 'instrumented']);
    },
  },
  {
    match: /^node --test --test-reporter=cardlink-otel\/test-reporter/,
    async check(t, command) {
      const dir = consumerDir(t);
      writeFileSync(
        join(dir, 'card.test.mjs'),
        "import { test } from 'node:test';\ntest('selects the ISD', () => {});\ntest('later', { todo: true }, () => {});\n",
      );
      const run = await sh(command, dir, {}, 30_000);
      t.equal(run.code, 0, run.stderr);
      t.match(run.stdout, /selects the ISD/, 'the human report is printed');
      t.match(run.stdout, /todo 1/);
    },
  },
  {
    // No Docker engine runs here: the compose file is checked for consistency by test/deploy.test.ts.
    match: /^docker compose -f deploy\/docker-compose\.yml up$/,
    async check(t) {
      t.ok(existsSync(join(REPO_ROOT, 'deploy/docker-compose.yml')), 'the compose file exists (validated by test/deploy.test.ts)');
      t.ok(existsSync(join(REPO_ROOT, 'test/deploy.test.ts')));
    },
  },
  {
    match: /^npm run bench$/,
    async check(t, command) {
      // The full run takes minutes; two rounds of the start-up and metrics benchmarks show it works.
      const run = await sh(`${command} -- startup metrics`, REPO_ROOT, { BENCH_ROUNDS: '2' }, 120_000);
      t.equal(run.code, 0, run.stderr.slice(-2000));
      t.match(run.stdout, /^\| start-up of `--import \.\/register\.js` \|/m);
      t.match(run.stdout, /^\| \/metrics scrape at 10,000 series \|/m);
    },
  },
  {
    match: /^npm run fuzz$/,
    async check(t, command) {
      const run = await sh(command, REPO_ROOT, { FUZZ_CASES: '300' }, 120_000);
      t.equal(run.code, 0, run.stderr.slice(-2000));
      const targets = (readFileSync(join(REPO_ROOT, 'bench/fuzz-long.mjs'), 'utf8').match(/^ {2}'[^']+': \[/gm) ?? []).length;
      t.ok(targets >= 8, `${targets} fuzz targets`);
      t.equal((run.stdout.match(/^\| fuzz: /gm) ?? []).length, targets, 'every decoder fuzzed');
    },
  },
  {
    match: /^npm run soak$/,
    async check(t, command) {
      const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
      t.ok(pkg.scripts['soak'], 'package.json has a soak script');
      const run = await sh(command, REPO_ROOT, { SOAK_SECONDS: '20', SOAK_WARMUP_SECONDS: '5' }, 120_000);
      t.equal(run.code, 0, run.stderr.slice(-2000));
      t.match(run.stdout, /^\| soak/m);
    },
  },
];

t.test('every sh command of the README has a check, and it passes', async (t) => {
  const commands = readmeCommands();
  t.ok(commands.length >= 8, `found ${commands.length} commands`);
  for (const command of commands) {
    const runner = runners.find((r) => r.match.test(command));
    t.ok(runner, `a check exists for \`${command}\``);
    if (runner) await t.test(command, (tt) => runner.check(tt, command));
  }
});

t.test('the README states the two set-up commands at the top', async (t) => {
  const top = README.slice(0, README.indexOf('## Run'));
  t.match(top, /```sh\nnpm ci[^\n]*\nnpm test/);
  t.notOk(execFileSync('git', ['-C', REPO_ROOT, 'ls-files', 'register.js'], { encoding: 'utf8' }).trim(), 'register.js is built, not committed');
});
