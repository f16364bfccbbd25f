/**
 * Logs end to end: a lab application under `node --import ./register.js` logs through
 * `createLogger` from the package root, with an OTLP/gRPC receiver as the collector.
 * The stdout lines carry the ids of the span the receiver gets; per-component levels filter;
 * the receiver gets the same records, with trace context; no secret anywhere.
 */
import t from 'tap';
import { join } from 'node:path';
import { runNode, REPO_ROOT } from './helpers/child.js';
import { startOtlpReceiver } from './fixtures/otlp-receiver.js';

const APP = join(REPO_ROOT, 'test/fixtures/health/lab-app.mjs');
const PSK = '000102030405060708090a0b0c0d0e0f';

t.test('JSON lines with the span ids, per-component levels, records over OTLP', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const child = runNode({
    t,
    importRegister: true,
    args: [APP],
    env: {
      APP_LOG: '1',
      CARDLINK_LOG_LEVEL: 'info,tls=debug,modem=warn',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRICS_EXPORTER: 'none',
      CARDLINK_HEALTH_ENABLED: 'false',
      OTEL_SERVICE_NAME: 'ota-lab',
    },
  });
  await child.waitForLine(/^ready$/, 15_000);
  await receiver.waitFor((r) => r.spans.some((s) => s.name === 'lab.ota_session'), 10_000, 'the app span');
  await receiver.waitFor((r) => r.logs.length >= 5, 10_000, 'five log records');
  child.kill('SIGTERM');
  await child.waitForExit(10_000);

  const span = receiver.spansNamed('lab.ota_session')[0]!;
  const lines = child
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(
    lines.map((l) => [l['component'], l['level'], l['message']]),
    [
      ['lab', 'info', 'session started'],
      ['tls', 'debug', 'tls debug line'],
      ['modem', 'warn', 'modem warn line'],
      ['lab', 'error', 'session failed'],
      ['lab', 'info', 'outside any span'],
    ],
    'tls=debug lets debug through, modem=warn drops info, the default drops debug',
  );
  for (const l of lines.slice(0, 4)) {
    t.equal(l['trace_id'], span.traceId, `${String(l['message'])}: trace id of the exported span`);
    t.equal(l['span_id'], span.spanId);
    t.equal(l['trace_flags'], '01', 'sampled');
  }
  t.notOk('trace_id' in lines[4]!, 'no ids outside the span');
  t.equal(lines[2]!['port'], '/dev/ttyUSB2', 'child context');
  t.equal(lines[0]!['psk_key'], '[REDACTED]');
  const ex = lines[3]!['exception'] as { type: string; message: string; stack: string };
  t.equal(ex.type, 'Error');
  t.equal(ex.message, 'card did not answer');
  t.match(ex.stack, /lab-app\.mjs/);

  const records = receiver.logs;
  t.same(
    records.map((r) => r.body),
    ['session started', 'tls debug line', 'modem warn line', 'session failed', 'outside any span'],
    'the same records reach the collector, filtered the same way',
  );
  const first = records[0]!;
  t.equal(first.traceId, span.traceId, 'OTLP record linked to the span');
  t.equal(first.spanId, span.spanId);
  t.equal(first.severityText, 'INFO');
  t.equal(first.severityNumber, 9);
  t.equal(first.attributes['component'], 'lab');
  t.equal(first.attributes['psk_identity'], 'card-0001');
  t.equal(first.resource['service.name'], 'ota-lab');
  t.equal(first.scope.name, 'cardlink-otel');
  t.equal(records[2]!.attributes['port'], '/dev/ttyUSB2');
  t.equal(records[3]!.attributes['exception.message'], 'card did not answer');
  t.equal(records[4]!.traceId, '', 'no trace context outside the span');

  const everything = child.stdout() + child.stderr() + JSON.stringify(records.map((r) => [r.body, r.attributes]));
  t.notOk(everything.includes(PSK), 'the PSK never leaves the process');
});

t.test('CARDLINK_LOG_FORMAT=pretty: human lines on stdout', async (t) => {
  const child = runNode({
    t,
    importRegister: true,
    args: [APP],
    env: { APP_LOG: '1', CARDLINK_LOG_FORMAT: 'pretty', CARDLINK_HEALTH_ENABLED: 'false', OTEL_EXPORTER_PROMETHEUS_PORT: '0', APP_LIFETIME_MS: '200' },
  });
  await child.waitForExit(15_000);
  const out = child.stdout();
  t.match(out, /^\d{2}:\d{2}:\d{2}\.\d{3} INFO  \[lab\] session started psk_identity=card-0001 psk_key=\[REDACTED\] trace=[0-9a-f]{32}:[0-9a-f]{16}$/m);
  t.match(out, /^\d{2}:\d{2}:\d{2}\.\d{3} ERROR \[lab\] session failed trace=\S+\n {4}Error: card did not answer\n {8}at /m);
  t.notMatch(out, /^\{/m, 'no JSON lines');
});
