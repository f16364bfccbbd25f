/**
 * `cardlink-metrics config show | set | unset` and the config file format the runtime reads
 * (src/cli/config-file.ts): precedence environment > file > default, validation with parseConfig's
 * own rules, secrets masked, atomic owner-only writes, foreign keys kept.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runNode, REPO_ROOT } from './helpers/child.js';
import { parseConfig } from '../src/config.js';
import { configFilePath, loadLayeredEnv, readConfigFile, DEFAULT_CONFIG_FILE } from '../src/cli/config-file.js';
import { CONFIG_VARIABLES, knownVariables, variablesReadByParseConfig } from '../src/cli/config-vars.js';
import { validateValue, type ConfigReport } from '../src/cli/config-command.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');
type Tap = { teardown(fn: () => unknown): void };

function tmp(t: Tap): string {
  const dir = mkdtempSync(join(tmpdir(), 'cardlink-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The CLI with a clean configuration environment plus `env`. */
async function cli(t: Tap, args: string[], env: Record<string, string | undefined>) {
  // runNode's own port defaults are configuration too: start from nothing.
  const clean: Record<string, string | undefined> = {
    NO_COLOR: undefined,
    FORCE_COLOR: undefined,
    OTEL_EXPORTER_PROMETHEUS_PORT: undefined,
    CARDLINK_HEALTH_PORT: undefined,
  };
  for (const k of Object.keys(process.env)) if (k.startsWith('OTEL_') || k.startsWith('CARDLINK_')) clean[k] = undefined;
  const c = runNode({ t, args: [CLI, ...args], env: { ...clean, ...env } });
  const exit = await c.waitForExit(20_000);
  return { code: exit.code, stdout: c.stdout(), stderr: c.stderr() };
}

t.test('config set writes a validated flat JSON file; show reports values and their sources', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'conf', 'cardlink.json');
  const env = { CARDLINK_CONFIG_FILE: file };

  const empty = await cli(t, ['config', 'show', '--json'], env);
  t.equal(empty.code, 0, empty.stderr);
  const r0 = JSON.parse(empty.stdout) as ConfigReport;
  t.same(r0.file, { path: file, exists: false });
  t.ok(r0.variables.every((v) => v.source === 'default' && v.value === null), 'everything at its default');
  t.equal(r0.effective.prometheus.port, 9464);

  const set1 = await cli(t, ['config', 'set', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'http://alloy:4317'], env);
  t.equal(set1.code, 0, set1.stderr);
  t.equal(set1.stdout, `set OTEL_EXPORTER_OTLP_ENDPOINT in ${file}\n`);
  t.equal((await cli(t, ['config', 'set', 'OTEL_SERVICE_NAME', 'ota-lab'], env)).code, 0);
  t.equal((await cli(t, ['config', 'set', 'CARDLINK_METRICS_USERNAME', 'ops'], env)).code, 0);
  t.equal((await cli(t, ['config', 'set', 'CARDLINK_METRICS_PASSWORD', 'hunter2-secret'], env)).code, 0);
  t.equal(
    readFileSync(file, 'utf8'),
    `${JSON.stringify(
      {
        CARDLINK_METRICS_PASSWORD: 'hunter2-secret',
        CARDLINK_METRICS_USERNAME: 'ops',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://alloy:4317',
        OTEL_SERVICE_NAME: 'ota-lab',
      },
      null,
      2,
    )}\n`,
    'a flat, sorted JSON object of variable names',
  );
  t.equal(statSync(file).mode & 0o777, 0o600, 'owner-only: it may hold the metrics password');

  const shown = await cli(t, ['config', 'show', '--json'], { ...env, OTEL_SERVICE_NAME: 'from-env' });
  t.equal(shown.code, 0, shown.stderr);
  const r = JSON.parse(shown.stdout) as ConfigReport;
  const v = (n: string) => r.variables.find((x) => x.name === n);
  t.same(v('OTEL_SERVICE_NAME'), { ...v('OTEL_SERVICE_NAME'), value: 'from-env', source: 'environment' }, 'the environment wins');
  t.same(v('OTEL_EXPORTER_OTLP_ENDPOINT'), { ...v('OTEL_EXPORTER_OTLP_ENDPOINT'), value: 'http://alloy:4317', source: 'file' });
  t.same(v('OTEL_TRACES_SAMPLER'), { ...v('OTEL_TRACES_SAMPLER'), value: null, source: 'default' });
  t.equal(v('CARDLINK_METRICS_PASSWORD')?.value, '********');
  t.equal(r.effective.serviceName, 'from-env');
  t.same(r.effective.otlp.traces, { endpoint: 'http://alloy:4317', protocol: 'grpc' });
  t.same(r.effective.metricsExporters, ['prometheus', 'otlp'], 'an endpoint from the file turns the OTLP exporter on');
  t.equal(r.effective.prometheus.password, '********');
  t.notMatch(shown.stdout, 'hunter2', 'the password never appears');

  const text = await cli(t, ['config', 'show'], env);
  t.equal(text.code, 0);
  t.match(text.stdout, `Config file ${file}\n`);
  t.match(text.stdout, /^OTEL_EXPORTER_OTLP_ENDPOINT\s+http:\/\/alloy:4317\s+file$/m);
  t.match(text.stdout, /^CARDLINK_METRICS_PASSWORD\s+\*{8}\s+file$/m);
  t.match(text.stdout, /^OTEL_TRACES_SAMPLER\s+parentbased_always_on\s+default$/m);
  t.match(text.stdout, /^\s+\/metrics\s+http:\/\/0\.0\.0\.0:9464\/metrics \(basic auth\)$/m);
  t.notMatch(text.stdout, 'hunter2');
  t.notMatch(text.stdout, /\u001b/);

  const note = await cli(t, ['config', 'set', 'OTEL_SERVICE_NAME', 'lab-2'], { ...env, OTEL_SERVICE_NAME: 'from-env' });
  t.equal(note.code, 0);
  t.equal(note.stderr, 'note: OTEL_SERVICE_NAME is also set in the environment, which wins over the config file\n');

  const unset = await cli(t, ['config', 'unset', 'OTEL_SERVICE_NAME'], env);
  t.equal(unset.stdout, `removed OTEL_SERVICE_NAME from ${file}\n`);
  t.equal((JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>)['OTEL_SERVICE_NAME'], undefined);
  t.equal((await cli(t, ['config', 'unset', 'OTEL_SERVICE_NAME'], env)).stdout, `OTEL_SERVICE_NAME was not in ${file}\n`);
  t.equal((await cli(t, ['config', 'set', 'CARDLINK_METRICS_USERNAME', ''], env)).stdout, `removed CARDLINK_METRICS_USERNAME in ${file}\n`);
  const after = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  t.notOk('CARDLINK_METRICS_USERNAME' in after, 'an empty value removes the variable');
  const problems = await cli(t, ['config', 'show'], env);
  t.equal(problems.code, 1, 'a password without a user is a configuration problem: exit 1');
  t.match(problems.stdout, /Problems\n\s+cardlink-otel: CARDLINK_METRICS_USERNAME and CARDLINK_METRICS_PASSWORD must be set together/);
});

t.test('config set rejects what the runtime would reject, naming the variable', async (t) => {
  const dir = tmp(t);
  const env = { CARDLINK_CONFIG_FILE: join(dir, 'c.json') };
  const cases: Array<[string, string, RegExp]> = [
    ['OTEL_EXPORTER_PROMETHEUS_PORT', '70000', /^cardlink-metrics: OTEL_EXPORTER_PROMETHEUS_PORT="70000" is not valid: expected an integer from 0 to 65535\n$/],
    ['CARDLINK_INSTRUMENTATIONS', 'tls,ftp', /CARDLINK_INSTRUMENTATIONS: unknown value "ftp"; valid values are/],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'alloy:4317', /OTEL_EXPORTER_OTLP_ENDPOINT="alloy:4317" is not valid: expected an http:\/\/ or https:\/\/ URL/],
    ['OTEL_METRICS_EXPORTER', 'statsd', /OTEL_METRICS_EXPORTER: unknown value "statsd"; valid values are [a-z, ]+\n$/],
    ['OTEL_TRACES_EXPORTER', 'ottlp', /^cardlink-metrics: OTEL_TRACES_EXPORTER: unknown value "ottlp"; valid values are otlp, console, none\n$/],
    ['CARDLINK_CAPTURE_APDU_DATA', 'maybe', /expected true or false/],
    // A negative number is the value, validated, not an unknown option.
    ['OTEL_EXPORTER_PROMETHEUS_PORT', '-1', /^cardlink-metrics: OTEL_EXPORTER_PROMETHEUS_PORT="-1" is not valid: expected an integer from 0 to 65535\n$/],
    ['CARDLINK_HEALTH_CACHE_MS', '-5', /CARDLINK_HEALTH_CACHE_MS="-5" is not valid: expected an integer from 0 to 300000/],
    ['OTEL_LOG_LEVEL', 'loud', /OTEL_LOG_LEVEL="loud" is not valid: expected one of none, error, warn, info, debug, verbose, all/],
  ];
  for (const [k, val, re] of cases) {
    const r = await cli(t, ['config', 'set', k, val], env);
    t.equal(r.code, 64, `${k}=${val} rejected`);
    t.match(r.stderr, re);
  }
  const unknown = await cli(t, ['config', 'set', 'otel_service_name', 'x'], env);
  t.equal(unknown.code, 64);
  t.match(unknown.stderr, /unknown variable "otel_service_name" \(did you mean OTEL_SERVICE_NAME\?\)/);
  const missing = await cli(t, ['config', 'set', 'OTEL_SERVICE_NAME'], env);
  t.equal(missing.code, 64);
  t.match(missing.stderr, /missing required argument 'value'/);
  t.throws(() => statSync(join(dir, 'c.json')), 'nothing was written');
});

t.test('a broken config file: show reports it (exit 1), set refuses to overwrite it, foreign keys survive', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'c.json');
  const env = { CARDLINK_CONFIG_FILE: file };
  writeFileSync(file, '{ "OTEL_SERVICE_NAME": "x", ');
  const show = await cli(t, ['config', 'show'], env);
  t.equal(show.code, 1);
  t.match(show.stdout, /config file .*c\.json is not valid JSON/);
  const set = await cli(t, ['config', 'set', 'OTEL_SERVICE_NAME', 'y'], env);
  t.equal(set.code, 64);
  t.match(set.stderr, /is not a JSON object of variables; fix or remove it first/);
  t.equal(readFileSync(file, 'utf8'), '{ "OTEL_SERVICE_NAME": "x", ', 'left as it was');

  writeFileSync(file, JSON.stringify({ MY_NOTE: 'kept', OTEL_SERVICE_NAME: 'x' }));
  t.equal((await cli(t, ['config', 'set', 'OTEL_TRACES_SAMPLER', 'always_off'], env)).code, 0);
  t.same(JSON.parse(readFileSync(file, 'utf8')), { MY_NOTE: 'kept', OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_off' });
  const shown = await cli(t, ['config', 'show'], env);
  t.equal(shown.code, 1);
  t.match(shown.stdout, /unknown variable "MY_NOTE"; ignored/);
});

t.test('the file format as the runtime reads it (loadLayeredEnv -> parseConfig)', async (t) => {
  const dir = tmp(t);
  t.equal(configFilePath({}, dir), join(dir, DEFAULT_CONFIG_FILE), 'default: ./cardlink-otel.json');
  t.equal(configFilePath({ CARDLINK_CONFIG_FILE: 'etc/x.json' }, dir), join(dir, 'etc/x.json'), 'relative to the working directory');
  t.equal(configFilePath({ CARDLINK_CONFIG_FILE: '/abs/x.json' }, dir), '/abs/x.json');

  writeFileSync(
    join(dir, DEFAULT_CONFIG_FILE),
    JSON.stringify({
      OTEL_SERVICE_NAME: 'file-name',
      OTEL_EXPORTER_PROMETHEUS_PORT: 9500,
      CARDLINK_CAPTURE_APDU_DATA: true,
      OTEL_TRACES_SAMPLER: 'always_off',
      CARDLINK_LOG_LEVEL: ['debug'],
      NOT_A_VARIABLE: 'x',
    }),
  );
  const l = loadLayeredEnv({ OTEL_TRACES_SAMPLER: 'always_on', OTEL_SERVICE_NAME: '  ', PATH: '/bin' }, dir);
  t.equal(l.file.exists, true);
  t.same(l.file.values, {
    OTEL_SERVICE_NAME: 'file-name',
    OTEL_EXPORTER_PROMETHEUS_PORT: '9500',
    CARDLINK_CAPTURE_APDU_DATA: 'true',
    OTEL_TRACES_SAMPLER: 'always_off',
  });
  t.match(l.file.errors, [/CARDLINK_LOG_LEVEL must be a string; ignored/, /unknown variable "NOT_A_VARIABLE"; ignored/]);
  t.equal(l.sources['OTEL_TRACES_SAMPLER'], 'environment');
  t.equal(l.sources['OTEL_SERVICE_NAME'], 'file', 'a blank environment value does not override the file');
  t.equal(l.sources['OTEL_METRICS_EXPORTER'], 'default');
  const { config, errors } = parseConfig(l.env);
  t.same(errors, []);
  t.equal(config.serviceName, 'file-name');
  t.equal(config.prometheus.port, 9500);
  t.equal(config.captureApduData, true);
  t.equal(config.sampler, 'always_on');

  for (const [content, re] of [
    ['[1,2]', /must hold a JSON object/],
    ['"x"', /must hold a JSON object/],
    ['{', /is not valid JSON/],
  ] as const) {
    writeFileSync(join(dir, 'bad.json'), content);
    const f = readConfigFile(join(dir, 'bad.json'));
    t.same(f.values, {});
    t.match(f.errors, [re]);
  }
  writeFileSync(join(dir, 'big.json'), `{"OTEL_SERVICE_NAME":"${'x'.repeat(1024 * 1024)}"}`);
  t.match(readConfigFile(join(dir, 'big.json')).errors, [/larger than/]);
  t.match(readConfigFile(dir).errors, [/not a regular file/]);
  t.same(readConfigFile(join(dir, 'absent.json')), { path: join(dir, 'absent.json'), exists: false, values: {}, raw: undefined, errors: [] });
});

t.test('the variable table covers the documented variables and follows parseConfig', async (t) => {
  const read = new Set(variablesReadByParseConfig());
  const design = [
    'OTEL_SDK_DISABLED',
    'OTEL_SERVICE_NAME',
    'OTEL_RESOURCE_ATTRIBUTES',
    'OTEL_METRICS_EXPORTER',
    'OTEL_TRACES_EXPORTER',
    'OTEL_LOGS_EXPORTER',
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    'OTEL_EXPORTER_OTLP_PROTOCOL',
    'OTEL_TRACES_SAMPLER',
    'OTEL_TRACES_SAMPLER_ARG',
    'OTEL_EXPORTER_PROMETHEUS_HOST',
    'OTEL_EXPORTER_PROMETHEUS_PORT',
    'CARDLINK_METRICS_PATH',
    'CARDLINK_METRICS_USERNAME',
    'CARDLINK_METRICS_PASSWORD',
    'CARDLINK_HEALTH_ENABLED',
    'CARDLINK_HEALTH_HOST',
    'CARDLINK_HEALTH_PORT',
    'CARDLINK_INSTRUMENTATIONS',
    'CARDLINK_DISABLED_INSTRUMENTATIONS',
    'CARDLINK_LOG_LEVEL',
    'CARDLINK_LOG_FORMAT',
    'CARDLINK_CAPTURE_APDU_DATA',
  ];
  for (const n of design) {
    t.ok(read.has(n), `parseConfig reads ${n}`);
    t.ok(CONFIG_VARIABLES.some((v) => v.name === n && v.description !== ''), `${n} is described`);
  }
  t.same(knownVariables().map((v) => v.name).sort(), [...read].sort(), 'the file accepts exactly what parseConfig reads');
  t.ok(knownVariables().find((v) => v.name === 'CARDLINK_METRICS_PASSWORD')?.secret);
  t.equal(validateValue('OTEL_EXPORTER_PROMETHEUS_PORT', '9464'), undefined);
  t.match(validateValue('OTEL_EXPORTER_PROMETHEUS_PORT', 'x'), /OTEL_EXPORTER_PROMETHEUS_PORT="x"/);
  t.equal(validateValue('CARDLINK_METRICS_USERNAME', 'ops'), undefined, 'a pairing remark is not a bad value');
});
