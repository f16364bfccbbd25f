/**
 * The deploy/ files hang together: promtool accepts prometheus.yml (with the generated rules), the
 * docker-compose services, ports and mounts match what Prometheus scrapes, what the app sends to,
 * what Alloy listens on and forwards to, and what Grafana provisions; the Alloy pipeline has no
 * dangling reference. (No Docker daemon or Alloy binary runs here: these are static checks.)
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { REPO_ROOT } from './helpers/child.js';
import { DASHBOARDS, DASHBOARDS_DIR } from '../src/dashboards/index.js';
import { ALERT_RULES_FILE, GENERATED_FILES } from '../src/gen/files.js';

const DEPLOY = join(REPO_ROOT, 'deploy');
const read = (rel: string): string => readFileSync(join(DEPLOY, rel), 'utf8');

interface Service {
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: string[];
  healthcheck?: { test: string[] };
}
const compose = YAML.parse(read('docker-compose.yml')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const prometheus = YAML.parse(read('prometheus.yml')) as {
  global: { scrape_interval: string };
  rule_files: string[];
  scrape_configs: Array<{ job_name: string; metrics_path?: string; static_configs: Array<{ targets: string[] }> }>;
};
const alloy = read('alloy/config.alloy');

/** `host:container` port pairs of a service. */
function ports(s: Service | undefined): Map<string, string> {
  return new Map((s?.ports ?? []).map((p) => [p.split(':')[1] ?? p, p.split(':')[0] ?? p]));
}
/** Bind mounts of a service: container path -> host path (resolved from deploy/). */
function mounts(s: Service | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of s?.volumes ?? []) {
    const [host, container] = v.split(':');
    if (host === undefined || container === undefined || !(host.startsWith('.') || host.startsWith('/'))) continue;
    out.set(container, resolve(DEPLOY, host));
  }
  return out;
}

t.test('every generated file is present and identical to its renderer (`npm run gen` rewrites them)', async (t) => {
  const paths = Object.keys(GENERATED_FILES);
  t.ok(paths.includes(ALERT_RULES_FILE) && paths.filter((p) => p.startsWith(`${DASHBOARDS_DIR}/`)).length === DASHBOARDS.length);
  for (const [rel, render] of Object.entries(GENERATED_FILES)) {
    const path = join(REPO_ROOT, rel);
    t.ok(existsSync(path), `${rel} exists`);
    if (existsSync(path)) t.ok(readFileSync(path, 'utf8') === render(), `${rel} is up to date`);
  }
});

t.test('promtool check config passes on deploy/prometheus.yml (and finds the generated rules)', async (t) => {
  const r = await new Promise<{ code: number; out: string }>((res) =>
    execFile('promtool', ['check', 'config', join(DEPLOY, 'prometheus.yml')], (err, stdout, stderr) => res({ code: err ? 1 : 0, out: stdout + stderr })),
  );
  t.equal(r.code, 0, r.out);
  t.match(r.out, /SUCCESS: 1 rule files found/);
  t.match(r.out, /SUCCESS: 10 rules found/);
  t.same(prometheus.rule_files.map((f) => resolve(DEPLOY, f)), [join(REPO_ROOT, ALERT_RULES_FILE)]);
});

t.test('docker-compose: the stack the issue asks for, every bind mount exists', async (t) => {
  for (const s of ['app', 'prometheus', 'grafana', 'jaeger', 'alloy', 'loki']) t.ok(compose.services[s], `service ${s}`);
  for (const [name, s] of Object.entries(compose.services)) {
    if (name !== 'app') t.match(s.image, /^[a-z/-]+:v?\d+\.\d+\.\d+$/, `${name}: a pinned image version`);
    for (const [container, host] of mounts(s)) t.ok(existsSync(host), `${name}: ${host} (mounted at ${container}) exists`);
    for (const d of s.depends_on ?? []) t.ok(compose.services[d], `${name} depends on an existing service ${d}`);
    for (const v of s.volumes ?? []) {
      const src = v.split(':')[0] ?? '';
      if (!src.startsWith('.') && !src.startsWith('/')) t.ok(src in compose.volumes, `named volume ${src} is declared`);
    }
  }
  const app = compose.services['app']!;
  t.equal(mounts(app).get('/app'), REPO_ROOT, 'the app runs this repository');
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  t.equal((app.command as string[]).join(' '), pkg.scripts['start'], 'the same command as `npm start`');
});

t.test('metrics path: Prometheus scrapes the port and path the app serves; rules and remote write wired', async (t) => {
  const env = compose.services['app']!.environment ?? {};
  const job = prometheus.scrape_configs.find((j) => j.job_name === 'cardlink');
  t.ok(job, 'a cardlink scrape job');
  t.same(job?.static_configs[0]?.targets, [`app:${env['OTEL_EXPORTER_PROMETHEUS_PORT']}`], 'scrapes app on OTEL_EXPORTER_PROMETHEUS_PORT');
  t.equal(job?.metrics_path ?? '/metrics', env['CARDLINK_METRICS_PATH'] ?? '/metrics');
  t.equal(env['OTEL_EXPORTER_PROMETHEUS_HOST'], '0.0.0.0', 'reachable from the prometheus container');
  t.equal(env['OTEL_METRICS_EXPORTER'], 'prometheus', 'metrics by one path only: no series stored twice');
  const prom = compose.services['prometheus']!;
  const m = mounts(prom);
  t.equal(m.get('/etc/prometheus/prometheus.yml'), join(DEPLOY, 'prometheus.yml'));
  for (const f of prometheus.rule_files) {
    const inContainer = resolve('/etc/prometheus', f);
    const host = [...m.entries()].find(([c]) => inContainer.startsWith(`${c}/`));
    t.ok(host && existsSync(join(host[1], inContainer.slice(host[0].length + 1))), `rule file ${f} is mounted where the config looks for it`);
  }
  t.ok((prom.command as string[]).includes('--web.enable-remote-write-receiver'), 'Prometheus accepts what Alloy remote-writes');
  t.match(alloy, /url = "http:\/\/prometheus:9090\/api\/v1\/write"/);
  t.ok(ports(prom).has('9090'));
});

t.test('OTLP path: the app sends to Alloy, Alloy forwards traces to Jaeger and logs to Loki', async (t) => {
  const env = compose.services['app']!.environment ?? {};
  t.equal(env['OTEL_EXPORTER_OTLP_ENDPOINT'], 'http://alloy:4317');
  t.equal(env['OTEL_EXPORTER_OTLP_PROTOCOL'] ?? 'grpc', 'grpc');
  t.match(alloy, /grpc \{\s+endpoint = "0\.0\.0\.0:4317"/, 'Alloy listens for OTLP/gRPC on 4317');
  t.match(alloy, /http \{\s+endpoint = "0\.0\.0\.0:4318"/);
  t.ok(ports(compose.services['alloy']).has('4317'));
  t.equal(mounts(compose.services['alloy']).get('/etc/alloy/config.alloy'), join(DEPLOY, 'alloy/config.alloy'));
  t.ok((compose.services['alloy']!.command as string[]).includes('/etc/alloy/config.alloy'));
  t.match(alloy, /endpoint = "jaeger:4317"/);
  t.equal(compose.services['jaeger']!.environment?.['COLLECTOR_OTLP_ENABLED'], 'true');
  t.match(alloy, /endpoint = "http:\/\/loki:3100\/otlp"/);
});

t.test('the Alloy pipeline: balanced blocks, every reference declared, every component used', async (t) => {
  const code = alloy.replace(/\/\/.*$/gm, '');
  let depth = 0;
  let lowest = 0;
  for (const c of code) {
    if (c === '{') depth++;
    if (c === '}') depth--;
    lowest = Math.min(lowest, depth);
  }
  t.equal(lowest, 0, 'never closes more than it opened');
  t.equal(depth, 0, 'braces balance');
  const declared = [...code.matchAll(/^([a-z_.]+) "([a-z_]+)" \{/gm)].map((m) => `${m[1]}.${m[2]}`);
  t.same(declared.sort(), [
    'otelcol.exporter.otlp.jaeger',
    'otelcol.exporter.otlphttp.loki',
    'otelcol.exporter.prometheus.cardlink',
    'otelcol.processor.batch.cardlink',
    'otelcol.processor.memory_limiter.cardlink',
    'otelcol.receiver.otlp.cardlink',
    'prometheus.remote_write.prometheus',
  ]);
  const refs = [...code.matchAll(/\b((?:otelcol|prometheus)\.[a-z_.]+)\.(input|receiver)\b/g)].map((m) => m[1]!);
  for (const r of refs) t.ok(declared.includes(r), `${r} is declared`);
  for (const d of declared) {
    if (d === 'otelcol.receiver.otlp.cardlink') continue;
    t.ok(refs.includes(d), `${d} receives data`);
  }
  // Each signal goes all the way through.
  for (const signal of ['metrics', 'logs', 'traces']) t.equal(code.match(new RegExp(`\\b${signal}\\s*=`, 'g'))?.length, 3, `${signal} routed at every stage`);
});

t.test('Grafana: provisioned data sources and the generated dashboards', async (t) => {
  const grafana = compose.services['grafana']!;
  const m = mounts(grafana);
  t.equal(m.get('/etc/grafana/provisioning'), join(DEPLOY, 'grafana/provisioning'));
  const ds = YAML.parse(read('grafana/provisioning/datasources/datasources.yml')) as {
    datasources: Array<{ name: string; uid: string; type: string; url: string; isDefault?: boolean; jsonData?: { timeInterval?: string; derivedFields?: Array<{ datasourceUid: string; url: string }> } }>;
  };
  const byType = new Map(ds.datasources.map((d) => [d.type, d]));
  t.equal(byType.get('prometheus')?.url, 'http://prometheus:9090');
  t.equal(byType.get('prometheus')?.isDefault, true, 'the dashboards\' datasource variable picks it by default');
  t.equal(byType.get('prometheus')?.jsonData?.timeInterval, prometheus.global.scrape_interval, '$__rate_interval follows the scrape interval');
  t.equal(byType.get('jaeger')?.url, 'http://jaeger:16686');
  t.equal(byType.get('loki')?.url, 'http://loki:3100');
  const derived = byType.get('loki')?.jsonData?.derivedFields?.[0];
  t.equal(derived?.datasourceUid, byType.get('jaeger')?.uid, 'log lines link to Jaeger traces');
  t.equal(derived?.url, '$${__value.raw}', '$$ escapes provisioning-time interpolation');
  for (const d of ds.datasources) {
    const port = new URL(d.url).port;
    const host = new URL(d.url).hostname;
    t.ok(compose.services[host], `${d.name}: ${host} is a compose service`);
    t.ok(port !== '', `${d.name}: explicit port`);
  }

  const prov = YAML.parse(read('grafana/provisioning/dashboards/dashboards.yml')) as {
    providers: Array<{ type: string; folder: string; options: { path: string } }>;
  };
  const path = prov.providers[0]?.options.path ?? '';
  t.equal(m.get(path), join(REPO_ROOT, DASHBOARDS_DIR), 'the provider reads the mounted generated dashboards');
  for (const d of DASHBOARDS) t.ok(statSync(join(REPO_ROOT, DASHBOARDS_DIR, d.file)).size > 1000, `${d.file} is there`);
  const home = grafana.environment?.['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH'] ?? '';
  t.ok(home.startsWith(`${path}/`) && DASHBOARDS.some((d) => home === `${path}/${d.file}`), 'the home dashboard is one of ours');
});

t.test('no deployment sends one process\'s metrics into Prometheus twice (scraped and pushed)', async (t) => {
  const { parseConfig } = await import('../src/config.js');
  // docker-compose: Prometheus scrapes the app and receives Alloy's remote write.
  const appEnv = compose.services['app']!.environment ?? {};
  const scrapedInCompose = prometheus.scrape_configs.some((j) => j.static_configs.some((s) => s.targets.some((x) => x.startsWith('app:'))));
  t.ok(scrapedInCompose, 'compose: the app is scraped');
  t.same(parseConfig(appEnv).config.metricsExporters, ['prometheus'], 'compose: so its metrics do not also go out over OTLP');

  // Kubernetes: pods annotated for scraping; Alloy remote-writes into the same Prometheus.
  const k8s = YAML.parse(read('kubernetes/deployment.yaml')) as {
    spec: { template: { metadata: { annotations?: Record<string, string> }; spec: { containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } } };
  };
  const scraped = k8s.spec.template.metadata.annotations?.['prometheus.io/scrape'] === 'true';
  for (const c of k8s.spec.template.spec.containers) {
    const env = Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
    const exporters = parseConfig(env).config.metricsExporters;
    t.ok(env['OTEL_EXPORTER_OTLP_ENDPOINT'], `kubernetes ${c.name}: sends OTLP (traces, logs)`);
    t.same(exporters, scraped ? ['prometheus'] : ['otlp'], `kubernetes ${c.name}: metrics by one path (${exporters.join(', ')})`);
  }
});
