// Shared helpers for the benchmarks: interleaved rounds, robust statistics, one table format.
import { spawn } from 'node:child_process';

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median absolute deviation relative to the median, in percent: the spread we print. */
export function spreadPct(xs) {
  const m = median(xs);
  return m === 0 ? 0 : (100 * median(xs.map((x) => Math.abs(x - m)))) / m;
}

/**
 * Run each variant once per round, in a rotating order, so drift (thermal, other load) hits all
 * variants alike. `variants` maps a name to an async function returning one measurement.
 */
export async function interleave(variants, rounds, warmup = 1) {
  const names = Object.keys(variants);
  const out = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds + warmup; r++) {
    const order = names.map((_, i) => names[(i + r) % names.length]);
    for (const n of order) {
      const v = await variants[n]();
      if (r >= warmup) out[n].push(v);
    }
  }
  return out;
}

/** ms from spawn to the child's first line on stdout; the child is killed afterwards. */
export function timeToFirstLine(args, env = {}, cwd = process.cwd()) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let done = false;
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', () => {
      if (done) return;
      done = true;
      resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      child.kill('SIGKILL');
    });
    child.on('exit', (code) => {
      if (!done) reject(new Error(`child exited ${code} before printing: ${err}`));
    });
  });
}

export function fmt(n, digits = 1) {
  return Number.isFinite(n) ? n.toFixed(digits) : String(n);
}

/** Print rows as a Markdown table (the README embeds the latest one). */
export function printTable(rows) {
  const head = '| row | compared with | measured | goal | met |';
  const lines = [head, '|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.row} | ${r.compared} | ${r.measured} | ${r.goal} | ${r.met ? 'yes' : '**no**'} |`);
  console.log(lines.join('\n'));
}
