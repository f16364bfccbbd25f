/**
 * Credentials stay out of every output, `config set` cannot be steered by a planted symlink, and
 * settings fail closed (issue 19, items 3, 4 and the settings part of 5). Real child processes
 * (`node --import ./register.js`, the CLI), real files, a real planted symlink.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, REPO_ROOT, runNode, type NodeChild } from './helpers/child.js';
import { request } from './helpers/http.js';
import { parseConfig } from '../src/config.js';
import { readConfigFile, writeConfigFile } from '../src/cli/config-file.js';
import { redactEndpoint, redactString, redactUrlUserinfo } from '../src/logging/sanitize.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');
const APP = join(REPO_ROOT, 'test/fixtures/apps/esm-app.mjs');
type Tap = { teardown(fn: () => unknown): void };

function tmp(t: Tap): string {
  const dir = mkdtempSync(join(tmpdir(), 'cardlink-hardening-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** This process' OTEL_* / CARDLINK_* variables removed, `env` added. */
function cleanEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { NO_COLOR: '1', OTEL_EXPORTER_PROMETHEUS_PORT: undefined, CARDLINK_HEALTH_PORT: undefined };
  for (const k of Object.keys(process.env)) if (k.startsWith('OTEL_') || k.startsWith('CARDLINK_')) out[k] = undefined;
  return { ...out, ...env };
}

async function cli(t: Tap, args: string[], env: Record<string, string | undefined>, cwd?: string) {
  const c = runNode({ t, args: [CLI, ...args], env: cleanEnv(env), ...(cwd !== undefined ? { cwd } : {}) });
  const exit = await c.waitForExit(30_000);
  return { code: exit.code, out: c.stdout() + c.stderr(), stdout: c.stdout(), stderr: c.stderr() };
}

/** Polls until the port answers HTTP (any status) or the time is up. */
async function answers(port: number, path: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      await request(port, path, { timeoutMs: 1000 });
      return;
    } catch {
      if (Date.now() > until) throw new Error(`port ${port} never answered ${path}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Whether anything listens on the port (a refused connection says no). */
async function listening(port: number): Promise<boolean> {
  try {
    await request(port, '/metrics', { timeoutMs: 2000 });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED') return false;
    throw e;
  }
}

t.test('sanitizer: every form of URL userinfo is masked, unencoded @ in a password included', async (t) => {
  t.equal(redactUrlUserinfo('http://u:p@host:4317'), 'http://***@host:4317');
  t.equal(redactUrlUserinfo('export to https://tok3n@h/v1/traces failed'), 'export to https://***@h/v1/traces failed');
  t.equal(redactUrlUserinfo('http://u:p@ss@host/x?a=b@c'), 'http://***@host/x?a=b@c');
  t.equal(redactUrlUserinfo('http://host:4317'), 'http://host:4317');
  t.equal(redactEndpoint('https://t@h:4318/v1/traces?api_key=k3y&tenant=a#x'), 'https://***@h:4318/v1/traces?api_key=***&tenant=***#x', 'query values too');
  t.equal(redactEndpoint('export to http://h/v1?token=abc failed: 14'), 'export to http://h/v1?token=*** failed: 14');
  t.equal(redactEndpoint('http://h:4317'), 'http://h:4317');
  t.equal(redactString('to http://u:p@ss@host/'), 'to http://u:***@host/', 'the password runs to the last @');
  t.equal(redactString('GET https://tok3n@ingest.example/x'), 'GET https://***@ingest.example/x', 'a token-only userinfo');
  t.equal(redactString('postgres://lab:pw@db:5432/x'), 'postgres://lab:***@db:5432/x', 'unchanged for user:password');
});

for (const protocol of ['grpc', 'http/protobuf'] as const) {
  t.test(`no credential in any output: OTLP over ${protocol} to an unreachable endpoint with userinfo and headers`, async (t) => {
    const s = (what: string): string => `${what}-${randomBytes(6).toString('hex')}`;
    const secrets = {
      otlpUser: s('otlpuser'),
      otlpPassword: s('otlppass'),
      bearer: s('bearer'),
      apiKey: s('apikey'),
      tracesHeader: s('trhdr'),
      metricsPassword: s('metricspw'),
      // A token in the endpoint's query (some collectors take it there): http/protobuf only.
      queryKey: protocol === 'http/protobuf' ? s('querykey') : undefined,
    };
    const closed = await freePort(); // nothing listens there
    const metricsPort = await freePort();
    const healthPort = await freePort();
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://${secrets.otlpUser}:${secrets.otlpPassword}@127.0.0.1:${closed}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${secrets.bearer},x-api-key=${secrets.apiKey}`,
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: `x-tenant-key=${secrets.tracesHeader}`,
      ...(secrets.queryKey === undefined
        ? {}
        : { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://${secrets.otlpUser}:${secrets.otlpPassword}@127.0.0.1:${closed}/v1/traces?api_key=${secrets.queryKey}` }),
      OTEL_EXPORTER_OTLP_TIMEOUT: '1500',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRIC_EXPORT_INTERVAL: '300',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      CARDLINK_HEALTH_HOST: '127.0.0.1',
      CARDLINK_HEALTH_PORT: String(healthPort),
      CARDLINK_METRICS_USERNAME: 'ops',
      CARDLINK_METRICS_PASSWORD: secrets.metricsPassword,
    };
    const child: NodeChild = runNode({ t, importRegister: true, args: [APP], env: cleanEnv(env), timeoutMs: 90_000 });
    await child.waitForLine(/OTLP traces export to .* failed/, 30_000);
    await child.waitForLine(/OTLP metrics export to .* failed/, 30_000);
    t.match(child.stderr(), `OTLP traces export to http://***@127.0.0.1:${closed}`, 'the endpoint is shown, its userinfo masked');
    if (secrets.queryKey !== undefined) t.match(child.stderr(), `/v1/traces?api_key=*** failed`, 'and its query values');

    const outputs: Array<[string, string]> = [['child stdout and stderr', child.stdout() + child.stderr()]];
    // Details (the endpoint among them) are shown to a caller with the /metrics credentials.
    const authorization = `Basic ${Buffer.from(`ops:${secrets.metricsPassword}`).toString('base64')}`;
    const health = await request(healthPort, '/health', { headers: { authorization } });
    t.match(health.body, /"otlp_export"/, 'the health report has the OTLP export check');
    t.match(health.body, /\*\*\*@127\.0\.0\.1/, 'with the masked endpoint');
    outputs.push(['GET /health (with credentials)', health.body]);
    outputs.push(['GET /health', (await request(healthPort, '/health')).body]);
    for (const args of [
      ['config', 'show'],
      ['config', 'show', '--json'],
      ['status'],
      ['status', '--json'],
      ['health', '-v'],
      ['health', '--json'],
      ['test'],
      ['test', '--json'],
      ['test', '--otlp'],
      ['export', '--format', 'json'],
    ]) {
      const r = await cli(t, args, env);
      outputs.push([`cardlink-metrics ${args.join(' ')}`, r.out]);
    }
    t.match(outputs.find(([n]) => n === 'cardlink-metrics config show')![1], `http://***@127.0.0.1:${closed}`, 'config show names the endpoint, masked');
    t.match(outputs.find(([n]) => n === 'cardlink-metrics test --otlp')![1], /FAIL\s+otlp/, 'the probe ran and failed');
    child.kill('SIGTERM');
    await child.waitForExit(15_000);
    outputs.push(['child output after shutdown', child.stdout() + child.stderr()]);
    for (const [where, text] of outputs) {
      for (const [name, secret] of Object.entries(secrets)) if (secret !== undefined) t.notMatch(text, secret, `${where}: no ${name}`);
    }
  });
}

t.test('config set: a symlink planted at the old temp name receives nothing', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'cardlink-otel.json');
  const victim = join(dir, 'victim.txt');
  // Another local user's trap: the temp name `<file>.<pid>.tmp` was predictable.
  symlinkSync(victim, `${file}.${process.pid}.tmp`);
  writeConfigFile(file, { CARDLINK_METRICS_USERNAME: 'ops', CARDLINK_METRICS_PASSWORD: 'planted-link-secret' });
  t.notOk(existsSync(victim), 'the link target was never created');
  t.ok(lstatSync(`${file}.${process.pid}.tmp`).isSymbolicLink(), 'the planted link is untouched');
  t.equal(statSync(file).mode & 0o777, 0o600, 'the file is owner-only');
  t.ok(lstatSync(file).isFile(), 'a regular file replaced nothing but the path');
  t.same(JSON.parse(readFileSync(file, 'utf8')), { CARDLINK_METRICS_PASSWORD: 'planted-link-secret', CARDLINK_METRICS_USERNAME: 'ops' });
  t.same(readdirSync(dir).sort(), ['cardlink-otel.json', `cardlink-otel.json.${process.pid}.tmp`], 'no temp file left behind');
});

t.test('config set refuses a config path that is a symlink (CLI, real child process)', async (t) => {
  const dir = tmp(t);
  const target = join(dir, 'elsewhere.json');
  writeFileSync(target, '{}\n', { mode: 0o644 });
  const link = join(dir, 'cardlink-otel.json');
  symlinkSync(target, link);
  const r = await cli(t, ['config', 'set', 'CARDLINK_METRICS_PASSWORD', 'via-link-secret'], { CARDLINK_CONFIG_FILE: link });
  t.not(r.code, 0, 'refused');
  t.match(r.stderr, /is a symbolic link; not writing through it/);
  t.equal(readFileSync(target, 'utf8'), '{}\n', 'the link target is unchanged');
  t.ok(lstatSync(link).isSymbolicLink(), 'the link is still a link');
  t.notMatch(r.out, 'via-link-secret');
});

t.test('metrics auth fails closed: half a credential pair or a ":" in the user means no /metrics at all', async (t) => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['a password without a user', { CARDLINK_METRICS_PASSWORD: 'lone-password' }, /CARDLINK_METRICS_USERNAME and CARDLINK_METRICS_PASSWORD must be set together; \/metrics is not served/],
    ['a user without a password', { CARDLINK_METRICS_USERNAME: 'ops' }, /must be set together; \/metrics is not served/],
    ['a ":" in the user', { CARDLINK_METRICS_USERNAME: 'ops:x', CARDLINK_METRICS_PASSWORD: 'pw' }, /CARDLINK_METRICS_USERNAME="ops:\*\*\*" is not valid: expected a name without ":"; \/metrics is not served/],
  ];
  for (const [what, vars, line] of cases) {
    const parsed = parseConfig(vars);
    t.equal(parsed.config.prometheus.auth, 'misconfigured', `${what}: misconfigured`);
    t.equal(parsed.config.prometheus.password, undefined, `${what}: no credential kept`);
    t.equal(parsed.errors.filter((e) => line.test(e)).length, 1, `${what}: one line`);

    const metricsPort = await freePort();
    const healthPort = await freePort();
    const child = runNode({
      t,
      importRegister: true,
      args: [APP],
      env: cleanEnv({
        ...vars,
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
        CARDLINK_HEALTH_HOST: '127.0.0.1',
        CARDLINK_HEALTH_PORT: String(healthPort),
      }),
    });
    await child.waitForLine(/^ready /, 15_000);
    await answers(healthPort, '/health/live'); // the SDK has started everything it starts
    t.equal(await listening(metricsPort), false, `${what}: /metrics is not served (before: served with no auth)`);
    t.match(child.stderr(), line, `${what}: the reason is on stderr`);
    const report = JSON.parse((await request(healthPort, '/health', { timeoutMs: 5000 })).body) as { status: string; checks: Array<{ name: string; status: string }> };
    t.same(
      [report.status, report.checks.find((c) => c.name === 'metrics_endpoint')?.status],
      ['degraded', 'unhealthy'],
      `${what}: the health report says /metrics is not served`,
    );
    child.kill('SIGTERM');
    await child.waitForExit(15_000);
  }
  t.equal(parseConfig({ CARDLINK_METRICS_USERNAME: 'ops', CARDLINK_METRICS_PASSWORD: 'pw' }).config.prometheus.auth, 'basic');
  t.equal(parseConfig({}).config.prometheus.auth, 'none');
  const show = await cli(t, ['config', 'show'], { CARDLINK_METRICS_PASSWORD: 'lone-password', CARDLINK_CONFIG_FILE: join(tmp(t), 'none.json') });
  t.match(show.stdout, /^\s+\/metrics\s+not served \(Basic auth misconfigured, see Problems\)$/m);
  const set = await cli(t, ['config', 'set', 'CARDLINK_METRICS_USERNAME', 'a:b'], { CARDLINK_CONFIG_FILE: join(tmp(t), 'c.json') });
  t.equal(set.code, 64, 'config set refuses a ":" in the user');
  t.match(set.stderr, /CARDLINK_METRICS_USERNAME="a:\*\*\*" is not valid/, 'what follows the ":" (a password, usually) is not printed');
});

t.test('a config file others could have written is refused with one line; its extra instrumentation never runs', async (t) => {
  const run = async (mode: number, owner?: number) => {
    const dir = tmp(t);
    const marker = join(dir, 'loaded.txt');
    writeFileSync(join(dir, 'extra.mjs'), `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\nexport default [];\n`);
    const file = join(dir, 'cardlink-otel.json');
    writeFileSync(file, `${JSON.stringify({ CARDLINK_EXTRA_INSTRUMENTATIONS: './extra.mjs' })}\n`);
    chmodSync(file, mode);
    if (owner !== undefined) chownSync(file, owner, owner);
    const healthPort = await freePort();
    const child = runNode({ t, cwd: dir, importRegister: true, args: [APP], env: cleanEnv({ CARDLINK_HEALTH_HOST: '127.0.0.1', CARDLINK_HEALTH_PORT: String(healthPort) }) });
    await child.waitForLine(/^ready /, 15_000);
    await answers(healthPort, '/health/live');
    const loaded = existsSync(marker);
    child.kill('SIGTERM');
    await child.waitForExit(15_000);
    return { loaded, stderr: child.stderr(), file, dir };
  };
  const trusted = await run(0o644);
  t.ok(trusted.loaded, 'control: a file only its owner can write is read (the module ran)');
  t.notMatch(trusted.stderr, /config file/);

  for (const [what, mode, re] of [
    ['world-writable', 0o666, /config file \S+ is writable by others \(mode 0666; chmod go-w it\); ignored\.\n/],
    ['group-writable', 0o664, /config file \S+ is writable by its group \(mode 0664; chmod go-w it\); ignored\.\n/],
  ] as const) {
    const r = await run(mode);
    t.notOk(r.loaded, `${what}: the module named in it did not run`);
    t.match(r.stderr, re, `${what}: one line on stderr`);
    t.equal(r.stderr.split('\n').filter((l) => l.includes('config file')).length, 1, `${what}: exactly one`);
    const set = await cli(t, ['config', 'set', 'OTEL_SERVICE_NAME', 'x'], {}, r.dir);
    t.equal(set.code, 64, `${what}: config set does not rewrite it`);
    t.match(set.stderr, /is writable by .*; not changing it/);
  }

  // Owned by another user (uid 65534, "nobody"); root-owned files stay trusted.
  t.equal(process.getuid?.(), 0, 'the suite runs as root here, so a file can be given away');
  const foreign = await run(0o644, 65534);
  t.notOk(foreign.loaded, 'another owner: the module did not run');
  t.match(foreign.stderr, /config file \S+ is owned by another user \(uid 65534; this process runs as uid 0\); ignored\.\n/);
  t.same(readConfigFile(foreign.file).values, {}, 'readConfigFile returns nothing from it');
});
