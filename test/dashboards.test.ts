/**
 * The Grafana dashboards: committed files are the generator's output, the JSON is a well-formed
 * Grafana 10/11 dashboard (datasource variable, unique ids, a valid grid), every expression is
 * scoped by job/instance and uses only catalogue metrics, labels and label values, and the panels
 * the issue asks for are there.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './helpers/child.js';
import { METRICS } from '../src/metrics/catalogue.js';
import { DASHBOARDS, DASHBOARDS_DIR, dashboardQueries, renderDashboard } from '../src/dashboards/index.js';
import { catalogueProblems, promqlNames, quantile, SCOPE } from '../src/dashboards/promql.js';
import { GRAFANA_SCHEMA_VERSION } from '../src/dashboards/grafana.js';
import { alertExpressions } from '../src/alerts/rules.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Array<{ expr: string; refId: string; datasource: { uid: string }; instant: boolean; range: boolean }>;
}

interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  tags: string[];
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown; allValue?: string; multi?: boolean }> };
}

const parse = (text: string): Dashboard => JSON.parse(text) as Dashboard;

t.test('the committed dashboards are the generator output (run `npm run gen` after changing them)', async (t) => {
  const dir = join(REPO_ROOT, DASHBOARDS_DIR);
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  t.same(files, DASHBOARDS.map((d) => d.file).sort(), 'one file per dashboard, nothing else');
  for (const d of DASHBOARDS) t.equal(readFileSync(join(dir, d.file), 'utf8'), renderDashboard(d), `${d.file} is up to date`);
});

t.test('the six dashboards of the issue, each with the panels it asks for', async (t) => {
  const titles = (uid: string): string[] => dashboardQueries(DASHBOARDS.find((d) => d.uid === uid)!).map((q) => q.panel);
  t.same(
    DASHBOARDS.map((d) => d.title),
    ['CardLink / OTA Overview', 'CardLink / APDU Analysis', 'CardLink / TLS & PSK', 'CardLink / Device Status', 'CardLink / Test Results', 'CardLink / Process'],
  );
  const expect: Record<string, string[]> = {
    'cardlink-ota-overview': ['Active sessions', 'Session success rate', 'Sessions by status', 'Session duration', 'Triggers sent'],
    'cardlink-apdu-analysis': ['Commands by type', 'Responses by category', 'Responses by status word', 'APDU latency', 'Error rate'],
    'cardlink-tls-psk': ['Handshakes by result', 'Failures by reason', 'Handshake latency', 'Open connections'],
    'cardlink-device-status': ['Phones connected', 'Modems connected', 'Device errors', 'AT command latency p95', 'adb operation latency p95'],
    'cardlink-test-results': ['Pass rate', 'Tests by status', 'Test duration p95 by suite', 'Most-failing suites'],
    'cardlink-process': ['CPU', 'Memory', 'Open file descriptors', 'Uptime', 'Build'],
  };
  for (const [uid, panels] of Object.entries(expect)) {
    for (const p of panels) t.ok(titles(uid).includes(p), `${uid} has "${p}"`);
  }
  const apduLatency = dashboardQueries(DASHBOARDS[1]!).filter((q) => q.panel === 'APDU latency').map((q) => q.query.legend);
  t.same(apduLatency, ['p50', 'p95', 'p99']);
});

t.test('Grafana JSON: schema, datasource variable, ids, grid, targets', async (t) => {
  const uids = new Set<string>();
  for (const spec of DASHBOARDS) {
    const d = parse(renderDashboard(spec));
    t.equal(d.schemaVersion, GRAFANA_SCHEMA_VERSION);
    t.ok(d.uid.length <= 40 && /^[a-z0-9-]+$/.test(d.uid), `${d.uid} is a valid uid`);
    t.notOk(uids.has(d.uid), `${d.uid} is unique`);
    uids.add(d.uid);
    t.ok(d.tags.includes('cardlink'));
    const vars = d.templating.list;
    t.same(
      vars.map((v) => [v.name, v.type]),
      [
        ['datasource', 'datasource'],
        ['job', 'query'],
        ['instance', 'query'],
      ],
      `${d.uid}: datasource, job and instance variables`,
    );
    t.equal(vars[0]?.query, 'prometheus');
    t.equal(vars[1]?.allValue, '.*');
    t.equal(vars[2]?.multi, true);

    const ids = new Set<number>();
    const cells = new Set<string>();
    for (const p of d.panels) {
      t.notOk(ids.has(p.id), `${d.uid}: panel id ${p.id} unique`);
      ids.add(p.id);
      const g = p.gridPos;
      t.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0, `${d.uid}/${p.title}: inside the 24-column grid`);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const cell = `${x},${y}`;
          if (cells.has(cell)) t.fail(`${d.uid}/${p.title} overlaps another panel at ${cell}`);
          cells.add(cell);
        }
      }
      if (p.type === 'row') continue;
      t.same(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `${p.title}: datasource from the variable`);
      t.ok((p.targets ?? []).length > 0, `${p.title} has queries`);
      const refIds = (p.targets ?? []).map((x) => x.refId);
      t.equal(new Set(refIds).size, refIds.length, `${p.title}: unique refIds`);
      for (const x of p.targets ?? []) {
        t.equal(x.datasource.uid, '${datasource}');
        t.equal(x.instant, !x.range);
      }
    }
  }
});

t.test('every expression is scoped by $job/$instance and uses only catalogue metrics, labels and values', async (t) => {
  for (const spec of DASHBOARDS) {
    for (const { panel, query } of dashboardQueries(spec)) {
      t.same(catalogueProblems(query.expr), [], `${spec.uid}/${panel}: ${query.expr}`);
      const selectors = query.expr.match(/cardlink_[a-z0-9_]+(\{[^}]*\})?/g) ?? [];
      for (const s of selectors) t.ok(s.includes(`{${SCOPE}`), `${spec.uid}/${panel}: ${s} is scoped`);
    }
  }
});

t.test('every catalogue metric appears on a dashboard', async (t) => {
  const used = new Set<string>();
  for (const spec of DASHBOARDS) {
    for (const { query } of dashboardQueries(spec)) {
      for (const m of promqlNames(query.expr).metrics) used.add(m.replace(/_(bucket|sum|count)$/, ''));
    }
  }
  for (const m of METRICS) t.ok(used.has(m.prometheusName), `${m.prometheusName} is on a dashboard`);
});

t.test('promqlNames: metric and label names of an expression', async (t) => {
  t.same(promqlNames(quantile(0.95, 'cardlink_apdu_duration_seconds', ['command_type'])), {
    metrics: ['cardlink_apdu_duration_seconds_bucket'],
    labels: ['le', 'command_type', 'job', 'instance'],
    matchers: [
      { label: 'job', op: '=~', value: '$job' },
      { label: 'instance', op: '=~', value: '$instance' },
    ],
  });
  const n = promqlNames(
    'topk(5, sum without (instance) (increase(a_total{x="1",y!~"b|c"}[5m] offset 1h))) / on(job) group_left(z) b and count_values("v", c) > bool 0.5e3',
  );
  t.same(n.metrics.sort(), ['a_total', 'b', 'c']);
  t.same(n.labels.sort(), ['instance', 'job', 'x', 'y', 'z']);
  t.same(promqlNames('sum by (le) (rate(m_bucket[$__rate_interval])) * 1e3').metrics, ['m_bucket']);
  t.same(promqlNames('max by (instance, job) (cardlink_db_connections_active) <= 0').metrics, ['cardlink_db_connections_active']);
});

t.test('catalogueProblems: each kind of mistake is reported', async (t) => {
  t.match(catalogueProblems('cardlink_apdu_duration_seconds'), [/used without _bucket/]);
  t.match(catalogueProblems('rate(cardlink_sessions_total_bucket[5m])'), [/unknown metric/]);
  t.match(catalogueProblems('sum by (le) (rate(cardlink_sessions_total[5m]))'), [/label le belongs to none/]);
  t.match(catalogueProblems('cardlink_tls_handshakes_total{failure_reason=~"bad_psk|wrong_key"}'), [/failure_reason="wrong_key" is outside/]);
  t.same(catalogueProblems('cardlink_tls_handshakes_total{failure_reason=~".*psk"}'), [], 'real regexes are not second-guessed');
  t.same(catalogueProblems('cardlink_apdu_commands_total{command_type="SELECT"}'), [], 'open domains accept anything');
  for (const { expr } of alertExpressions()) t.same(catalogueProblems(expr), []);
});
