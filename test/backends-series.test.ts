/**
 * One set of series on every path into Prometheus (test/helpers/series-paths.ts): a lab under
 * `--import ./register.js` is scraped by one Prometheus 3 and exports OTLP through a real
 * Collector to a second one (its `prometheus` exporter, scraped) and to a third one's own OTLP
 * receiver. The same catalogue series with the same values must come out of each, and every
 * expression of every generated dashboard panel and alert rule must return the same label sets
 * and values on each path.
 *
 * Values of rates: the paths sample at different instants, so the test measures over a window
 * that starts after every series exists and ends after they stopped moving, with samples every
 * second on each path; the expressions' windows are set to that window, and each path is evaluated
 * at the same place relative to its own samples. Prometheus' extrapolation then scales each path
 * alike, up to the jitter of the OTLP export timer (a few ms a second): values must agree within
 * 5%. A quantile must land in the same bucket: Prometheus does not extrapolate a bucket that
 * starts the window at zero, so that jitter can move the interpolation inside a bucket by more.
 * Double counting, a lost or misaligned delta, a missing series: each is far outside that.
 */
import t, { type Test } from 'tap';
import { freePort } from './helpers/child.js';
import { startLab } from './helpers/lab.js';
import { promQuery, promVector } from './helpers/peers.js';
import {
  PATHS,
  catalogueSeries,
  instanceMapOf,
  sameValue,
  seriesKey,
  startSeriesPaths,
  waitForAgreement,
  type PathName,
} from './helpers/series-paths.js';
import { DASHBOARDS, dashboardQueries } from '../src/dashboards/index.js';
import { alertExpressions } from '../src/alerts/rules.js';
import { METRICS, type MetricDefinition } from '../src/metrics/catalogue.js';

const SERVICE = 'cardlink-lab';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Panels and rules of metrics that move by themselves: compared by label sets only. */
const VOLATILE_EXPR = /cardlink_(uptime_seconds|process_)/;

function expressions(windowS: number): Array<{ name: string; expr: string }> {
  const w = `${windowS}s`;
  const out: Array<{ name: string; expr: string }> = [];
  for (const spec of DASHBOARDS) {
    for (const { panel, query } of dashboardQueries(spec)) {
      const expr = query.expr
        .replace(/\$__rate_interval|\$__range|\$__interval/g, w)
        .replace(/\$job/g, SERVICE)
        .replace(/\$instance/g, '.*');
      out.push({ name: `${spec.uid}/${panel}${query.legend ? ` [${query.legend}]` : ''}`, expr });
    }
  }
  for (const { alert, expr } of alertExpressions()) out.push({ name: `alert ${alert}`, expr: expr.replace(/\[\d+[smh]\]/g, `[${w}]`) });
  return out;
}

/** The bucket bounds of the histogram a histogram_quantile expression reads, if it is one. */
function bucketsOf(expr: string): readonly number[] | undefined {
  if (!expr.includes('histogram_quantile')) return undefined;
  const defs: readonly MetricDefinition[] = METRICS;
  return defs.find((m) => m.prometheusType === 'histogram' && expr.includes(`${m.prometheusName}_bucket`))?.buckets;
}

/** Index of the bucket (upper bounds inclusive, as `le`) holding a value. */
function bucketOf(v: number, bounds: readonly number[]): number {
  const i = bounds.findIndex((b) => v <= b);
  return i < 0 ? bounds.length : i;
}

async function runComparison(t: Test, temporality: 'cumulative' | 'delta'): Promise<void> {
  const metricsPort = await freePort();
  const paths = await startSeriesPaths(t, { service: SERVICE, metricsPort, delta: temporality !== 'cumulative' });
  const app = await startLab(
    t,
    {
      LAB_ROUNDS: '1,2',
      OTEL_SERVICE_NAME: SERVICE,
      OTEL_EXPORTER_OTLP_ENDPOINT: paths.otlpEndpoint,
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: temporality,
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      CARDLINK_INSTRUMENTATIONS: 'tls,serialport,system',
    },
    120_000,
  );
  await app.waitForLine(/^step 1$/, 30_000);
  const instanceMap = await instanceMapOf(paths.proms.pull, SERVICE);
  const [pullInstance, instanceId] = [...instanceMap][0]!;

  // Every series exists on every path with the values of the first round.
  const start = await waitForAgreement(paths, instanceMap, 'after the first round');
  // The OTLP paths name the process by its service.instance.id.
  for (const p of ['collector', 'otlp'] as const) {
    const v = promVector(await promQuery(paths.proms[p], `cardlink_uptime_seconds{job="${SERVICE}"}`));
    t.same(
      v.map((s) => s.metric['instance']),
      [instanceId],
      `${p}: instance is service.instance.id (pull path: ${pullInstance})`,
    );
  }
  const scoped = promVector(await promQuery(paths.proms.collector, 'count by (otel_scope_name) (cardlink_build_info)'));
  t.same(scoped.map((s) => s.metric['otel_scope_name']), ['cardlink-otel'], 'the collector path carries otel_scope_* labels');
  const unscoped = promVector(await promQuery(paths.proms.otlp, 'count by (otel_scope_name) (cardlink_build_info)'));
  t.same(unscoped.map((s) => s.metric['otel_scope_name']), [undefined], 'the OTLP receiver path does not');

  // The measured window starts just after the first agreement, more than a sample interval before
  // the next rounds, and ends well after the second agreement: flat at both ends on every path.
  // A whole number of sample intervals long, so that extrapolation scales every path alike.
  await sleep(3000);
  app.child.kill('SIGHUP');
  await app.waitForLine(/^step 2$/, 30_000);
  await waitForAgreement(paths, instanceMap, 'after the last round');
  await sleep(3000);
  const windowS = Math.floor(Date.now() / 1000 - start - 1.5);
  const end = start + 1 + windowS;

  // Each path is evaluated half a sample interval after its own last sample before `end`: the
  // window then sits on every path's samples alike, and so does Prometheus' extrapolation.
  const at = {} as Record<PathName, number>;
  for (const p of PATHS) {
    const v = promVector(await promQuery(paths.proms[p], `max(timestamp(cardlink_uptime_seconds{job="${SERVICE}"}))`, end));
    at[p] = Number(v[0]?.value[1]) + 0.5;
    t.ok(at[p] > end - 1.5 && at[p] < Date.now() / 1000, `${p}: sampled every second up to the end`);
  }
  const series = await Promise.all(PATHS.map((p) => catalogueSeries(paths.proms[p], instanceMap, end)));
  t.ok(series[0]!.size > 30, `the pull path has the lab's series (${series[0]!.size})`);
  for (const i of [1, 2]) t.same([...series[i]!.keys()].sort(), [...series[0]!.keys()].sort(), `${PATHS[i]}: the same series as the pull path`);

  let compared = 0;
  let largest = 0;
  let withData = 0;
  for (const { name, expr } of expressions(windowS)) {
    const answers = await Promise.all(PATHS.map((p) => promQuery(paths.proms[p], expr, at[p])));
    const results = new Map<PathName, Map<string, number>>();
    PATHS.forEach((p, i) => {
      const a = answers[i]!;
      t.equal(a.status, 'success', `${p}: ${name} evaluates${a.error ? `: ${a.error}` : ''}`);
      results.set(p, new Map(promVector(a).map((s) => [seriesKey(s.metric, instanceMap), Number(s.value[1])])));
    });
    const pull = results.get('pull')!;
    if (pull.size > 0) withData++;
    for (const p of ['collector', 'otlp'] as const) {
      const other = results.get(p)!;
      t.same([...other.keys()].sort(), [...pull.keys()].sort(), `${p}: ${name}: the label sets of the pull path`);
      if (VOLATILE_EXPR.test(expr)) continue;
      const bounds = bucketsOf(expr);
      for (const [k, v] of pull) {
        const o = other.get(k);
        if (o !== undefined && Number.isFinite(v) && Number.isFinite(o) && v !== o) largest = Math.max(largest, Math.abs(v - o) / Math.max(Math.abs(v), Math.abs(o)));
      }
      const agree = (a: number, b: number): boolean => sameValue(a, b, 0.05) || (bounds !== undefined && bucketOf(a, bounds) === bucketOf(b, bounds));
      const differing = [...pull].filter(([k, v]) => other.has(k) && !agree(v, other.get(k)!));
      t.same(differing.map(([k, v]) => `${k} pull ${v} ${p} ${other.get(k)}`), [], `${p}: ${name}: the values of the pull path`);
    }
    compared++;
  }
  t.ok(withData > 30, `${compared} expressions compared, ${withData} with data`);
  t.comment(`largest relative difference from the pull path: ${(largest * 100).toFixed(2)}%`);
  app.kill('SIGTERM');
  await app.waitForExit(10_000);
}

t.test('cumulative (the default): pull, Collector and Prometheus OTLP agree', (t) => runComparison(t, 'cumulative'));
t.test('delta: the Collector accumulates it, Prometheus 3 converts it (otlp-deltatocumulative)', (t) => runComparison(t, 'delta'));
