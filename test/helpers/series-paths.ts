/**
 * One process, three ways into Prometheus, each its own Prometheus 3 (built by test/peers/build.sh):
 *
 *   pull       Prometheus scrapes the process' /metrics (job named after the service)
 *   collector  OTLP/gRPC -> Collector -> `prometheus` exporter, scraped with honor_labels
 *   otlp       OTLP/gRPC -> Collector -> OTLP/HTTP -> Prometheus 3's own OTLP receiver
 *
 * and the comparisons the tests make between them. What differs on purpose (and only that):
 * - `instance`: host:port of the scrape target on the pull path, service.instance.id on the OTLP
 *   paths; `instanceMap` maps the first to the second (read from the pull path's target_info).
 * - `otel_scope_*`: the Collector's exporter labels every series with its instrumentation scope;
 *   the pull path and Prometheus' OTLP receiver (by default) do not.
 * - `job`: the scrape job on the pull path, service.namespace/service.name on the OTLP paths; the
 *   tests name the scrape job after the service, so the two agree.
 * - `le` of whole-number bucket bounds: Prometheus 3 writes scraped ones as `1.0` (whichever way
 *   the target spelt them) and those of its OTLP receiver as `1`. Compared as numbers.
 */
import { startCollector, startPrometheus, promQuery, promVector, type Peer, type PromVector } from './peers.js';

export type PathName = 'pull' | 'collector' | 'otlp';
export const PATHS: readonly PathName[] = ['pull', 'collector', 'otlp'];

export interface SeriesPaths {
  proms: Record<PathName, Peer>;
  collector: Peer;
  /** The OTLP endpoint the process sends to. */
  otlpEndpoint: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startSeriesPaths(
  t: { teardown(fn: () => unknown): void },
  o: { service: string; metricsPort: number; delta?: boolean },
): Promise<SeriesPaths> {
  // Prometheus 3 takes delta only when told to turn it into cumulative.
  const otlp = await startPrometheus(t, { otlp: true, features: o.delta ? ['otlp-deltatocumulative'] : [] });
  const collector = await startCollector(t, { otlpHttpMetricsTo: `http://127.0.0.1:${otlp.ports['web']}/api/v1/otlp` });
  const scrape = (job: string, port: number, honor: boolean): string =>
    [
      'scrape_configs:',
      `  - job_name: ${job}`,
      ...(honor ? ['    honor_labels: true'] : []),
      '    static_configs:',
      `      - targets: ['127.0.0.1:${port}']`,
    ].join('\n');
  const pull = await startPrometheus(t, { config: scrape(o.service, o.metricsPort, false) });
  const viaCollector = await startPrometheus(t, { config: scrape('otelcol', collector.ports['promExporter']!, true) });
  return {
    proms: { pull, collector: viaCollector, otlp },
    collector,
    otlpEndpoint: `http://127.0.0.1:${collector.ports['otlp']}`,
  };
}

/** Catalogue metrics whose value moves by itself (time, CPU, memory): compared by labels only. */
export const VOLATILE = /^cardlink_(uptime_seconds|process_.*)$/;

/** Labels a path adds on its own (see the file comment). */
const PATH_LABELS = /^otel_scope_/;

export function seriesKey(metric: Record<string, string>, instanceMap: ReadonlyMap<string, string>): string {
  const labels = Object.entries(metric)
    .filter(([k]) => !PATH_LABELS.test(k))
    .map(([k, v]) => [k, k === 'instance' ? (instanceMap.get(v) ?? v) : k === 'le' ? String(Number(v)) : v] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(labels);
}

/** Every catalogue series of a path: key (see seriesKey) -> value (NaN for volatile ones). */
export async function catalogueSeries(prom: Peer, instanceMap: ReadonlyMap<string, string>, time?: number): Promise<Map<string, number>> {
  const a = await promQuery(prom, '{__name__=~"cardlink_.+"}', time);
  if (a.status !== 'success') throw new Error(`catalogue query failed: ${a.error}`);
  const out = new Map<string, number>();
  for (const s of promVector(a)) {
    out.set(seriesKey(s.metric, instanceMap), VOLATILE.test(s.metric['__name__'] ?? '') ? NaN : Number(s.value[1]));
  }
  return out;
}

/** What differs between two series maps, in words (empty: the same series and values). */
export function seriesDiff(a: Map<string, number>, b: Map<string, number>, names: [string, string]): string[] {
  const out: string[] = [];
  for (const [k, v] of a) {
    if (!b.has(k)) out.push(`only on ${names[0]}: ${k}`);
    else if (!sameValue(v, b.get(k)!, 0)) out.push(`${k}: ${names[0]} ${v}, ${names[1]} ${b.get(k)}`);
  }
  for (const k of b.keys()) if (!a.has(k)) out.push(`only on ${names[1]}: ${k}`);
  return out;
}

export function sameValue(a: number, b: number, relative: number): boolean {
  if (Number.isNaN(a) && Number.isNaN(b)) return true;
  if (a === b) return true;
  return Math.abs(a - b) <= relative * Math.max(Math.abs(a), Math.abs(b));
}

/**
 * Polls until every path has the same catalogue series with the same values (volatile ones by
 * labels), then returns the evaluation time (seconds) at which they agreed.
 */
export async function waitForAgreement(paths: SeriesPaths, instanceMap: ReadonlyMap<string, string>, what: string, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const time = Date.now() / 1000;
    const maps = await Promise.all(PATHS.map((p) => catalogueSeries(paths.proms[p], instanceMap, time)));
    const diffs = [seriesDiff(maps[0]!, maps[1]!, ['pull', 'collector']), seriesDiff(maps[0]!, maps[2]!, ['pull', 'otlp'])].flat();
    if (diffs.length === 0 && maps[0]!.size > 0) return time;
    if (Date.now() > deadline) {
      throw new Error(`${what}: the paths never agreed:\n${diffs.slice(0, 40).join('\n')}\n${paths.collector.log().slice(-2000)}`);
    }
    await sleep(500);
  }
}

/** pull-path instance (host:port) -> service.instance.id, from the pull path's target_info. */
export async function instanceMapOf(pull: Peer, service: string): Promise<Map<string, string>> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v: PromVector = promVector(await promQuery(pull, `target_info{job="${service}"}`));
    const m = new Map(v.filter((s) => s.metric['service_instance_id']).map((s) => [s.metric['instance']!, s.metric['service_instance_id']!]));
    if (m.size > 0) return m;
    if (Date.now() > deadline) throw new Error(`no target_info with service_instance_id on the pull path\n${pull.log()}`);
    await sleep(250);
  }
}
