/**
 * The serialport instrumentation end to end: a modem application (ESM import and CommonJS require
 * of `serialport`, ReadlineParser) in a child process under `--import ./register.js`, against the
 * modem simulator on a socat pty pair, scraped on /metrics; and the same application without
 * instrumentation, which must receive exactly the same bytes and lines.
 */
import t from 'tap';
import { join } from 'node:path';
import { runNode, freePort, REPO_ROOT, type NodeChild } from './helpers/child.js';
import { scrape } from './helpers/scrape.js';
import { openPtyPair, startModemSimulator, type ModemSimulatorOptions } from './fixtures/modem-simulator.js';
import type { MetricFamily } from '../src/prom/text-parser.js';

const APP = join(REPO_ROOT, 'test/fixtures/apps/modem-app.mjs');

const SIM: ModemSimulatorOptions = {
  urcBetweenEchoAndFinal: '+QIND: "csq",20,99',
  urcBetweenEchoAndFinalFor: ['+CSIM'],
  overrides: { '+CGSN': { silent: true, once: true } },
};

interface AppOutput {
  results: boolean[];
  lines: string[];
  rawLength: number;
  rawSha256: string;
}

interface Run {
  child: NodeChild;
  output: AppOutput;
  port: number;
}

async function runApp(
  t: { teardown(fn: () => unknown): void },
  moduleSystem: 'esm' | 'cjs',
  instrumented: boolean,
): Promise<Run> {
  const pair = await openPtyPair();
  const modem = await startModemSimulator(pair.modemPath, SIM);
  t.teardown(async () => {
    await modem.close();
    await pair.close();
  });
  const port = await freePort();
  const child = runNode({
    t,
    importRegister: instrumented,
    args: [APP, pair.appPath, moduleSystem],
    env: {
      OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      CARDLINK_HEALTH_ENABLED: 'false',
      CARDLINK_INSTRUMENTATIONS: 'serialport',
      OTEL_TRACES_EXPORTER: 'none',
    },
  });
  const line = await child.waitForLine(/^done /, 20_000);
  return { child, output: JSON.parse(line.slice(5)) as AppOutput, port };
}

function sample(families: Map<string, MetricFamily>, family: string, name: string, labels: Record<string, string>): number | undefined {
  const f = families.get(family);
  const s = f?.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}

t.test('the application receives the same bytes with and without instrumentation; metrics on /metrics', async (t) => {
  const plain = await runApp(t, 'esm', false);
  t.same(plain.output.results, [true, true, true, true, true, true, true, true, false, true, true, true]);
  t.ok(plain.output.lines.includes('+CSIM: 4,"6120"'));
  plain.child.kill('SIGTERM');

  for (const moduleSystem of ['esm', 'cjs'] as const) {
    const run = await runApp(t, moduleSystem, true);
    t.same(run.output, plain.output, `${moduleSystem}: byte-identical data and lines`);

    const url = `http://127.0.0.1:${run.port}/metrics`;
    const r = await scrape(url);
    t.equal(r.status, 200);
    const f = r.families;
    const at = (command: string) => sample(f, 'cardlink_at_command_duration_seconds', 'cardlink_at_command_duration_seconds_count', { command });
    t.same(
      { AT: at('AT'), I: at('I'), CPIN: at('+CPIN'), CSIM: at('+CSIM'), CRSM: at('+CRSM'), CGSN: at('+CGSN'), CMGS: at('+CMGS'), E: at('E'), CSQ: at('+CSQ') },
      { AT: 1, I: 1, CPIN: 1, CSIM: 4, CRSM: 1, CGSN: 1, CMGS: 1, E: 1, CSQ: 1 },
      `${moduleSystem}: one AT duration per answered command`,
    );
    const err = (error_type: string) => sample(f, 'cardlink_device_errors_total', 'cardlink_device_errors_total', { device_type: 'modem', error_type });
    t.equal(err('timeout'), 1, 'the silent AT+CGSN timed out');
    t.equal(err('cme_error'), 1, 'the refused AT+CSIM');
    const apdu = (command_type: string) =>
      sample(f, 'cardlink_apdu_commands_total', 'cardlink_apdu_commands_total', { command_type, device_type: 'modem' });
    t.same([apdu('SELECT'), apdu('GET_RESPONSE'), apdu('READ_BINARY')], [2, 1, 1], 'APDUs through +CSIM / +CRSM');
    t.equal(sample(f, 'cardlink_apdu_duration_seconds', 'cardlink_apdu_duration_seconds_count', { command_type: 'SELECT' }), 2);
    t.equal(sample(f, 'cardlink_triggers_sent_total', 'cardlink_triggers_sent_total', { trigger_type: 'sms' }), 1);
    t.equal(sample(f, 'cardlink_devices_connected', 'cardlink_devices_connected', { device_type: 'modem' }), 1, 'port open');

    run.child.kill('SIGUSR2');
    await run.child.waitForLine(/^closed$/, 5000);
    const after = await scrape(url);
    t.equal(sample(after.families, 'cardlink_devices_connected', 'cardlink_devices_connected', { device_type: 'modem' }), 0, 'port closed');
    run.child.kill('SIGTERM');
    await run.child.waitForExit(10_000);
  }
});
