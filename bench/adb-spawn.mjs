// Overhead of the adb instrumentation, measured side by side in one process (interleaved rounds;
// child_process is patched and restored between rounds with enable()/disable(); the overhead is
// the median of the per-round ratios, 15 rounds by default):
//
//   - the goal row: spawning a non-adb child (`/bin/true`, spawn -> close) with the instrumentation
//     on vs off; every child the application starts pays this;
//   - the decision alone: the patched `spawn` in front of a stub that returns at once, vs the stub
//     (ns per call, informational: what "a few character comparisons" costs);
//   - an observed adb run (the fake adb's `version`, spawn -> close), informational: the cost of a
//     span, a histogram point and the stderr tap per adb run.
//
// Needs `npm run build` (imports dist/). `node bench/adb-spawn.mjs` or `npm run bench adb`.
import childProcess from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { metrics, trace } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { interleave, median, spreadPct, fmt, printTable } from './lib.mjs';

const DIST = new URL('../dist/', import.meta.url);
const SELF = fileURLToPath(import.meta.url);
const FAKE_ADB = fileURLToPath(new URL('../test/fixtures/fake-adb/adb', import.meta.url));
const SPAWNS_PER_ROUND = 200;
const ADB_RUNS_PER_ROUND = 100;
const CALLS_PER_ROUND = 2_000_000;

class Reader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}

/** `n` children one after the other (spawn -> close): runs per second. */
async function spawnLoop(file, args, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    await new Promise((resolve, reject) => {
      const child = childProcess.spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.resume();
      child.stderr.resume();
      child.on('error', reject);
      child.on('close', resolve);
    });
  }
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

export async function run({ rounds = Number(process.env.BENCH_ROUNDS ?? 15) } = {}) {
  const { catalogueViews } = await import(new URL('src/metrics/views.js', DIST).href);
  const { AdbInstrumentation } = await import(new URL('instrumentations/adb/index.js', DIST).href);
  const tracerProvider = new BasicTracerProvider(); // spans are sampled, created and ended; not exported
  trace.setGlobalTracerProvider(tracerProvider);
  const meterProvider = new MeterProvider({ views: catalogueViews(), readers: [new Reader()] });
  metrics.setGlobalMeterProvider(meterProvider);
  const instr = new AdbInstrumentation();
  registerInstrumentations({ instrumentations: [instr], tracerProvider, meterProvider });
  const on = (fn) => () => (instr.enable(), fn());
  const off = (fn) => () => (instr.disable(), fn());

  try {
    const nonAdb = () => spawnLoop('/bin/true', [], SPAWNS_PER_ROUND);
    const spawns = await interleave({ plain: off(nonAdb), instrumented: on(nonAdb) }, rounds);

    const adb = () => spawnLoop(FAKE_ADB, ['version'], ADB_RUNS_PER_ROUND);
    const adbRuns = await interleave({ plain: off(adb), instrumented: on(adb) }, rounds);

    // The decision alone: our wrapper in front of a stub "spawn".
    instr.disable();
    const realSpawn = childProcess.spawn;
    let sink = 0;
    const stub = function spawn(file, args) {
      sink += args.length;
      return null;
    };
    childProcess.spawn = stub;
    instr.enable();
    const wrapped = childProcess.spawn;
    instr.disable();
    childProcess.spawn = realSpawn;
    const ARGS = ['-c', 'exit 0'];
    const callLoop = (fn) => () => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < CALLS_PER_ROUND; i++) fn('/usr/local/bin/some-tool', ARGS);
      return Number(process.hrtime.bigint() - t0) / CALLS_PER_ROUND; // ns per call
    };
    instr.enable(); // the wrapper consults the instrumentation's state: keep it active
    const calls = await interleave({ plain: callLoop(stub), instrumented: callLoop(wrapped) }, rounds);
    if (sink === 0) throw new Error('unreachable');

    // Overhead: the median over rounds of plain / instrumented within the round (paired: drift and
    // other load hit both variants of a round alike), ± the median deviation of those ratios.
    const perSecond = (what, r, unit, goal, extra = '') => {
      const p = median(r.plain);
      const i = median(r.instrumented);
      const ratios = r.plain.map((x, k) => (x / r.instrumented[k] - 1) * 100);
      const overhead = median(ratios);
      const noise = median(ratios.map((x) => Math.abs(x - overhead)));
      return {
        row: `adb: ${what}`,
        compared: 'same calls, instrumentation disabled',
        measured:
          `plain ${fmt(p)} ${unit} (±${fmt(spreadPct(r.plain))}%), instrumented ${fmt(i)} ${unit} ` +
          `(±${fmt(spreadPct(r.instrumented))}%); overhead ${fmt(overhead)}% (±${fmt(noise)}, median of ${ratios.length} per-round ratios)${extra}`,
        goal: goal === null ? 'informational' : `< ${goal}% overhead`,
        met: goal === null ? true : overhead < goal,
      };
    };
    const addedPerAdbRunUs = (1 / median(adbRuns.instrumented) - 1 / median(adbRuns.plain)) * 1e6;
    const p = median(calls.plain);
    const i = median(calls.instrumented);
    return [
      perSecond('spawning a non-adb child (/bin/true)', spawns, 'spawns/s', 1),
      {
        row: 'adb: the is-this-adb decision alone (stub spawn)',
        compared: 'the stub called directly',
        measured: `plain ${fmt(p, 2)} ns/call, through the patch ${fmt(i, 2)} ns/call; ${fmt(i - p, 2)} ns added`,
        goal: 'informational',
        met: true,
      },
      perSecond('an observed adb run (fake adb version)', adbRuns, 'runs/s', null, `; ${fmt(addedPerAdbRunUs, 0)} µs added per run`),
    ];
  } finally {
    instr.disable();
  }
}

if (process.argv[1] === SELF) printTable(await run());
