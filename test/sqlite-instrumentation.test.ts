/**
 * The sqlite instrumentation in-process with the real SDK and the real better-sqlite3 12: the
 * CardLink data layer on a temp file and on `:memory:`, every Statement method, transactions,
 * pragmas, errors (the application must get exactly the error it gets without us), the gauge,
 * the health hooks, and secrets that must never show.
 */
import t from 'tap';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type BetterSqlite3 from 'better-sqlite3';
import { SqliteInstrumentation } from '../instrumentations/db/index.js';
import { openDatabases, pingDatabases, pingHandle, trackedCount } from '../instrumentations/db/health.js';
import { setupHarness, eventually } from './helpers/otel-harness.js';
import { deltaFor } from './helpers/db-delta.js';
import { wrapOver } from './helpers/foreign-wrapper.js';
import { CardlinkStore, runWorkload, sqliteRunner, WORKLOAD, WORKLOAD_QUERY_COUNTS } from './fixtures/data-layer.js';
import type { SlowQueryInfo } from '../instrumentations/db/types.js';
import { describeDbError } from '../instrumentations/db/db-errors.js';
import { firstKeyword, sqliteNamespace } from '../instrumentations/db/recorder.js';
import { setTracingEnabled } from '../src/tracing-state.js';
import fc from 'fast-check';

const slow: SlowQueryInfo[] = [];
const instr = new SqliteInstrumentation({ onSlowQuery: (i) => slow.push(i) });
const h = setupHarness([instr]);
t.teardown(() => h.shutdown());

// Loaded only now, through require: the require hook sees better-sqlite3 and its native addon.
const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as typeof BetterSqlite3;
type Db = BetterSqlite3.Database;

const dir = mkdtempSync(join(tmpdir(), 'cardlink-sqlite-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const delta = deltaFor(h);

const gauge = (): Promise<number> => h.value('cardlink_db_connections_active');

t.test('the CardLink data layer on a temp file and on :memory:: exact spans and counts, gauge back to 0', async (t) => {
  t.equal(await gauge(), 0);
  const file = join(dir, 'cardlink.db');
  const fileDb = new Database(file);
  const memDb = new Database(':memory:');
  t.equal(await gauge(), 2, 'two databases open');
  t.ok(fileDb instanceof Database, 'instanceof still holds');
  t.equal(fileDb.constructor, Database, 'constructor identity still holds');

  for (const [db, ns] of [
    [fileDb, file],
    [memDb, ':memory:'],
  ] as const) {
    const { result, counts: c, spans } = await delta(() => runWorkload(new CardlinkStore(sqliteRunner(db))));
    t.same(c, WORKLOAD_QUERY_COUNTS, `${ns}: histogram count per query_type`);
    t.equal(spans.length, Object.values(WORKLOAD_QUERY_COUNTS).reduce((a, b) => a + b, 0), `${ns}: one span per query`);
    t.same(result.completed, 2);
    t.same(result.failedSessions, 1);
    t.equal(result.logs6a82, 1);
    t.equal(result.psk, WORKLOAD.pskHex[1], 'the encrypted PSK round-trips');
    t.equal(result.setting, 'false');
    t.equal(result.purged, 2);
    t.ok(result.rolledBack);
    t.same(result.stats, [
      { status: 'failed', count: 1, avgMs: 400 },
      { status: 'passed', count: 4, avgMs: 275 },
    ]);

    for (const s of spans) {
      t.equal(s.kind, SpanKind.CLIENT);
      t.equal(s.attributes['db.system.name'], 'sqlite');
      t.equal(s.attributes['db.namespace'], ns);
      t.equal(s.attributes['server.address'], undefined);
    }
    const names = spans.map((s) => s.name);
    t.ok(names.includes('CREATE devices'), 'schema script named after its first statement');
    t.ok(names.includes('INSERT devices'));
    t.ok(names.includes('INSERT comm_logs'));
    t.ok(names.includes('UPDATE ota_sessions'));
    t.ok(names.includes('DELETE comm_logs'));
    t.ok(names.includes('SELECT per_status'), 'a CTE query: SELECT from the CTE');
    t.same(names.filter((n) => n === 'BEGIN').length, 4);
    t.same(names.filter((n) => n === 'ROLLBACK').length, 1);
    const bySession = spans.find((s) => s.name === 'SELECT ota_sessions');
    t.equal(bySession?.attributes['db.operation.name'], 'SELECT');
    t.equal(bySession?.attributes['db.collection.name'], 'ota_sessions');
    t.equal(
      bySession?.attributes['db.query.text'],
      'SELECT id, device_id, session_type, status, started_at, ended_at FROM ota_sessions WHERE status = ? AND started_at >= ? AND started_at < ? ORDER BY started_at, id',
    );
    const started = spans.find((s) => s.name === 'INSERT ota_sessions');
    t.equal(
      started?.attributes['db.query.text'],
      'INSERT INTO ota_sessions (device_id, session_type, status, started_at) VALUES (?, ?, ?, ?) RETURNING id',
      "the 'running' literal is masked",
    );
    t.notOk(spans.some((s) => s.status.code === SpanStatusCode.ERROR), 'no error spans');

    const dump = JSON.stringify(spans.map((s) => ({ n: s.name, a: s.attributes, e: s.events }))).toUpperCase();
    for (const secret of [...WORKLOAD.pskHex, WORKLOAD.dekHex, ...WORKLOAD.iccids]) t.notOk(dump.includes(secret), `${secret} never on a span`);
  }

  t.same(
    openDatabases().filter((d) => d.system === 'sqlite').map((d) => d.namespace),
    [file, ':memory:'],
    'health: both databases listed',
  );
  fileDb.close();
  t.equal(await gauge(), 1);
  fileDb.close(); // closing twice is allowed by better-sqlite3 and counted once
  t.equal(await gauge(), 1);
  memDb.close();
  t.equal(await gauge(), 0, 'gauge back to 0 after close');
  t.same(openDatabases().filter((d) => d.system === 'sqlite'), [], 'health: nothing open');
});

t.test('each Statement method: run, get, all, iterate (span ends when exhausted or returned)', async (t) => {
  const db = new Database(':memory:');
  t.teardown(() => db.close());
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
  const d1 = await delta(() => [ins.run('a'), ins.run('b'), ins.run('c')]);
  t.same(d1.result.map((r) => r.changes), [1, 1, 1], 'run results unchanged');
  t.same(d1.counts, { INSERT: 3 });
  t.same(d1.spans.map((s) => s.name), ['INSERT t', 'INSERT t', 'INSERT t']);

  const get = db.prepare('SELECT v FROM t WHERE id = ?');
  const all = db.prepare('SELECT id, v FROM t ORDER BY id');
  const d2 = await delta(() => [get.get(2), all.all(), get.pluck().get(3), all.raw().all()]);
  t.same(d2.result, [{ v: 'b' }, [{ id: 1, v: 'a' }, { id: 2, v: 'b' }, { id: 3, v: 'c' }], 'c', [[1, 'a'], [2, 'b'], [3, 'c']]]);
  t.same(d2.counts, { SELECT: 4 });

  // iterate: no span until the iterator is done.
  const iter = db.prepare('SELECT id FROM t ORDER BY id');
  h.spans.reset();
  const it = iter.iterate();
  t.same(it.next(), { value: { id: 1 }, done: false });
  t.equal(h.finished().length, 0, 'no span while iterating');
  const rest = [...it];
  t.same(rest, [{ id: 2 }, { id: 3 }]);
  t.same(h.finished().map((s) => s.name), ['SELECT t'], 'span once exhausted');
  const firstSpan = h.finished()[0]!;

  // `break` calls return(): the span ends there, once.
  h.spans.reset();
  for (const row of iter.iterate()) {
    t.same(row, { id: 1 });
    break;
  }
  t.equal(h.finished().length, 1, 'span at return()');
  t.same(iter.all(), [{ id: 1 }, { id: 2 }, { id: 3 }], 'statement reusable after break');
  t.equal(h.finished().length, 2);
  t.ok(firstSpan.endTime[0] * 1e9 + firstSpan.endTime[1] >= firstSpan.startTime[0] * 1e9 + firstSpan.startTime[1]);
});

t.test('transaction(): BEGIN / COMMIT, ROLLBACK on throw (same error), nested SAVEPOINT', async (t) => {
  const db = new Database(':memory:');
  t.teardown(() => db.close());
  db.exec('CREATE TABLE s (id INTEGER PRIMARY KEY, status TEXT NOT NULL)');
  const ins = db.prepare('INSERT INTO s (status) VALUES (?)');
  const many = db.transaction((rows: string[]) => {
    for (const r of rows) ins.run(r);
    return rows.length;
  });
  const ok = await delta(() => many(['completed', 'failed']));
  t.equal(ok.result, 2);
  t.same(ok.counts, { BEGIN: 1, INSERT: 2, COMMIT: 1 });
  t.same(ok.spans.map((s) => s.name), ['BEGIN', 'INSERT s', 'INSERT s', 'COMMIT']);

  const boom = new Error('card removed');
  const failing = db.transaction(() => {
    ins.run('running');
    throw boom;
  });
  const bad = await delta(() => {
    try {
      failing();
      return undefined;
    } catch (err) {
      return err;
    }
  });
  t.equal(bad.result, boom, 'the application gets its own error object');
  t.same(bad.counts, { BEGIN: 1, INSERT: 1, ROLLBACK: 1 });
  t.equal((db.prepare('SELECT COUNT(*) AS n FROM s').get() as { n: number }).n, 2, 'rolled back');

  const outer = db.transaction(() => {
    ins.run('outer');
    many.immediate(['inner']);
  });
  const nested = await delta(() => outer.exclusive());
  t.same(nested.spans.map((s) => s.name), ['BEGIN', 'INSERT s', 'SAVEPOINT', 'INSERT s', 'RELEASE', 'COMMIT']);
  t.same(nested.counts, { BEGIN: 1, INSERT: 2, OTHER: 2, COMMIT: 1 });
  const sp = nested.spans.find((s) => s.name === 'SAVEPOINT');
  t.equal(sp?.attributes['db.operation.name'], 'SAVEPOINT');
  t.equal(sp?.attributes['db.query.text'], 'SAVEPOINT ?', 'the savepoint name with control characters is masked');
});

t.test('pragma() and exec()', async (t) => {
  const file = join(dir, 'pragma.db');
  const db = new Database(file);
  t.teardown(() => db.close());
  const d = await delta(() => [db.pragma('journal_mode = WAL'), db.pragma('user_version', { simple: true }), db.pragma('foreign_keys = ON')]);
  t.same(d.result, [[{ journal_mode: 'wal' }], 0, []]);
  t.same(d.counts, { PRAGMA: 3 });
  t.same(d.spans.map((s) => s.name), ['PRAGMA', 'PRAGMA', 'PRAGMA']);
  t.equal(d.spans[0]?.attributes['db.query.text'], 'PRAGMA journal_mode = ?', "a pragma's value is hidden (it may be a key)");
  const e = await delta(() => db.exec('CREATE TABLE a (x); INSERT INTO a VALUES (1); DROP TABLE a'));
  t.equal(e.result, db, 'exec returns the database');
  t.same(e.counts, { CREATE: 1 }, 'a script counts once, by its first statement');
});

/** What better-sqlite3 throws, with the instrumentation on and off. */
function capture(fn: () => unknown): { error: unknown; shape: Record<string, unknown> } {
  try {
    fn();
  } catch (error) {
    const e = error as { name?: unknown; code?: unknown; message?: unknown; constructor?: unknown };
    return { error, shape: { name: e.name, code: e.code, message: e.message, ctor: e.constructor } };
  }
  return { error: undefined, shape: {} };
}

t.test('errors reach the application exactly as without instrumentation', async (t) => {
  const scenarios: Array<[string, (db: Db) => unknown, string]> = [
    ['syntax error at prepare', (db) => db.prepare("SELEC * FROM devices WHERE iccid = '89440000000000000011'"), 'SQLITE_ERROR'],
    ['no such table', (db) => db.prepare('SELECT * FROM nowhere').all(), 'SQLITE_ERROR'],
    ['unique violation at run', (db) => db.prepare('INSERT INTO u (k) VALUES (?)').run('dup'), 'SQLITE_CONSTRAINT_UNIQUE'],
    ['too few parameters', (db) => db.prepare('SELECT * FROM u WHERE k = ?').get(), 'RangeError'],
    ['exec error', (db) => db.exec('INSERT INTO u (k) VALUES (1); INSERT INTO u (k) VALUES (1)'), 'SQLITE_CONSTRAINT_UNIQUE'],
    ['a 1 MB bad statement', (db) => db.prepare(`SELECT ${"'x' +".repeat(200_000)} FROM`), 'SQLITE_ERROR'],
    ['get() on a writer', (db) => db.prepare('INSERT INTO u (k) VALUES (?)').get('x'), 'TypeError'],
  ];
  const setup = (): Db => {
    const db = new Database(':memory:');
    db.exec("CREATE TABLE u (k TEXT UNIQUE); INSERT INTO u (k) VALUES ('dup')");
    return db;
  };
  for (const [name, fn, type] of scenarios) {
    instr.disable();
    const plainDb = setup();
    const plain = capture(() => fn(plainDb));
    plainDb.close();
    instr.enable();
    const db = setup();
    h.spans.reset();
    const ours = capture(() => fn(db));
    db.close();
    t.ok(plain.error instanceof Error, `${name}: it throws without us`);
    t.same(ours.shape, plain.shape, `${name}: same error class, code and message`);
    if (type === '') continue;
    const err = h.finished().find((s) => s.status.code === SpanStatusCode.ERROR);
    t.equal(err?.attributes['error.type'], type, `${name}: error.type`);
    if (type.startsWith('SQLITE_')) t.equal(err?.attributes['db.response.status_code'], type);
    t.notOk(String(err?.status.message).includes('89440000000000000011'), 'the status message never quotes SQL');
  }
  t.equal(await gauge(), 0, 'every database of the scenarios closed');

  // A closed database, and a statement of a closed database.
  const db = new Database(':memory:');
  const st = db.prepare('SELECT 1 AS one');
  db.close();
  const closedPrepare = capture(() => db.prepare('SELECT 1'));
  const closedRun = capture(() => st.get());
  t.equal((closedPrepare.error as Error).message, 'The database connection is not open');
  t.equal((closedRun.error as Error).message, 'The database connection is not open');
  t.equal((closedRun.error as Error).constructor, TypeError);
  t.equal(await gauge(), 0);
});

t.test('a 1 MB statement: same result, bounded literal-free text', async (t) => {
  const db = new Database(':memory:');
  t.teardown(() => db.close());
  const big = 'Z'.repeat(1024 * 1024);
  const sql = `SELECT length('${big}') AS n, '${WORKLOAD.pskHex[0]}' AS k`;
  const d = await delta(() => db.prepare(sql).get());
  t.same(d.result, { n: big.length, k: WORKLOAD.pskHex[0] });
  const text = String(d.spans[0]?.attributes['db.query.text']);
  t.equal(text, 'SELECT length(?…', 'the unterminated literal within the scan bound is masked, the rest cut');
  t.notOk(text.includes('ZZZ'));
  const tail = await delta(() => db.prepare(`SELECT 1 AS one /* ${big} */`).get());
  t.same(tail.result, { one: 1 });
  t.equal(tail.spans[0]?.attributes['db.query.text'], 'SELECT ? AS one…', 'a comment beyond the bound: cut, marked');
});

t.test('configuration: slow queries, no query text, requireParentSpan, setConfig', async (t) => {
  const db = new Database(':memory:');
  t.teardown(() => db.close());
  db.exec('CREATE TABLE c (x)');
  slow.length = 0;
  instr.setConfig({ onSlowQuery: (i) => slow.push(i), slowQueryThresholdMs: 0, captureQueryText: false });
  const stmt = db.prepare("SELECT x FROM c WHERE x = 'secret-literal'");
  let d = await delta(() => stmt.all());
  t.equal(d.spans[0]?.attributes['cardlink.db.slow_query'], true);
  t.equal(d.spans[0]?.attributes['db.query.text'], undefined, 'captureQueryText: false');
  t.equal(slow.length, 1);
  t.same({ ...slow[0], durationMs: 0 }, {
    system: 'sqlite',
    operation: 'SELECT',
    table: 'c',
    namespace: ':memory:',
    sanitizedText: 'SELECT x FROM c WHERE x = ?',
    durationMs: 0,
    errorType: undefined,
  });

  instr.setConfig({ requireParentSpan: true });
  d = await delta(() => stmt.all());
  t.equal(d.spans.length, 0, 'no root spans');
  t.same(d.counts, { SELECT: 1 }, 'metrics still recorded');
  const parent = trace.getTracer('test').startSpan('ota.session');
  d = await delta(() => context.with(trace.setSpan(context.active(), parent), () => stmt.all()));
  parent.end();
  d.spans = d.spans.filter((s) => s !== undefined && s.name !== 'ota.session');
  t.equal(d.spans.length, 1);
  t.equal(d.spans[0]?.parentSpanContext?.spanId, parent.spanContext().spanId, 'child of the active span');
  t.equal(d.spans[0]?.attributes['db.query.text'], 'SELECT x FROM c WHERE x = ?', 'text back with the defaults');
  instr.setConfig({});
});

t.test('without a trace exporter: no spans, the histogram as before, a slow failure keeps its error type', async (t) => {
  const db = new Database(':memory:');
  t.teardown(() => db.close());
  db.exec('CREATE TABLE w (k TEXT UNIQUE)');
  setTracingEnabled(false);
  t.teardown(() => setTracingEnabled(true));
  slow.length = 0;
  instr.setConfig({ onSlowQuery: (i) => slow.push(i), slowQueryThresholdMs: 0 });
  t.teardown(() => instr.setConfig({}));
  const ins = db.prepare('INSERT INTO w (k) VALUES (?)');
  const d = await delta(() => [capture(() => ins.run('a')).error, capture(() => ins.run('a')).error]);
  t.equal(d.result[0], undefined);
  t.equal((d.result[1] as { code?: unknown }).code, 'SQLITE_CONSTRAINT_UNIQUE', 'the application gets the driver error');
  t.same(d.counts, { INSERT: 2 }, 'both recorded');
  t.same(d.spans, [], 'no spans');
  t.same(slow.map((s) => s.errorType), [undefined, 'SQLITE_CONSTRAINT_UNIQUE']);
});

t.test('health hooks: list, ping (no spans, no metrics), closed database', async (t) => {
  const a = new Database(':memory:');
  const b = new Database(join(dir, 'health.db'));
  const d = await delta(() => pingDatabases(500));
  t.same(d.result.map((r) => [r.system, r.kind, r.namespace, r.ok, r.message]), [
    ['sqlite', 'database', ':memory:', true, 'ok'],
    ['sqlite', 'database', join(dir, 'health.db'), true, 'ok'],
  ]);
  t.same(d.counts, {}, 'probes are not application queries');
  t.equal(d.spans.length, 0);
  t.equal((await pingHandle(a, 500))?.ok, true);
  b.close();
  a.close();
  t.same(await pingDatabases(), [], 'closed databases are forgotten');
  t.equal(await pingHandle(a), undefined);
});

t.test('an unclosed database that is garbage-collected leaves the gauge', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  (() => {
    const db = new Database(':memory:');
    db.prepare('SELECT 1').get();
  })();
  t.equal(await gauge(), 1);
  t.equal(trackedCount(), 1, 'known to the health hooks');
  await eventually(async () => {
    gc();
    await new Promise((r) => setTimeout(r, 10));
    return (await gauge()) === 0;
  }, 10_000, 'finalization');
  t.equal(await gauge(), 0);
  t.equal(trackedCount(), 0, 'and forgotten there');
});

t.test('disable() restores the prototypes: nothing recorded, native methods back', async (t) => {
  const db = new Database(':memory:');
  t.teardown(() => db.close());
  const stmt = db.prepare('SELECT 1 AS x');
  instr.disable();
  const d = await delta(() => stmt.get());
  t.same(d.result, { x: 1 });
  t.same(d.counts, {});
  t.equal(d.spans.length, 0);
  const proto = Object.getPrototypeOf(stmt) as Record<string, unknown>;
  for (const m of ['run', 'get', 'all', 'iterate']) t.match(String(proto[m]), /\[native code\]/, `${m} is native again`);
  const it = stmt.iterate();
  const iterProto = Object.getPrototypeOf(it) as Record<string, unknown>;
  it.return?.();
  for (const m of ['next', 'return']) t.match(String(iterProto[m]), /\[native code\]/, `iterator ${m} is native again`);
  const dbProto = Database.prototype as unknown as Record<string, { name?: unknown } | undefined>;
  t.same(['prepare', 'exec', 'close'].map((m) => dbProto[m]?.name), ['prepare', 'exec', 'close'], "better-sqlite3's own prepare / exec / close back");
  // Not merely "not the proxy": the original class (its prototype is the one the proxy forwards to).
  const ctor = Object.getOwnPropertyDescriptor(Database.prototype, 'constructor')?.value as { prototype?: unknown } | undefined;
  t.not(ctor, Database, 'constructor: no longer the proxy');
  t.equal(typeof ctor, 'function');
  t.equal(ctor?.prototype, Database.prototype, 'constructor back to the original class');
  instr.enable();
  const again = await delta(() => stmt.get());
  t.same(again.counts, { SELECT: 1 }, 're-enabled');
  t.equal(db.constructor, Database, 're-enabled: constructor is the proxy again');
});

t.test('a wrapper another tool put over ours stays on disable; enabled again, each query counts once', async (t) => {
  const db = new Database(':memory:');
  t.teardown(() => db.close());
  const stmt = db.prepare('SELECT 1 AS x');
  const proto = Object.getPrototypeOf(stmt) as object;
  const theirs = wrapOver(t, instr, proto, 'get');
  instr.disable();
  t.equal((proto as Record<string, unknown>)['get'], theirs.fn, 'their wrapper kept');
  const off = await delta(() => stmt.get());
  t.same(off.result, { x: 1 });
  t.equal(theirs.calls, 1, 'their wrapper still runs');
  t.same(off.counts, {}, 'nothing recorded while disabled (our old wrapper inside theirs passes through)');
  instr.enable();
  const on = await delta(() => stmt.get());
  t.same(on.counts, { SELECT: 1 }, 'enabled again: once, not twice');
  t.equal(on.spans.length, 1);
});

t.test('pure helpers: error classification, first keyword, namespace', async (t) => {
  t.same(describeDbError(Object.assign(new Error('x'), { code: '57P01', severity: 'FATAL' })), { type: '57P01', statusCode: '57P01', message: 'SQLSTATE 57P01 admin_shutdown' });
  t.same(describeDbError(Object.assign(new Error('duplicate key (k)=(secret)'), { code: '23505', severity: 'ERROR' })), { type: '23505', statusCode: '23505', message: 'SQLSTATE 23505 unique_violation' });
  t.same(describeDbError(Object.assign(new Error('x'), { code: 'XX123', severity: 'ERROR' })), { type: 'XX123', statusCode: 'XX123', message: 'SQLSTATE XX123 internal_error' });
  t.same(describeDbError(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })), { type: 'EPIPE', statusCode: undefined, message: 'write EPIPE' }, 'a Node errno is not a SQLSTATE');
  t.same(describeDbError(Object.assign(new Error('near "\'secret\'": syntax error'), { code: 'SQLITE_ERROR' })), { type: 'SQLITE_ERROR', statusCode: 'SQLITE_ERROR', message: 'SQLITE_ERROR' });
  t.same(describeDbError(new TypeError('The database connection is not open')), { type: 'TypeError', statusCode: undefined, message: 'The database connection is not open' });
  t.same(describeDbError('boom'), { type: '_OTHER', statusCode: undefined, message: 'non-error value thrown' });
  t.same(describeDbError(new Error(`line one\n${'x'.repeat(500)}`)).message, 'line one');
  fc.assert(
    fc.property(fc.anything(), (v) => {
      const e = describeDbError(v);
      return typeof e.type === 'string' && e.type.length <= 64 && e.message.length <= 200;
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.string(), fc.string(), (code, message) => {
      const e = describeDbError({ code, message, severity: 'ERROR' });
      return e.type.length <= 64 && e.message.length <= 200;
    }),
    { numRuns: 500 },
  );

  t.equal(firstKeyword('  /* c */ -- x\n savepoint a'), 'SAVEPOINT');
  t.equal(firstKeyword('(VACUUM)'), 'VACUUM');
  t.equal(firstKeyword('x1 = 2'), undefined);
  t.equal(firstKeyword('123'), undefined);
  t.equal(firstKeyword('A'.repeat(40)), undefined, 'bounded');
  fc.assert(fc.property(fc.string(), (s) => {
    const k = firstKeyword(s);
    return k === undefined || /^[A-Z]{1,32}$/.test(k);
  }), { numRuns: 1000 });

  t.equal(sqliteNamespace(':memory:'), ':memory:');
  t.equal(sqliteNamespace(''), undefined);
  t.equal(sqliteNamespace('file:a.db?key=s3cret#x'), 'file:a.db');
  t.equal(sqliteNamespace('/var/lib/cardlink/a.db'), '/var/lib/cardlink/a.db');
  t.equal(sqliteNamespace('x'.repeat(1000))?.length, 256);
});
