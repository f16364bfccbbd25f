/** The shapes of health checks and of the JSON the endpoints serve (docs/architecture.md, "Settings and endpoints"). */

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';
/** A check's status in a report: `timeout` when it did not answer within its time limit. */
export type CheckStatus = HealthStatus | 'timeout';

export const HEALTH_STATUSES: readonly HealthStatus[] = ['healthy', 'degraded', 'unhealthy'];

/** What a check returns. `message` and `details` appear in the report (keep secrets out of them). */
export interface CheckResult {
  status: HealthStatus;
  message?: string;
  details?: Record<string, unknown>;
}

/**
 * A check may return a CheckResult, a bare status, `true`/`undefined` (healthy) or `false`
 * (unhealthy), synchronously or as a promise. Throwing (or rejecting) makes it `unhealthy` with the
 * error's message.
 */
export type CheckReturn = CheckResult | HealthStatus | boolean | undefined | void;

export interface CheckContext {
  /** Aborted when the check is cut at its time limit: pass it to fetch, queries, timers ... */
  readonly signal: AbortSignal;
  /** This check's time limit in ms. */
  readonly timeoutMs: number;
}

export type HealthCheckFn = (ctx: CheckContext) => CheckReturn | Promise<CheckReturn>;

export interface CheckOptions {
  /** Time limit for this check (default CARDLINK_HEALTH_CHECK_TIMEOUT_MS, 5000). */
  timeoutMs?: number;
  /**
   * Default true. A non-critical check that fails (unhealthy or timeout) makes the whole report
   * `degraded` rather than `unhealthy`: readiness stays 200 (e.g. telemetry export, optional devices).
   */
  critical?: boolean;
}

/** One check in the JSON report. */
export interface CheckReport {
  name: string;
  status: CheckStatus;
  message: string;
  duration_ms: number;
  details: Record<string, unknown>;
}

/** The JSON body of /health, /health/live and /health/ready. */
export interface HealthReport {
  status: HealthStatus;
  /** ISO 8601, when the checks ran. */
  timestamp: string;
  checks: CheckReport[];
}

/** One check as a caller without credentials sees it. */
export interface CheckSummary {
  name: string;
  status: CheckStatus;
}

/** The body served to a caller without credentials (unless CARDLINK_HEALTH_DETAILS=true). */
export interface HealthSummary {
  status: HealthStatus;
  timestamp: string;
  checks: CheckSummary[];
}
