/**
 * One HTTP GET with a deadline and a bounded body, for scrapes and health calls. Network failures
 * become CliError(UNREACHABLE) with the reason in words; credentials never appear in messages.
 */
import http from 'node:http';
import https from 'node:https';
import { CliError, EXIT, type ExitCode } from './errors.js';
import { safeUrl } from './format.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface GetOptions {
  timeoutMs: number;
  /** Basic auth (credentials written into the URL win). */
  auth?: Credentials;
  accept?: string;
  /** Bodies larger than this are refused (default 64 MiB). */
  maxBytes?: number;
  /** The exit code when something answered, but not HTTP (default REJECTED: an unusable answer). */
  notHttpExit?: ExitCode;
}

export interface GetResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  durationMs: number;
}

/** Parses an http(s) URL or throws a usage error naming the option it came from. */
export function parseHttpUrl(raw: string, what: string): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CliError(`${what} ${JSON.stringify(raw)} is not a URL (expected e.g. http://127.0.0.1:9464/metrics)`, EXIT.USAGE);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new CliError(`${what} ${JSON.stringify(safeUrl(raw))} must start with http:// or https://`, EXIT.USAGE);
  }
  return u;
}

function reason(err: NodeJS.ErrnoException, timeoutMs: number): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused (nothing listens there)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host';
    case 'ETIMEDOUT':
    case 'ETIME':
      return `no answer within ${timeoutMs} ms`;
    case 'ECONNRESET':
      return 'connection reset by the server';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    default:
      return err.code !== undefined ? `${err.code}: ${err.message}` : err.message;
  }
}

export function httpGet(url: URL, o: GetOptions): Promise<GetResult> {
  const headers: Record<string, string> = { accept: o.accept ?? '*/*', 'user-agent': 'cardlink-metrics' };
  let user: string;
  let pass: string;
  try {
    user = decodeURIComponent(url.username);
    pass = decodeURIComponent(url.password);
  } catch {
    return Promise.reject(new CliError(`the credentials in ${safeUrl(url.toString())} are not valid percent-encoding`, EXIT.USAGE));
  }
  const auth = user !== '' || pass !== '' ? { username: user, password: pass } : o.auth;
  if (auth !== undefined) {
    headers['authorization'] = `Basic ${Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')}`;
  }
  const target = new URL(url.toString());
  target.username = '';
  target.password = '';
  const maxBytes = o.maxBytes ?? 64 * 1024 * 1024;
  const started = performance.now();
  const shown = safeUrl(url.toString());
  return new Promise((resolve, reject) => {
    const lib = target.protocol === 'https:' ? https : http;
    let settled = false;
    const fail = (e: CliError): void => {
      if (settled) return;
      settled = true;
      reject(e);
    };
    const req = lib.get(target, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) {
          req.destroy();
          fail(new CliError(`${shown} answered more than ${maxBytes} bytes; refusing to read it`, EXIT.REJECTED));
          return;
        }
        chunks.push(c);
      });
      res.on('error', (e) => fail(new CliError(`cannot read the answer of ${shown}: ${reason(e, o.timeoutMs)}`, EXIT.UNREACHABLE)));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          durationMs: performance.now() - started,
        });
      });
    });
    // A deadline for the whole request: an idle timer alone never fires on a server that trickles.
    const deadline = setTimeout(() => {
      const e = Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' });
      req.destroy(e);
      fail(new CliError(`cannot reach ${shown}: ${reason(e, o.timeoutMs)}`, EXIT.UNREACHABLE, { cause: e }));
    }, o.timeoutMs);
    req.on('close', () => clearTimeout(deadline));
    req.on('error', (e: NodeJS.ErrnoException) => {
      // Node's HTTP parser refused the answer: something listens there, but it does not speak HTTP.
      if (typeof e.code === 'string' && e.code.startsWith('HPE_')) {
        fail(new CliError(`${shown} answered something that is not HTTP (${e.code})`, o.notHttpExit ?? EXIT.REJECTED, { cause: e }));
      } else fail(new CliError(`cannot reach ${shown}: ${reason(e, o.timeoutMs)}`, EXIT.UNREACHABLE, { cause: e }));
    });
  });
}
