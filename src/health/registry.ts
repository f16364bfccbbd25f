/**
 * The registry of health checks: the application's own (`registerCheck` from the package root)
 * and those the SDK and the instrumentations add.
 *
 * Kept on globalThis under a registered symbol, like the OTel API's globals: if a project ends up
 * with two copies of cardlink-otel (one loaded by `--import cardlink-otel/register`, one imported by
 * the app through another path), checks registered through either are still served.
 */
import type { CheckOptions, HealthCheckFn } from './types.js';

export interface Registration {
  readonly name: string;
  readonly fn: HealthCheckFn;
  readonly options: Readonly<CheckOptions>;
  /**
   * The invocation still running, if any. A check that hangs is not started again while it hangs:
   * later runs wait on the same invocation (each bounded by its own time limit), so a stuck
   * dependency cannot pile up calls probe after probe.
   */
  inFlight: { promise: Promise<unknown>; startedAt: number; controller: AbortController } | undefined;
}

interface RegistryGlobal {
  checks: Map<string, Registration>;
}

const KEY = Symbol.for('cardlink-otel.health.registry');
const MAX_NAME = 100;

function registry(): RegistryGlobal {
  const g = globalThis as unknown as Record<symbol, RegistryGlobal | undefined>;
  let r = g[KEY];
  if (r === undefined) {
    r = { checks: new Map() };
    g[KEY] = r;
  }
  return r;
}

/**
 * Register (or replace) the check `name`. Returns a function that removes this registration (and
 * does nothing if the name has been registered again since). Invalid arguments throw a TypeError:
 * they are programming errors, caught at start-up.
 */
export function registerCheck(name: string, fn: HealthCheckFn, options: CheckOptions = {}): () => void {
  if (typeof name !== 'string' || name.trim() === '' || name.length > MAX_NAME) {
    throw new TypeError(`registerCheck: the name must be a non-empty string of at most ${MAX_NAME} characters`);
  }
  if (typeof fn !== 'function') throw new TypeError(`registerCheck(${JSON.stringify(name)}): the check must be a function`);
  if (options.timeoutMs !== undefined && !(Number.isFinite(options.timeoutMs) && options.timeoutMs > 0)) {
    throw new TypeError(`registerCheck(${JSON.stringify(name)}): timeoutMs must be a positive number`);
  }
  const key = name.trim();
  const reg: Registration = { name: key, fn, options: Object.freeze({ ...options }), inFlight: undefined };
  const checks = registry().checks;
  // Re-registering moves the check to the end of the report: delete first so Map order follows.
  checks.delete(key);
  checks.set(key, reg);
  return () => {
    if (checks.get(key) === reg) checks.delete(key);
  };
}

/** Remove the check `name`; true when there was one. */
export function unregisterCheck(name: string): boolean {
  if (typeof name !== 'string') return false;
  return registry().checks.delete(name.trim());
}

/** The registered checks, in registration order. */
export function registeredChecks(): Registration[] {
  return [...registry().checks.values()];
}

/** Names of the registered checks (for tests and diagnostics). */
export function checkNames(): string[] {
  return [...registry().checks.keys()];
}
