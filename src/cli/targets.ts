/**
 * Where the CLI looks by default: the process described by the effective configuration (config
 * file + environment), on this host. A listen address of 0.0.0.0 / :: means "every interface", so
 * the CLI calls 127.0.0.1 / ::1.
 */
import { parseConfig, type CardlinkConfig } from '../config.js';
import { loadLayeredEnv } from './config-file.js';
import type { Credentials } from './http.js';
import type { CliIo } from './io.js';

export interface Targets {
  config: CardlinkConfig;
  /** Layered variables (file + environment), for the ones parseConfig does not model (OTLP headers). */
  env: Record<string, string | undefined>;
  metricsUrl: string;
  healthUrl: string;
  auth?: Credentials;
}

function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export function resolveTargets(io: Pick<CliIo, 'env' | 'cwd'>): Targets {
  const layered = loadLayeredEnv(io.env, io.cwd);
  const { config } = parseConfig(layered.env);
  const p = config.prometheus;
  const t: Targets = {
    config,
    env: layered.env,
    metricsUrl: `http://${connectHost(p.host)}:${p.port}${p.path}`,
    healthUrl: `http://${connectHost(config.health.host)}:${config.health.port}/health`,
  };
  if (p.username !== undefined && p.password !== undefined) t.auth = { username: p.username, password: p.password };
  return t;
}

/**
 * The configured /metrics credentials, for a URL on this host (a loopback address, or the host the
 * configuration listens on) only: a `--url` naming another host gets none, only credentials
 * written in it, so a typo never sends the password across the network.
 */
export function authFor(t: Targets, url: URL): Credentials | undefined {
  if (t.auth === undefined) return undefined;
  const host = url.hostname.toLowerCase();
  const own = [t.metricsUrl, t.healthUrl].some((u) => new URL(u).hostname.toLowerCase() === host);
  return own || isLoopback(host) ? t.auth : undefined;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** `{ auth }` when there are credentials, for spreading into request options. */
export function withAuth(auth: Credentials | undefined): { auth?: Credentials } {
  return auth === undefined ? {} : { auth };
}
