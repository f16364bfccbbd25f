// Per-query cost of the sqlite instrumentation: a point SELECT by primary key on better-sqlite3
// (`:memory:`, 10 000 devices), uninstrumented vs instrumented, interleaved rounds in one process
// (the Statement prototype is patched and restored between rounds with enable()/disable()).
// Two processes: with the real SDK (every query a sampled span, created and ended but not
// exported, and a histogram record) and without it (the patch alone). Printed as ns per query and
// the ratio, and the community peer (opentelemetry-plugin-better-sqlite3) measured the same way.
//
// Needs `npm run build` (imports dist/). `node bench/sqlite.mjs` or `npm run bench sqlite`.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { metrics, trace } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { interleave, median, spreadPct, fmt, printTable } from './lib.mjs';

const DIST = new URL('../dist/', import.meta.url);
const SELF = fileURLToPath(import.meta.url);
const ROWS = 10_000;
const QUERIES = 100_000;
const GOAL_NS = 2000;

class Reader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}

/**
 * One variant in this process: `sdk` (tracer and meter providers of the SDK, every query a sampled
 * span and a histogram record) or `noop` (no SDK: the API's no-op providers, i.e. the cost of the
 * patch itself). Returns the per-query ns of each round, plain and instrumented, interleaved.
 */
async function measure(variant, rounds) {
  const { catalogueViews } = await import(new URL('src/metrics/views.js', DIST).href);
  const { SqliteInstrumentation } = await import(new URL('instrumentations/db/index.js', DIST).href);
  let tracerProvider;
  let meterProvider;
  if (variant === 'sdk' || variant === 'peer') {
    tracerProvider = new BasicTracerProvider(); // spans are sampled, created and ended; not exported
    trace.setGlobalTracerProvider(tracerProvider);
    // As `register` sets it up: the fast histograms' producer on the reader, bound before any instrument is made.
    const { FastHistogramProducer } = await import(new URL('src/metrics/fast-histogram.js', DIST).href);
    const producer = new FastHistogramProducer();
    meterProvider = new MeterProvider({ views: catalogueViews(), readers: [new Reader({ metricProducers: [producer] })] });
    producer.bindProvider(meterProvider);
    metrics.setGlobalMeterProvider(meterProvider);
  }
  let instr;
  if (variant === 'peer') {
    // The community plugin, on the same SDK providers (it records a span per statement call).
    const { BetterSqlite3Instrumentation } = createRequire(import.meta.url)('opentelemetry-plugin-better-sqlite3');
    instr = new BetterSqlite3Instrumentation();
  } else instr = new SqliteInstrumentation();
  registerInstrumentations({ instrumentations: [instr], tracerProvider, meterProvider });
  // Loaded after the hook is in place, as under --import ./register.js.
  const Database = createRequire(import.meta.url)('better-sqlite3');

  const db = new Database(':memory:');
  db.exec('CREATE TABLE devices (id INTEGER PRIMARY KEY, iccid TEXT NOT NULL, device_type TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO devices (id, iccid, device_type) VALUES (?, ?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= ROWS; i++) insert.run(i, `8944${String(i).padStart(16, '0')}`, i % 2 ? 'modem' : 'phone');
  })();
  const SQL = 'SELECT id, iccid, device_type FROM devices WHERE id = ?';
  // The peer wraps each statement at prepare: its plain rounds need a statement prepared without it.
  instr.disable();
  const plainStmt = db.prepare(SQL);
  instr.enable();
  const stmt = variant === 'peer' ? db.prepare(SQL) : plainStmt;

  let sink = 0;
  const pointSelects = (s) => () => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < QUERIES; i++) sink += s.get((i % ROWS) + 1).id;
    return Number(process.hrtime.bigint() - t0) / QUERIES;
  };
  const on = (fn) => () => (instr.enable(), fn());
  const off = (fn) => () => (instr.disable(), fn());
  const r = await interleave({ plain: off(pointSelects(plainStmt)), instrumented: on(pointSelects(stmt)) }, rounds, 2);
  instr.disable();
  db.close();
  if (sink === 0) throw new Error('no rows read');
  return r;
}

/** Each variant in its own process: global providers cannot be swapped in one. */
function inChild(variant, rounds) {
  const out = execFileSync(process.execPath, [SELF, '--variant', variant, String(rounds)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop());
}

function row(name, compared, r, goal, met) {
  const plain = median(r.plain);
  const ours = median(r.instrumented);
  const added = ours - plain;
  return {
    row: name,
    compared,
    measured: `${fmt(plain, 0)} ns -> ${fmt(ours, 0)} ns per query (+${fmt(added, 0)} ns, x${fmt(ours / plain, 2)}; spread ${fmt(spreadPct(r.plain))}% / ${fmt(spreadPct(r.instrumented))}%)`,
    goal,
    met: met(added),
  };
}

export async function run({ rounds = Number(process.env.BENCH_ROUNDS ?? 7) } = {}) {
  const sdk = inChild('sdk', rounds);
  const peer = inChild('peer', rounds);
  const noop = inChild('noop', rounds);
  const peerAdded = median(peer.instrumented) - median(peer.plain);
  return [
    row(
      'sqlite: point SELECT by primary key, with the SDK (span + histogram per query)',
      'uninstrumented better-sqlite3, same run',
      sdk,
      `< ${GOAL_NS} ns added and below the peer's added cost`,
      (a) => a < GOAL_NS && a < peerAdded,
    ),
    row('sqlite: the community peer (opentelemetry-plugin-better-sqlite3), same SDK', 'uninstrumented better-sqlite3, same run', peer, '(reference)', () => true),
    row('sqlite: point SELECT by primary key, no SDK (the patch alone)', 'uninstrumented better-sqlite3, same run', noop, '< 300 ns added', (a) => a < 300),
  ];
}

const variantAt = process.argv.indexOf('--variant');
if (variantAt > 0) {
  const r = await measure(process.argv[variantAt + 1], Number(process.argv[variantAt + 2] ?? 7));
  console.log(JSON.stringify(r));
} else if (process.argv[1] === SELF) printTable(await run());
