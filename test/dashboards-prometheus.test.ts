/**
 * End to end with a real Prometheus (Debian's 2.42, started here on loopback): it scrapes the
 * instrumented admin server while simulated cards run OTA sessions (successful ones, a wrong key,
 * an unknown identity, a card that hangs up mid-script), with the exported alert rules loaded.
 * Then every PromQL expression of every dashboard panel and every alert rule goes to the query
 * API: each must parse and evaluate, and every panel whose series the workload produced must
 * return data.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runNode, freePort, REPO_ROOT } from './helpers/child.js';
import { scrape } from './helpers/scrape.js';
import { runCard } from './fixtures/card-simulator.js';
import { DASHBOARDS, dashboardQueries } from '../src/dashboards/index.js';
import { alertExpressions, renderAlertRules } from '../src/alerts/rules.js';

const APP = join(REPO_ROOT, 'dist/test/fixtures/apps/admin-app.js');
const KEY_001 = Buffer.from('0102030405060708090A0B0C0D0E0F10', 'hex');
const KEY_002 = Buffer.from('A0A1A2A3A4A5A6A7A8A9AAABACADAEAF', 'hex');

/** What Grafana substitutes before sending a query (values for a 1 s scrape interval). */
const GRAFANA_VARIABLES: Array<[RegExp, string]> = [
  [/\$__rate_interval/g, '30s'],
  [/\$__range/g, '5m'],
  [/\$__interval/g, '2s'],
  [/\$job/g, 'cardlink'],
  [/\$instance/g, '.*'],
];

function substitute(expr: string): string {
  let e = expr;
  for (const [re, v] of GRAFANA_VARIABLES) e = e.replace(re, v);
  return e;
}

type Vector = Array<{ metric: Record<string, string>; value?: [number, string] }>;

interface QueryAnswer {
  status: 'success' | 'error';
  error?: string;
  /** Vectors for everything we send (a scalar result would be [time, value]). */
  data?: { resultType: string; result: Vector | [number, string] };
}

function vector(a: QueryAnswer): Vector {
  return a.data?.resultType === 'vector' && Array.isArray(a.data.result) ? (a.data.result as Vector) : [];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('every dashboard and alert expression evaluates on a real Prometheus scraping an OTA workload', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cardlink-prom-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  // The instrumented CardLink admin server.
  const metricsPort = await freePort();
  const app = runNode({
    t,
    importRegister: true,
    args: [APP],
    timeoutMs: 60_000,
    env: {
      ADMIN_KIND: 'https',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      CARDLINK_HEALTH_ENABLED: 'false',
      OTEL_EXPORTER_OTLP_ENDPOINT: undefined,
    },
  });
  const adminPort = Number((await app.waitForLine(/^listening \d+/, 15_000)).split(' ')[1]);

  // Prometheus: 1 s scrapes, the exported rules evaluated every second.
  writeFileSync(join(dir, 'alerts.yml'), renderAlertRules());
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      '  - alerts.yml',
      'scrape_configs:',
      '  - job_name: cardlink',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${metricsPort}']`,
      '',
    ].join('\n'),
  );
  const promPort = await freePort();
  const prom = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let promLog = '';
  prom.stderr.on('data', (c: Buffer) => (promLog = (promLog + c.toString()).slice(-4000)));
  const promExited = new Promise<void>((resolve) => prom.once('exit', () => resolve()));
  const stopProm = async (): Promise<void> => {
    if (prom.exitCode !== null || prom.signalCode !== null) return;
    prom.kill('SIGTERM');
    const timer = setTimeout(() => prom.kill('SIGKILL'), 10_000);
    await promExited;
    clearTimeout(timer);
  };
  t.teardown(stopProm);
  const base = `http://127.0.0.1:${promPort}`;
  const until = Date.now() + 20_000;
  for (;;) {
    const ok = await fetch(`${base}/-/ready`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > until || prom.exitCode !== null) throw new Error(`prometheus did not become ready\n${promLog}`);
    await sleep(100);
  }

  const query = async (q: string): Promise<QueryAnswer> => {
    const r = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}`);
    return (await r.json()) as QueryAnswer;
  };
  const waitFor = async (q: string, what: string): Promise<void> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const a = await query(q);
      if (a.status === 'success' && vector(a).length > 0) return;
      if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(a)}\n${promLog}`);
      await sleep(200);
    }
  };
  await waitFor('up{job="cardlink"} == 1', 'the app is scraped');

  // The workload: several seconds of sessions across scrapes, so that rates and quantiles have data.
  const ends: Record<string, number> = {};
  const workloadEnd = Date.now() + 6000;
  while (Date.now() < workloadEnd) {
    const runs = await Promise.all([
      runCard({ port: adminPort, identity: 'card-001', key: KEY_001 }),
      runCard({ port: adminPort, identity: 'card-002', key: KEY_002 }),
      runCard({ port: adminPort, identity: 'card-001', key: KEY_002 }), // wrong key
      runCard({ port: adminPort, identity: 'card-999', key: KEY_001 }), // unknown identity
      runCard({ port: adminPort, identity: 'card-002', key: KEY_002, stopAfter: 3 }), // hangs up mid-script
    ]);
    for (const r of runs) ends[r.end] = (ends[r.end] ?? 0) + 1;
    await sleep(150);
  }
  t.ok((ends['completed'] ?? 0) > 10 && (ends['error'] ?? 0) > 10 && (ends['stopped'] ?? 0) > 5, `workload ran: ${JSON.stringify(ends)}`);
  const m = await scrape(`http://127.0.0.1:${metricsPort}/metrics`);
  const sessions = m.families.get('cardlink_sessions_total')?.samples ?? [];
  t.ok(sessions.some((s) => s.labels['status'] === 'failed'), 'the workload produced failed sessions');
  // Two more scrapes after the last session so every counter's last increase is in Prometheus.
  await sleep(2500);
  await waitFor('cardlink_sessions_total{job="cardlink",status="completed"} > 10', 'sessions reached Prometheus');

  // The dashboards' job/instance variables resolve (Grafana's label_values(cardlink_uptime_seconds, job)).
  const jobs = (await (await fetch(`${base}/api/v1/label/job/values?match[]=cardlink_uptime_seconds`)).json()) as { data: string[] };
  t.same(jobs.data, ['cardlink'], 'the job variable finds the scraped job');

  /** True when every vector selector of `expr` matches series (the workload exercised them). */
  const exercised = async (expr: string): Promise<boolean> => {
    for (const sel of expr.match(/cardlink_[a-z0-9_]+\{[^}]*\}/g) ?? []) {
      const a = await query(`count(${sel})`);
      if (a.status !== 'success' || vector(a).length === 0) return false;
    }
    return true;
  };

  let evaluated = 0;
  const withData: string[] = [];
  const skipped: string[] = [];
  for (const spec of DASHBOARDS) {
    for (const { panel, query: q } of dashboardQueries(spec)) {
      const expr = substitute(q.expr);
      t.notMatch(expr, /\$/, `${spec.uid}/${panel}: every variable substituted`);
      const a = await query(expr);
      evaluated++;
      t.equal(a.status, 'success', `${spec.uid}/${panel} evaluates: ${expr}${a.error ? ` -> ${a.error}` : ''}`);
      if (!(await exercised(expr))) {
        skipped.push(`${spec.uid}/${panel}`);
        continue;
      }
      const result = vector(a);
      const finite = result.filter((r) => r.value !== undefined && Number.isFinite(Number(r.value[1])));
      t.ok(finite.length > 0, `${spec.uid}/${panel} returns data: ${expr} -> ${JSON.stringify(result).slice(0, 300)}`);
      withData.push(`${spec.uid}/${panel}${q.legend ? ` [${q.legend}]` : ''}`);
    }
  }
  t.comment(`${evaluated} panel queries evaluated; ${withData.length} exercised and returned data; not exercised by this workload: ${skipped.join(', ')}`);
  // The workload must exercise the OTA, APDU, TLS and process panels: a broken workload cannot pass quietly.
  for (const must of [
    'cardlink-ota-overview/Active sessions',
    'cardlink-ota-overview/Session success rate',
    'cardlink-ota-overview/Sessions by status',
    'cardlink-ota-overview/Session duration [p95]',
    'cardlink-apdu-analysis/APDU error rate',
    'cardlink-apdu-analysis/Commands by type',
    'cardlink-apdu-analysis/Responses by status word',
    'cardlink-apdu-analysis/APDU latency [p99]',
    'cardlink-apdu-analysis/p95 by command type',
    'cardlink-apdu-analysis/Top error status words',
    'cardlink-apdu-analysis/APDU bytes',
    'cardlink-tls-psk/Handshake failure rate',
    'cardlink-tls-psk/Failures by reason',
    'cardlink-tls-psk/Handshake latency [p95 {{result}}]',
    'cardlink-tls-psk/PSK mismatches',
    'cardlink-tls-psk/Cipher suites',
    'cardlink-process/CPU',
    'cardlink-process/Memory',
    'cardlink-process/Build',
    'cardlink-process/Uptime',
  ]) {
    t.ok(withData.some((w) => w === must || w.startsWith(`${must} [`)), `${must} returned data`);
  }

  for (const { alert, expr } of alertExpressions()) {
    const a = await query(expr);
    t.equal(a.status, 'success', `alert ${alert} evaluates${a.error ? `: ${a.error}` : ''}`);
  }
  // Prometheus loaded the exported rules and evaluates them without error.
  const rules = (await (await fetch(`${base}/api/v1/rules`)).json()) as {
    data: { groups: Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string }> }> };
  };
  const loaded = rules.data.groups.flatMap((g) => g.rules);
  t.equal(loaded.length, alertExpressions().length, 'every rule loaded');
  for (const r of loaded) t.equal(r.health, 'ok', `${r.name} evaluates in the rule manager${r.lastError ? `: ${r.lastError}` : ''}`);

  const stopping = Date.now();
  await stopProm();
  t.ok(Date.now() - stopping < 10_000, 'Prometheus stopped on SIGTERM');
  app.kill('SIGTERM');
  await app.waitForExit(10_000);
});
