/**
 * A compact dashboard description (`DashboardSpec`) and its rendering into Grafana dashboard JSON
 * (schemaVersion 39: Grafana 10.x and 11.x import it as is).
 *
 * Every panel queries the datasource chosen in the `datasource` variable, and every expression is
 * scoped by the `job` and `instance` variables, so the same dashboards serve a direct scrape and an
 * OTLP->Prometheus path (Alloy, Collector) alike.
 */

import { quantile, sumBy, type HistogramName } from './promql.js';

export const GRAFANA_SCHEMA_VERSION = 39;
export const DASHBOARD_TAG = 'cardlink';

export interface QuerySpec {
  expr: string;
  /** Grafana legend template, e.g. `{{status}}`. */
  legend?: string;
  /** Evaluate once at the end of the range (tables, totals) rather than as a range query. */
  instant?: boolean;
}

export type PanelKind = 'stat' | 'timeseries' | 'table' | 'bargauge' | 'piechart';

export interface PanelSpec {
  kind: PanelKind;
  title: string;
  description: string;
  queries: QuerySpec[];
  /** Grafana unit id: `s`, `percentunit`, `bytes`, `short`, `ops`, `Bps` ... */
  unit?: string;
  /** Grid width out of 24 (defaults: stat 6, others 12). */
  width?: number;
  height?: number;
  min?: number;
  max?: number;
  decimals?: number;
  /** Stat colour steps: [from, colour], the first from being null (the base). */
  thresholds?: Array<[number | null, string]>;
  /** Stacked areas (counts by label that add up). */
  stacked?: boolean;
  /** Stat text from the legend (build info) instead of the value. */
  showName?: boolean;
  /** Tables: columns to hide (besides Time). */
  hideColumns?: string[];
}

export interface RowSpec {
  row: string;
}

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  /** File name under deploy/grafana/dashboards/. */
  file: string;
  items: Array<PanelSpec | RowSpec>;
}

/** A dashboard as written in this folder: the rest of its `DashboardSpec` follows from `slug`. */
export interface DashboardDraft {
  /** `ota-overview`: uid `cardlink-ota-overview`, file `ota-overview.json`. */
  slug: string;
  title: string;
  description: string;
  /** Besides `DASHBOARD_TAG`, which every dashboard carries (the dashboards link menu lists that tag). */
  tags: string[];
  items: Array<PanelSpec | RowSpec>;
}

/** The spec of a draft: uid and file from its slug, `DASHBOARD_TAG` first among its tags. */
export function dashboard(d: DashboardDraft): DashboardSpec {
  return {
    uid: `cardlink-${d.slug}`,
    title: d.title,
    description: d.description,
    tags: [DASHBOARD_TAG, ...d.tags],
    file: `${d.slug}.json`,
    items: d.items,
  };
}

/** `{{device_type}} {{error_type}}`: the legend template naming the series of a `sum by (labels)`. */
const labelsLegend = (labels: readonly string[]): string => labels.map((l) => `{{${l}}}`).join(' ');

/** `sum by (labels) (inner)`, one series per label set, the legend naming them. */
export function seriesBy(labels: readonly string[], inner: string): QuerySpec {
  return { expr: sumBy(labels, inner), legend: labelsLegend(labels) };
}

/**
 * One query per quantile of a histogram (by `by`, from its buckets), each legend the quantile as a
 * percentile followed by the `by` labels: `p50`, `p95 {{result}}`.
 */
export function percentiles(name: HistogramName, qs: readonly number[], by: readonly string[] = []): QuerySpec[] {
  return qs.map((q) => {
    const p = `p${Number((q * 100).toFixed(2))}`;
    return { expr: quantile(q, name, by), legend: by.length === 0 ? p : `${p} ${labelsLegend(by)}` };
  });
}

/**
 * The fields of a panel showing a share where more is better (success, pass rate): 0 to 1, red
 * below `yellowFrom`, yellow below `greenFrom`, green from there.
 */
export function shareFields(yellowFrom: number, greenFrom: number): Pick<PanelSpec, 'unit' | 'min' | 'max' | 'thresholds'> {
  return {
    unit: 'percentunit',
    min: 0,
    max: 1,
    thresholds: [
      [null, 'red'],
      [yellowFrom, 'yellow'],
      [greenFrom, 'green'],
    ],
  };
}

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

const DATASOURCE: Json = { type: 'prometheus', uid: '${datasource}' };
const DEFAULT_STEPS: Array<[number | null, string]> = [[null, 'green']];

function isRow(item: PanelSpec | RowSpec): item is RowSpec {
  return 'row' in item;
}

function target(q: QuerySpec, refId: string, kind: PanelKind): Json {
  const instant = q.instant === true;
  const t: { [key: string]: Json } = {
    datasource: DATASOURCE,
    editorMode: 'code',
    expr: q.expr,
    instant,
    range: !instant,
    refId,
  };
  if (q.legend !== undefined) t['legendFormat'] = q.legend;
  if (kind === 'table') t['format'] = 'table';
  return t;
}

function fieldDefaults(p: PanelSpec): { [key: string]: Json } {
  const d: { [key: string]: Json } = {
    unit: p.unit ?? 'short',
    thresholds: {
      mode: 'absolute',
      steps: (p.thresholds ?? DEFAULT_STEPS).map(([value, color]) => ({ color, value })),
    },
  };
  if (p.min !== undefined) d['min'] = p.min;
  if (p.max !== undefined) d['max'] = p.max;
  if (p.decimals !== undefined) d['decimals'] = p.decimals;
  if (p.kind === 'timeseries') {
    d['color'] = { mode: 'palette-classic' };
    d['custom'] = {
      drawStyle: 'line',
      lineWidth: 1,
      fillOpacity: p.stacked === true ? 30 : 10,
      showPoints: 'never',
      spanNulls: false,
      stacking: { mode: p.stacked === true ? 'normal' : 'none', group: 'A' },
    };
  } else if (p.kind === 'stat') {
    d['color'] = { mode: 'thresholds' };
  } else if (p.kind === 'table') {
    d['custom'] = { align: 'auto', cellOptions: { type: 'auto' } };
  } else {
    d['color'] = { mode: 'palette-classic' };
  }
  return d;
}

function panelOptions(p: PanelSpec): { [key: string]: Json } {
  switch (p.kind) {
    case 'stat':
      return {
        colorMode: 'value',
        graphMode: 'area',
        justifyMode: 'auto',
        orientation: 'auto',
        textMode: p.showName === true ? 'name' : 'auto',
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      };
    case 'timeseries':
      return {
        legend: { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] },
        tooltip: { mode: 'multi', sort: 'desc' },
      };
    case 'table':
      return { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' } };
    case 'bargauge':
      return {
        displayMode: 'gradient',
        orientation: 'horizontal',
        showUnfilled: true,
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      };
    case 'piechart':
      return {
        pieType: 'donut',
        legend: { displayMode: 'table', placement: 'right', showLegend: true, values: ['value', 'percent'] },
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        tooltip: { mode: 'single', sort: 'none' },
      };
  }
}

function transformations(p: PanelSpec): Json[] {
  if (p.kind !== 'table') return [];
  const hidden: { [key: string]: Json } = { Time: true };
  for (const c of p.hideColumns ?? []) hidden[c] = true;
  return [{ id: 'organize', options: { excludeByName: hidden, indexByName: {}, renameByName: { Value: 'count' } } }];
}

/** Template variables: datasource, then job and instance (multi-value, "All" by default). */
function templating(): Json {
  const query = (name: string, label: string, q: string): Json => ({
    name,
    label,
    type: 'query',
    datasource: DATASOURCE,
    definition: q,
    query: { query: q, refId: `${name}-variable` },
    refresh: 2,
    includeAll: true,
    allValue: '.*',
    multi: true,
    current: { selected: true, text: ['All'], value: ['$__all'] },
    options: [],
    sort: 1,
    hide: 0,
    regex: '',
  });
  return {
    list: [
      {
        name: 'datasource',
        label: 'Data source',
        type: 'datasource',
        query: 'prometheus',
        current: {},
        hide: 0,
        includeAll: false,
        multi: false,
        options: [],
        refresh: 1,
        regex: '',
      },
      query('job', 'Job', 'label_values(cardlink_uptime_seconds, job)'),
      query('instance', 'Instance', 'label_values(cardlink_uptime_seconds{job=~"$job"}, instance)'),
    ],
  };
}

/** The Grafana dashboard JSON model of a spec; panel ids and grid positions are assigned here. */
export function renderDashboardModel(spec: DashboardSpec): { [key: string]: Json } {
  const panels: Json[] = [];
  let id = 1;
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  const newLine = (): void => {
    y += rowHeight;
    x = 0;
    rowHeight = 0;
  };
  for (const item of spec.items) {
    if (isRow(item)) {
      if (x > 0) newLine();
      panels.push({ id: id++, type: 'row', title: item.row, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
      y += 1;
      continue;
    }
    const w = item.width ?? (item.kind === 'stat' ? 6 : 12);
    const h = item.height ?? (item.kind === 'stat' ? 4 : 8);
    if (x + w > 24) newLine();
    const refIds = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
    panels.push({
      id: id++,
      type: item.kind,
      title: item.title,
      description: item.description,
      datasource: DATASOURCE,
      gridPos: { h, w, x, y },
      fieldConfig: { defaults: fieldDefaults(item), overrides: [] },
      options: panelOptions(item),
      targets: item.queries.map((q, i) => target(q, refIds[i] ?? `Q${i}`, item.kind)),
      transformations: transformations(item),
    });
    x += w;
    rowHeight = Math.max(rowHeight, h);
  }
  return {
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    description: spec.description,
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    id: null,
    links: [
      {
        asDropdown: true,
        icon: 'external link',
        includeVars: true,
        keepTime: true,
        tags: [DASHBOARD_TAG],
        targetBlank: false,
        title: 'CardLink dashboards',
        type: 'dashboards',
      },
    ],
    panels,
    refresh: '30s',
    schemaVersion: GRAFANA_SCHEMA_VERSION,
    tags: spec.tags,
    templating: templating(),
    time: { from: 'now-1h', to: 'now' },
    timepicker: {},
    timezone: 'browser',
    title: spec.title,
    uid: spec.uid,
    version: 1,
  };
}

/** Every PromQL expression of a spec, with the title of its panel. */
export function dashboardQueries(spec: DashboardSpec): Array<{ panel: string; kind: PanelKind; query: QuerySpec }> {
  const out: Array<{ panel: string; kind: PanelKind; query: QuerySpec }> = [];
  for (const item of spec.items) {
    if (isRow(item)) continue;
    for (const q of item.queries) out.push({ panel: item.title, kind: item.kind, query: q });
  }
  return out;
}
