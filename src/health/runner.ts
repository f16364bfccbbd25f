/**
 * Running the registered checks for /health and /health/ready.
 *
 * - All checks run concurrently; each is cut at its time limit and reported as `timeout` (the
 *   report is ready after the longest limit, whatever the checks do).
 * - A throwing or rejecting check is `unhealthy` with its error's message (never its stack).
 * - Concurrent probes share one in-flight run, and a finished run is reused for `cacheMs`, so a
 *   probe storm costs one run of each check.
 * - Never rejects: whatever a check does, a report comes back.
 */
import { redactString, sanitizeValue } from '../logging/sanitize.js';
import { registeredChecks, type Registration } from './registry.js';
import {
  HEALTH_STATUSES,
  type CheckReport,
  type CheckResult,
  type CheckReturn,
  type HealthReport,
  type HealthStatus,
} from './types.js';

export interface HealthRunnerOptions {
  /** Default time limit of a check in ms (CARDLINK_HEALTH_CHECK_TIMEOUT_MS). */
  timeoutMs: number;
  /** How long a finished run answers later probes, in ms (CARDLINK_HEALTH_CACHE_MS); 0: only in-flight sharing. */
  cacheMs: number;
}

export interface HealthRunner {
  /** Readiness: every registered check, aggregated. */
  ready(): Promise<HealthReport>;
  /** Liveness: no check runs; healthy while the event loop turns. */
  live(): HealthReport;
  /** How many runs of the check set have started (for tests and self-observation). */
  readonly runs: number;
}

const MAX_MESSAGE = 1000;

function bounded(message: string): string {
  const m = redactString(message);
  return m.length > MAX_MESSAGE ? `${m.slice(0, MAX_MESSAGE)}...` : m;
}

function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** A check's return value as a CheckResult; anything unrecognised is unhealthy (and says so). */
export function normaliseResult(value: CheckReturn | unknown): CheckResult {
  if (value === undefined || value === true) return { status: 'healthy' };
  if (value === false) return { status: 'unhealthy', message: 'check returned false' };
  if (typeof value === 'string') {
    return (HEALTH_STATUSES as readonly string[]).includes(value)
      ? { status: value as HealthStatus }
      : { status: 'unhealthy', message: `check returned an unknown status ${JSON.stringify(value.slice(0, 50))}` };
  }
  if (typeof value === 'object' && value !== null) {
    const r = value as Partial<CheckResult>;
    if (typeof r.status === 'string' && (HEALTH_STATUSES as readonly string[]).includes(r.status)) {
      const out: CheckResult = { status: r.status };
      if (r.message !== undefined) out.message = String(r.message);
      if (r.details !== undefined) out.details = r.details;
      return out;
    }
  }
  return { status: 'unhealthy', message: 'check returned an invalid result (expected {status, message?, details?})' };
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  try {
    return String(err);
  } catch {
    return 'check failed';
  }
}

function describeDetails(details: unknown): Record<string, unknown> {
  if (details === undefined) return {};
  const d = sanitizeValue(details);
  return typeof d === 'object' && d !== null && !Array.isArray(d) ? (d as Record<string, unknown>) : { value: d };
}

/** Start (or join) the invocation of one check; resolves with its result, never rejects. */
function invocation(reg: Registration, timeoutMs: number): NonNullable<Registration['inFlight']> {
  if (reg.inFlight !== undefined) return reg.inFlight;
  const controller = new AbortController();
  const startedAt = performance.now();
  const promise = (async () => {
    try {
      return { ok: true, value: await reg.fn({ signal: controller.signal, timeoutMs }) };
    } catch (err) {
      return { ok: false, error: err };
    }
  })();
  const entry = { promise, startedAt, controller };
  reg.inFlight = entry;
  void promise.then(() => {
    if (reg.inFlight === entry) reg.inFlight = undefined;
  });
  return entry;
}

const TIMED_OUT = Symbol('timeout');

async function runOne(reg: Registration, defaultTimeoutMs: number): Promise<{ report: CheckReport; critical: boolean }> {
  const timeoutMs = reg.options.timeoutMs ?? defaultTimeoutMs;
  const critical = reg.options.critical !== false;
  const started = performance.now();
  const inv = invocation(reg, timeoutMs);
  const joined = inv.startedAt < started;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    inv.promise,
    new Promise<typeof TIMED_OUT>((resolve) => {
      // Not unref'd: the probe's own connection keeps the process alive anyway, and an in-process
      // caller must get its answer even when nothing else is pending. Bounded by the limit.
      timer = setTimeout(() => resolve(TIMED_OUT), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  const duration_ms = roundMs(performance.now() - started);
  if (outcome === TIMED_OUT) {
    // Ask cooperative checks to stop; the next run waits for this invocation rather than piling up.
    inv.controller.abort(new Error('health check timed out'));
    const since = joined ? ` (still running since ${Math.round(performance.now() - inv.startedAt)} ms)` : '';
    return {
      critical,
      report: { name: reg.name, status: 'timeout', message: `no answer within ${timeoutMs} ms${since}`, duration_ms, details: {} },
    };
  }
  const o = outcome as { ok: boolean; value?: unknown; error?: unknown };
  if (!o.ok) {
    return {
      critical,
      report: { name: reg.name, status: 'unhealthy', message: bounded(errorMessage(o.error)), duration_ms, details: {} },
    };
  }
  const r = normaliseResult(o.value);
  return {
    critical,
    report: {
      name: reg.name,
      status: r.status,
      message: bounded(r.message ?? (r.status === 'healthy' ? 'ok' : r.status)),
      duration_ms,
      details: describeDetails(r.details),
    },
  };
}

/** The overall status: a failing critical check is unhealthy, anything else not healthy degrades. */
export function aggregate(results: ReadonlyArray<{ report: CheckReport; critical: boolean }>): HealthStatus {
  let status: HealthStatus = 'healthy';
  for (const { report, critical } of results) {
    const failed = report.status === 'unhealthy' || report.status === 'timeout';
    if (failed && critical) return 'unhealthy';
    if (failed || report.status === 'degraded') status = 'degraded';
  }
  return status;
}

/** Run every registered check once, concurrently. */
export async function runChecks(defaultTimeoutMs: number): Promise<HealthReport> {
  const timestamp = new Date().toISOString();
  const regs = registeredChecks();
  const results = await Promise.all(
    regs.map((reg) =>
      runOne(reg, defaultTimeoutMs).catch((err: unknown) => ({
        critical: reg.options.critical !== false,
        report: { name: reg.name, status: 'unhealthy' as const, message: bounded(errorMessage(err)), duration_ms: 0, details: {} },
      })),
    ),
  );
  return { status: aggregate(results), timestamp, checks: results.map((r) => r.report) };
}

export function createHealthRunner(options: HealthRunnerOptions): HealthRunner {
  let inFlight: Promise<HealthReport> | undefined;
  let cached: { at: number; report: HealthReport } | undefined;
  let runs = 0;
  return {
    get runs() {
      return runs;
    },
    live: () => ({ status: 'healthy', timestamp: new Date().toISOString(), checks: [] }),
    ready() {
      if (cached !== undefined && performance.now() - cached.at < options.cacheMs) return Promise.resolve(cached.report);
      if (inFlight !== undefined) return inFlight;
      runs++;
      const p = runChecks(options.timeoutMs).then(
        (report) => {
          cached = { at: performance.now(), report };
          return report;
        },
        (err: unknown) => ({
          status: 'unhealthy' as const,
          timestamp: new Date().toISOString(),
          checks: [{ name: 'health', status: 'unhealthy' as const, message: bounded(errorMessage(err)), duration_ms: 0, details: {} }],
        }),
      );
      inFlight = p;
      void p.finally(() => {
        if (inFlight === p) inFlight = undefined;
      });
      return p;
    },
  };
}
