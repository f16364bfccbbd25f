/** One HTTP request to a local endpoint (health, metrics), the whole answer as text. */
import http from 'node:http';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Wall time from sending to the last byte. */
  ms: number;
  /** The request went over a connection the agent kept from an earlier one. */
  reused: boolean;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  host?: string;
  timeoutMs?: number;
  /** An agent to send through (one that keeps connections alive); default: a new connection. */
  agent?: http.Agent;
}

export function request(port: number, path: string, opts: RequestOptions = {}): Promise<Answer> {
  const method = opts.method ?? 'GET';
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: opts.host ?? '127.0.0.1', port, path, method, headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ms: Date.now() - started, reused: req.reusedSocket }));
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** GET a JSON endpoint: the status and the parsed body (`{}` when empty). */
export async function getJson<T = Record<string, unknown>>(port: number, path: string): Promise<{ status: number; body: T }> {
  const a = await request(port, path);
  return { status: a.status, body: JSON.parse(a.body || '{}') as T };
}
