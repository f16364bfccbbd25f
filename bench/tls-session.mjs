// PSK-TLS handshake + 20-APDU SCP81 session: the admin server without and with
// `--import ./register.js`, driven alternately by the card simulator in one run.
// Reported:
//   - throughput: CONCURRENCY cards at once for ROUND_MS against one server, then the other
//     (alternating, rounds interleaved): sessions per second and server CPU per session under load;
//     the overhead is the median of the per-round ratios (drift hits both alike), ± the median
//     deviation of those ratios (the noise this machine allows to resolve; a round's ratio spreads
//     about 2% on 2 cores shared with the card simulators, hence 16 rounds by default);
//   - one card at a time: server CPU time per session and the session latency seen by the card;
//   - a third server with the same instrumentation recording in batches instead of inline;
//   - the throughput row again for sessions framed like the public CardLink (one C-APDU per round
//     trip, length-prefixed), on a fourth, fifth and sixth server, plain, instrumented and batched.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { median, spreadPct, fmt, printTable } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { runCard } = await import(`${ROOT}dist/test/fixtures/card-simulator.js`);
const KEY = Buffer.from('0102030405060708090A0B0C0D0E0F10', 'hex');

function startServer(instrumented, env = {}) {
  const args = [...(instrumented ? ['--import', './register.js'] : []), 'dist/test/fixtures/apps/admin-app.js'];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ADMIN_APDUS: '20', OTEL_EXPORTER_PROMETHEUS_PORT: '0', CARDLINK_HEALTH_ENABLED: 'false', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const waiters = [];
  lines.on('line', (l) => waiters.shift()?.(l));
  const next = () => new Promise((r) => waiters.push(r));
  return {
    child,
    port: next().then((l) => Number(l.split(' ')[1])),
    async cpuUs() {
      const p = next();
      child.kill('SIGUSR2');
      return Number((await p).split(' ')[1]);
    },
  };
}

const CONCURRENCY = Number(process.env.BENCH_TLS_CONCURRENCY ?? 8);
const ROUND_MS = Number(process.env.BENCH_TLS_ROUND_MS ?? 2000);

/** CONCURRENCY cards looping for ROUND_MS: completed sessions per second. */
async function load(port, cardlink) {
  let done = 0;
  const until = performance.now() + ROUND_MS;
  const t0 = performance.now();
  const card = async () => {
    while (performance.now() < until) {
      const r = await runCard({ port, identity: 'card-001', key: KEY, cardlink });
      if (r.end !== 'completed' || r.exchanges.length !== 20) throw new Error(`session ended ${r.end}`);
      done++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, card));
  return { perSecond: done / ((performance.now() - t0) / 1000), sessions: done };
}

async function sessions(port, n) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = await runCard({ port, identity: 'card-001', key: KEY });
    if (r.end !== 'completed' || r.exchanges.length !== 20) throw new Error(`session ended ${r.end}`);
  }
  return (performance.now() - t0) / n;
}

export async function run({ rounds = Number(process.env.BENCH_ROUNDS ?? 16), perRound = 20 } = {}) {
  // `batched`: the same instrumentation journaling events and recording them in batches instead of inline.
  const cardlinkEnv = { ADMIN_CARDLINK: '1' };
  const servers = {
    plain: startServer(false),
    instrumented: startServer(true),
    batched: startServer(true, { CARDLINK_TLS_RECORDING_DELAY_MS: '100' }),
    clPlain: startServer(false, cardlinkEnv),
    clInstrumented: startServer(true, cardlinkEnv),
    clBatched: startServer(true, { ...cardlinkEnv, CARDLINK_TLS_RECORDING_DELAY_MS: '100' }),
  };
  const cardlink = (k) => k.startsWith('cl');
  const ports = {};
  for (const k of Object.keys(servers)) ports[k] = await servers[k].port;
  const cpu = { plain: [], instrumented: [], batched: [] };
  const wall = { plain: [], instrumented: [], batched: [] };
  const tput = { plain: [], instrumented: [], batched: [], clPlain: [], clInstrumented: [], clBatched: [] };
  const loadCpu = { plain: [], instrumented: [], batched: [], clPlain: [], clInstrumented: [], clBatched: [] };
  const ratios = [];
  const clRatios = [];
  try {
    for (const k of Object.keys(cpu)) await sessions(ports[k], 5); // warm-up
    for (const k of ['clPlain', 'clInstrumented', 'clBatched']) await load(ports[k], true);
    for (let r = 0; r < rounds; r++) {
      const names = Object.keys(servers);
      const order = names.map((_, i) => names[(i + r) % names.length]);
      for (const k of order) {
        const c0 = await servers[k].cpuUs();
        const { perSecond, sessions: n } = await load(ports[k], cardlink(k));
        tput[k].push(perSecond);
        loadCpu[k].push((await servers[k].cpuUs() - c0) / n);
      }
      ratios.push(tput.plain[r] / tput.instrumented[r]);
      clRatios.push(tput.clPlain[r] / tput.clInstrumented[r]);
      for (const k of order) {
        if (cardlink(k)) continue;
        const c0 = await servers[k].cpuUs();
        wall[k].push(await sessions(ports[k], perRound));
        cpu[k].push((await servers[k].cpuUs() - c0) / perRound);
      }
    }
  } finally {
    for (const s of Object.values(servers)) s.child.kill('SIGKILL');
  }
  const tputOver = (median(ratios) - 1) * 100;
  const tputNoise = median(ratios.map((r) => Math.abs((r - 1) * 100 - tputOver)));
  const loadCpuOver = (median(loadCpu.instrumented) / median(loadCpu.plain) - 1) * 100;
  const cpuOver = (median(cpu.instrumented) / median(cpu.plain) - 1) * 100;
  const wallOver = (median(wall.instrumented) / median(wall.plain) - 1) * 100;
  const clOver = (median(clRatios) - 1) * 100;
  const clNoise = median(clRatios.map((r) => Math.abs((r - 1) * 100 - clOver)));
  const clCpuOver = (median(loadCpu.clInstrumented) / median(loadCpu.clPlain) - 1) * 100;
  return [
    {
      row: `PSK-TLS handshake + 20-APDU SCP81 session throughput, ${CONCURRENCY} cards at once`,
      compared: 'uninstrumented server, same run',
      measured: `${fmt(median(tput.plain))} -> ${fmt(median(tput.instrumented))} sessions/s (spread ${fmt(spreadPct(tput.plain))}% / ${fmt(spreadPct(tput.instrumented))}%); overhead ${fmt(tputOver)}% (±${fmt(tputNoise)}, median of ${rounds} per-round ratios); server CPU/session under load ${fmt(median(loadCpu.plain) / 1000, 2)} -> ${fmt(median(loadCpu.instrumented) / 1000, 2)} ms (${fmt(loadCpuOver)}%)`,
      goal: '< 2% overhead',
      met: tputOver < 2,
    },
    {
      row: `PSK-TLS handshake + 20 APDUs framed like the public CardLink (one per round trip), ${CONCURRENCY} cards at once`,
      compared: 'uninstrumented server, same run',
      measured: `${fmt(median(tput.clPlain))} -> ${fmt(median(tput.clInstrumented))} sessions/s (spread ${fmt(spreadPct(tput.clPlain))}% / ${fmt(spreadPct(tput.clInstrumented))}%); overhead ${fmt(clOver)}% (±${fmt(clNoise)}, median of ${rounds} per-round ratios); server CPU/session under load ${fmt(median(loadCpu.clPlain) / 1000, 2)} -> ${fmt(median(loadCpu.clInstrumented) / 1000, 2)} ms (${fmt(clCpuOver)}%)`,
      goal: '< 2% overhead',
      met: clOver < 2,
    },
    {
      row: 'PSK-TLS handshake + 20-APDU SCP81 session, one card at a time',
      compared: 'uninstrumented server, same run',
      measured: `server CPU/session ${fmt(median(cpu.plain) / 1000, 2)} -> ${fmt(median(cpu.instrumented) / 1000, 2)} ms (${fmt(cpuOver)}%); card-side latency ${fmt(median(wall.plain), 2)} -> ${fmt(median(wall.instrumented), 2)} ms (${fmt(wallOver)}%)`,
      goal: 'informational',
      met: true,
    },
    {
      row: 'the same, recording in batches (`CARDLINK_TLS_RECORDING_DELAY_MS=100`) instead of inline',
      compared: 'uninstrumented and inline servers, same run',
      measured: `server CPU/session under load ${fmt(median(loadCpu.plain) / 1000, 2)} ms plain, ${fmt(median(loadCpu.instrumented) / 1000, 2)} inline, ${fmt(median(loadCpu.batched) / 1000, 2)} batched; one card at a time ${fmt(median(cpu.plain) / 1000, 2)} / ${fmt(median(cpu.instrumented) / 1000, 2)} / ${fmt(median(cpu.batched) / 1000, 2)} ms; CardLink-framed under load ${fmt(median(loadCpu.clPlain) / 1000, 2)} / ${fmt(median(loadCpu.clInstrumented) / 1000, 2)} / ${fmt(median(loadCpu.clBatched) / 1000, 2)} ms`,
      goal: 'informational',
      met: true,
    },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printTable(await run());
