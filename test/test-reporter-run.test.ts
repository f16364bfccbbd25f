/**
 * The reporter end to end: `node --test --test-reporter=cardlink-otel/test-reporter
 * --test-reporter-destination=stdout` on fixture files with passing, failing, skipped, todo tests,
 * a failing hook and a file that cannot load; an OTLP/gRPC receiver as the collector.
 * Exact counts per suite and status, the span tree, the human report, the exit code.
 */
import t from 'tap';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { runNode, REPO_ROOT } from './helpers/child.js';
import { startOtlpReceiver, type ReceivedSpan } from './fixtures/otlp-receiver.js';

const DIR = 'test/fixtures/reporter';
const FILES = ['apdu-suite.test.mjs', 'top-level.test.mjs', 'hook-failure.test.mjs', 'broken.test.mjs'].map((f) => `${DIR}/${f}`);
const REPORTER_ARGS = ['--test', '--test-reporter=cardlink-otel/test-reporter', '--test-reporter-destination=stdout'];

t.test('exact counts, a span per test under a span per suite, the spec report, exit code 1', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const child = runNode({
    t,
    args: [...REPORTER_ARGS, ...FILES],
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: 'lab-tests' },
    timeoutMs: 45_000,
  });
  const exit = await child.waitForExit(40_000);
  t.same(exit, { code: 1, signal: null }, 'the run fails as it would with the spec reporter');

  // Telemetry was flushed before the process ended: everything is already here.
  const tests = receiver.latestMetric('cardlink.tests');
  t.ok(tests, receiver.describe());
  const counts: Record<string, Record<string, number>> = {};
  for (const p of tests?.dataPoints ?? []) {
    const suite = String(p.attributes['suite_name']);
    (counts[suite] ??= {})[String(p.attributes['status'])] = p.value ?? Number.NaN;
  }
  t.same(counts, {
    'apdu commands': { passed: 3, failed: 1, skipped: 2 },
    [`${DIR}/top-level.test.mjs`]: { passed: 1, failed: 1, skipped: 2 },
    provisioning: { error: 2 },
    [`${DIR}/broken.test.mjs`]: { error: 1 },
  });
  t.equal(tests?.resource['service.name'], 'lab-tests');
  const durations = receiver.latestMetric('cardlink.test.duration');
  const apduDuration = durations?.dataPoints.find((p) => p.attributes['suite_name'] === 'apdu commands');
  t.equal(apduDuration?.count, 4, 'passed and failed tests timed');
  t.ok((apduDuration?.sum ?? 0) >= 0.02, 'GET RESPONSE took 20 ms');

  const spans = receiver.spans;
  const one = (name: string): ReceivedSpan => {
    const found = spans.filter((s) => s.name === name);
    if (found.length !== 1) throw new Error(`${found.length} spans named ${name}: ${spans.map((s) => s.name).join(', ')}`);
    return found[0]!;
  };
  const suite = one('suite apdu commands');
  t.equal(suite.parentSpanId, '', 'a suite is a root span');
  for (const name of ['SELECT answers 9000', 'GET RESPONSE follows 61xx', 'PUT KEY is rejected with 6982', 'STORE DATA on a locked card', 'INSTALL [for load] with a token']) {
    const s = one(`test ${name}`);
    t.equal(s.parentSpanId, suite.spanId, `${name} under its suite`);
    t.equal(s.traceId, suite.traceId);
  }
  const nested = one('suite secure channel');
  t.equal(nested.parentSpanId, suite.spanId);
  t.equal(one('test INITIALIZE UPDATE returns a host challenge').parentSpanId, nested.spanId);
  const failed = one('test PUT KEY is rejected with 6982');
  t.equal(failed.status.code, 'ERROR');
  t.match(failed.status.message, /Expected values to be strictly equal/);
  t.equal(failed.attributes['cardlink.test.status'], 'failed');
  t.equal(failed.attributes['test.case.result.status'], 'fail');
  t.equal(failed.attributes['code.file.path'], join(REPO_ROOT, DIR, 'apdu-suite.test.mjs'));
  t.ok(failed.events.some((e) => e.name === 'exception'));
  const slow = one('test GET RESPONSE follows 61xx');
  t.ok(slow.endTimeUnixNano - slow.startTimeUnixNano >= 19_000_000n, 'span lasts as long as the test');
  t.equal(one('test STORE DATA on a locked card').attributes['cardlink.test.status'], 'skipped');

  const fileSuite = one(`suite ${DIR}/top-level.test.mjs`);
  t.equal(fileSuite.parentSpanId, '');
  t.equal(one('test modem answers AT').parentSpanId, fileSuite.spanId, 'tests outside a describe under the file suite');
  t.equal(one('test OTA over HTTPS').status.code, 'UNSET', 'a failing todo is not an error');
  t.equal(one('suite provisioning').status.code, 'ERROR');
  t.equal(one('test creates the card profile').attributes['cardlink.test.status'], 'error');

  const out = child.stdout();
  t.match(out, /▶ apdu commands/, 'the spec report is printed');
  t.match(out, /✔ SELECT answers 9000/);
  t.match(out, /✖ PUT KEY is rejected with 6982/);
  t.match(out, /STORE DATA on a locked card .*# SKIP/);
  t.match(out, /ℹ tests 13/, 'the summary comes through');
});

t.test('no collector configured: the report still prints, nothing is opened, same exit code', async (t) => {
  // Both ports point at a port already taken: opening either would print a line on stderr.
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '0.0.0.0', r));
  t.teardown(() => blocker.close());
  const taken = String((blocker.address() as { port: number }).port);
  const started = Date.now();
  const child = runNode({
    t,
    args: [...REPORTER_ARGS, `${DIR}/apdu-suite.test.mjs`],
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: undefined, OTEL_EXPORTER_PROMETHEUS_PORT: taken, CARDLINK_HEALTH_PORT: taken },
    timeoutMs: 30_000,
  });
  t.same(await child.waitForExit(25_000), { code: 1, signal: null });
  t.ok(Date.now() - started < 15_000);
  t.match(child.stdout(), /✖ PUT KEY is rejected with 6982/);
  t.notMatch(child.stderr(), /cardlink-otel:/, 'no port was opened, no warning');
});

t.test('one describe of 5,000 tests: every span reaches the collector (flushed as they are made)', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const child = runNode({
    t,
    args: [...REPORTER_ARGS, `${DIR}/thousands.test.mjs`],
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: 'lab-tests' },
    timeoutMs: 90_000,
  });
  t.same(await child.waitForExit(85_000), { code: 0, signal: null });
  const tests = receiver.spans.filter((s) => s.name.startsWith('test card '));
  t.equal(tests.length, 5000, 'a span per test');
  t.equal(receiver.spans.filter((s) => s.name === 'suite provisioning sweep').length, 1);
  t.notMatch(child.stderr(), /dropped|queue/i, 'no span dropped');
});

t.test('a failure with a 6 MB message: every span still arrives, its exception cut to the attribute limit', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const child = runNode({
    t,
    args: [...REPORTER_ARGS, `${DIR}/huge-failure.test.mjs`],
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: 'lab-tests' },
    timeoutMs: 60_000,
  });
  t.same(await child.waitForExit(55_000), { code: 1, signal: null });
  t.equal(receiver.spans.filter((s) => s.name.startsWith('test ')).length, 41, 'all 41 test spans');
  const failed = receiver.spans.find((s) => s.name === 'test huge failure');
  const message = failed?.events.find((e) => e.name === 'exception')?.attributes['exception.message'];
  t.type(message, 'string');
  t.ok(typeof message === 'string' && message.length <= 8192, `cut to 8192 characters (${String(message).length})`);
  t.notMatch(child.stderr(), /export .* failed/, 'no export failure');
});
