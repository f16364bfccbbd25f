/**
 * NodeSDK owns the SDK that `register` starts: getSdk().nodeSdk is it, OTEL_PROPAGATORS chooses the
 * propagator it installs (from the environment or from the config file), OTEL_NODE_RESOURCE_DETECTORS
 * the detectors it runs over our resource (none when unset: our resource holds no command line),
 * and its shutdown flushes the spans to a real OTLP receiver.
 */
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, runNode } from './helpers/child.js';
import { scrape } from './helpers/scrape.js';
import { startOtlpReceiver } from './fixtures/otlp-receiver.js';
import { parseConfig } from '../src/config.js';

async function run(t: Test, env: Record<string, string | undefined>) {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const app = runNode({
    t,
    importRegister: true,
    args: ['test/fixtures/apps/nodesdk-app.mjs'],
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
      CARDLINK_HEALTH_ENABLED: 'false',
      OTEL_PROPAGATORS: undefined,
      OTEL_NODE_RESOURCE_DETECTORS: undefined,
      ...env,
    },
  });
  const line = await app.waitForLine(/^\{"nodeSdk"/, 30_000);
  t.same(await app.waitForExit(15_000), { code: 0, signal: null });
  // Exported by NodeSDK's shutdown, before the process exited.
  const span = receiver.spans.find((s) => s.name === 'nodesdk.check');
  return { report: JSON.parse(line) as { nodeSdk: string; carrierKeys: string[] }, span, stderr: app.stderr() };
}

t.test('defaults: W3C trace context, our resource without detectors', async (t) => {
  const { report, span } = await run(t, {});
  t.equal(report.nodeSdk, 'NodeSDK');
  t.same(report.carrierKeys, ['traceparent']);
  t.ok(span, 'the span reached the receiver');
  t.equal(span?.resource['host.name'], hostname());
  t.equal(span?.resource['process.command_args'], undefined, 'no command line on the resource');
});

t.test('OTEL_PROPAGATORS=b3 and OTEL_NODE_RESOURCE_DETECTORS=process,serviceinstance', async (t) => {
  const { report, span } = await run(t, { OTEL_PROPAGATORS: 'b3', OTEL_NODE_RESOURCE_DETECTORS: 'process,serviceinstance' });
  t.same(report.carrierKeys, ['b3']);
  t.type(span?.resource['process.command_args'], Array, "the process detector's attributes");
  t.match(String(span?.resource['service.instance.id']), /^[0-9a-f-]{36}$/);
});

t.test('detectors find nothing over an attribute the user set: service.instance.id=lab-a stays', async (t) => {
  const { span } = await run(t, { OTEL_NODE_RESOURCE_DETECTORS: 'all', OTEL_RESOURCE_ATTRIBUTES: 'service.instance.id=lab-a,host.name=bench-7' });
  t.equal(span?.resource['service.instance.id'], 'lab-a', 'not the serviceinstance detector\'s random id');
  t.equal(span?.resource['host.name'], 'bench-7', "not the host detector's name");
  t.type(span?.resource['process.pid'], 'number', 'what the user did not set is still detected');
});

t.test("the host detector's asynchronous host.id reaches target_info on the first scrape, without a diag error", async (t) => {
  const port = await freePort();
  const app = runNode({
    t,
    importRegister: true,
    args: ['test/fixtures/apps/esm-app.mjs'],
    env: {
      OTEL_NODE_RESOURCE_DETECTORS: 'host',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      CARDLINK_HEALTH_ENABLED: 'false',
      APP_LIFETIME_MS: '3000',
    },
  });
  await app.waitForLine(/^ready /, 15_000);
  const text = (await scrape(`http://127.0.0.1:${port}/metrics`, { timeoutMs: 5000 })).text;
  const machineId = ['/etc/machine-id', '/var/lib/dbus/machine-id'].map((f) => (existsSync(f) ? readFileSync(f, 'utf8').trim() : '')).find((x) => x !== '');
  // The host detector reads the machine id from these files (on Linux); where there is none, there is no host.id.
  if (machineId !== undefined) t.match(text, new RegExp(`target_info\\{[^}]*host_id="${machineId}"`), 'host.id in target_info');
  else t.notMatch(text, /host_id=/);
  t.same(await app.waitForExit(15_000), { code: 0, signal: null });
  t.notMatch(app.stderr(), /async attributes/, 'no "accessing resource attributes before async attributes settled"');
});

/** A config file (owner-only, as `config set` writes it) with these settings. */
function configFile(t: Test, settings: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'cardlink-nodesdk-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'cardlink-otel.json');
  writeFileSync(file, JSON.stringify(settings), { mode: 0o600 });
  return file;
}

t.test('OTEL_PROPAGATORS from the config file is the propagator NodeSDK installs', async (t) => {
  const multi = await run(t, { CARDLINK_CONFIG_FILE: configFile(t, { OTEL_PROPAGATORS: 'b3multi,baggage,b3multi' }) });
  t.same(multi.report.carrierKeys, ['x-b3-sampled', 'x-b3-spanid', 'x-b3-traceid'], 'b3 in several headers (baggage: empty, not injected)');
  const none = await run(t, { CARDLINK_CONFIG_FILE: configFile(t, { OTEL_PROPAGATORS: 'none' }) });
  t.same(none.report.carrierKeys, [], 'none: nothing injected');
  const envWins = await run(t, { OTEL_PROPAGATORS: 'b3', CARDLINK_CONFIG_FILE: configFile(t, { OTEL_PROPAGATORS: 'none' }) });
  t.same(envWins.report.carrierKeys, ['b3'], 'the environment wins over the file');
});

t.test('an unknown name in the file is dropped with its error; the rest still propagate', async (t) => {
  const { report, stderr } = await run(t, { CARDLINK_CONFIG_FILE: configFile(t, { OTEL_PROPAGATORS: 'xray,b3' }) });
  t.same(report.carrierKeys, ['b3']);
  t.match(stderr, /OTEL_PROPAGATORS: unknown value "xray"/, 'the configuration error names it');
});

t.test('the two variables are validated with the others', async (t) => {
  const { config, errors } = parseConfig({ OTEL_PROPAGATORS: 'b3,xray', OTEL_NODE_RESOURCE_DETECTORS: 'host,gcp' });
  t.same(config.propagators, ['b3']);
  t.same(config.resourceDetectors, ['host']);
  t.match(errors, [/OTEL_NODE_RESOURCE_DETECTORS: unknown value "gcp"/, /OTEL_PROPAGATORS: unknown value "xray"/].sort());
  t.equal(parseConfig({}).config.resourceDetectors, undefined);
});

t.test("an application's own NodeSDK with our instrumentation under register: counted once, and said why", async (t) => {
  const app = runNode({
    t,
    importRegister: true,
    args: ['test/fixtures/apps/own-sdk-app.mjs'],
    env: { CARDLINK_HEALTH_ENABLED: 'false', OTEL_TRACES_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' },
  });
  const line = await app.waitForLine(/^\{"inserts"/, 30_000);
  t.same(await app.waitForExit(15_000), { code: 0, signal: null });
  t.same(JSON.parse(line), { inserts: 5, connections: 1 }, "register's instance records; the application's second one does not");
  t.match(app.stderr(), /cardlink-otel\/sqlite is already enabled in this process by another instance/);
});
