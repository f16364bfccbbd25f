// Metric recording on the APDU path and /metrics serialization, against prom-client and the raw
// OTel SDK, measured side by side (interleaved rounds) in one run.
import { fileURLToPath } from 'node:url';
import client from 'prom-client';
import { metrics as otelApi } from '@opentelemetry/api';
import { MeterProvider, AggregationType } from '@opentelemetry/sdk-metrics';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { interleave, median, fmt, printTable } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { CardlinkPrometheusExporter } = await import(`${ROOT}dist/src/metrics/prometheus.js`);
const { catalogueViews } = await import(`${ROOT}dist/src/metrics/views.js`);
const { instrumentsFor } = await import(`${ROOT}dist/src/metrics/instruments.js`);
const { FastHistogramProducer } = await import(`${ROOT}dist/src/metrics/fast-histogram.js`);
const { countCommand, countResponseCategory, timeApdu } = await import(`${ROOT}dist/instrumentations/shared/apdu-recorder.js`);
const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const TYPES = ['SELECT', 'GET_STATUS', 'GET_DATA', 'INSTALL', 'PUT_KEY'];
const SWS = [0x9000, 0x6a82, 0x6985, 0x611c];

function recordBench(n) {
  // Ours: the shared APDU recorder on the catalogue instruments, on a provider set up as `register`
  // sets it up (the Prometheus reader with the fast histograms' producer, bound before the instruments).
  const producer = new FastHistogramProducer();
  const ourProvider = new MeterProvider({ views: catalogueViews(), readers: [new CardlinkPrometheusExporter(producer)] });
  producer.bindProvider(ourProvider);
  const m = instrumentsFor(ourProvider);
  // Raw OTel SDK: synchronous counters and a histogram with attribute objects.
  const rawProvider = new MeterProvider({
    views: [{ instrumentName: 'raw.duration', aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: BUCKETS } } }],
  });
  const rm = rawProvider.getMeter('raw');
  const rc = rm.createCounter('raw.commands');
  const rr = rm.createCounter('raw.responses');
  const rh = rm.createHistogram('raw.duration');
  // prom-client doing the same.
  const reg = new client.Registry();
  const pc = new client.Counter({ name: 'pc_commands_total', help: 'h', labelNames: ['command_type', 'device_type'], registers: [reg] });
  const pr = new client.Counter({ name: 'pc_responses_total', help: 'h', labelNames: ['status_word', 'status_category'], registers: [reg] });
  const ph = new client.Histogram({ name: 'pc_duration_seconds', help: 'h', labelNames: ['command_type'], buckets: BUCKETS, registers: [reg] });
  const swHex = SWS.map((s) => s.toString(16).toUpperCase().padStart(4, '0'));
  const variants = {
    ours: () => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const type = TYPES[i % 5];
        countCommand(m, type, 'modem');
        countResponseCategory(m, SWS[i & 3]);
        timeApdu(m, type, 0.012);
      }
      return Number(process.hrtime.bigint() - t0) / n;
    },
    rawOtel: () => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const type = TYPES[i % 5];
        rc.add(1, { command_type: type, device_type: 'modem' });
        rr.add(1, { status_word: swHex[i & 3], status_category: i & 3 ? 'error' : 'success' });
        rh.record(0.012, { command_type: type });
      }
      return Number(process.hrtime.bigint() - t0) / n;
    },
    promClient: () => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const type = TYPES[i % 5];
        pc.inc({ command_type: type, device_type: 'modem' });
        pr.inc({ status_word: swHex[i & 3], status_category: i & 3 ? 'error' : 'success' });
        ph.observe({ command_type: type }, 0.012);
      }
      return Number(process.hrtime.bigint() - t0) / n;
    },
  };
  return variants;
}

async function scrapeBench(series, scrapes) {
  const exporter = new CardlinkPrometheusExporter();
  const provider = new MeterProvider({
    views: [...catalogueViews(), { instrumentName: 'bench.series', aggregationCardinalityLimit: series + 10 }],
    readers: [exporter],
  });
  const c = provider.getMeter('cardlink-otel').createCounter('bench.series');
  const serializer = new PrometheusSerializer('', false, undefined, false, true);
  const reg = new client.Registry();
  const pc = new client.Counter({ name: 'bench_series_total', help: 'h', labelNames: ['k'], registers: [reg] });
  for (let i = 0; i < series; i++) {
    c.add(i, { k: `v${i}` });
    pc.inc({ k: `v${i}` }, i);
  }
  const timeOne = async (f) => {
    const t0 = performance.now();
    await f();
    return performance.now() - t0;
  };
  const results = await interleave(
    {
      ours: () => timeOne(async () => serializer.serialize((await exporter.collect()).resourceMetrics)),
      promClient: () => timeOne(() => reg.metrics()),
    },
    scrapes,
  );
  await provider.shutdown();
  return results;
}

const p99 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(0.99 * xs.length))];

export async function run({ rounds = Number(process.env.BENCH_ROUNDS ?? 15) } = {}) {
  const rec = await interleave(recordBench(100_000), rounds);
  const rows = [
    {
      row: 'metric record on the APDU path (2 counters + histogram)',
      compared: 'prom-client doing the same; raw OTel SDK',
      measured: `ours ${fmt(median(rec.ours), 0)} ns/APDU, prom-client ${fmt(median(rec.promClient), 0)} ns, raw OTel ${fmt(median(rec.rawOtel), 0)} ns`,
      goal: '<= prom-client',
      met: median(rec.ours) <= median(rec.promClient),
    },
  ];
  for (const series of [1000, 10_000]) {
    const r = await scrapeBench(series, series === 1000 ? 60 : 30);
    rows.push({
      row: `/metrics scrape at ${series.toLocaleString('en')} series`,
      compared: "prom-client's registry with the same series",
      measured: `ours median ${fmt(median(r.ours), 2)} ms / p99 ${fmt(p99(r.ours), 2)} ms; prom-client median ${fmt(median(r.promClient), 2)} ms / p99 ${fmt(p99(r.promClient), 2)} ms`,
      goal: series === 10_000 ? '<= prom-client, p99 < 100 ms' : '<= prom-client',
      met: median(r.ours) <= median(r.promClient) && (series < 10_000 || p99(r.ours) < 100),
    });
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printTable(await run());
