// PSK-TLS handshake + 20-APDU SCP81 session: the admin server without and with
// `--import ./register.js`, driven alternately by the card simulator in one run.
// Reported: server CPU time per session (the cost the lab pays) and session latency seen by the card.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { median, fmt, printTable } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { runCard } = await import(`${ROOT}dist/test/fixtures/card-simulator.js`);
const KEY = Buffer.from('0102030405060708090A0B0C0D0E0F10', 'hex');

function startServer(instrumented) {
  const args = [...(instrumented ? ['--import', './register.js'] : []), 'dist/test/fixtures/apps/admin-app.js'];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ADMIN_APDUS: '20', OTEL_EXPORTER_PROMETHEUS_PORT: '0', CARDLINK_HEALTH_ENABLED: 'false' },
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

async function sessions(port, n) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = await runCard({ port, identity: 'card-001', key: KEY });
    if (r.end !== 'completed' || r.exchanges.length !== 20) throw new Error(`session ended ${r.end}`);
  }
  return (performance.now() - t0) / n;
}

export async function run({ rounds = Number(process.env.BENCH_ROUNDS ?? 10), perRound = 20 } = {}) {
  const servers = { plain: startServer(false), instrumented: startServer(true) };
  const ports = { plain: await servers.plain.port, instrumented: await servers.instrumented.port };
  const cpu = { plain: [], instrumented: [] };
  const wall = { plain: [], instrumented: [] };
  try {
    for (const k of Object.keys(ports)) await sessions(ports[k], 5); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const k of r % 2 ? ['instrumented', 'plain'] : ['plain', 'instrumented']) {
        const c0 = await servers[k].cpuUs();
        wall[k].push(await sessions(ports[k], perRound));
        cpu[k].push((await servers[k].cpuUs() - c0) / perRound);
      }
    }
  } finally {
    for (const s of Object.values(servers)) s.child.kill('SIGKILL');
  }
  const cpuOver = (median(cpu.instrumented) / median(cpu.plain) - 1) * 100;
  const wallOver = (median(wall.instrumented) / median(wall.plain) - 1) * 100;
  return [
    {
      row: 'PSK-TLS handshake + 20-APDU SCP81 session',
      compared: 'uninstrumented server, same run',
      measured: `server CPU/session ${fmt(median(cpu.plain) / 1000, 2)} -> ${fmt(median(cpu.instrumented) / 1000, 2)} ms (${fmt(cpuOver)}%); card-side latency ${fmt(median(wall.plain), 2)} -> ${fmt(median(wall.instrumented), 2)} ms (${fmt(wallOver)}%)`,
      goal: '< 2% overhead',
      met: wallOver < 2,
    },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printTable(await run({ rounds: Number(process.env.BENCH_ROUNDS ?? 10) }));
