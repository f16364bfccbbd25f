/**
 * The Prometheus pull reader: the SDK's PrometheusExporter (never starting its own server: ours adds
 * auth), with the catalogue's Prometheus names.
 *
 * The JS exporter derives names from the OTel name and never adds unit suffixes; the catalogue's
 * names are the contract, so descriptors of CardLink instruments are renamed on the way out. The
 * SDK's own descriptor objects are never touched (the OTLP reader must still see the OTel names).
 * Concurrent scrapes share one in-flight collection.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { diag } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type MetricData,
  type MetricDescriptor,
  type ScopeMetrics,
} from '@opentelemetry/sdk-metrics';
import { ValueType } from '@opentelemetry/api';
import { METER_NAME, METRICS, METRICS_BY_NAME, prometheusUnit, type MetricDefinition } from './catalogue.js';
import { VERSION } from '../version.js';
import { FastHistogramProducer } from './fast-histogram.js';
import { mergeScopes } from './merge-scopes.js';

type CollectOptions = Parameters<PrometheusExporter['collect']>[0];

const renamed = new WeakMap<MetricDescriptor, MetricDescriptor>();

function prometheusDescriptor(d: MetricDescriptor): MetricDescriptor {
  let r = renamed.get(d);
  if (r === undefined) {
    const def = METRICS_BY_NAME.get(d.name);
    r = def === undefined ? d : { ...d, name: def.prometheusName, unit: prometheusUnit(def.unit) };
    renamed.set(d, r);
  }
  return r;
}

/**
 * A family with no samples, so `# HELP`/`# TYPE` of every catalogue metric is on /metrics from the
 * start, before anything fed it (the SDK omits instruments that have no data yet).
 */
function emptyFamily(def: MetricDefinition): MetricData {
  const descriptor: MetricDescriptor = {
    name: def.prometheusName,
    description: def.description,
    unit: prometheusUnit(def.unit),
    valueType: ValueType.DOUBLE,
  };
  if (def.prometheusType === 'histogram') {
    return { descriptor, dataPointType: DataPointType.HISTOGRAM, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPoints: [] };
  }
  if (def.prometheusType === 'gauge' && def.kind === 'observable_gauge') {
    return { descriptor, dataPointType: DataPointType.GAUGE, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPoints: [] };
  }
  return {
    descriptor,
    dataPointType: DataPointType.SUM,
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
    isMonotonic: def.prometheusType === 'counter',
    dataPoints: [],
  };
}

const EMPTY_FAMILIES = new Map<string, MetricData>();
function emptyFamilyFor(def: MetricDefinition): MetricData {
  let m = EMPTY_FAMILIES.get(def.name);
  if (m === undefined) EMPTY_FAMILIES.set(def.name, (m = emptyFamily(def)));
  return m;
}

function withCatalogue(sm: ScopeMetrics | undefined): ScopeMetrics {
  const present = new Set<string>();
  const out: MetricData[] = [];
  for (const m of sm?.metrics ?? []) {
    present.add(m.descriptor.name);
    out.push({ ...m, descriptor: prometheusDescriptor(m.descriptor) } as MetricData);
  }
  for (const def of METRICS) if (!present.has(def.name)) out.push(emptyFamilyFor(def));
  return { scope: sm?.scope ?? { name: METER_NAME, version: VERSION }, metrics: out };
}

export function toPrometheusNames(result: CollectionResult): CollectionResult {
  const rm = mergeScopes(result.resourceMetrics);
  const ours = rm.scopeMetrics.find((sm) => sm.scope.name === METER_NAME);
  const scopeMetrics = rm.scopeMetrics.map((sm) => (sm === ours ? withCatalogue(sm) : sm));
  if (ours === undefined) scopeMetrics.unshift(withCatalogue(undefined));
  return { errors: result.errors, resourceMetrics: { resource: rm.resource, scopeMetrics } };
}

export class CardlinkPrometheusExporter extends PrometheusExporter {
  private inFlight: Promise<CollectionResult> | undefined;
  private textInFlight: Promise<string> | undefined;
  // The exporter's own serializer settings: no prefix, no timestamps, target_info, no scope labels.
  private readonly text = new PrometheusSerializer('', false, undefined, false, true);
  /** Bind to the MeterProvider this reader is given to (`fastHistograms.bindProvider(provider)`). */
  readonly fastHistograms: FastHistogramProducer;

  constructor(fastHistograms: FastHistogramProducer = new FastHistogramProducer()) {
    super({ preventServerStart: true, withoutScopeInfo: true, metricProducers: [fastHistograms] });
    this.fastHistograms = fastHistograms;
  }

  /**
   * The exposition text. Scrapes that arrive while one is being collected and serialized share
   * its text: a burst of scrapers costs one collection and one serialization, not one each.
   */
  scrapeText(): Promise<string> {
    if (this.textInFlight !== undefined) return this.textInFlight;
    const p = this.collect().then(async (r) => {
      if (r.errors.length > 0) diag.error('PrometheusExporter: metrics collection errors', ...r.errors);
      // A detector's asynchronous attributes (the host detector's host.id) belong in target_info.
      const resource = r.resourceMetrics.resource as { asyncAttributesPending?: boolean; waitForAsyncAttributes?: () => Promise<void> };
      if (resource.asyncAttributesPending === true) await resource.waitForAsyncAttributes?.();
      return this.text.serialize(r.resourceMetrics);
    });
    this.textInFlight = p;
    const clear = (): void => {
      if (this.textInFlight === p) this.textInFlight = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  /** The exporter's request handler, answering from the shared text. */
  override getMetricsRequestHandler(_request: IncomingMessage, response: ServerResponse): void {
    this.scrapeText().then(
      (body) => {
        response.statusCode = 200;
        response.setHeader('content-type', 'text/plain; version=0.0.4; charset=utf-8');
        response.end(body);
      },
      (err: unknown) => {
        response.statusCode = 500;
        response.end(`# failed to export metrics: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  }

  override collect(options?: CollectOptions): Promise<CollectionResult> {
    if (this.inFlight !== undefined) return this.inFlight;
    const p = super.collect(options).then(toPrometheusNames);
    this.inFlight = p;
    const clear = (): void => {
      if (this.inFlight === p) this.inFlight = undefined;
    };
    p.then(clear, clear);
    return p;
  }
}
