// `npm run bench`: every benchmark in bench/ (each exports `run({ rounds })` returning table rows),
// measured side by side within its own run, printed as one table with the machine it ran on.
import { readdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { printTable } from './lib.mjs';

const dir = fileURLToPath(new URL('.', import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && f !== 'lib.mjs')
  // The million-case fuzz run has its own script (`npm run fuzz`) unless asked for by name.
  .filter((f) => (only.length === 0 ? !f.startsWith('fuzz') : only.some((o) => f.includes(o))))
  .sort();
const rows = [];
for (const f of files) {
  const mod = await import(pathToFileURL(`${dir}${f}`).href);
  if (typeof mod.run !== 'function') continue;
  process.stderr.write(`bench: ${f} ...\n`);
  try {
    rows.push(...(await mod.run({})));
  } catch (err) {
    rows.push({ row: f, compared: '', measured: `failed: ${err instanceof Error ? err.message : err}`, goal: '', met: false });
  }
}
const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(`Machine: ${cpus().length} x ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)}\n`);
printTable(rows);
