/**
 * The health endpoints (port 8081 by default), for Kubernetes probes and load balancers:
 *
 *   GET|HEAD /health/live    liveness: no check runs; answers while the event loop turns
 *   GET|HEAD /health/ready   readiness: every registered check, aggregated
 *   GET|HEAD /health         the same report as readiness
 *
 * 200 for healthy or degraded, 503 for unhealthy; other paths 404, other methods 405. Like the
 * metrics server it is unref'd (never keeps the process alive) and a port in use is one line on
 * stderr.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, listenOrReport } from '../listen.js';
import { createHealthRunner, type HealthRunner } from './runner.js';
import type { HealthReport } from './types.js';

export interface HealthServerOptions {
  host: string;
  port: number;
  checkTimeoutMs: number;
  cacheMs: number;
}

export interface HealthServer {
  readonly server: Server;
  readonly runner: HealthRunner;
  /** Resolves with the bound port, or undefined when listening failed (already reported). */
  readonly listening: Promise<number | undefined>;
  close(): Promise<void>;
}

export const HEALTH_PATHS = ['/health', '/health/live', '/health/ready'] as const;

function pathOf(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function send(req: IncomingMessage, res: ServerResponse, report: HealthReport): void {
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

export function handleHealthRequest(runner: HealthRunner, req: IncomingMessage, res: ServerResponse): void {
  const path = pathOf(req.url);
  if (!(HEALTH_PATHS as readonly string[]).includes(path)) return plain(res, 404, 'Not Found');
  if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'Method Not Allowed', { allow: 'GET, HEAD' });
  if (path === '/health/live') return send(req, res, runner.live());
  runner.ready().then(
    (report) => {
      if (!res.destroyed) send(req, res, report);
    },
    () => {
      if (!res.headersSent) plain(res, 500, 'Internal Server Error');
    },
  );
}

export function startHealthServer(o: HealthServerOptions): HealthServer {
  const runner = createHealthRunner({ timeoutMs: o.checkTimeoutMs, cacheMs: o.cacheMs });
  const server = createServer((req, res) => {
    try {
      handleHealthRequest(runner, req, res);
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
    'Set CARDLINK_HEALTH_PORT to a free port (or CARDLINK_HEALTH_ENABLED=false)',
  );
  return {
    server,
    runner,
    listening,
    close: () => closeServer(server),
  };
}
