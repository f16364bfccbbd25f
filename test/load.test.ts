/**
 * Load, the short version (the 10-second run with wrk is bench/load.mjs): an application with
 * 10,000 series of its own under `node --import ./register.js`, scraped by up to 50 concurrent
 * scrapers (half the connection cap: 32 where the soft descriptor limit is 2,048 or more) for about
 * 2 s; then a storm of readiness probes, nearly as many at once as the health listener takes
 * connections (60 there). Every scrape must be a complete, parseable exposition with every series
 * in it; every probe a 200 from one shared check run. No wall-time assertion: this machine may be
 * busy with other test files.
 */
import t from 'tap';
import { join } from 'node:path';
import { runNode, REPO_ROOT } from './helpers/child.js';
import { connectionCap } from '../src/listen.js';
import { generateLoad } from './fixtures/load-generator.js';
import { parsePrometheusText } from '../src/prom/text-parser.js';

const APP = join(REPO_ROOT, 'test/fixtures/apps/series-app.mjs');
const SERIES = 10_000;
const SHARDS = SERIES / 1000;

/** What is wrong with one /metrics answer, or undefined when it is complete. */
function checkExposition(status: number, body: Buffer): string | undefined {
  if (status !== 200) return `status ${status}`;
  const text = body.toString('utf8');
  if (!text.endsWith('\n')) return `truncated body (${body.length} bytes)`;
  const { families, errors } = parsePrometheusText(text);
  if (errors.length > 0) return `unparsable: ${errors[0]}`;
  for (let m = 0; m < SHARDS; m++) {
    const n = families.get(`lab_card_operations_${m}_total`)?.samples.length ?? 0;
    if (n !== 1000) return `lab_card_operations_${m}_total has ${n} series, not 1000`;
  }
  if (!families.has('cardlink_uptime_seconds')) return 'cardlink_uptime_seconds missing';
  return undefined;
}

// Our listeners take at most connectionCap() connections (the child inherits this process' limits).
// A keep-alive scraper reconnects every 32 scrapes, and for a moment the server still counts its
// old connection: half the cap leaves room for that. A probe uses one connection; a few spare ones
// cover the connections of the probes before the storm, still closing.
const CAP = connectionCap();
const SCRAPERS = Math.min(50, Math.floor(CAP / 2));
const PROBES = CAP - 4;

t.test(`${SCRAPERS} concurrent scrapers on 10k series, then ${PROBES} concurrent readiness probes (near the connection cap)`, async (t) => {
  const child = runNode({
    t,
    importRegister: true,
    args: [APP],
    env: {
      APP_SERIES: String(SERIES),
      APP_CHECK_DELAY_MS: '1500',
      CARDLINK_HEALTH_CACHE_MS: '0',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      CARDLINK_HEALTH_HOST: '127.0.0.1',
      CARDLINK_HEALTH_DETAILS: 'true',
    },
    timeoutMs: 60_000,
  });
  const [, metricsPort, healthPort] = (await child.waitForLine(/^ports \d+ \d+$/, 15_000)).split(' ').map(Number);
  t.ok(metricsPort! > 0 && healthPort! > 0, 'both endpoints listen');

  const scrapes = await generateLoad({
    url: `http://127.0.0.1:${metricsPort}/metrics`,
    concurrency: SCRAPERS,
    durationMs: 2000,
    check: checkExposition,
  });
  t.equal(scrapes.errors, 0, `no error in ${scrapes.requests} scrapes: ${scrapes.errorSamples.join('; ')}`);
  t.ok(scrapes.requests >= SCRAPERS, `every scraper got at least one answer (${scrapes.requests} scrapes)`);
  t.comment(`scrapes: ${scrapes.requests} in ${scrapes.elapsedMs.toFixed(0)} ms, p50 ${scrapes.p50.toFixed(0)} ms, p99 ${scrapes.p99.toFixed(0)} ms`);

  const invocations = (body: Buffer): unknown => {
    const r = JSON.parse(body.toString('utf8')) as { checks: Array<{ name: string; details: Record<string, unknown> }> };
    return r.checks.find((c) => c.name === 'counted')?.details['invocations'];
  };
  const probe = `http://127.0.0.1:${healthPort}/health/ready`;
  const first = await generateLoad({ url: probe, concurrency: 1, totalRequests: 1 });
  t.equal(first.errors, 0, 'a first probe answers 200');
  const runs = new Set<unknown>();
  const storm = await generateLoad({
    url: probe,
    concurrency: PROBES,
    totalRequests: PROBES,
    check: (status, body) => {
      if (status !== 200) return `status ${status}`;
      try {
        runs.add(invocations(body));
      } catch {
        return `not JSON: ${body.subarray(0, 80).toString('utf8')}`;
      }
      return undefined;
    },
  });
  t.equal(storm.requests, PROBES);
  t.equal(storm.errors, 0, `all ${PROBES} probes answered 200: ${storm.errorSamples.join('; ')}`);
  t.same([...runs], [2], 'every probe got the result of one and the same check run (the second since start)');
  t.comment(`probes: p50 ${storm.p50.toFixed(0)} ms, p99 ${storm.p99.toFixed(0)} ms`);

  t.equal(child.stderr().trim(), '', 'nothing on stderr');
  child.kill('SIGTERM');
});
