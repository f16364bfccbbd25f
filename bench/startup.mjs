// Start-up cost of `--import ./register.js` against plain node and against
// @opentelemetry/auto-instrumentations-node/register, measured side by side (interleaved rounds).
import { fileURLToPath } from 'node:url';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interleave, median, spreadPct, timeToFirstLine, fmt, printTable } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export async function run({ rounds = Number(process.env.BENCH_ROUNDS ?? 15) } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'cardlink-bench-startup-'));
  const app = join(dir, 'app.mjs');
  writeFileSync(app, "console.log('ready');\n");
  // Same exporters on both sides: a Prometheus pull endpoint, no OTLP, no collector.
  const common = { OTEL_EXPORTER_PROMETHEUS_PORT: '0', CARDLINK_HEALTH_ENABLED: 'false' };
  const results = await interleave(
    {
      plain: () => timeToFirstLine([app], {}, ROOT),
      cardlink: () => timeToFirstLine(['--import', './register.js', app], common, ROOT),
      auto: () =>
        timeToFirstLine(['--import', '@opentelemetry/auto-instrumentations-node/register', app], {
          ...common,
          OTEL_TRACES_EXPORTER: 'none',
          OTEL_LOGS_EXPORTER: 'none',
          OTEL_METRICS_EXPORTER: 'prometheus',
        }, ROOT),
    },
    rounds,
  );
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
  const ours = m.cardlink - m.plain;
  const theirs = m.auto - m.plain;
  const ratio = ours / theirs;
  return [
    {
      row: 'start-up of `--import ./register.js`',
      compared: 'plain node; `@opentelemetry/auto-instrumentations-node/register`',
      measured: `plain ${fmt(m.plain)} ms, ours ${fmt(m.cardlink)} ms (±${fmt(spreadPct(results.cardlink))}%), auto ${fmt(m.auto)} ms; added cost ${fmt(ours)} vs ${fmt(theirs)} ms = ${fmt(ratio, 2)}x`,
      goal: '<= 0.5x the auto-instrumentations\' added cost',
      met: ratio <= 0.5,
    },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printTable(await run({ rounds: Number(process.env.BENCH_ROUNDS ?? 15) }));
