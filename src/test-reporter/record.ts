/**
 * Test results into telemetry: `cardlink_tests_total{suite_name,status}`,
 * `cardlink_test_duration_seconds{suite_name}` and a span per test under a span per suite.
 *
 * `recordTestResult` is the API for runners other than node:test (mocha, jest, a lab's own);
 * `TestTreeEmitter` is what the node:test reporter (index.ts) uses for whole trees.
 */
import { relative, isAbsolute, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { context, ROOT_CONTEXT, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { CardlinkInputError } from '../api/errors.js';
import { duration, oneOf } from '../api/validate.js';
import { TEST_STATUSES } from '../metrics/catalogue.js';
import { getInstruments } from '../metrics/instruments.js';
import { VERSION } from '../version.js';
import { isFileNode, planResults, testStatus, type PlannedResult, type TestNode, type TestStatus } from './tree.js';
import { nowMs } from '../clock.js';
import { ATTR_CODE_FILE_PATH, ATTR_CODE_LINE_NUMBER } from '@opentelemetry/semantic-conventions';

export type { TestStatus } from './tree.js';

export const TEST_TRACER = 'cardlink-otel/test-runner';
/** Suite names are label values: bounded. */
const MAX_SUITE = 200;
const MAX_STATUS_MESSAGE = 500;

const tracer = () => trace.getTracer(TEST_TRACER, VERSION);

export interface TestResultInput {
  /** The suite (top-level describe, spec file ...): the `suite_name` label. 1-200 characters. */
  suite: string;
  /** The test's name (span name and `test.case.name`). */
  name: string;
  status: TestStatus;
  /** How long the test ran, in ms (the span ends now and starts this long ago). */
  durationMs: number;
  /** The failure, for failed/error tests: recorded on the span as an exception. */
  error?: unknown;
}

function suiteLabel(field: string, v: unknown): string {
  if (typeof v !== 'string' || v.trim() === '') throw new CardlinkInputError(field, 'expected a non-empty string');
  return v.length > MAX_SUITE ? v.slice(0, MAX_SUITE) : v;
}

/** One test counted in the test metrics (not the span). */
function count(suite: string, status: TestStatus, durationMs: number): void {
  const m = getInstruments();
  m.tests.add(1, { suite_name: suite, status });
  // A skipped test's duration says nothing about the suite's speed.
  if (status !== 'skipped') m.testDuration.record(durationMs / 1000, { suite_name: suite });
}

/** The error node:test wraps around what the test threw (ERR_TEST_FAILURE with the real one as cause). */
function realError(err: unknown): unknown {
  if (err instanceof Error && (err as { code?: unknown }).code === 'ERR_TEST_FAILURE' && err.cause !== undefined) return err.cause;
  return err;
}

function failSpan(span: Span, err: unknown, fallback: string): void {
  const e = realError(err);
  if (e instanceof Error) span.recordException(e);
  else if (typeof e === 'string') span.recordException(e);
  const message = e instanceof Error ? e.message : typeof e === 'string' ? e : fallback;
  span.setStatus({ code: SpanStatusCode.ERROR, message: message.length > MAX_STATUS_MESSAGE ? message.slice(0, MAX_STATUS_MESSAGE) : message });
}

function resultStatus(status: TestStatus): string | undefined {
  // Semantic conventions know pass and fail only.
  return status === 'passed' ? 'pass' : status === 'skipped' ? undefined : 'fail';
}

function testSpan(
  name: string,
  attributes: Attributes,
  status: TestStatus,
  startMs: number,
  parent: Context,
): Span {
  const attrs: Attributes = { ...attributes, 'cardlink.test.status': status };
  const rs = resultStatus(status);
  if (rs !== undefined) attrs['test.case.result.status'] = rs;
  return tracer().startSpan(`test ${name}`, { startTime: startMs, attributes: attrs }, parent);
}

/**
 * Record one test run by any runner: counted in the test metrics, and a `test <name>` span (a child
 * of the active span, ending now). Invalid input throws a CardlinkInputError and records nothing.
 */
export function recordTestResult(input: TestResultInput): void {
  if (typeof input !== 'object' || input === null) throw new CardlinkInputError('input', 'expected {suite, name, status, durationMs}');
  const suite = suiteLabel('suite', input.suite);
  const name = suiteLabel('name', input.name);
  const status = oneOf('status', input.status, TEST_STATUSES);
  const ms = duration('durationMs', input.durationMs);
  count(suite, status, ms);
  const end = nowMs();
  const span = testSpan(name, { 'test.suite.name': suite, 'test.case.name': name }, status, end - ms, context.active());
  if (status === 'failed' || status === 'error') failSpan(span, input.error, status === 'failed' ? 'test failed' : 'test error');
  span.end(end);
}

/** The suite name of tests outside any describe: the file, relative to the working directory. */
export function fileLabel(file: string | undefined, cwd: string = process.cwd()): string {
  if (file === undefined || file === '') return 'unknown';
  let path = file;
  if (path.startsWith('file:')) {
    try {
      path = fileURLToPath(path);
    } catch {
      /* keep it as it is */
    }
  }
  if (isAbsolute(path)) {
    const rel = relative(cwd, path);
    path = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : basename(path);
  }
  return path.length > MAX_SUITE ? path.slice(-MAX_SUITE) : path;
}

/**
 * Spans and metrics for whole node:test trees: a `suite <describe>` span per top-level describe
 * (nested describes nest), a `test <name>` span per test, and a `suite <file>` span holding the
 * tests of a file that are outside any describe (ended by `finish()`).
 */
export class TestTreeEmitter {
  private readonly fileSuites = new Map<string, { span: Span; ctx: Context; endMs: number; failed: boolean; statusSet: boolean }>();
  /** Spans created so far (the reporter flushes now and then so no span queue overflows). */
  spans = 0;
  /** Every result counted, in order (for the reporter's own checks and for tests). */
  readonly results: PlannedResult[] = [];

  constructor(private readonly cwd: string = process.cwd()) {}

  emit(top: TestNode): void {
    for (const _ of this.steps(top)) {
      // all at once
    }
  }

  /** `emit`, one step per span ended, so a caller can flush between them (a suite of thousands of tests). */
  *steps(top: TestNode): Generator<void, void, undefined> {
    const label = (f: string | undefined): string => fileLabel(f, this.cwd);
    const plan = planResults(top, label);
    this.results.push(...plan);
    const bySuiteLevel = new Set(plan.filter((p) => p.suiteLevel).map((p) => p.node));
    const statusOf = new Map(plan.filter((p) => !p.suiteLevel).map((p) => [p.node, p]));
    for (const p of plan) count(p.suite, p.status, p.durationMs);

    const self = this;
    const emitNode = function* (this: void, node: TestNode, suite: string, parent: Context, path: string[]): Generator<void, void, undefined> {
      const here = [...path, node.name];
      const attributes: Attributes = { 'test.suite.name': suite, 'test.case.name': here.join(' > ') };
      if (node.file !== undefined) attributes[ATTR_CODE_FILE_PATH] = node.file;
      if (node.line !== undefined) attributes[ATTR_CODE_LINE_NUMBER] = node.line;
      if (node.failureType !== undefined) attributes['cardlink.test.failure_type'] = node.failureType;
      const start = node.endMs - node.durationMs;
      let span: Span;
      if (node.kind === 'suite') {
        delete attributes['test.case.name'];
        attributes['test.suite.run.status'] = node.skip || node.todo ? 'skipped' : node.passed ? 'success' : 'failure';
        span = tracer().startSpan(`suite ${node.name}`, { startTime: start, attributes }, parent);
        if (bySuiteLevel.has(node)) failSpan(span, node.error, 'suite failed');
        else if (!node.passed && !node.todo) span.setStatus({ code: SpanStatusCode.ERROR, message: 'a test in this suite failed' });
      } else {
        const status = statusOf.get(node)?.status ?? testStatus(node);
        span = testSpan(node.name, attributes, status, start, parent);
        if (status === 'failed' || status === 'error') failSpan(span, node.error, status === 'failed' ? 'test failed' : 'test error');
      }
      self.spans++;
      const ctx = trace.setSpan(parent, span);
      for (const c of node.children) yield* emitNode(c, suite, ctx, here);
      span.end(node.endMs);
      yield;
    };

    const underFile = function* (node: TestNode, file: string | undefined): Generator<void, void, undefined> {
      const f = self.fileSuite(label(file), node.endMs - node.durationMs, file);
      yield* emitNode(node, label(file), f.ctx, []);
      f.endMs = Math.max(f.endMs, node.endMs);
      if (!node.passed && !node.todo && !node.skip) f.failed = true;
    };

    if (isFileNode(top) && top.children.length > 0) {
      // A per-file wrapper node: its children are the file's top-level tests and suites.
      for (const c of top.children) {
        if (c.kind === 'suite') yield* emitNode(c, c.name, ROOT_CONTEXT, []);
        else yield* underFile(c, top.file);
      }
      if (bySuiteLevel.has(top)) {
        const f = this.fileSuite(label(top.file), top.endMs - top.durationMs, top.file);
        failSpan(f.span, top.error, 'file failed');
        f.failed = true;
        f.statusSet = true;
      }
    } else if (top.kind === 'suite') yield* emitNode(top, top.name, ROOT_CONTEXT, []);
    else yield* underFile(top, top.file);
  }

  private fileSuite(label: string, startMs: number, file: string | undefined) {
    let f = this.fileSuites.get(label);
    if (f === undefined) {
      const attributes: Attributes = { 'test.suite.name': label };
      if (file !== undefined) attributes[ATTR_CODE_FILE_PATH] = file;
      const span = tracer().startSpan(`suite ${label}`, { startTime: startMs, attributes }, ROOT_CONTEXT);
      this.spans++;
      f = { span, ctx: trace.setSpan(ROOT_CONTEXT, span), endMs: startMs, failed: false, statusSet: false };
      this.fileSuites.set(label, f);
    }
    return f;
  }

  /** Ends the per-file suite spans (call once the run is over). */
  finish(): void {
    for (const f of this.fileSuites.values()) {
      f.span.setAttribute('test.suite.run.status', f.failed ? 'failure' : 'success');
      if (f.failed && !f.statusSet) f.span.setStatus({ code: SpanStatusCode.ERROR, message: 'a test in this file failed' });
      f.span.end(f.endMs);
    }
    this.fileSuites.clear();
  }
}
