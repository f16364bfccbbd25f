// /metrics under load: an application with 10,000 series of its own (test/fixtures/apps/series-app.mjs,
// OTel counters on the global meter) under `node --import ./register.js`, scraped by 50 concurrent
// scrapers for 10 s (and by 2, as an HA pair of Prometheus servers would, for 5 s); then a storm of 50 concurrent /health/ready probes for 5 s (default health
// cache). `wrk` (Debian package) drives the load when it is on PATH, otherwise the Node generator
// of test/fixtures/load-generator.ts (which also checks every body). Reported: requests, errors,
// p50/p99 latency; for the probes also how many check runs served them.
//
// Needs `npm run build` (imports dist/). `node bench/load.mjs` or `npm run bench load`.
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { fmt, printTable } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dist = (p) => import(`${ROOT}dist/${p}`);
const SERIES = 10_000;

function startApp() {
  const child = spawn(process.execPath, ['--import', './register.js', 'test/fixtures/apps/series-app.mjs'], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      APP_SERIES: String(SERIES),
      OTEL_EXPORTER_PROMETHEUS_PORT: '0',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      CARDLINK_HEALTH_PORT: '0',
      CARDLINK_HEALTH_HOST: '127.0.0.1',
      // The probe storm reads the `counted` check's run count from its details.
      CARDLINK_HEALTH_DETAILS: 'true',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const ports = new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      const m = /^ports (\d+) (\d+)$/.exec(l);
      if (m) resolve({ metrics: Number(m[1]), health: Number(m[2]) });
    });
    child.on('exit', (code) => reject(new Error(`series-app exited ${code}: ${stderr}`)));
  });
  return { child, ports, stderr: () => stderr };
}

function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

const hasWrk = () => spawnSync('wrk', ['--version'], { encoding: 'utf8' }).error === undefined;

/** `219.30ms` / `1.28s` / `850.00us` -> ms */
function wrkMs(s) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

/** Runs wrk and reads its summary: requests, errors (socket errors + non-2xx), p50, p99. */
export function parseWrk(out) {
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? sock.slice(1).reduce((s, x) => s + Number(x), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const pct = (p) => wrkMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '');
  return { requests, errors: socketErrors + non2xx, p50: pct(50), p99: pct(99), max: wrkMs(/Latency\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1] ?? '') };
}

function runWrk(url, concurrency, seconds) {
  return new Promise((resolve, reject) => {
    const w = spawn('wrk', ['-t2', `-c${concurrency}`, `-d${seconds}s`, '--latency', '--timeout', '30s', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    w.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    w.stderr.setEncoding('utf8').on('data', (d) => (out += d));
    w.on('exit', (code) => (code === 0 ? resolve(parseWrk(out)) : reject(new Error(`wrk exited ${code}: ${out}`))));
  });
}

export async function run() {
  const { generateLoad } = await dist('test/fixtures/load-generator.js');
  const { parsePrometheusText } = await dist('src/prom/text-parser.js');
  const app = startApp();
  try {
    const ports = await app.ports;
    const metricsUrl = `http://127.0.0.1:${ports.metrics}/metrics`;
    const probeUrl = `http://127.0.0.1:${ports.health}/health/ready`;
    // One scrape to see what is served: every series there, parseable.
    const first = await get(metricsUrl);
    const { families, errors } = parsePrometheusText(first.body.toString('utf8'));
    const series = [...families.values()].reduce((s, f) => s + f.samples.length, 0);
    if (first.status !== 200 || errors.length > 0 || series < SERIES) {
      throw new Error(`the first scrape: status ${first.status}, ${series} samples, errors ${errors.slice(0, 2).join('; ')}`);
    }
    const kb = first.body.length / 1024;

    const checkMetrics = (status, body) => {
      if (status !== 200) return `status ${status}`;
      const r = parsePrometheusText(body.toString('utf8'));
      if (r.errors.length > 0) return `unparsable: ${r.errors[0]}`;
      const n = [...r.families.values()].reduce((s, f) => s + f.samples.length, 0);
      return n < SERIES ? `${n} samples` : undefined;
    };
    const wrk = hasWrk();
    const tool = wrk ? 'wrk -t2 -c50' : 'Node generator, 50 workers';
    const scrapes = wrk
      ? await runWrk(metricsUrl, 50, 10)
      : await generateLoad({ url: metricsUrl, concurrency: 50, durationMs: 10_000, check: checkMetrics });
    // What a real deployment sees: two Prometheus servers scraping (HA pair).
    const pair = wrk
      ? await runWrk(metricsUrl, 2, 5)
      : await generateLoad({ url: metricsUrl, concurrency: 2, durationMs: 5000, check: checkMetrics });
    // After the storm the endpoint still serves a complete exposition.
    const after = await get(metricsUrl);
    const afterOk = checkMetrics(after.status, after.body) === undefined;

    const runsBefore = await get(probeUrl).then((r) => JSON.parse(r.body.toString()).checks.find((c) => c.name === 'counted')?.details.invocations);
    const probes = wrk ? await runWrk(probeUrl, 50, 5) : await generateLoad({ url: probeUrl, concurrency: 50, durationMs: 5000 });
    const runsAfter = await get(probeUrl).then((r) => JSON.parse(r.body.toString()).checks.find((c) => c.name === 'counted')?.details.invocations);

    return [
      {
        row: `load: /metrics, ${series} samples (${fmt(kb, 0)} KiB), 50 concurrent scrapers, 10 s`,
        compared: tool,
        measured: `${scrapes.requests} scrapes, ${scrapes.errors} errors, p50 ${fmt(scrapes.p50, 0)} ms, p99 ${fmt(scrapes.p99, 0)} ms, max ${fmt(scrapes.max, 0)} ms; complete after: ${afterOk ? 'yes' : 'no'}`,
        goal: 'no errors, p99 reported',
        met: scrapes.errors === 0 && scrapes.requests > 0 && afterOk,
      },
      {
        row: `load: /metrics, ${series} samples, 2 concurrent scrapers, 5 s`,
        compared: wrk ? 'wrk -t2 -c2' : 'Node generator, 2 workers',
        measured: `${pair.requests} scrapes, ${pair.errors} errors, p50 ${fmt(pair.p50, 0)} ms, p99 ${fmt(pair.p99, 0)} ms`,
        goal: 'no errors, p99 reported',
        met: pair.errors === 0 && pair.requests > 0,
      },
      {
        row: 'load: /health/ready probe storm, 50 concurrent, 5 s',
        compared: tool,
        measured: `${probes.requests} probes, ${probes.errors} errors, p50 ${fmt(probes.p50, 2)} ms, p99 ${fmt(probes.p99, 1)} ms; at most ${runsAfter - runsBefore} check runs served them (1 s cache)`,
        goal: 'no errors, p99 reported',
        met: probes.errors === 0 && probes.requests > 0,
      },
    ];
  } finally {
    app.child.kill('SIGKILL');
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await run());
}
