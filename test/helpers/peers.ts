/**
 * The real backends the tests export to, built from their Go modules by test/peers/build.sh:
 * Jaeger (all-in-one, in-memory storage), an OpenTelemetry Collector (OTLP in; prometheus,
 * otlphttp and debug out) and Prometheus 3. Each starts on free loopback ports, is waited for until
 * it answers, and is stopped (SIGTERM, then SIGKILL) when the test ends. `restart()` stops one and
 * starts it again on the same ports, for outage tests.
 *
 * A missing binary is a failure, never a skip: the message says how to build the peers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, REPO_ROOT } from './child.js';

export type PeerName = 'jaeger' | 'otelcol' | 'prometheus';

const PEERS_DIR = join(REPO_ROOT, 'test/peers');
// Keep in step with the key in test/peers/build.sh.
const KEY_FILES = [
  'jaeger/go.mod',
  'jaeger/go.sum',
  'otelcol/go.mod',
  'otelcol/go.sum',
  'otelcol/main.go',
  'prometheus/go.mod',
  'prometheus/go.sum',
];

/** The folder build.sh puts the binaries of these exact modules in. */
export function peersBinDir(): string {
  const cache = process.env['CARDLINK_PEERS_CACHE'] || '/var/cache/cardlink-otel-peers';
  const h = createHash('sha256');
  for (const f of KEY_FILES) h.update(readFileSync(join(PEERS_DIR, f)));
  return join(cache, `bin-${h.digest('hex').slice(0, 16)}`);
}

export function peerBinary(name: PeerName): string {
  const path = join(peersBinDir(), name);
  if (!existsSync(path)) {
    throw new Error(
      `${name} is not built for the modules in test/peers (no ${path}). Build the test peers first: ` +
        '`bash test/peers/build.sh` (.ci/run does it; see the README, "Set up and test").',
    );
  }
  return path;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Peer {
  readonly name: PeerName;
  /** Named loopback ports, fixed for the peer's life (a restart reuses them). */
  readonly ports: Readonly<Record<string, number>>;
  /** The last lines the process wrote (stdout and stderr). */
  log(): string;
  /** Stops the process (SIGTERM, SIGKILL after 10 s). */
  stop(): Promise<void>;
  /** Starts it again on the same ports and waits until it is ready. */
  start(): Promise<void>;
  readonly running: boolean;
}

interface PeerSpec {
  name: PeerName;
  portNames: readonly string[];
  /** Config file text for the given ports (written to a temp folder), if the peer takes one. */
  config?: (ports: Record<string, number>, dir: string) => string;
  args: (ports: Record<string, number>, dir: string, configPath: string) => string[];
  /** Resolves true once the peer answers. */
  ready: (ports: Record<string, number>) => Promise<boolean>;
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await r.arrayBuffer();
    return r.ok;
  } catch {
    return false;
  }
}

/** Killers of every peer started here: run when the test process exits, whatever the teardowns did. */
const live = new Set<() => void>();
process.once('exit', () => {
  for (const kill of live) {
    try {
      kill();
    } catch {
      // already gone
    }
  }
});

async function startPeer(spec: PeerSpec, t: { teardown(fn: () => unknown): void }): Promise<Peer> {
  const binary = peerBinary(spec.name);
  const dir = mkdtempSync(join(tmpdir(), `cardlink-${spec.name}-`));
  const ports: Record<string, number> = {};
  for (const p of spec.portNames) ports[p] = await freePort();
  const configPath = join(dir, 'config.yaml');
  if (spec.config) writeFileSync(configPath, spec.config(ports, dir));
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = '';

  const peer: Peer = {
    name: spec.name,
    ports,
    log: () => output,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async start() {
      const c = spawn(binary, spec.args(ports, dir, configPath), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      exited = new Promise((resolve) => c.once('exit', () => resolve()));
      const keep = (b: Buffer): void => {
        output = (output + b.toString()).slice(-8000);
      };
      c.stdout?.on('data', keep);
      c.stderr?.on('data', keep);
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (c.exitCode !== null || c.signalCode !== null) throw new Error(`${spec.name} exited while starting:\n${output}`);
        if (await spec.ready(ports)) return;
        if (Date.now() > deadline) throw new Error(`${spec.name} was not ready within 60 s:\n${output}`);
        await sleep(100);
      }
    },
    async stop() {
      const c = child;
      if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  t.teardown(async () => {
    await peer.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  live.add(() => child?.kill('SIGKILL'));
  await peer.start();
  return peer;
}

/** Both Go peers are OpenTelemetry Collector builds: the same receiver and self-telemetry blocks. */
const otlpReceiver = (port: number): string[] => ['receivers:', '  otlp:', '    protocols:', '      grpc:', `        endpoint: 127.0.0.1:${port}`];
const QUIET_TELEMETRY = ['  telemetry:', '    metrics:', '      level: none', '    logs:', '      level: warn'];

/**
 * Jaeger all-in-one (the v2 binary, `cmd/jaeger`): OTLP/gRPC on `otlp`, the HTTP query API
 * (`/api/services`, `/api/traces`) on `query`, in-memory storage.
 */
export function startJaeger(t: { teardown(fn: () => unknown): void }): Promise<Peer> {
  return startPeer(
    {
      name: 'jaeger',
      portNames: ['otlp', 'query', 'queryGrpc'],
      config: (p) =>
        [
          'service:',
          '  extensions: [jaeger_storage, jaeger_query]',
          '  pipelines:',
          '    traces:',
          '      receivers: [otlp]',
          '      exporters: [jaeger_storage_exporter]',
          ...QUIET_TELEMETRY,
          'extensions:',
          '  jaeger_storage:',
          '    backends:',
          '      memstore:',
          '        memory:',
          '          max_traces: 10000',
          '  jaeger_query:',
          '    storage:',
          '      traces: memstore',
          '    http:',
          `      endpoint: 127.0.0.1:${p['query']}`,
          '    grpc:',
          `      endpoint: 127.0.0.1:${p['queryGrpc']}`,
          ...otlpReceiver(p['otlp']!),
          'exporters:',
          '  jaeger_storage_exporter:',
          '    trace_storage: memstore',
          '',
        ].join('\n'),
      args: (_p, _d, config) => [`--config=${config}`],
      ready: async (p) => (await httpOk(`http://127.0.0.1:${p['query']}/api/services`)) && (await tcpOpen(p['otlp']!)),
    },
    t,
  );
}

export interface CollectorOptions {
  /** Also forward metrics over OTLP/HTTP to this base URL (Prometheus 3: http://host:port/api/v1/otlp). */
  otlpHttpMetricsTo?: string;
}

/**
 * The OpenTelemetry Collector: OTLP/gRPC on `otlp`; metrics to the `prometheus` exporter (scrape
 * `promExporter`), optionally to an OTLP/HTTP endpoint, and to `debug`; traces and logs to `debug`.
 */
export function startCollector(t: { teardown(fn: () => unknown): void }, o: CollectorOptions = {}): Promise<Peer> {
  const metricsExporters = ['prometheus', ...(o.otlpHttpMetricsTo ? ['otlp_http'] : []), 'debug'];
  return startPeer(
    {
      name: 'otelcol',
      portNames: ['otlp', 'promExporter'],
      config: (p) =>
        [
          ...otlpReceiver(p['otlp']!),
          'exporters:',
          '  debug:',
          '    verbosity: basic',
          '  prometheus:',
          `    endpoint: 127.0.0.1:${p['promExporter']}`,
          ...(o.otlpHttpMetricsTo
            ? ['  otlp_http:', `    metrics_endpoint: ${o.otlpHttpMetricsTo}/v1/metrics`, '    compression: none', '    retry_on_failure:', '      enabled: false']
            : []),
          'service:',
          ...QUIET_TELEMETRY,
          '  pipelines:',
          '    metrics:',
          '      receivers: [otlp]',
          `      exporters: [${metricsExporters.join(', ')}]`,
          '    traces:',
          '      receivers: [otlp]',
          '      exporters: [debug]',
          '    logs:',
          '      receivers: [otlp]',
          '      exporters: [debug]',
          '',
        ].join('\n'),
      args: (_p, _d, config) => [`--config=file:${config}`],
      ready: async (p) => (await httpOk(`http://127.0.0.1:${p['promExporter']}/metrics`)) && (await tcpOpen(p['otlp']!)),
    },
    t,
  );
}

export interface PrometheusOptions {
  /** prometheus.yml text (scrape_configs and the like); `global` with 1 s intervals is added. */
  config?: string;
  /** Accept OTLP on /api/v1/otlp/v1/metrics. */
  otlp?: boolean;
  /** Feature flags (`otlp-deltatocumulative`, ...). */
  features?: string[];
}

/** Prometheus 3 on `web` (query API, and the OTLP receiver when asked). */
export function startPrometheus(t: { teardown(fn: () => unknown): void }, o: PrometheusOptions = {}): Promise<Peer> {
  return startPeer(
    {
      name: 'prometheus',
      portNames: ['web'],
      config: () => ['global:', '  scrape_interval: 1s', '  evaluation_interval: 1s', o.config ?? '', ''].join('\n'),
      args: (p, dir, config) => [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${p['web']}`,
        '--log.level=warn',
        ...(o.otlp ? ['--web.enable-otlp-receiver'] : []),
        ...(o.features?.length ? [`--enable-feature=${o.features.join(',')}`] : []),
      ],
      ready: (p) => httpOk(`http://127.0.0.1:${p['web']}/-/ready`),
    },
    t,
  );
}

function tcpOpen(port: number): Promise<boolean> {
  return import('node:net').then(
    (net) =>
      new Promise<boolean>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port });
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      }),
  );
}

// --- Prometheus query API ----------------------------------------------------------------------

export type PromVector = Array<{ metric: Record<string, string>; value: [number, string] }>;

export interface PromAnswer {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: unknown };
}

/** An instant query at `time` (seconds since the epoch) or now. */
export async function promQuery(peer: Peer, expr: string, time?: number): Promise<PromAnswer> {
  const params = new URLSearchParams({ query: expr });
  if (time !== undefined) params.set('time', String(time));
  const r = await fetch(`http://127.0.0.1:${peer.ports['web']}/api/v1/query?${params}`);
  return (await r.json()) as PromAnswer;
}

export function promVector(a: PromAnswer): PromVector {
  return a.data?.resultType === 'vector' && Array.isArray(a.data.result) ? (a.data.result as PromVector) : [];
}

/** Polls `expr` until `check` holds on its vector; fails with the last answer and the peer's log. */
export async function promWaitFor(peer: Peer, expr: string, check: (v: PromVector) => boolean, what: string, timeoutMs = 30_000): Promise<PromVector> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = await promQuery(peer, expr);
    const v = promVector(a);
    if (a.status === 'success' && check(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(a).slice(0, 2000)}\n${peer.log()}`);
    await sleep(250);
  }
}
