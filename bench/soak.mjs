// `npm run soak`: the demo lab (`node --import ./register.js dist/examples/demo.js --duration N`)
// for SOAK_SECONDS (default 600) with traces, metrics and logs going to a real OTLP/gRPC receiver.
// Every 5 s its /metrics is scraped: RSS and heap come from `cardlink_process_memory_bytes`, the
// session counters are checked against the handshake counter. After the warm-up (SOAK_WARMUP_SECONDS,
// default 60) a least-squares line through the samples gives the growth per minute. At the end the
// SDK's final OTLP export (sent by its shutdown, after the admin server closed) must show
// `cardlink_sessions_active` = 0 and every successful handshake as an ended session, and the
// sessions the demo says it ran must all be accounted for on the server side.
//
// Needs `npm run build` (imports dist/). Not part of `npm run bench` (it exports `soak`, not `run`).
import { spawn } from 'node:child_process';
import { existsSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { fmt, printTable } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dist = (p) => import(`${ROOT}dist/${p}`);

/**
 * The OTLP receiver fixture loads its .proto files from beside itself; tsc does not copy them to
 * dist/, so the compiled fixture gets a link to the sources' copy (dist/ is build output).
 */
function linkProtos() {
  const target = `${ROOT}dist/test/fixtures/otlp-proto`;
  if (!existsSync(target)) symlinkSync(`${ROOT}test/fixtures/otlp-proto`, target, 'dir');
}

/** Goals stated before measuring: a leak of either size would show within ten minutes. */
export const GOALS = { rssMbPerMin: 2, heapMbPerMin: 0.5 };

function get(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('scrape timed out')));
    req.on('error', reject);
  });
}

/** Least-squares slope of y over x (units of y per unit of x). */
export function slope(points) {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

const sumOf = (metric, filter = () => true) =>
  (metric?.dataPoints ?? []).filter((p) => filter(p.attributes)).reduce((s, p) => s + (p.value ?? 0), 0);

export async function soak({
  seconds = Number(process.env.SOAK_SECONDS ?? 600),
  warmupSeconds = Number(process.env.SOAK_WARMUP_SECONDS ?? Math.min(60, Math.floor(seconds / 4))),
  sampleMs = 5000,
  log = (s) => process.stderr.write(`${s}\n`),
} = {}) {
  const { parsePrometheusText, sumSamples } = await dist('src/prom/text-parser.js');
  linkProtos();
  const { startOtlpReceiver } = await dist('test/fixtures/otlp-receiver.js');
  const receiver = await startOtlpReceiver();
  const child = spawn(process.execPath, ['--import', './register.js', 'dist/examples/demo.js', '--duration', String(seconds)], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      OTEL_EXPORTER_PROMETHEUS_PORT: '0',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      CARDLINK_HEALTH_PORT: '0',
      CARDLINK_HEALTH_HOST: '127.0.0.1',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_METRIC_EXPORT_INTERVAL: '10000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const lines = [];
  let metricsUrl;
  const gotUrl = new Promise((resolve) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      lines.push(l);
      const m = /^metrics: (http:\S+)/.exec(l);
      if (m) {
        metricsUrl = m[1];
        resolve();
      }
    });
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const hardLimit = setTimeout(() => child.kill('SIGKILL'), (seconds + 120) * 1000);
  await Promise.race([gotUrl, exited]);
  if (metricsUrl === undefined) throw new Error(`the demo did not start: ${stderr}`);
  const t0 = Date.now();
  log(`soak: demo lab running for ${seconds} s, scraping ${metricsUrl} every ${sampleMs / 1000} s`);

  const samples = [];
  const problems = [];
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    await Promise.race([new Promise((r) => setTimeout(r, sampleMs)), exited]);
    if (done) break;
    const r = await get(metricsUrl).catch((e) => ({ status: 0, body: String(e) }));
    if (r.status !== 200) {
      // The last sample may race the demo's own shutdown of the endpoint.
      if (Date.now() - t0 < (seconds - 2) * 1000) problems.push(`scrape failed: ${r.status} ${r.body.slice(0, 200)}`);
      continue;
    }
    const { families, errors } = parsePrometheusText(r.body);
    if (errors.length > 0) problems.push(`unparsable /metrics: ${errors[0]}`);
    const fam = (n) => families.get(n) ?? families.get(n.replace(/_total$/, ''));
    const mem = fam('cardlink_process_memory_bytes');
    const s = {
      t: (Date.now() - t0) / 1000,
      rss: sumSamples(mem, { type: 'rss' }),
      heap: sumSamples(mem, { type: 'heap_used' }),
      ended: sumSamples(fam('cardlink_sessions_total')),
      active: sumSamples(fam('cardlink_sessions_active')),
      handshakes: sumSamples(fam('cardlink_tls_handshakes_total'), { result: 'success' }),
    };
    samples.push(s);
    // A session is counted ended or active only after its handshake succeeded: never more
    // sessions than handshakes, and the gap is what is in flight (a handful at most).
    if (s.ended + s.active > s.handshakes) problems.push(`t=${s.t}s: ${s.ended} ended + ${s.active} active > ${s.handshakes} handshakes`);
    if (s.handshakes - s.ended - s.active > 5) problems.push(`t=${s.t}s: ${s.handshakes - s.ended - s.active} handshakes without a session`);
    // Spans and logs are not needed here; keep the receiver's memory flat over a long run.
    const keep = receiver.latestMetric('cardlink.sessions');
    receiver.spans.length = 0;
    receiver.logs.length = 0;
    receiver.metrics.length = 0;
    if (keep) receiver.metrics.push(keep);
    log(`soak: t=${fmt(s.t, 0)} s rss ${fmt(s.rss / 2 ** 20)} MB heap ${fmt(s.heap / 2 ** 20)} MB sessions ${s.ended} ended + ${s.active} active`);
  }
  const exit = await exited;
  clearTimeout(hardLimit);
  if (exit.code !== 0) problems.push(`the demo exited ${JSON.stringify(exit)}: ${stderr.slice(-500)}`);
  const unexpected = stderr.split('\n').filter((l) => l.trim() !== '');
  if (unexpected.length > 0) problems.push(`stderr: ${unexpected.slice(0, 3).join(' | ')}`);

  // The demo's own account: `ran N s: X sessions (Y completed), Z APDUs`.
  const ran = lines.map((l) => /: (\d+) sessions \((\d+) completed\), (\d+) APDUs/.exec(l)).find(Boolean);
  const demoSessions = ran ? Number(ran[1]) : NaN;
  if (!ran) problems.push('the demo did not report its sessions');

  // The final export happens in the SDK's shutdown, after the admin server closed every socket.
  await receiver.waitFor((r) => r.metrics.some((m) => m.name === 'cardlink.sessions.active'), 10_000, 'the final export').catch((e) =>
    problems.push(String(e.message).split('\n')[0]),
  );
  const finalEnded = sumOf(receiver.latestMetric('cardlink.sessions'));
  const finalActive = sumOf(receiver.latestMetric('cardlink.sessions.active'));
  const hs = receiver.latestMetric('cardlink.tls.handshakes');
  const finalHandshakes = sumOf(hs, (a) => a.result === 'success');
  const finalFailedHandshakes = sumOf(hs, (a) => a.result === 'failed');
  await receiver.close();
  if (finalActive !== 0) problems.push(`cardlink_sessions_active = ${finalActive} after the stop`);
  if (finalEnded !== finalHandshakes) problems.push(`${finalHandshakes} sessions started (handshakes) but ${finalEnded} ended`);
  // Every card connection the demo made is one handshake, good or bad. Rounds that were in flight
  // when the demo printed its count finish during its shutdown (at most one per round loop: 3).
  const connections = finalHandshakes + finalFailedHandshakes;
  if (!(connections >= demoSessions && connections <= demoSessions + 3)) {
    problems.push(`the demo ran ${demoSessions} card sessions, the server saw ${connections} connections`);
  }

  const warm = samples.filter((s) => s.t >= warmupSeconds);
  const perMin = (key) => (slope(warm.map((s) => [s.t / 60, s[key] / 2 ** 20])) || 0);
  const rssSlope = perMin('rss');
  const heapSlope = perMin('heap');
  const first = warm[0];
  const last = warm[warm.length - 1];
  if (warm.length < 3) problems.push(`only ${warm.length} samples after the warm-up`);
  const result = {
    seconds,
    warmupSeconds,
    samples: samples.length,
    rssSlope,
    heapSlope,
    rssMb: [first?.rss / 2 ** 20, last?.rss / 2 ** 20],
    heapMb: [first?.heap / 2 ** 20, last?.heap / 2 ** 20],
    demoSessions,
    finalEnded,
    finalActive,
    finalHandshakes,
    finalFailedHandshakes,
    problems,
  };
  const rows = [
    {
      row: `soak: demo lab ${seconds} s (${samples.length} samples, ${warm.length} after ${warmupSeconds} s warm-up)`,
      compared: 'linear fit after warm-up',
      measured:
        `RSS ${fmt(rssSlope, 2)} MB/min (${fmt(result.rssMb[0])} -> ${fmt(result.rssMb[1])} MB), ` +
        `heap ${fmt(heapSlope, 2)} MB/min (${fmt(result.heapMb[0])} -> ${fmt(result.heapMb[1])} MB)`,
      goal: `RSS < ${GOALS.rssMbPerMin} MB/min, heap < ${GOALS.heapMbPerMin} MB/min`,
      met: rssSlope < GOALS.rssMbPerMin && heapSlope < GOALS.heapMbPerMin,
    },
    {
      row: 'soak: counters after the stop',
      compared: 'demo report vs final OTLP export',
      measured:
        `demo ran ${demoSessions} card sessions; server: ${finalHandshakes + finalFailedHandshakes} connections ` +
        `(${finalFailedHandshakes} failed handshakes), ${finalHandshakes} started = ${finalEnded} ended + ${finalActive} active` +
        (problems.length ? `; problems: ${problems.slice(0, 3).join('; ')}` : ''),
      goal: 'started = ended + active, active = 0, every demo session seen',
      met: problems.length === 0,
    },
  ];
  return { rows, result };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { rows, result } = await soak();
  process.stderr.write(`${JSON.stringify(result)}\n`);
  printTable(rows);
  // Inconsistent counters or a failing demo are errors; a growth trend above the goal is reported in
  // the table (a run shorter than a few minutes has no meaningful trend).
  process.exitCode = result.problems.length === 0 ? 0 : 1;
}
