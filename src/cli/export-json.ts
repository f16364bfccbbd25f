/**
 * `cardlink-metrics export --format json`: a scrape as a JSON document. Histograms are grouped per
 * label set into buckets (cumulative, `le` as written), sum and count; non-finite values, which
 * JSON cannot carry, are the strings "NaN", "+Inf" and "-Inf".
 */
import type { MetricFamily, MetricType } from '../prom/text-parser.js';

export type JsonNumber = number | 'NaN' | '+Inf' | '-Inf';

export interface ExportedSeries {
  labels: Record<string, string>;
  /** Counters, gauges, untyped. */
  value?: JsonNumber;
  /** Histograms: cumulative counts by upper bound. */
  buckets?: Array<{ le: string; count: JsonNumber }>;
  /** Summaries. */
  quantiles?: Array<{ quantile: string; value: JsonNumber }>;
  sum?: JsonNumber;
  count?: JsonNumber;
}

export interface ExportedFamily {
  name: string;
  type: MetricType;
  help: string | null;
  unit: string | null;
  series: ExportedSeries[];
}

export interface ExportDocument {
  source: string;
  scrapedAt: string;
  families: ExportedFamily[];
}

export function jsonNumber(n: number): JsonNumber {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return n;
}

function key(labels: Record<string, string>): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

function exportFamily(f: MetricFamily): ExportedFamily {
  const out: ExportedFamily = { name: f.name, type: f.type, help: f.help ?? null, unit: f.unit ?? null, series: [] };
  if (f.type !== 'histogram' && f.type !== 'summary') {
    for (const s of f.samples) {
      if (s.name.endsWith('_created')) continue;
      out.series.push({ labels: { ...s.labels }, value: jsonNumber(s.value) });
    }
    return out;
  }
  const grouped = new Map<string, ExportedSeries>();
  const series = (labels: Record<string, string>): ExportedSeries => {
    const k = key(labels);
    let s = grouped.get(k);
    if (!s) {
      s = { labels };
      grouped.set(k, s);
    }
    return s;
  };
  for (const s of f.samples) {
    const { le, quantile, ...rest } = s.labels;
    if (s.name === `${f.name}_bucket` && le !== undefined) {
      const g = series(rest);
      (g.buckets ??= []).push({ le, count: jsonNumber(s.value) });
    } else if (s.name === `${f.name}_sum`) series(rest).sum = jsonNumber(s.value);
    else if (s.name === `${f.name}_count`) series(rest).count = jsonNumber(s.value);
    else if (f.type === 'summary' && quantile !== undefined) {
      const g = series(rest);
      (g.quantiles ??= []).push({ quantile, value: jsonNumber(s.value) });
    }
  }
  out.series = [...grouped.values()];
  return out;
}

export function toExportDocument(families: Map<string, MetricFamily>, source: string, scrapedAt: Date): ExportDocument {
  return { source, scrapedAt: scrapedAt.toISOString(), families: [...families.values()].map(exportFamily) };
}
