/**
 * Our /metrics HTTP server: the exporter's request handler behind optional HTTP Basic auth.
 * The server is unref'd (it never keeps the process alive), bounded (../listen.ts: connections,
 * timeouts, pipelining) and a port in use is one line on stderr.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { basicAuthMatches, closeServer, createBoundedServer, credentialsDigest, listenOrReport, pathOf } from '../listen.js';

export interface MetricsServerOptions {
  host: string;
  port: number;
  path: string;
  username?: string;
  password?: string;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
}

export interface MetricsServer {
  readonly server: Server;
  /** Resolves with the bound port, or undefined when listening failed (already reported). */
  readonly listening: Promise<number | undefined>;
  close(): Promise<void>;
}

export function startMetricsServer(o: MetricsServerOptions): MetricsServer {
  const expected = credentialsDigest(o.username, o.password);
  const server = createBoundedServer({ what: o.path }, (req, res) => {
    try {
      if (pathOf(req.url) !== o.path) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('Method Not Allowed\n');
        return;
      }
      if (expected !== undefined && !basicAuthMatches(req.headers.authorization, expected)) {
        res
          .writeHead(401, { 'www-authenticate': 'Basic realm="cardlink-otel metrics", charset="UTF-8"', 'content-type': 'text/plain' })
          .end('Unauthorized\n');
        return;
      }
      o.handler(req, res);
    } catch {
      // Never a stack trace in a response body.
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('Internal Server Error\n');
    }
  });
  server.unref();
  const listening = listenOrReport(server, o.host, o.port, o.path, { host: 'OTEL_EXPORTER_PROMETHEUS_HOST', port: 'OTEL_EXPORTER_PROMETHEUS_PORT' });
  return {
    server,
    listening,
    close: () => closeServer(server),
  };
}
