/**
 * From the `node:test` reporter event stream to finished test trees, and each test's status.
 *
 * Pure (no OTel, no I/O). node:test reports a test when it is done (`test:pass` / `test:fail`), in
 * definition order, children before their parent, with a `nesting` depth. A span per test under a
 * span per suite needs the suite's timing, known only when the suite itself is reported; so
 * finished nodes wait here, per file, until their top-level ancestor is done.
 *
 * Statuses (the `status` label of cardlink_tests_total):
 * - `passed`;
 * - `skipped`: skip and todo (a failing todo test too: node:test does not count it as a failure);
 * - `failed`: the test's own code failed (assertion, exception, timeout);
 * - `error`: a failure outside a test: a hook that failed, a test cancelled because of it, a file
 *   that could not even load, a suite whose own code threw.
 * Suites are not tests: a suite is counted (once, as `error`) only when it failed by itself and no
 * test under it already shows that failure as an error.
 */

export type TestStatus = 'passed' | 'failed' | 'skipped' | 'error';

/** The fields of `test:pass` / `test:fail` this module reads (all optional: events are untrusted). */
export interface TestEventData {
  name?: unknown;
  nesting?: unknown;
  file?: unknown;
  line?: unknown;
  skip?: unknown;
  todo?: unknown;
  details?: { duration_ms?: unknown; type?: unknown; error?: unknown } | undefined;
}

export interface TestEventLike {
  type: string;
  data?: unknown;
}

export interface TestNode {
  name: string;
  /** Absolute path of the test file, when the runner says. */
  file: string | undefined;
  line: number | undefined;
  nesting: number;
  kind: 'suite' | 'test';
  passed: boolean;
  skip: boolean;
  todo: boolean;
  /** node:test's `failureType` (testCodeFailure, hookFailed, cancelledByParent, subtestsFailed ...). */
  failureType: string | undefined;
  error: unknown;
  durationMs: number;
  /** When the node was reported (ms since the epoch): its end, since node:test reports tests when done. */
  endMs: number;
  children: TestNode[];
}

const MAX_NAME = 500;
/** Failure types that are not the test's own code failing. */
const ERROR_FAILURES = new Set(['hookFailed', 'cancelledByParent']);

function str(v: unknown, dflt: string): string {
  return typeof v === 'string' ? (v.length > MAX_NAME ? v.slice(0, MAX_NAME) : v) : dflt;
}

function flag(v: unknown): boolean {
  return v !== undefined && v !== false && v !== null;
}

/** A node from a `test:pass` / `test:fail` event (undefined for any other event). */
export function nodeFromEvent(ev: TestEventLike, nowMs: number): TestNode | undefined {
  if (ev.type !== 'test:pass' && ev.type !== 'test:fail') return undefined;
  const d = (typeof ev.data === 'object' && ev.data !== null ? ev.data : {}) as TestEventData;
  const details = typeof d.details === 'object' && d.details !== null ? d.details : {};
  const duration = typeof details.duration_ms === 'number' && Number.isFinite(details.duration_ms) ? Math.max(0, details.duration_ms) : 0;
  const error = (details as { error?: unknown }).error;
  const failureType =
    typeof error === 'object' && error !== null && typeof (error as { failureType?: unknown }).failureType === 'string'
      ? ((error as { failureType: string }).failureType)
      : undefined;
  const nesting = typeof d.nesting === 'number' && Number.isInteger(d.nesting) && d.nesting >= 0 ? Math.min(d.nesting, 1000) : 0;
  return {
    name: str(d.name, '(unnamed)'),
    file: typeof d.file === 'string' ? d.file : undefined,
    line: typeof d.line === 'number' ? d.line : undefined,
    nesting,
    kind: details.type === 'suite' ? 'suite' : 'test',
    passed: ev.type === 'test:pass',
    skip: flag(d.skip),
    todo: flag(d.todo),
    failureType,
    error,
    durationMs: duration,
    endMs: nowMs,
    children: [],
  };
}

/** Collects finished nodes and hands out each top-level node with its whole subtree. */
export class TestTreeBuilder {
  /** Per file: finished nodes waiting for their parent, by nesting depth. */
  private readonly pending = new Map<string, TestNode[][]>();

  /** Feed one event; returns a top-level node when one is complete. */
  push(ev: TestEventLike, nowMs: number): TestNode | undefined {
    const node = nodeFromEvent(ev, nowMs);
    if (node === undefined) return undefined;
    const key = node.file ?? '';
    let levels = this.pending.get(key);
    if (levels === undefined) {
      levels = [];
      this.pending.set(key, levels);
    }
    // Everything reported deeper than this node since its last sibling is its subtree.
    const below = levels[node.nesting + 1];
    if (below !== undefined) node.children = below;
    levels.length = Math.min(levels.length, node.nesting + 1);
    if (node.nesting === 0) {
      if (levels.every((l) => l === undefined || l.length === 0)) this.pending.delete(key);
      return node;
    }
    (levels[node.nesting] ??= []).push(node);
    return undefined;
  }

  /** At the end of the run: nodes whose parent never came (a cancelled run), as top-level nodes. */
  finish(): TestNode[] {
    const out: TestNode[] = [];
    for (const levels of this.pending.values()) {
      for (const level of levels) if (level !== undefined) out.push(...level);
    }
    this.pending.clear();
    return out;
  }
}

/**
 * The file itself, as node:test reports it when the file fails outside any test (or when a
 * runner wraps each file's tests in a node named by the path).
 */
export function isFileNode(node: TestNode): boolean {
  return node.nesting === 0 && node.file !== undefined && node.kind === 'test' && node.name === node.file;
}

/** The status of a test node (not of a suite). */
export function testStatus(node: TestNode): TestStatus {
  if (node.skip || node.todo) return 'skipped';
  if (node.passed) return 'passed';
  if (isFileNode(node) && node.children.length === 0) return 'error';
  return node.failureType !== undefined && ERROR_FAILURES.has(node.failureType) ? 'error' : 'failed';
}

function hasErrorBelow(node: TestNode): boolean {
  for (const c of node.children) {
    if (c.kind === 'test' && testStatus(c) === 'error') return true;
    if (hasErrorBelow(c)) return true;
  }
  return false;
}

/**
 * A suite (or file wrapper) that failed by itself (a hook, code in the describe body) rather than
 * through its tests, and whose failure no test below reports as an error already.
 */
export function suiteOwnError(node: TestNode): boolean {
  if (node.passed || node.skip || node.todo) return false;
  if (node.failureType === 'subtestsFailed') return false;
  return !hasErrorBelow(node);
}

export interface PlannedResult {
  suite: string;
  /** Names from the top-level node down to this one. */
  path: string[];
  status: TestStatus;
  durationMs: number;
  node: TestNode;
  /** True for the one `error` counted for a suite's own failure. */
  suiteLevel: boolean;
}

/**
 * What one top-level node counts as, in order: one entry per test, plus one per suite that failed
 * by itself. `fileLabel` names the suite of tests that are not inside a `describe`.
 */
export function planResults(top: TestNode, fileLabel: (file: string | undefined) => string): PlannedResult[] {
  const out: PlannedResult[] = [];
  const walk = (node: TestNode, suite: string, path: string[]): void => {
    const here = [...path, node.name];
    if (node.kind === 'suite') {
      for (const c of node.children) walk(c, suite, here);
      if (suiteOwnError(node)) out.push({ suite, path: here, status: 'error', durationMs: node.durationMs, node, suiteLevel: true });
      return;
    }
    out.push({ suite, path: here, status: testStatus(node), durationMs: node.durationMs, node, suiteLevel: false });
    for (const c of node.children) walk(c, suite, here);
  };
  if (isFileNode(top) && top.children.length > 0) {
    // A wrapper named by the path: its children are the file's top-level tests and suites.
    for (const c of top.children) walk(c, c.kind === 'suite' ? c.name : fileLabel(top.file), []);
    if (suiteOwnError(top)) out.push({ suite: fileLabel(top.file), path: [fileLabel(top.file)], status: 'error', durationMs: top.durationMs, node: top, suiteLevel: true });
    return out;
  }
  walk(top, top.kind === 'suite' ? top.name : fileLabel(top.file), []);
  return out;
}

/** Tallies `{suite: {status: count}}` (used by tests and by the reporter's own summary). */
export function tally(results: readonly PlannedResult[]): Record<string, Partial<Record<TestStatus, number>>> {
  const out: Record<string, Partial<Record<TestStatus, number>>> = {};
  for (const r of results) {
    const s = (out[r.suite] ??= {});
    s[r.status] = (s[r.status] ?? 0) + 1;
  }
  return out;
}
