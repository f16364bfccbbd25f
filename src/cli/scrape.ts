/** Fetching and parsing a /metrics endpoint, with clear errors for credentials and non-metrics answers. */
import { parsePrometheusText, type MetricFamily } from '../prom/text-parser.js';
import { CliError, EXIT } from './errors.js';
import { safeUrl } from './format.js';
import { httpGet, type Credentials } from './http.js';

export interface MetricsTarget {
  url: URL;
  auth?: Credentials;
  timeoutMs: number;
}

export interface Scrape {
  url: string;
  text: string;
  families: Map<string, MetricFamily>;
  /** Parser complaints (lines skipped). */
  errors: string[];
  durationMs: number;
}

export async function fetchMetrics(t: MetricsTarget): Promise<Scrape> {
  const shown = safeUrl(t.url.toString());
  const res = await httpGet(t.url, {
    timeoutMs: t.timeoutMs,
    ...(t.auth ? { auth: t.auth } : {}),
    accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1',
  });
  const hasAuth = t.auth !== undefined || t.url.username !== '';
  if (res.status === 401 || res.status === 403) {
    throw new CliError(
      hasAuth
        ? `wrong credentials for ${shown} (HTTP ${res.status}): check CARDLINK_METRICS_USERNAME and CARDLINK_METRICS_PASSWORD`
        : `${shown} requires credentials (HTTP ${res.status}): set CARDLINK_METRICS_USERNAME and CARDLINK_METRICS_PASSWORD`,
      EXIT.REJECTED,
    );
  }
  if (res.status === 404) {
    throw new CliError(`${shown} answered HTTP 404: no metrics at this path (check --url or CARDLINK_METRICS_PATH)`, EXIT.REJECTED);
  }
  if (res.status !== 200) throw new CliError(`${shown} answered HTTP ${res.status}`, EXIT.REJECTED);
  const { families, errors } = parsePrometheusText(res.body);
  if (families.size === 0 && res.body.trim() !== '') {
    throw new CliError(`${shown} did not answer Prometheus text (${errors[0] ?? 'no metric found'})`, EXIT.REJECTED);
  }
  return { url: shown, text: res.body, families, errors, durationMs: res.durationMs };
}
