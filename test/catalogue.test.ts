import t from 'tap';
import { readFileSync } from 'node:fs';
import { MeterProvider, DataPointType } from '@opentelemetry/sdk-metrics';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { METRICS, METER_NAME } from '../src/metrics/catalogue.js';
import { createInstruments } from '../src/metrics/instruments.js';
import { CardlinkPrometheusExporter } from '../src/metrics/prometheus.js';
import { catalogueViews } from '../src/metrics/views.js';
import { renderMetricsDoc } from '../src/gen/metrics-doc.js';

/** The public metric table: these names are a contract with dashboards and alert rules. */
const PUBLIC_TABLE: Array<[string, string]> = [
  ['cardlink_apdu_commands_total', 'counter'],
  ['cardlink_apdu_responses_total', 'counter'],
  ['cardlink_apdu_duration_seconds', 'histogram'],
  ['cardlink_apdu_bytes_total', 'counter'],
  ['cardlink_scp81_bodies_total', 'counter'],
  ['cardlink_tls_handshakes_total', 'counter'],
  ['cardlink_tls_handshake_duration_seconds', 'histogram'],
  ['cardlink_tls_connections_active', 'gauge'],
  ['cardlink_sessions_active', 'gauge'],
  ['cardlink_sessions_total', 'counter'],
  ['cardlink_session_duration_seconds', 'histogram'],
  ['cardlink_triggers_sent_total', 'counter'],
  ['cardlink_devices_connected', 'gauge'],
  ['cardlink_device_errors_total', 'counter'],
  ['cardlink_at_command_duration_seconds', 'histogram'],
  ['cardlink_adb_operation_duration_seconds', 'histogram'],
  ['cardlink_tests_total', 'counter'],
  ['cardlink_test_duration_seconds', 'histogram'],
  ['cardlink_process_cpu_seconds_total', 'counter'],
  ['cardlink_process_memory_bytes', 'gauge'],
  ['cardlink_process_open_fds', 'gauge'],
  ['cardlink_db_connections_active', 'gauge'],
  ['cardlink_db_query_duration_seconds', 'histogram'],
  ['cardlink_uptime_seconds', 'gauge'],
  ['cardlink_build_info', 'gauge'],
  ['cardlink_operation_duration_seconds', 'histogram'],
  ['cardlink_trigger_to_session_seconds', 'histogram'],
  ['cardlink_trigger_outcomes_total', 'counter'],
  ['cardlink_bip_commands_total', 'counter'],
];

/** The standard OTLP->Prometheus name translation (what Alloy / the Collector do with our OTel names). */
function otlpToPrometheus(name: string, unit: string, monotonicCounter: boolean): string {
  let n = name.replace(/\./g, '_');
  const suffix = unit === 's' ? 'seconds' : unit === 'By' ? 'bytes' : unit.startsWith('{') ? '' : unit;
  if (suffix !== '' && !n.endsWith(`_${suffix}`)) n += `_${suffix}`;
  if (monotonicCounter && !n.endsWith('_total')) n += '_total';
  return n;
}

t.test('the catalogue is exactly the public metric table', async (t) => {
  t.same(
    METRICS.map((m) => [m.prometheusName, m.prometheusType]),
    PUBLIC_TABLE,
  );
  for (const m of METRICS) {
    t.ok(m.cardinalityLimit > 0 && m.cardinalityLimit <= 2000, `${m.key} has a cardinality limit`);
    const monotonic = m.kind === 'counter' || m.kind === 'observable_counter';
    t.equal(otlpToPrometheus(m.name, m.unit, monotonic), m.prometheusName, `${m.name} translates to ${m.prometheusName} over OTLP`);
  }
  t.equal(new Set(METRICS.map((m) => m.key)).size, METRICS.length, 'unique keys');
});

t.test('/metrics text: names, types, label keys and buckets from the catalogue', async (t) => {
  const exporter = new CardlinkPrometheusExporter();
  const provider = new MeterProvider({ views: catalogueViews(), readers: [exporter] });
  const meter = provider.getMeter(METER_NAME);
  exporter.fastHistograms.bind(meter);
  const m = createInstruments(meter);
  m.apduCommands.add(2, { command_type: 'SELECT', device_type: 'simulator' });
  m.apduResponses.add(1, { status_word: '9000', status_category: 'success' });
  m.apduDuration.record(0.003, { command_type: 'SELECT' });
  m.tlsConnectionsActive.add(1);
  m.sessionDuration.record(7, { status: 'completed' });

  const result = await exporter.collect();
  const text = new PrometheusSerializer('', false, undefined, false, true).serialize(result.resourceMetrics);
  for (const [name, type] of PUBLIC_TABLE) {
    t.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), `${name} announced as ${type}`);
  }
  t.match(text, /^cardlink_apdu_commands_total\{command_type="SELECT",device_type="simulator"\} 2$/m);
  t.match(text, /^cardlink_apdu_responses_total\{status_word="9000",status_category="success"\} 1$/m);
  t.match(text, /^cardlink_tls_connections_active 1$/m);
  const buckets = [...text.matchAll(/^cardlink_apdu_duration_seconds_bucket\{command_type="SELECT",le="([^"]+)"\} (\d+)$/gm)];
  t.same(
    buckets.map((b) => b[1]),
    ['0.001', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '+Inf'],
  );
  t.same(
    buckets.map((b) => Number(b[2])),
    [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
  );
  t.match(text, /^cardlink_session_duration_seconds_bucket\{status="completed",le="10"\} 1$/m);
  t.notMatch(text, /otel_scope_name/, 'no scope labels beyond the catalogue');
  await provider.shutdown();
});

t.test('the OTel side keeps OTel names while /metrics renames', async (t) => {
  const { InMemoryMetricExporter, PeriodicExportingMetricReader, AggregationTemporality } = await import(
    '@opentelemetry/sdk-metrics'
  );
  const mem = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const pull = new CardlinkPrometheusExporter();
  const push = new PeriodicExportingMetricReader({ exporter: mem, exportIntervalMillis: 60_000, metricProducers: [pull.fastHistograms] });
  const provider = new MeterProvider({ views: catalogueViews(), readers: [pull, push] });
  const meter = provider.getMeter(METER_NAME);
  pull.fastHistograms.bind(meter);
  const m = createInstruments(meter);
  m.apduDuration.record(0.02, { command_type: 'GET_STATUS' });
  await pull.collect();
  await provider.forceFlush();
  const exported = (mem.getMetrics()[0]?.scopeMetrics ?? []).flatMap((sm) => sm.metrics);
  const hist = exported.find((x) => x.descriptor.name === 'cardlink.apdu.duration');
  t.ok(hist, 'OTLP-side name is the OTel name');
  t.equal(hist?.descriptor.unit, 's');
  t.equal(hist?.dataPointType, DataPointType.HISTOGRAM);
  await provider.shutdown();
});

t.test('docs/metrics.md is generated from the catalogue (run `npm run gen` after changing it)', async (t) => {
  const committed = readFileSync(new URL('../docs/metrics.md', import.meta.url), 'utf8');
  t.equal(committed, renderMetricsDoc(), 'docs/metrics.md is up to date');
});
