// Proves the OTLP/gRPC test receiver against the real OpenTelemetry JS exporters: if the .proto
// field numbers or the flattening were wrong, these exact-value assertions would fail.
import t from 'tap';
import { context, trace, SpanKind, SpanStatusCode, ValueType } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { startOtlpReceiver, type OtlpReceiver } from './fixtures/otlp-receiver.js';

const resource = resourceFromAttributes({
  'service.name': 'otlp-receiver-test',
  'deployment.environment.name': 'lab',
  'cardlink.lab.slot': 3,
});

/** Starts a receiver that is closed when the (sub)test ends. */
async function withReceiver(tt: { teardown(fn: () => unknown): void }): Promise<OtlpReceiver> {
  const receiver = await startOtlpReceiver();
  tt.teardown(() => receiver.close());
  return receiver;
}

t.test('listens on 127.0.0.1 with an ephemeral port', async (tt) => {
  const r = await withReceiver(tt);
  tt.ok(r.port > 0 && r.port < 65536);
  tt.equal(r.endpoint, `http://127.0.0.1:${r.port}`);
  tt.equal(r.mode, 'ok');
});

t.test('traces: a span with attributes, events, links and status decodes exactly', async (tt) => {
  const r = await withReceiver(tt);
  const exporter = new OTLPTraceExporter({ url: r.endpoint });
  const provider = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(exporter)] });
  tt.teardown(() => provider.shutdown());
  const tracer = provider.getTracer('cardlink-test-scope', '9.8.7');

  const trigger = tracer.startSpan('sms.trigger', { kind: SpanKind.PRODUCER });
  const triggerCtx = trigger.spanContext();
  trigger.end();

  const session = tracer.startSpan('ota.session', {
    kind: SpanKind.SERVER,
    attributes: {
      'cardlink.psk.identity': 'id-01',
      'cardlink.apdu.count': 7,
      'cardlink.ratio': 0.25,
      'cardlink.ok': true,
      'cardlink.tags': ['a', 'b'],
      'cardlink.sizes': [1, 2, 3],
    },
    links: [{ context: triggerCtx, attributes: { 'link.reason': 'sms' } }],
  });
  session.addEvent('apdu.sent', { 'cardlink.apdu.ins': 'A4', 'cardlink.apdu.len': 5 });
  session.setStatus({ code: SpanStatusCode.ERROR, message: 'card timed out' });
  const child = tracer.startSpan('apdu.SELECT', { kind: SpanKind.CLIENT }, trace.setSpan(context.active(), session));
  child.setStatus({ code: SpanStatusCode.OK });
  child.end();
  session.end();
  await provider.forceFlush();

  await r.waitFor((x) => x.spans.length >= 3, 5000, '3 spans');
  tt.equal(r.requestCounts.traces, 3, 'SimpleSpanProcessor exports one span per call');
  tt.match(r.requests[0]?.metadata['user-agent'] ?? '', /OTel-OTLP-Exporter-JavaScript/);

  const s = r.spansNamed('ota.session')[0];
  tt.ok(s, 'session span received');
  if (!s) return;
  tt.equal(s.traceId, session.spanContext().traceId);
  tt.equal(s.spanId, session.spanContext().spanId);
  tt.match(s.traceId, /^[0-9a-f]{32}$/);
  tt.match(s.spanId, /^[0-9a-f]{16}$/);
  tt.equal(s.parentSpanId, '', 'root span has no parent');
  tt.equal(s.kind, 'SERVER');
  tt.same(s.attributes, {
    'cardlink.psk.identity': 'id-01',
    'cardlink.apdu.count': 7,
    'cardlink.ratio': 0.25,
    'cardlink.ok': true,
    'cardlink.tags': ['a', 'b'],
    'cardlink.sizes': [1, 2, 3],
  });
  tt.equal(s.events.length, 1);
  tt.equal(s.events[0]?.name, 'apdu.sent');
  tt.same(s.events[0]?.attributes, { 'cardlink.apdu.ins': 'A4', 'cardlink.apdu.len': 5 });
  tt.ok((s.events[0]?.timeUnixNano ?? 0n) >= s.startTimeUnixNano);
  tt.same(s.links, [
    { traceId: triggerCtx.traceId, spanId: triggerCtx.spanId, traceState: '', attributes: { 'link.reason': 'sms' } },
  ]);
  tt.same(s.status, { code: 'ERROR', message: 'card timed out' });
  tt.equal(typeof s.startTimeUnixNano, 'bigint');
  tt.ok(s.endTimeUnixNano >= s.startTimeUnixNano);
  // Nanoseconds since the epoch: within a minute of now (proves fixed64 decoding is exact).
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  tt.ok(nowNs - s.startTimeUnixNano < 60_000_000_000n && s.startTimeUnixNano > 0n);
  tt.equal(s.resource['service.name'], 'otlp-receiver-test');
  tt.equal(s.resource['deployment.environment.name'], 'lab');
  tt.equal(s.resource['cardlink.lab.slot'], 3);
  tt.same(s.scope, { name: 'cardlink-test-scope', version: '9.8.7' });

  const c = r.spansNamed('apdu.SELECT')[0];
  tt.equal(c?.kind, 'CLIENT');
  tt.equal(c?.parentSpanId, s.spanId);
  tt.equal(c?.traceId, s.traceId);
  tt.same(c?.status, { code: 'OK', message: '' });

  tt.equal(r.spansNamed('sms.trigger')[0]?.kind, 'PRODUCER');
});

t.test('metrics: counter, histogram, up-down counter and gauge decode exactly', async (tt) => {
  const r = await withReceiver(tt);
  const exporter = new OTLPMetricExporter({ url: r.endpoint });
  // A long interval: only forceFlush exports, so the test decides when.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  const provider = new MeterProvider({ resource, readers: [reader] });
  tt.teardown(() => provider.shutdown());
  const meter = provider.getMeter('cardlink-metrics-scope', '1.2.3');

  const counter = meter.createCounter('cardlink.apdu.commands', { description: 'APDU commands sent' });
  counter.add(2, { command_type: 'SELECT' });
  counter.add(3, { command_type: 'SELECT' });
  counter.add(1, { command_type: 'READ_BINARY' });

  const hist = meter.createHistogram('cardlink.apdu.duration', {
    unit: 's',
    description: 'APDU round trip',
    advice: { explicitBucketBoundaries: [0.01, 0.1, 1] },
  });
  for (const v of [0.005, 0.05, 0.05, 0.5, 5]) hist.record(v, { command_type: 'SELECT' });

  const updown = meter.createUpDownCounter('cardlink.sessions.active', { valueType: ValueType.INT });
  updown.add(5, { device_type: 'modem' });
  updown.add(-7, { device_type: 'modem' });

  const gauge = meter.createGauge('cardlink.uptime', { unit: 's' });
  gauge.record(42.5);

  await provider.forceFlush();
  await r.waitFor((x) => x.latestMetric('cardlink.uptime') !== undefined, 5000, 'metrics export');
  tt.equal(r.requestCounts.metrics, 1);

  const c = r.latestMetric('cardlink.apdu.commands');
  tt.equal(c?.type, 'sum');
  tt.equal(c?.isMonotonic, true);
  tt.equal(c?.temporality, 'CUMULATIVE');
  tt.equal(c?.description, 'APDU commands sent');
  tt.same(c?.scope, { name: 'cardlink-metrics-scope', version: '1.2.3' });
  tt.equal(c?.resource['service.name'], 'otlp-receiver-test');
  const byType = new Map(c?.dataPoints.map((p) => [p.attributes['command_type'], p.value]));
  tt.same(Object.fromEntries(byType), { SELECT: 5, READ_BINARY: 1 });

  const h = r.latestMetric('cardlink.apdu.duration');
  tt.equal(h?.type, 'histogram');
  tt.equal(h?.unit, 's');
  tt.equal(h?.temporality, 'CUMULATIVE');
  tt.equal(h?.dataPoints.length, 1);
  const hp = h?.dataPoints[0];
  tt.same(hp?.attributes, { command_type: 'SELECT' });
  tt.same(hp?.explicitBounds, [0.01, 0.1, 1]);
  tt.same(hp?.bucketCounts, [1, 2, 1, 1], 'per-bucket (not cumulative) counts incl. +Inf');
  tt.equal(hp?.count, 5);
  tt.ok(Math.abs((hp?.sum ?? 0) - 5.605) < 1e-9, `sum ${hp?.sum}`);
  tt.equal(hp?.min, 0.005);
  tt.equal(hp?.max, 5);

  const u = r.latestMetric('cardlink.sessions.active');
  tt.equal(u?.type, 'sum');
  tt.equal(u?.isMonotonic, false);
  tt.same(u?.dataPoints.map((p) => [p.attributes, p.value]), [[{ device_type: 'modem' }, -2]], 'sfixed64 as_int, negative');

  const g = r.latestMetric('cardlink.uptime');
  tt.equal(g?.type, 'gauge');
  tt.equal(g?.unit, 's');
  tt.same(g?.dataPoints.map((p) => p.value), [42.5]);
  tt.equal(g?.temporality, undefined);

  // A second flush repeats cumulative values: latestMetric sees the newest.
  counter.add(10, { command_type: 'SELECT' });
  await provider.forceFlush();
  await r.waitFor((x) => x.requestCounts.metrics >= 2, 5000, 'second export');
  const c2 = r.latestMetric('cardlink.apdu.commands');
  tt.equal(c2?.dataPoints.find((p) => p.attributes['command_type'] === 'SELECT')?.value, 15);
});

t.test('logs: a record with trace context, attributes and a map body decodes exactly', async (tt) => {
  const r = await withReceiver(tt);
  const exporter = new OTLPLogExporter({ url: r.endpoint });
  const provider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter })] });
  tt.teardown(() => provider.shutdown());
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())] });
  const span = tracerProvider.getTracer('x').startSpan('ota.session');
  const logger = provider.getLogger('cardlink-log-scope', '0.1.0');

  logger.emit({
    severityNumber: SeverityNumber.WARN,
    severityText: 'WARN',
    body: 'card answered 6A82',
    attributes: { 'cardlink.apdu.sw': '6A82', attempt: 2 },
    eventName: 'cardlink.apdu.error',
    context: trace.setSpan(context.active(), span),
  });
  logger.emit({ severityNumber: SeverityNumber.INFO, body: { sw: '9000', n: 1, nested: { ok: true } } });
  span.end();
  await provider.forceFlush();

  await r.waitFor((x) => x.logs.length >= 2, 5000, '2 log records');
  const l = r.logs[0];
  tt.equal(l?.body, 'card answered 6A82');
  tt.equal(l?.severityText, 'WARN');
  tt.equal(l?.severityNumber, 13);
  tt.same(l?.attributes, { 'cardlink.apdu.sw': '6A82', attempt: 2 });
  tt.equal(l?.traceId, span.spanContext().traceId);
  tt.equal(l?.spanId, span.spanContext().spanId);
  tt.equal(l?.flags, 1, 'sampled trace flag');
  tt.equal(l?.eventName, 'cardlink.apdu.error');
  tt.equal(l?.resource['service.name'], 'otlp-receiver-test');
  tt.same(l?.scope, { name: 'cardlink-log-scope', version: '0.1.0' });
  tt.ok((l?.timeUnixNano ?? 0n) > 0n);

  const m = r.logs[1];
  tt.same(m?.body, { sw: '9000', n: 1, nested: { ok: true } });
  tt.equal(m?.severityNumber, 9);
  tt.equal(m?.traceId, '', 'no active span: no trace context');
});

t.test('gzip-compressed exports decode the same', async (tt) => {
  const r = await withReceiver(tt);
  type Compression = NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>['compression'];
  const exporter = new OTLPTraceExporter({ url: r.endpoint, compression: 'gzip' as Compression });
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  tt.teardown(() => provider.shutdown());
  provider.getTracer('gz').startSpan('compressed', { attributes: { big: 'x'.repeat(5000) } }).end();
  await provider.forceFlush();
  await r.waitFor((x) => x.spans.length === 1, 5000, 'gzip span');
  tt.equal(r.spans[0]?.attributes['big'], 'x'.repeat(5000));
});

/** One finished span, made without any network, to hand to an exporter directly. */
function makeReadableSpan(): ReadableSpan {
  const mem = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(mem)] });
  provider.getTracer('fault').startSpan('fault.probe').end();
  const span = mem.getFinishedSpans()[0];
  if (!span) throw new Error('no span');
  return span;
}

function exportOnce(exporter: OTLPTraceExporter, span: ReadableSpan): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export([span], resolve));
}

t.test('fault modes turn into exporter failures; ok mode recovers', async (tt) => {
  const r = await withReceiver(tt);
  const span = makeReadableSpan();
  const exporter = new OTLPTraceExporter({ url: r.endpoint, timeoutMillis: 700 });
  tt.teardown(() => exporter.shutdown());

  r.mode = 'unavailable';
  const unavailable = await exportOnce(exporter, span);
  tt.equal(unavailable.code, ExportResultCode.FAILED);
  tt.match(String(unavailable.error), /UNAVAILABLE|fault mode unavailable/);
  tt.equal(r.spans.length, 0, 'refused data is not stored');
  tt.equal(r.requestCounts.traces, 1, 'but the call is counted');
  tt.equal(r.requests[0]?.accepted, false);

  r.mode = 'resource_exhausted';
  const exhausted = await exportOnce(exporter, span);
  tt.equal(exhausted.code, ExportResultCode.FAILED);
  tt.match(String(exhausted.error), /RESOURCE_EXHAUSTED|fault mode resource_exhausted/);

  r.mode = 'hang';
  const started = Date.now();
  const hung = await exportOnce(exporter, span);
  tt.equal(hung.code, ExportResultCode.FAILED);
  tt.match(String(hung.error), /DEADLINE|Deadline/i);
  tt.ok(Date.now() - started >= 600, 'failed only when the exporter deadline passed');

  r.mode = { delayMs: 200 };
  const t0 = Date.now();
  const delayed = await exportOnce(exporter, span);
  tt.equal(delayed.code, ExportResultCode.SUCCESS);
  tt.ok(Date.now() - t0 >= 190, 'answer was delayed');
  tt.equal(r.spans.length, 1);

  r.mode = 'ok';
  const ok = await exportOnce(exporter, span);
  tt.equal(ok.code, ExportResultCode.SUCCESS);
  tt.equal(r.spans.length, 2);
  tt.equal(r.requestCounts.traces, 5);
  tt.same(
    r.requests.map((q) => q.accepted),
    [false, false, false, true, true],
  );
});

t.test('waitFor times out with a description of what arrived; clear() forgets', async (tt) => {
  const r = await withReceiver(tt);
  const exporter = new OTLPTraceExporter({ url: r.endpoint });
  tt.teardown(() => exporter.shutdown());
  await exportOnce(exporter, makeReadableSpan());
  await r.waitFor((x) => x.spans.length === 1, 5000);
  await tt.rejects(
    r.waitFor((x) => x.spans.some((s) => s.name === 'never'), 150, 'span named never'),
    /waitFor\(span named never\) timed out after 150 ms[\s\S]*"fault\.probe INTERNAL"/,
  );
  // A throwing predicate is "not yet", and its error is reported.
  await tt.rejects(
    r.waitFor((x) => x.spans[5]!.name === 'x', 100),
    /predicate last threw/,
  );
  r.clear();
  tt.equal(r.spans.length, 0);
  tt.equal(r.requestCounts.traces, 0);
  tt.equal(r.requests.length, 0);
});
