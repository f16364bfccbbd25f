// `npm run bench`: every benchmark in bench/ (each exports `run({ rounds })` returning table rows),
// measured side by side within its own run, printed as one table with the machine it ran on.
// `npm run bench -- --readme` also writes the table into README.md (between the bench-table markers).
// Names given on the command line pick benchmarks: `npm run bench -- startup tls`.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const args = process.argv.slice(2);
const writeReadme = args.includes('--readme');
const only = args.filter((a) => !a.startsWith('--'));
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && f !== 'lib.mjs')
  // The million-case fuzz run and the soak have their own scripts unless asked for by name.
  .filter((f) => (only.length === 0 ? !f.startsWith('fuzz') && !f.startsWith('soak') : only.some((o) => f.includes(o))))
  .sort();
const rows = [];
for (const f of files) {
  const mod = await import(pathToFileURL(`${dir}${f}`).href);
  if (typeof mod.run !== 'function') continue;
  process.stderr.write(`bench: ${f} ...\n`);
  try {
    // A benchmark that hangs (a stuck peer, a pty that stops draining) must not hang the table.
    const limitMs = Number(process.env.BENCH_TIMEOUT_MS ?? 600_000);
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`did not finish within ${limitMs / 1000} s`)), limitMs);
    });
    rows.push(...(await Promise.race([mod.run({}), timeout])));
    clearTimeout(timer);
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
// Peers of a benchmark that timed out may still hold the event loop.
process.exit(0);
