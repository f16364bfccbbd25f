/**
 * Scrape a Prometheus endpoint the way Prometheus does (plain HTTP GET, optional Basic auth) and
 * parse the answer. Node's `http` only: no extra dependency in tests.
 */
import http from 'node:http';
import { parsePrometheusText, type MetricFamily } from '../../src/prom/text-parser.js';

export interface ScrapeOptions {
  username?: string;
  password?: string;
  /** Extra request headers (e.g. a deliberately wrong Authorization). */
  headers?: Record<string, string>;
  /** Default 5000 ms. */
  timeoutMs?: number;
}

export interface ScrapeResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** Parsed from `text` whatever the status (empty for a non-metrics body). */
  families: Map<string, MetricFamily>;
  /** The parser's per-line errors; a healthy endpoint gives none. */
  errors: string[];
}

export function scrape(url: string | URL, opts: ScrapeOptions = {}): Promise<ScrapeResult> {
  const headers: Record<string, string> = { accept: 'text/plain;version=0.0.4', ...opts.headers };
  if (opts.username !== undefined || opts.password !== undefined) {
    const token = Buffer.from(`${opts.username ?? ''}:${opts.password ?? ''}`, 'utf8').toString('base64');
    headers['authorization'] = `Basic ${token}`;
  }
  const timeoutMs = opts.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const { families, errors } = parsePrometheusText(text);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, families, errors });
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`scrape ${String(url)} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
