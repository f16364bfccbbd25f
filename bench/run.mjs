// `npm run bench`: every benchmark in bench/ (each exports `run({ rounds })` returning table rows),
// measured side by side within its own run, printed as one table with the machine it ran on.
// `npm run bench -- --readme` also writes the table into README.md (between the bench-table markers).
// Names given on the command line pick benchmarks: `npm run bench -- startup tls`.
//
// Each benchmark runs in a child process of its own (`node bench/run.mjs --child <file>`, its rows
// sent back over IPC). In one process the first benchmark's global tracer and meter providers
// stayed registered (the OTel API refuses a second registration), so the later ones recorded into
// them, and each inherited the heap and JIT state the ones before it left.
import { fork } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const args = process.argv.slice(2);

if (args[0] === '--child') {
  const mod = await import(pathToFileURL(`${dir}${args[1]}`).href);
  const rows = typeof mod.run === 'function' ? await mod.run({}) : null;
  // Peers of a benchmark may still hold the event loop.
  process.send(rows, () => process.exit(0));
} else {
  await main();
  process.exit(0);
}

async function main() {
  const writeReadme = args.includes('--readme');
  const only = args.filter((a) => !a.startsWith('--'));
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && f !== 'lib.mjs')
    // The million-case fuzz run and the soak have their own scripts unless asked for by name.
    .filter((f) => (only.length === 0 ? !f.startsWith('fuzz') && !f.startsWith('soak') : only.some((o) => f.includes(o))))
    .sort();
  const rows = [];
  for (const f of files) {
    process.stderr.write(`bench: ${f} ...\n`);
    try {
      // A benchmark that hangs (a stuck peer, a pty that stops draining) must not hang the table.
      const got = await runChild(f, Number(process.env.BENCH_TIMEOUT_MS ?? 600_000));
      if (got !== null) rows.push(...got);
    } catch (err) {
      rows.push({ row: f, compared: '', measured: `failed: ${err instanceof Error ? err.message : err}`, goal: '', met: false });
    }
  }
  const machine = `Machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}, load average ${loadavg()[0].toFixed(1)} at the end, ${new Date().toISOString().slice(0, 10)}`;
  const table = [
    machine,
    '',
    '| row | compared with | measured | goal | met |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.row} | ${r.compared} | ${r.measured} | ${r.goal} | ${r.met ? 'yes' : '**no**'} |`),
  ].join('\n');
  console.log(table);
  if (writeReadme) {
    const readme = fileURLToPath(new URL('../README.md', import.meta.url));
    const text = readFileSync(readme, 'utf8');
    const start = text.indexOf('<!-- bench-table -->');
    const end = text.indexOf('<!-- /bench-table -->');
    if (start < 0 || end < start) throw new Error('README.md has no bench-table markers');
    writeFileSync(readme, `${text.slice(0, start)}<!-- bench-table -->\n${table}\n${text.slice(end)}`);
    process.stderr.write('bench: README.md updated\n');
  }
}

/** bench/<file> in a child process of its own: its rows, or null when it exports no run(). */
function runChild(file, limitMs) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--child', file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let rows;
    let reported = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`did not finish within ${limitMs / 1000} s`));
    }, limitMs);
    child.on('message', (m) => {
      rows = m;
      reported = true;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (reported) resolve(rows);
      else reject(new Error(`exited with ${signal ?? `code ${code}`} before reporting its rows`));
    });
  });
}
