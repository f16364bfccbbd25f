/**
 * The health endpoints (port 8081 by default), for Kubernetes probes and load balancers:
 *
 *   GET|HEAD /health/live    liveness: no check runs; answers while the event loop turns
 *   GET|HEAD /health/ready   readiness: every registered check, aggregated
 *   GET|HEAD /health         the same report as readiness
 *
 * 200 for healthy or degraded, 503 for unhealthy; other paths 404, other methods 405. Like the
 * metrics server it is unref'd (never keeps the process alive), bounded (../listen.ts) and a port in
 * use is one line on stderr.
 *
 * Check messages and details name paths, serials, addresses and figures: a caller gets them only
 * with the /metrics Basic credentials, or from everyone with CARDLINK_HEALTH_DETAILS=true. Anyone
 * else gets the status and each check's name and status (a probe needs no more). Wrong credentials
 * are a 401, so a mistyped password is not mistaken for a report without details.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { LISTENER_BOUNDS, basicAuthMatches, closeServer, createBoundedServer, credentialsDigest, listenOrReport, pathOf } from '../listen.js';
import { createHealthRunner, type HealthRunner } from './runner.js';
import type { CheckSummary, HealthReport, HealthSummary } from './types.js';

export interface HealthServerOptions {
  host: string;
  port: number;
  checkTimeoutMs: number;
  cacheMs: number;
  /** Messages and details for every caller (CARDLINK_HEALTH_DETAILS=true). */
  details?: boolean;
  /** With both set, a caller presenting them (HTTP Basic) gets messages and details. */
  credentials?: { username?: string | undefined; password?: string | undefined };
}

/** Who sees what: `always` (details for all), or the digest of the credentials that unlock them (none: nobody). */
export type DetailsPolicy = { always: true } | { always: false; digest: Buffer | undefined };

export interface HealthServer {
  readonly server: Server;
  readonly runner: HealthRunner;
  /** Resolves with the bound port, or undefined when listening failed (already reported). */
  readonly listening: Promise<number | undefined>;
  close(): Promise<void>;
}

export const HEALTH_PATHS = ['/health', '/health/live', '/health/ready'] as const;

/** The report without messages, durations and details: what a caller without credentials gets. */
export function summarise(report: HealthReport): HealthSummary {
  const checks: CheckSummary[] = report.checks.map((c) => ({ name: c.name, status: c.status }));
  return { status: report.status, timestamp: report.timestamp, checks };
}

function send(req: IncomingMessage, res: ServerResponse, report: HealthReport | HealthSummary): void {
  const body = `${JSON.stringify(report)}\n`;
  res.writeHead(report.status === 'unhealthy' ? 503 : 200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    // A probe answer is about this instant: no cache between the prober and us.
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(`${text}\n`);
}

/** true: details; false: the summary; undefined: wrong credentials (already answered 401). */
function mayShowDetails(policy: DetailsPolicy, req: IncomingMessage, res: ServerResponse): boolean | undefined {
  if (policy.always) return true;
  const header = req.headers.authorization;
  if (header === undefined || policy.digest === undefined) return false;
  if (basicAuthMatches(header, policy.digest)) return true;
  plain(res, 401, 'Unauthorized', { 'www-authenticate': 'Basic realm="cardlink-otel health", charset="UTF-8"' });
  return undefined;
}

const NEVER: DetailsPolicy = { always: false, digest: undefined };

export function handleHealthRequest(runner: HealthRunner, req: IncomingMessage, res: ServerResponse, policy: DetailsPolicy = NEVER): void {
  const path = pathOf(req.url);
  if (!(HEALTH_PATHS as readonly string[]).includes(path)) return plain(res, 404, 'Not Found');
  if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'Method Not Allowed', { allow: 'GET, HEAD' });
  // Liveness has nothing to hide (no checks): it never asks for credentials.
  if (path === '/health/live') return send(req, res, runner.live());
  const details = mayShowDetails(policy, req, res);
  if (details === undefined) return;
  runner.ready().then(
    (report) => {
      if (!res.destroyed) send(req, res, details ? report : summarise(report));
    },
    () => {
      if (!res.headersSent) plain(res, 500, 'Internal Server Error');
    },
  );
}

export function startHealthServer(o: HealthServerOptions): HealthServer {
  const runner = createHealthRunner({ timeoutMs: o.checkTimeoutMs, cacheMs: o.cacheMs });
  const policy: DetailsPolicy =
    o.details === true ? { always: true } : { always: false, digest: credentialsDigest(o.credentials?.username, o.credentials?.password) };
  // A probe waits for the checks without a byte moving: the idle limit must outlast the slowest check.
  const idleTimeoutMs = Math.max(LISTENER_BOUNDS.idleTimeoutMs, o.checkTimeoutMs + LISTENER_BOUNDS.headersTimeoutMs);
  // At the cap, the readiness answer waiting longest makes room: a slow check (or a stranger
  // holding readiness requests open) cannot lock the liveness probe out, which is answered at once.
  const server = createBoundedServer({ what: 'the health endpoints', idleTimeoutMs, stalledAfterMs: 0 }, (req, res) => {
    try {
      handleHealthRequest(runner, req, res, policy);
    } catch {
      // Never a stack trace in a response body.
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('Internal Server Error\n');
    }
  });
  server.unref();
  const listening = listenOrReport(
    server,
    o.host,
    o.port,
    'the health endpoints',
    { host: 'CARDLINK_HEALTH_HOST', port: 'CARDLINK_HEALTH_PORT', orElse: 'CARDLINK_HEALTH_ENABLED=false' },
  );
  return {
    server,
    runner,
    listening,
    close: () => closeServer(server),
  };
}
