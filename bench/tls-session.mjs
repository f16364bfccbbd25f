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
//     trip, length-prefixed), on a fourth, fifth and sixth server, plain, instrumented and batched;
//   - that load's server CPU per session with the tls instrumentation switched off and on in the
//     same processes (bench/helpers/toggle-tls.mjs): what the instrumentation adds, without the
//     differences between processes.
// Each of those servers is PROCESSES processes, taken in turn from round to round (every plain
// process meets every instrumented one): two processes of the same server differ in CPU per session
// for as long as they run, and one process per server would put that difference into the result.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { median, spreadPct, fmt, printTable } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { runCard } = await import(`${ROOT}dist/test/fixtures/card-simulator.js`);
const KEY = Buffer.from('0102030405060708090A0B0C0D0E0F10', 'hex');

/** `instrumented`: false, true, or 'toggled' (instrumented, and SIGUSR1 switches its tls instrumentation off and on). */
function startServer(instrumented, env = {}) {
  const imports = instrumented === 'toggled' ? ['--import', './register.js', '--import', './bench/helpers/toggle-tls.mjs'] : instrumented ? ['--import', './register.js'] : [];
  const args = [...imports, 'dist/test/fixtures/apps/admin-app.js'];
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
    /** 'off' or 'on': the state the tls instrumentation was switched to. */
    async toggle() {
      const p = next();
      child.kill('SIGUSR1');
      return (await p).split(' ')[1];
    },
  };
}

/**
 * The CardLink-framed load on PROCESSES instrumented servers whose tls instrumentation is switched
 * off and on between measurements: server CPU per session in both states of the same process.
 */
async function inProcess(rounds) {
  const servers = Array.from({ length: PROCESSES }, () => startServer('toggled', { ADMIN_CARDLINK: '1' }));
  const ports = await Promise.all(servers.map((s) => s.port));
  const cpu = servers.map(() => ({ on: [], off: [] }));
  try {
    for (const port of ports) await load(port, true, ROUND_MS / 2); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < servers.length; k++) {
        for (let phase = 0; phase < 2; phase++) {
          const state = await servers[k].toggle();
          if (state !== 'on' && state !== 'off') throw new Error(`toggle answered ${state}`);
          await load(ports[k], true, ROUND_MS / 4); // settle: the patches changed under the optimized code
          const c0 = await servers[k].cpuUs();
          const { sessions: n } = await load(ports[k], true);
          cpu[k][state].push((await servers[k].cpuUs() - c0) / n);
        }
      }
    }
  } finally {
    for (const s of servers) s.child.kill('SIGKILL');
  }
  return cpu.map((c) => ({ off: median(c.off), on: median(c.on) }));
}

const CONCURRENCY = Number(process.env.BENCH_TLS_CONCURRENCY ?? 8);
const PROCESSES = Math.max(1, Number(process.env.BENCH_TLS_PROCESSES ?? 3));
const ROUND_MS = Number(process.env.BENCH_TLS_ROUND_MS ?? 2000);

/** CONCURRENCY cards looping for ROUND_MS: completed sessions per second. */
async function load(port, cardlink, ms = ROUND_MS) {
  let done = 0;
  const until = performance.now() + ms;
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
  const each = (instrumented, env) => Array.from({ length: PROCESSES }, () => startServer(instrumented, env));
  const servers = {
    plain: each(false),
    instrumented: each(true),
    batched: each(true, { CARDLINK_TLS_RECORDING_DELAY_MS: '100' }),
    clPlain: each(false, cardlinkEnv),
    clInstrumented: each(true, cardlinkEnv),
    clBatched: each(true, { ...cardlinkEnv, CARDLINK_TLS_RECORDING_DELAY_MS: '100' }),
  };
  const cardlink = (k) => k.startsWith('cl');
  const ports = {};
  for (const k of Object.keys(servers)) ports[k] = await Promise.all(servers[k].map((s) => s.port));
  // Round r: plain process r mod P against instrumented process (r + floor(r / P)) mod P, so that
  // P*P rounds pair every plain process with every instrumented one.
  const pick = (k, r) => (k === 'plain' || k === 'clPlain' ? r : r + Math.floor(r / PROCESSES)) % PROCESSES;
  const cpu = { plain: [], instrumented: [], batched: [] };
  const wall = { plain: [], instrumented: [], batched: [] };
  const tput = { plain: [], instrumented: [], batched: [], clPlain: [], clInstrumented: [], clBatched: [] };
  const loadCpu = { plain: [], instrumented: [], batched: [], clPlain: [], clInstrumented: [], clBatched: [] };
  const ratios = [];
  const clRatios = [];
  try {
    for (const k of Object.keys(servers)) for (const port of ports[k]) await load(port, cardlink(k), ROUND_MS / 2); // warm-up
    for (let r = 0; r < rounds; r++) {
      const names = Object.keys(servers);
      const order = names.map((_, i) => names[(i + r) % names.length]);
      for (const k of order) {
        const server = servers[k][pick(k, r)];
        const c0 = await server.cpuUs();
        const { perSecond, sessions: n } = await load(ports[k][pick(k, r)], cardlink(k));
        tput[k].push(perSecond);
        loadCpu[k].push((await server.cpuUs() - c0) / n);
      }
      ratios.push(tput.plain[r] / tput.instrumented[r]);
      clRatios.push(tput.clPlain[r] / tput.clInstrumented[r]);
      for (const k of order) {
        if (cardlink(k)) continue;
        const server = servers[k][pick(k, r)];
        const c0 = await server.cpuUs();
        wall[k].push(await sessions(ports[k][pick(k, r)], perRound));
        cpu[k].push((await server.cpuUs() - c0) / perRound);
      }
    }
  } finally {
    for (const list of Object.values(servers)) for (const s of list) s.child.kill('SIGKILL');
  }
  const tputOver = (median(ratios) - 1) * 100;
  const tputNoise = median(ratios.map((r) => Math.abs((r - 1) * 100 - tputOver)));
  const loadCpuOver = (median(loadCpu.instrumented) / median(loadCpu.plain) - 1) * 100;
  const cpuOver = (median(cpu.instrumented) / median(cpu.plain) - 1) * 100;
  const wallOver = (median(wall.instrumented) / median(wall.plain) - 1) * 100;
  const clOver = (median(clRatios) - 1) * 100;
  const clNoise = median(clRatios.map((r) => Math.abs((r - 1) * 100 - clOver)));
  const clCpuOver = (median(loadCpu.clInstrumented) / median(loadCpu.clPlain) - 1) * 100;
  const toggled = await inProcess(Math.max(3, Math.round(rounds / 3)));
  const toggledOver = toggled.map((p) => (p.on / p.off - 1) * 100);
  return [
    {
      row: `PSK-TLS handshake + 20-APDU SCP81 session throughput, ${CONCURRENCY} cards at once`,
      compared: 'uninstrumented server, same run',
      measured: `${fmt(median(tput.plain))} -> ${fmt(median(tput.instrumented))} sessions/s (spread ${fmt(spreadPct(tput.plain))}% / ${fmt(spreadPct(tput.instrumented))}%); overhead ${fmt(tputOver)}% (±${fmt(tputNoise)}, median of ${rounds} per-round ratios, ${PROCESSES} processes each); server CPU/session under load ${fmt(median(loadCpu.plain) / 1000, 2)} -> ${fmt(median(loadCpu.instrumented) / 1000, 2)} ms (${fmt(loadCpuOver)}%)`,
      goal: '< 2% overhead',
      met: tputOver < 2,
    },
    {
      row: `PSK-TLS handshake + 20 APDUs framed like the public CardLink (one per round trip), ${CONCURRENCY} cards at once`,
      compared: 'uninstrumented server, same run',
      measured: `${fmt(median(tput.clPlain))} -> ${fmt(median(tput.clInstrumented))} sessions/s (spread ${fmt(spreadPct(tput.clPlain))}% / ${fmt(spreadPct(tput.clInstrumented))}%); overhead ${fmt(clOver)}% (±${fmt(clNoise)}, median of ${rounds} per-round ratios, ${PROCESSES} processes each); server CPU/session under load ${fmt(median(loadCpu.clPlain) / 1000, 2)} -> ${fmt(median(loadCpu.clInstrumented) / 1000, 2)} ms (${fmt(clCpuOver)}%)`,
      goal: '< 2% overhead',
      met: clOver < 2,
    },
    {
      row: `the CardLink-framed row with the tls instrumentation switched off and on in the same ${PROCESSES} processes`,
      compared: 'the same process, tls instrumentation disabled',
      measured: `server CPU/session under load ${fmt(median(toggled.map((p) => p.off)) / 1000, 2)} -> ${fmt(median(toggled.map((p) => p.on)) / 1000, 2)} ms; overhead ${fmt(median(toggledOver))}% (median of the processes: ${toggledOver.map((o) => fmt(o)).join(', ')}%)`,
      goal: 'informational',
      met: true,
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
