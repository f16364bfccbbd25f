/**
 * The test-runner integration in-process: event stream -> trees -> statuses (pure), the spans and
 * metrics of whole trees, and `recordTestResult` for other runners.
 */
import t from 'tap';
import fc from 'fast-check';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { setupHarness } from './helpers/otel-harness.js';
import { TestTreeBuilder, planResults, tally, testStatus, type TestEventLike, type TestNode } from '../src/test-reporter/tree.js';
import { TestTreeEmitter, fileLabel, recordTestResult } from '../src/test-reporter/record.js';
import { CardlinkInputError } from '../src/api/errors.js';

const h = setupHarness([]);
t.teardown(() => h.shutdown());

const FILE_A = '/lab/test/apdu.test.mjs';
const FILE_B = '/lab/test/top.test.mjs';
const FILE_C = '/lab/test/broken.test.mjs';

interface Ev {
  kind: 'pass' | 'fail';
  name: string;
  nesting: number;
  file?: string;
  ms?: number;
  suite?: boolean;
  skip?: boolean;
  todo?: boolean;
  failureType?: string;
  message?: string;
}

function failure(failureType: string, message: string): Error {
  const cause = new Error(message);
  return Object.assign(new Error('test failed', { cause }), { code: 'ERR_TEST_FAILURE', failureType });
}

function ev(e: Ev): TestEventLike {
  const details: Record<string, unknown> = { duration_ms: e.ms ?? 1 };
  if (e.suite) details['type'] = 'suite';
  if (e.kind === 'fail') details['error'] = failure(e.failureType ?? 'testCodeFailure', e.message ?? 'boom');
  const data: Record<string, unknown> = { name: e.name, nesting: e.nesting, file: e.file ?? FILE_A, line: 1, column: 1, testNumber: 1, details };
  if (e.skip) data['skip'] = true;
  if (e.todo) data['todo'] = true;
  return { type: e.kind === 'pass' ? 'test:pass' : 'test:fail', data };
}

/** The order node:test 20 reports a run of three files in (children before parents). */
const RUN: TestEventLike[] = [
  { type: 'test:enqueue', data: { name: 'apdu commands', nesting: 0, file: FILE_A } },
  { type: 'test:start', data: { name: 'apdu commands', nesting: 0, file: FILE_A } },
  ev({ kind: 'pass', name: 'SELECT', nesting: 1, ms: 2 }),
  ev({ kind: 'fail', name: 'PUT KEY', nesting: 1, message: 'expected 6982' }),
  ev({ kind: 'pass', name: 'STORE DATA', nesting: 1, skip: true }),
  ev({ kind: 'pass', name: 'INSTALL', nesting: 1, todo: true }),
  ev({ kind: 'fail', name: 'LOAD', nesting: 1, todo: true }),
  ev({ kind: 'pass', name: 'INITIALIZE UPDATE', nesting: 2, ms: 3 }),
  ev({ kind: 'pass', name: 'secure channel', nesting: 1, suite: true, ms: 4 }),
  { type: 'test:plan', data: { nesting: 1, count: 6 } },
  ev({ kind: 'fail', name: 'apdu commands', nesting: 0, suite: true, ms: 20, failureType: 'subtestsFailed', message: '1 subtest failed' }),
  ev({ kind: 'fail', name: 'creates profile', nesting: 1, ms: 0, failureType: 'cancelledByParent', message: 'cancelled' }),
  ev({ kind: 'fail', name: 'provisioning', nesting: 0, suite: true, failureType: 'hookFailed', message: 'admin server did not start' }),
  ev({ kind: 'pass', name: 'AT', nesting: 0, file: FILE_B, ms: 5 }),
  ev({ kind: 'pass', name: 'sub', nesting: 1, file: FILE_B }),
  ev({ kind: 'pass', name: 'with sub', nesting: 0, file: FILE_B, ms: 6 }),
  ev({ kind: 'fail', name: FILE_C, nesting: 0, file: FILE_C, message: 'test failed' }),
  { type: 'test:diagnostic', data: { nesting: 0, message: 'tests 10' } },
];

function build(events: TestEventLike[]): TestNode[] {
  const b = new TestTreeBuilder();
  const tops: TestNode[] = [];
  let now = 1_700_000_000_000;
  for (const e of events) {
    const top = b.push(e, (now += 10));
    if (top !== undefined) tops.push(top);
  }
  tops.push(...b.finish());
  return tops;
}

const label = (f: string | undefined): string => fileLabel(f, '/lab');

t.test('events become trees: children before parents, per nesting level', async (t) => {
  const tops = build(RUN);
  t.same(
    tops.map((n) => n.name),
    ['apdu commands', 'provisioning', 'AT', 'with sub', FILE_C],
  );
  const apdu = tops[0]!;
  t.same(apdu.children.map((c) => c.name), ['SELECT', 'PUT KEY', 'STORE DATA', 'INSTALL', 'LOAD', 'secure channel']);
  t.same(apdu.children[5]!.children.map((c) => c.name), ['INITIALIZE UPDATE']);
  t.equal(apdu.kind, 'suite');
  t.equal(tops[3]!.children[0]!.name, 'sub');
  t.same(tops[2]!.children, []);
});

t.test('statuses: passed, failed, skipped (skip, todo, failing todo), error (hook, cancelled, broken file)', async (t) => {
  const results = build(RUN).flatMap((top) => planResults(top, label));
  t.same(tally(results), {
    'apdu commands': { passed: 2, failed: 1, skipped: 3 },
    provisioning: { error: 1 },
    'test/top.test.mjs': { passed: 3 },
    'test/broken.test.mjs': { error: 1 },
  });
  t.same(
    results.map((r) => r.path.join(' > ')),
    [
      'apdu commands > SELECT',
      'apdu commands > PUT KEY',
      'apdu commands > STORE DATA',
      'apdu commands > INSTALL',
      'apdu commands > LOAD',
      'apdu commands > secure channel > INITIALIZE UPDATE',
      'provisioning > creates profile',
      'AT',
      'with sub',
      'with sub > sub',
      FILE_C,
    ],
    'the suite with a failed hook is not counted again: its cancelled test shows the error',
  );
});

t.test('a suite that fails by itself with passing tests counts one error', async (t) => {
  const tops = build([
    ev({ kind: 'pass', name: 'a', nesting: 1 }),
    ev({ kind: 'pass', name: 'b', nesting: 1 }),
    ev({ kind: 'fail', name: 'teardown broken', nesting: 0, suite: true, failureType: 'hookFailed', message: 'after hook threw' }),
  ]);
  const results = planResults(tops[0]!, label);
  t.same(tally(results), { 'teardown broken': { passed: 2, error: 1 } });
  t.equal(results[2]!.suiteLevel, true);
});

t.test('older runners wrap each file in a node named by its path: same suites, same counts', async (t) => {
  const wrapped = build([
    ev({ kind: 'pass', name: 'SELECT', nesting: 2 }),
    ev({ kind: 'fail', name: 'apdu commands', nesting: 1, suite: true, failureType: 'subtestsFailed' }),
    ev({ kind: 'pass', name: 'loose test', nesting: 1 }),
    ev({ kind: 'fail', name: FILE_A, nesting: 0, failureType: 'subtestsFailed' }),
  ]);
  t.equal(wrapped.length, 1);
  t.same(tally(planResults(wrapped[0]!, label)), { 'apdu commands': { passed: 1 }, 'test/apdu.test.mjs': { passed: 1 } });
});

t.test('file labels: relative to the working directory, else the base name; file URLs understood', async (t) => {
  t.equal(fileLabel('/lab/test/x.test.mjs', '/lab'), 'test/x.test.mjs');
  t.equal(fileLabel('file:///lab/test/x.test.mjs', '/lab'), 'test/x.test.mjs');
  t.equal(fileLabel('/elsewhere/y.test.mjs', '/lab'), 'y.test.mjs');
  t.equal(fileLabel(undefined, '/lab'), 'unknown');
  t.equal(fileLabel(`/lab/${'d/'.repeat(200)}z.mjs`, '/lab').length, 200, 'bounded');
});

t.test('a run that stops half-way: orphans are still reported', async (t) => {
  const b = new TestTreeBuilder();
  t.equal(b.push(ev({ kind: 'pass', name: 'inner', nesting: 2 }), 1), undefined);
  t.equal(b.push(ev({ kind: 'pass', name: 'mid', nesting: 1 }), 2), undefined);
  t.same(b.finish().map((n) => [n.name, n.children.map((c) => c.name)]), [['mid', ['inner']]]);
  t.same(b.finish(), []);
});

t.test('spans and metrics for whole trees', async (t) => {
  h.spans.reset();
  const emitter = new TestTreeEmitter('/lab');
  for (const top of build(RUN)) emitter.emit(top);
  emitter.finish();

  t.equal(await h.value('cardlink_tests_total', { suite_name: 'apdu commands', status: 'passed' }), 2);
  t.equal(await h.value('cardlink_tests_total', { suite_name: 'apdu commands', status: 'failed' }), 1);
  t.equal(await h.value('cardlink_tests_total', { suite_name: 'apdu commands', status: 'skipped' }), 3);
  t.equal(await h.value('cardlink_tests_total', { suite_name: 'provisioning', status: 'error' }), 1);
  t.equal(await h.value('cardlink_tests_total', { suite_name: 'test/broken.test.mjs', status: 'error' }), 1);
  t.equal(await h.value('cardlink_tests_total', { suite_name: 'test/top.test.mjs', status: 'passed' }), 3);
  const hist = await h.histogram('cardlink_test_duration_seconds', { suite_name: 'apdu commands' });
  t.equal(hist.count, 3, 'passed and failed tests are timed, skipped ones are not');
  t.ok(Math.abs(hist.sum - 0.006) < 1e-9, 'SELECT 2 ms + PUT KEY 1 ms + INITIALIZE UPDATE 3 ms, in seconds');

  const spans = h.finished();
  const byName = (n: string) => spans.find((s) => s.name === n)!;
  const suite = byName('suite apdu commands');
  t.equal(suite.parentSpanContext, undefined, 'a suite span is a root');
  t.equal(suite.status.code, SpanStatusCode.ERROR);
  t.equal(suite.attributes['test.suite.run.status'], 'failure');
  for (const n of ['test SELECT', 'test PUT KEY', 'test STORE DATA', 'test INSTALL', 'test LOAD', 'suite secure channel']) {
    t.equal(byName(n).parentSpanContext?.spanId, suite.spanContext().spanId, `${n} under the suite`);
    t.equal(byName(n).spanContext().traceId, suite.spanContext().traceId);
  }
  t.equal(byName('test INITIALIZE UPDATE').parentSpanContext?.spanId, byName('suite secure channel').spanContext().spanId);
  const put = byName('test PUT KEY');
  t.equal(put.status.code, SpanStatusCode.ERROR);
  t.equal(put.status.message, 'expected 6982', 'the cause, not the runner wrapper');
  t.equal(put.events[0]?.name, 'exception');
  t.same(
    { ...put.attributes, 'code.line.number': 0 },
    {
      'test.suite.name': 'apdu commands',
      'test.case.name': 'apdu commands > PUT KEY',
      'code.file.path': FILE_A,
      'code.line.number': 0,
      'cardlink.test.failure_type': 'testCodeFailure',
      'cardlink.test.status': 'failed',
      'test.case.result.status': 'fail',
    },
  );
  t.equal(byName('test SELECT').attributes['test.case.result.status'], 'pass');
  t.equal(byName('test STORE DATA').attributes['test.case.result.status'], undefined);
  t.equal(byName('test LOAD').status.code, SpanStatusCode.UNSET, 'a failing todo is not an error');
  const sel = byName('test SELECT');
  const ms = (x: { startTime: [number, number]; endTime: [number, number] }) =>
    (x.endTime[0] - x.startTime[0]) * 1000 + (x.endTime[1] - x.startTime[1]) / 1e6;
  t.ok(Math.abs(ms(sel) - 2) < 0.01, 'span duration is the test duration');
  t.equal(byName('suite provisioning').status.message, 'a test in this suite failed');
  t.equal(byName('test creates profile').attributes['cardlink.test.status'], 'error');

  const fileSuite = byName('suite test/top.test.mjs');
  t.equal(fileSuite.parentSpanContext, undefined);
  t.equal(byName('test AT').parentSpanContext?.spanId, fileSuite.spanContext().spanId, 'tests outside a describe under the file suite');
  t.equal(byName('test sub').parentSpanContext?.spanId, byName('test with sub').spanContext().spanId, 'subtests under their test');
  t.equal(fileSuite.attributes['test.suite.run.status'], 'success');
  t.equal(byName('suite test/broken.test.mjs').status.code, SpanStatusCode.ERROR);
  t.equal(emitter.spans, spans.length, 'every span counted');
});

t.test('recordTestResult: metrics, a span under the active one, validated input', async (t) => {
  h.spans.reset();
  recordTestResult({ suite: 'mocha: ota', name: 'session completes', status: 'passed', durationMs: 1500 });
  trace.getTracer('runner').startActiveSpan('mocha run', (run) => {
    recordTestResult({ suite: 'mocha: ota', name: 'session times out', status: 'failed', durationMs: 30_000, error: new Error('no 204') });
    run.end();
  });
  recordTestResult({ suite: 'mocha: ota', name: 'later', status: 'skipped', durationMs: 0 });
  t.equal(await h.value('cardlink_tests_total', { suite_name: 'mocha: ota', status: 'passed' }), 1);
  t.equal(await h.value('cardlink_tests_total', { suite_name: 'mocha: ota', status: 'failed' }), 1);
  t.equal(await h.value('cardlink_tests_total', { suite_name: 'mocha: ota', status: 'skipped' }), 1);
  t.match(await h.histogram('cardlink_test_duration_seconds', { suite_name: 'mocha: ota' }), { count: 2, sum: 31.5 });
  const failed = h.finished().find((s) => s.name === 'test session times out')!;
  const run = h.finished().find((s) => s.name === 'mocha run')!;
  t.equal(failed.parentSpanContext?.spanId, run.spanContext().spanId);
  t.equal(failed.status.message, 'no 204');
  t.equal(failed.attributes['test.suite.name'], 'mocha: ota');

  const bad = [
    { suite: '', name: 'x', status: 'passed', durationMs: 1 },
    { suite: 's', name: 'x', status: 'ok', durationMs: 1 },
    { suite: 's', name: 'x', status: 'passed', durationMs: -1 },
    { suite: 's', name: 'x', status: 'passed', durationMs: Number.NaN },
    { suite: 's', status: 'passed', durationMs: 1 },
    null,
  ];
  for (const input of bad) t.throws(() => recordTestResult(input as never), CardlinkInputError, JSON.stringify(input));
  t.equal(await h.value('cardlink_tests_total', { suite_name: 's' }), 0, 'nothing recorded for bad input');
});

t.test('any event stream: never throws, counts at most one result per test event (property)', async (t) => {
  const arbEvent = fc.oneof(
    fc.record({
      type: fc.constantFrom('test:pass', 'test:fail'),
      data: fc.record(
        {
          name: fc.oneof(fc.string(), fc.constant(FILE_A), fc.integer()),
          nesting: fc.oneof(fc.integer({ min: -2, max: 6 }), fc.constant(1.5), fc.string()),
          file: fc.oneof(fc.constant(FILE_A), fc.constant(FILE_B), fc.constant(undefined)),
          skip: fc.oneof(fc.boolean(), fc.string(), fc.constant(undefined)),
          todo: fc.oneof(fc.boolean(), fc.constant(undefined)),
          details: fc.oneof(
            fc.record({
              duration_ms: fc.oneof(fc.double(), fc.integer(), fc.string()),
              type: fc.constantFrom('suite', 'test', undefined),
              error: fc.oneof(fc.constant(undefined), fc.record({ failureType: fc.constantFrom('hookFailed', 'testCodeFailure', 'subtestsFailed', 'cancelledByParent') })),
            }),
            fc.constant(undefined),
          ),
        },
        { requiredKeys: [] },
      ),
    }),
    fc.record({ type: fc.constantFrom('test:start', 'test:plan', 'test:diagnostic', 'test:stdout'), data: fc.anything() }),
    fc.record({ type: fc.string(), data: fc.anything() }),
  );
  fc.assert(
    fc.property(fc.array(arbEvent, { maxLength: 40 }), (events) => {
      const tops = build(events as TestEventLike[]);
      const results = tops.flatMap((top) => planResults(top, label));
      const testEvents = events.filter((e) => e.type === 'test:pass' || e.type === 'test:fail').length;
      for (const top of tops) testStatus(top);
      return results.length <= testEvents;
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 random event streams');
});
