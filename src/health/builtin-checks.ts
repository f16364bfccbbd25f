/**
 * The checks the SDK registers itself: disk space, memory, the databases the db instrumentations
 * track, OTLP export and the metrics endpoint.
 *
 * Disk and memory over their threshold are `degraded`, not `unhealthy`: every pod on a node sees
 * the same disk filling up, and taking them all out of service at 90% would turn a warning into an
 * outage. A disk with no space left at all is `unhealthy` (writes fail). Telemetry problems (OTLP
 * export failing, /metrics not served) never make the application unready: those checks are
 * non-critical.
 */
import { statfs as statfsCb, statfsSync, type StatsFs } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { resolve } from 'node:path';
import type { Server } from 'node:net';
import { getHeapStatistics } from 'node:v8';
import { exportStatuses, type ExportStatus } from '../export-status.js';
import { procSelf } from '../metrics/proc-self.js';
import { redactString } from '../logging/sanitize.js';
import { printLine } from '../diag.js';
import { registerCheck } from './registry.js';
import type { CheckResult, HealthCheckFn } from './types.js';

const round1 = (x: number): number => Math.round(x * 10) / 10;

export type StatFs = (path: string) => Promise<Pick<StatsFs, 'bsize' | 'blocks' | 'bfree' | 'bavail'>>;

const nodeStatfs: StatFs = (path) =>
  new Promise((res, rej) => statfsCb(path, (err, stats) => (err ? rej(err) : res(stats))));

/**
 * CARDLINK_HEALTH_DISK_PATH, or the default when it names nothing that can be watched (a typo
 * would otherwise make the application unready with nothing said at start): one line on stderr,
 * as for any other bad value.
 */
export function watchableDiskPath(path: string, fallback = '.'): string {
  if (path === fallback) return path;
  try {
    statfsSync(path);
    return path;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    printLine(
      `CARDLINK_HEALTH_DISK_PATH=${JSON.stringify(path)} is not valid: expected an existing path${typeof code === 'string' ? ` (${code})` : ''}; using the default.`,
    );
    return fallback;
  }
}

/** Disk usage of the filesystem holding `path`, as `df` computes it (reserved blocks excluded). */
export function diskCheck(path: string, thresholdPercent: number, statfs: StatFs = nodeStatfs): HealthCheckFn {
  const target = resolve(path);
  return async (): Promise<CheckResult> => {
    const s = await statfs(target);
    const used = s.blocks - s.bfree;
    const usable = used + s.bavail;
    const usedPercent = usable > 0 ? round1((used / usable) * 100) : 0;
    const details = {
      path: target,
      used_percent: usedPercent,
      available_bytes: s.bavail * s.bsize,
      total_bytes: s.blocks * s.bsize,
      threshold_percent: thresholdPercent,
    };
    if (s.bavail === 0 && s.blocks > 0) return { status: 'unhealthy', message: `no space left on ${target}`, details };
    if (usedPercent >= thresholdPercent) {
      return { status: 'degraded', message: `disk ${usedPercent}% used (threshold ${thresholdPercent}%)`, details };
    }
    return { status: 'healthy', message: `disk ${usedPercent}% used`, details };
  };
}

export interface MemoryReading {
  /** V8 heap in use and the heap's hard limit (the process dies of OOM at the limit). */
  heapUsed: number;
  heapLimit: number;
  /** Memory available to this process (the cgroup limit when one is set, else the machine's). */
  limit: number;
  available: number;
  /** Unknown only when no descriptor is left and none was held (the system metrics are off). */
  rss: number | undefined;
}

export function readMemory(): MemoryReading {
  const heap = getHeapStatistics();
  const total = totalmem();
  // Node >= 20.13 knows the cgroup: constrainedMemory() is the container's limit (a huge number
  // when there is none), availableMemory() what is left of it.
  const p = process as unknown as { constrainedMemory?: () => number; availableMemory?: () => number };
  const constrained = typeof p.constrainedMemory === 'function' ? p.constrainedMemory() : 0;
  const limit = constrained > 0 && constrained < total ? constrained : total;
  const available = typeof p.availableMemory === 'function' ? p.availableMemory() : freemem();
  return { heapUsed: heap.used_heap_size, heapLimit: heap.heap_size_limit, limit, available: Math.min(available, limit), rss: procSelf.memory().rss };
}

/** Memory: the V8 heap against its limit and the system (or container) memory against its size. */
export function memoryCheck(thresholdPercent: number, read: () => MemoryReading = readMemory): HealthCheckFn {
  return (): CheckResult => {
    const m = read();
    const heapPercent = m.heapLimit > 0 ? round1((m.heapUsed / m.heapLimit) * 100) : 0;
    const systemPercent = m.limit > 0 ? round1(((m.limit - m.available) / m.limit) * 100) : 0;
    const details = {
      heap_used_percent: heapPercent,
      system_used_percent: systemPercent,
      heap_used_bytes: m.heapUsed,
      heap_limit_bytes: m.heapLimit,
      rss_bytes: m.rss ?? null,
      limit_bytes: m.limit,
      available_bytes: m.available,
      threshold_percent: thresholdPercent,
    };
    const over: string[] = [];
    if (heapPercent >= thresholdPercent) over.push(`heap ${heapPercent}% of its limit`);
    if (systemPercent >= thresholdPercent) over.push(`memory ${systemPercent}% used`);
    if (over.length > 0) return { status: 'degraded', message: `${over.join(', ')} (threshold ${thresholdPercent}%)`, details };
    return { status: 'healthy', message: `heap ${heapPercent}%, memory ${systemPercent}% used`, details };
  };
}

export interface DescriptorsReading {
  /** Open descriptors and the soft limit; undefined where /proc is not (not Linux). */
  open: number | undefined;
  limit: number | undefined;
}

export function readDescriptors(): DescriptorsReading {
  return { open: procSelf.openFds(), limit: procSelf.softLimit() };
}

/**
 * Descriptors: open against the soft `ulimit -n`. `degraded` from the threshold on; `unhealthy`
 * with none left, since the application can then neither open a file nor accept a connection.
 */
export function descriptorsCheck(thresholdPercent: number, read: () => DescriptorsReading = readDescriptors): HealthCheckFn {
  return (): CheckResult => {
    const { open, limit } = read();
    if (open === undefined || limit === undefined) return { status: 'healthy', message: 'descriptor count not available on this platform' };
    if (!Number.isFinite(limit)) return { status: 'healthy', message: `${open} descriptors open, no limit`, details: { open, limit: null } };
    const usedPercent = round1((open / limit) * 100);
    const details = { open, limit, used_percent: usedPercent, threshold_percent: thresholdPercent };
    if (open >= limit) return { status: 'unhealthy', message: `no descriptor left (${open} of ${limit} open)`, details };
    if (usedPercent >= thresholdPercent) {
      return { status: 'degraded', message: `${usedPercent}% of descriptors open (${open} of ${limit}, threshold ${thresholdPercent}%)`, details };
    }
    return { status: 'healthy', message: `${open} of ${limit} descriptors open`, details };
  };
}

/** OTLP exporters: one whose last export failed is `degraded` (the application is unaffected). */
export function otlpExportCheck(statuses: () => readonly ExportStatus[] = exportStatuses): HealthCheckFn {
  return (): CheckResult => {
    const list = statuses();
    if (list.length === 0) return { status: 'healthy', message: 'no OTLP exporter configured' };
    const details: Record<string, unknown> = {};
    const failing: string[] = [];
    for (const s of list) {
      details[s.signal] = {
        endpoint: redactString(s.endpoint),
        last_success: s.lastSuccessMs === undefined ? null : new Date(s.lastSuccessMs).toISOString(),
        last_failure: s.lastFailureMs === undefined ? null : new Date(s.lastFailureMs).toISOString(),
        consecutive_failures: s.consecutiveFailures,
        exported: s.exported,
        dropped: s.dropped,
        ...(s.consecutiveFailures > 0 && s.lastError !== undefined ? { last_error: s.lastError } : {}),
      };
      if (s.consecutiveFailures > 0) failing.push(`${s.signal} (${s.lastError ?? 'failed'})`);
    }
    if (failing.length > 0) return { status: 'degraded', message: `OTLP export failing: ${failing.join(', ')}`, details };
    return { status: 'healthy', message: 'ok', details };
  };
}

/** The Prometheus endpoint is being served (`server` undefined: it is not, for `why`). */
export function metricsEndpointCheck(server: Server | undefined, path: string, why?: string): HealthCheckFn {
  if (server === undefined) return (): CheckResult => ({ status: 'unhealthy', message: `${path} is not served: ${why ?? 'not configured'}`, details: { path } });
  return (): CheckResult => {
    const addr = server.address();
    if (server.listening && addr !== null && typeof addr === 'object') {
      return { status: 'healthy', message: `serving ${path} on port ${addr.port}`, details: { port: addr.port, path } };
    }
    return { status: 'unhealthy', message: `${path} is not being served (the port could not be opened)`, details: { path } };
  };
}

/** What the database instrumentations' health hook (instrumentations/db/health.ts) reports per database. */
export interface DatabasePing {
  readonly system: string;
  readonly kind: string;
  readonly namespace: string | undefined;
  readonly server: string | undefined;
  readonly pool?: { readonly total: number; readonly idle: number; readonly waiting: number };
  readonly ok: boolean;
  readonly skipped: boolean;
  readonly durationMs: number;
  readonly message: string;
}

export type PingDatabases = (timeoutMs: number) => Promise<readonly DatabasePing[]>;

/** The db instrumentations' `pingDatabases`, loaded on first use (nothing to load without a database). */
const instrumentedDatabases: PingDatabases = async (timeoutMs) => {
  const { pingDatabases } = await import('../../instrumentations/db/health.js');
  return pingDatabases(timeoutMs);
};

/**
 * Every database the sqlite / pg instrumentations saw opened (still open), `SELECT 1` each,
 * concurrently. A failing probe is unhealthy; a pg client busy with the application's own query is
 * skipped, not probed. Each probe gets 80% of the check's limit so a stuck one is named.
 */
export function databaseCheck(ping: PingDatabases = instrumentedDatabases): HealthCheckFn {
  return async (ctx): Promise<CheckResult> => {
    const results = await ping(Math.max(1, Math.floor(ctx.timeoutMs * 0.8)));
    if (results.length === 0) return { status: 'healthy', message: 'no open database' };
    const failing: string[] = [];
    const databases = results.map((r) => {
      const name = `${r.system} ${r.namespace ?? r.server ?? r.kind}`;
      if (!r.ok && !r.skipped) failing.push(`${name}: ${r.message}`);
      return {
        system: r.system,
        kind: r.kind,
        ...(r.namespace !== undefined ? { namespace: r.namespace } : {}),
        ...(r.server !== undefined ? { server: r.server } : {}),
        ...(r.pool !== undefined ? { pool: r.pool } : {}),
        status: r.skipped ? 'skipped' : r.ok ? 'ok' : 'failed',
        message: r.message,
        duration_ms: Math.round(r.durationMs * 10) / 10,
      };
    });
    if (failing.length > 0) {
      return { status: 'unhealthy', message: `${failing.length} of ${results.length} not answering: ${failing.join('; ')}`, details: { databases } };
    }
    return { status: 'healthy', message: `${results.length} database(s) answer`, details: { databases } };
  };
}

export interface BuiltinChecksOptions {
  diskPath: string;
  diskThresholdPercent: number;
  memoryThresholdPercent: number;
  fdThresholdPercent: number;
  /** Register the OTLP export check (an OTLP exporter is configured). */
  otlp: boolean;
  /** The /metrics server, when Prometheus is enabled (no server: not served, for `notServed`). */
  metrics?: { server: Server | undefined; path: string; notServed?: string };
  /** Register the `database` check (the sqlite or pg instrumentation is enabled). */
  database?: boolean;
}

/** Register the built-in checks; returns a function that removes them again. */
export function registerBuiltinChecks(o: BuiltinChecksOptions): () => void {
  // Held while the checks are registered: memory and descriptors are read even with none left.
  const undo = [
    procSelf.acquire(),
    registerCheck('disk', diskCheck(o.diskPath, o.diskThresholdPercent)),
    registerCheck('memory', memoryCheck(o.memoryThresholdPercent)),
    registerCheck('descriptors', descriptorsCheck(o.fdThresholdPercent)),
  ];
  if (o.database === true) undo.push(registerCheck('database', databaseCheck()));
  if (o.otlp) undo.push(registerCheck('otlp_export', otlpExportCheck(), { critical: false }));
  if (o.metrics !== undefined) undo.push(registerCheck('metrics_endpoint', metricsEndpointCheck(o.metrics.server, o.metrics.path, o.metrics.notServed), { critical: false }));
  return () => {
    for (const u of undo) u();
  };
}
