/**
 * The pg instrumentation in-process with the real SDK against a real PostgreSQL 15 server started
 * for this file: the CardLink data layer (same metric shape as on SQLite), every form of
 * `Client.query`, SQLSTATE errors, a backend killed by `pg_terminate_backend`, a server that goes
 * away mid-query, pools, the health hooks, and the password that must never appear.
 */
import t from 'tap';
import { createRequire } from 'node:module';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type PgModule from 'pg';
import type BetterSqlite3 from 'better-sqlite3';
import { PgInstrumentation, SqliteInstrumentation } from '../instrumentations/db/index.js';
import { openDatabases, pingDatabases, pingHandle } from '../instrumentations/db/health.js';
import { describeDbError } from '../instrumentations/db/db-errors.js';
import { setupHarness, eventually } from './helpers/otel-harness.js';
import { deltaFor } from './helpers/db-delta.js';
import { wrapOver } from './helpers/foreign-wrapper.js';
import { CardlinkStore, pgRunner, runWorkload, sqliteRunner, WORKLOAD, WORKLOAD_QUERY_COUNTS, type PgClientLike } from './fixtures/data-layer.js';
import { findPostgres, startPostgres } from './fixtures/postgres.js';

const available = findPostgres();
if (typeof available === 'string') {
  t.plan(0, `PostgreSQL is not available: ${available}`);
  process.exit(0);
}

const pgInstr = new PgInstrumentation();
const sqliteInstr = new SqliteInstrumentation();
const h = setupHarness([pgInstr, sqliteInstr]);
t.teardown(() => h.shutdown());

const server = await startPostgres();
t.teardown(() => server.stop());

// Loaded only now, through require: the require hook sees pg and pg-pool.
const require = createRequire(import.meta.url);
const pg = require('pg') as typeof PgModule;
const Database = require('better-sqlite3') as typeof BetterSqlite3;

/** Every span of this file, also those reset between deltas (for the no-password check). */
const allSpans: ReadableSpan[] = [];
const delta = deltaFor(h, allSpans);

const gauge = (): Promise<number> => h.value('cardlink_db_connections_active');
const queries = (spans: ReadableSpan[]): ReadableSpan[] => spans.filter((s) => !s.name.startsWith('pg.') && !s.name.startsWith('pg-pool.'));

async function connected(config: string | PgModule.ClientConfig = server.connectionString): Promise<PgModule.Client> {
  const c = new pg.Client(config);
  c.on('error', () => {}); // a real application listens: a lost connection is emitted here
  await c.connect();
  return c;
}

t.test('the data layer on PostgreSQL: the same metric shape and span names as on SQLite', async (t) => {
  const sqlite = new Database(':memory:');
  const lite = await delta(() => runWorkload(new CardlinkStore(sqliteRunner(sqlite))));
  sqlite.close();

  const g0 = await gauge();
  const client = new pg.Client(server.connectionString);
  const conn = await delta(() => client.connect());
  t.equal(conn.result, client, 'connect() resolves with the client');
  t.equal(await gauge(), g0 + 1, 'one connection');
  const cs = conn.spans.find((s) => s.name === 'pg.connect');
  t.equal(cs?.kind, SpanKind.CLIENT);
  t.same(cs?.attributes, { 'db.system.name': 'postgresql', 'db.namespace': 'cardlink', 'server.address': '127.0.0.1', 'server.port': server.port });

  const run = await delta(() => runWorkload(new CardlinkStore(pgRunner(client as unknown as PgClientLike))));
  t.same(run.counts, WORKLOAD_QUERY_COUNTS, 'histogram count per query_type');
  t.same(run.counts, lite.counts, 'same metric shape as SQLite');
  t.same(run.result, lite.result, 'same results as SQLite');
  t.same(run.spans.map((s) => s.name).sort(), lite.spans.map((s) => s.name).sort(), 'same span names as SQLite');
  for (const s of run.spans) {
    t.equal(s.kind, SpanKind.CLIENT);
    t.equal(s.attributes['db.system.name'], 'postgresql');
    t.equal(s.attributes['db.namespace'], 'cardlink');
    t.equal(s.attributes['server.address'], '127.0.0.1');
    t.equal(s.attributes['server.port'], server.port);
  }
  const byDate = run.spans.find((s) => s.name === 'SELECT ota_sessions');
  t.equal(
    byDate?.attributes['db.query.text'],
    'SELECT id, device_id, session_type, status, started_at, ended_at FROM ota_sessions WHERE status = $1 AND started_at >= $2 AND started_at < $3 ORDER BY started_at, id',
  );
  const dump = JSON.stringify(run.spans.map((s) => [s.name, s.attributes])).toUpperCase();
  for (const secret of [...WORKLOAD.pskHex, WORKLOAD.dekHex, ...WORKLOAD.iccids]) t.notOk(dump.includes(secret), `${secret} never on a span`);

  await client.end();
  await eventually(async () => (await gauge()) === g0, 5000, 'gauge back after end()');
});

t.test('every form of Client.query', async (t) => {
  const client = await connected(server.clientConfig());
  t.teardown(() => client.end());
  const cb = <R>(fn: (done: (err: unknown, res: R) => void) => void): Promise<R> =>
    new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));

  const d = await delta(async () => {
    const r: unknown[] = [];
    r.push((await cb<PgModule.QueryResult>((done) => client.query('SELECT 1 AS a', done))).rows);
    r.push((await cb<PgModule.QueryResult>((done) => client.query('SELECT $1::int AS b', [2], done))).rows);
    r.push((await cb<PgModule.QueryResult>((done) => client.query({ text: 'SELECT $1::int AS c', values: [3], callback: done } as PgModule.QueryConfig))).rows);
    r.push((await cb<PgModule.QueryResult>((done) => client.query({ text: 'SELECT $1::int AS d', values: [4] }, done))).rows);
    r.push((await client.query('SELECT 5 AS e')).rows);
    r.push((await client.query({ text: 'SELECT $1::int AS f', values: [6], rowMode: 'array' })).rows);
    return r;
  });
  t.same(d.result, [[{ a: 1 }], [{ b: 2 }], [{ c: 3 }], [{ d: 4 }], [{ e: 5 }], [[6]]], 'results unchanged');
  t.same(d.counts, { SELECT: 6 });
  t.same(d.spans.map((s) => s.attributes['db.query.text']), ['SELECT ? AS a', 'SELECT $1::int AS b', 'SELECT $1::int AS c', 'SELECT $1::int AS d', 'SELECT ? AS e', 'SELECT $1::int AS f']);

  // Callback forms: the span has ended by the time the application's callback runs.
  const inCallback = await delta(async () => [
    await cb<number>((done) => client.query('SELECT 7 AS g', (err) => done(err, h.finished().length))),
    await cb<number>((done) => client.query({ text: 'SELECT $1::int AS h', values: [8], callback: (err: Error) => done(err, h.finished().length) } as PgModule.QueryConfig)),
  ]);
  t.same(inCallback.result, [1, 2], 'each span ended before its callback');

  // The span's parent is what was active when query() was called, in every form.
  const parent = trace.getTracer('test').startSpan('ota.session');
  const inSession = await delta(() =>
    context.with(trace.setSpan(context.active(), parent), () =>
      Promise.all([client.query('SELECT 1'), cb<PgModule.QueryResult>((done) => client.query('SELECT 2', done))]),
    ),
  );
  parent.end();
  t.same(
    queries(inSession.spans).filter((s) => s.name !== 'ota.session').map((s) => s.parentSpanContext?.spanId),
    [parent.spanContext().spanId, parent.spanContext().spanId],
    'children of the active span',
  );

  // Named prepared statements: the second execution sends no text.
  const named = await delta(async () => {
    await client.query({ name: 'device-by-type', text: "SELECT $1::text AS t WHERE $1 <> 'x'", values: ['modem'] });
    return (await client.query({ name: 'device-by-type', values: ['phone'] } as PgModule.QueryConfig)).rows;
  });
  t.same(named.result, [{ t: 'phone' }]);
  t.same(named.counts, { SELECT: 2 });
  t.same(named.spans.map((s) => [s.name, s.attributes['db.query.text'], s.attributes['cardlink.db.statement_name']]), [
    ['SELECT', "SELECT $1::text AS t WHERE $1 <> ?", 'device-by-type'],
    ['SELECT', "SELECT $1::text AS t WHERE $1 <> ?", 'device-by-type'],
  ]);

  // A pg.Query as a Submittable: returned as is, its events unchanged.
  const sub = await delta(
    () =>
      new Promise<{ same: boolean; rows: unknown[] }>((resolve, reject) => {
        const q = new pg.Query('SELECT generate_series(1, 3) AS n');
        const rows: unknown[] = [];
        const returned = client.query(q as unknown as PgModule.QueryConfig) as unknown;
        q.on('row', (row: unknown) => rows.push(row));
        q.on('end', () => resolve({ same: returned === q, rows }));
        q.on('error', reject);
      }),
  );
  t.same(sub.result, { same: true, rows: [{ n: 1 }, { n: 2 }, { n: 3 }] });
  t.same(sub.spans.map((s) => s.name), ['SELECT']);

  // A hand-written Submittable (the pg-cursor / pg-query-stream code path).
  class Probe {
    readonly text = 'SELECT 42 AS answer';
    readonly rows: unknown[] = [];
    settled: Promise<unknown>;
    private resolve!: (v: unknown) => void;
    constructor() {
      this.settled = new Promise((r) => (this.resolve = r));
    }
    submit(connection: { query(text: string): void }): void {
      connection.query(this.text);
    }
    handleRowDescription(): void {}
    handleDataRow(msg: { fields: unknown[] }): void {
      this.rows.push(msg.fields);
    }
    handleCommandComplete(): void {}
    handleEmptyQuery(): void {}
    handleReadyForQuery(): void {
      this.resolve('done');
    }
    handleError(err: unknown): void {
      this.resolve(err);
    }
  }
  const probe = new Probe();
  const keys = Object.keys(probe);
  const ps = await delta(async () => {
    const returned = client.query(probe as unknown as PgModule.QueryConfig) as unknown;
    t.equal(returned, probe, 'the submittable itself is returned');
    t.same(Object.keys(probe), keys, 'no enumerable property added');
    return probe.settled;
  });
  t.equal(ps.result, 'done');
  t.same(probe.rows, [['42']]);
  t.same(ps.spans.map((s) => [s.name, s.attributes['db.query.text']]), [['SELECT', 'SELECT ? AS answer']]);
  t.notOk(Object.prototype.hasOwnProperty.call(probe, 'handleReadyForQuery'), 'wrappers removed once done');
  t.notOk(Object.prototype.hasOwnProperty.call(probe, 'handleError'));

  const failing = new Probe();
  (failing as { text: string }).text = 'SELEC 1';
  const pf = await delta(async () => {
    client.query(failing as unknown as PgModule.QueryConfig);
    return failing.settled;
  });
  t.equal((pf.result as { code?: string }).code, '42601');
  t.equal(pf.spans[0]?.attributes['error.type'], '42601');
});

/** An error's observable shape, for comparing with and without instrumentation. */
function shape(err: unknown): Record<string, unknown> {
  const e = err as Record<string, unknown>;
  return { ctor: (err as object)?.constructor, name: e['name'], code: e['code'], message: e['message'], severity: e['severity'], position: e['position'] };
}

t.test('errors: SQLSTATE as error.type, the application gets the same errors', async (t) => {
  const client = await connected();
  t.teardown(() => client.end());
  await client.query('CREATE TABLE IF NOT EXISTS uq (k TEXT PRIMARY KEY)');
  await client.query("INSERT INTO uq VALUES ('dup') ON CONFLICT DO NOTHING");
  const big = 'Z'.repeat(1024 * 1024);
  const scenarios: Array<[string, () => Promise<unknown>, string]> = [
    ['syntax error (promise)', () => client.query("SELEC * FROM devices WHERE iccid = '89440000000000000011'"), '42601'],
    [
      'unique violation (callback)',
      () => new Promise((resolve, reject) => client.query('INSERT INTO uq VALUES ($1)', ['dup'], (err) => (err ? reject(err) : resolve(undefined)))),
      '23505',
    ],
    ['undefined table', () => client.query('SELECT * FROM nowhere'), '42P01'],
    ['bad input', () => client.query('SELECT $1::int', ['not-a-number']), '22P02'],
    ['a 1 MB bad statement', () => client.query(`SELECT ${"'x' +".repeat(200_000)} FROM`), '42601'],
  ];
  for (const [name, fn, code] of scenarios) {
    pgInstr.disable();
    const plain = await fn().then(() => undefined, (e: unknown) => e);
    pgInstr.enable();
    const ours = await delta(() => fn().then(() => undefined, (e: unknown) => e));
    t.ok(plain instanceof pg.DatabaseError, `${name}: fails without us`);
    t.same(shape(ours.result), shape(plain), `${name}: same error class, code, message`);
    const span = ours.spans.find((s) => s.status.code === SpanStatusCode.ERROR);
    t.equal(span?.attributes['error.type'], code, `${name}: error.type is the SQLSTATE`);
    t.equal(span?.attributes['db.response.status_code'], code);
    t.notOk(String(span?.status.message).includes('8944'), 'no SQL or data in the status message');
  }

  const ok = await delta(() => client.query(`SELECT length('${big}') AS n`));
  t.same(ok.result.rows, [{ n: big.length }], 'a 1 MB statement works');
  t.equal(ok.spans[0]?.attributes['db.query.text'], 'SELECT length(?…');

  const nullQuery = await delta(() => {
    try {
      client.query(null as unknown as string);
      return undefined;
    } catch (e) {
      return e;
    }
  });
  t.equal((nullQuery.result as Error).message, 'Client was passed a null or undefined query');
  t.equal(nullQuery.spans.length, 0);

  const ended = await connected();
  await ended.end();
  pgInstr.disable();
  const plainClosed = await ended.query('SELECT 1').then(() => undefined, (e: unknown) => e);
  pgInstr.enable();
  const closed = await delta(() => ended.query('SELECT 1').then(() => undefined, (e: unknown) => e));
  t.same(shape(closed.result), shape(plainClosed), 'a closed client: same error');
  t.equal(closed.spans[0]?.attributes['error.type'], 'Error');
  t.equal(closed.spans[0]?.status.message, 'Client was closed and is not queryable');
});

t.test('a backend killed with pg_terminate_backend: error span with the SQLSTATE, gauge down', async (t) => {
  const g0 = await gauge();
  const victim = new pg.Client(server.connectionString);
  const emitted: unknown[] = [];
  victim.on('error', (e) => emitted.push(e));
  await victim.connect();
  const killer = await connected();
  t.teardown(() => killer.end());
  t.equal(await gauge(), g0 + 2);
  const pid = (await victim.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
  const d = await delta(async () => {
    const pending = victim.query('SELECT pg_sleep(30) FROM ota_sessions LIMIT 1').then(() => undefined, (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    await killer.query('SELECT pg_terminate_backend($1)', [pid]);
    return pending;
  });
  const err = d.result as PgModule.DatabaseError;
  t.equal(err.code, '57P01', 'the application sees admin_shutdown');
  t.ok(err instanceof pg.DatabaseError);
  const span = d.spans.find((s) => s.name === 'SELECT ota_sessions');
  t.equal(span?.status.code, SpanStatusCode.ERROR);
  t.equal(span?.attributes['error.type'], '57P01');
  t.equal(span?.status.message, 'SQLSTATE 57P01 admin_shutdown');
  await eventually(async () => (await gauge()) === g0 + 1, 5000, 'the victim uncounted');
  await eventually(() => emitted.length > 0, 5000, 'the client error event');
  t.equal((emitted[0] as Error).message, 'Connection terminated unexpectedly', 'the error event is unchanged');
  await victim.end();
  t.equal(await gauge(), g0 + 1, 'end() of a dead client does not count twice');
});

t.test('a pool: clients counted, pg-pool.connect spans, health hooks', async (t) => {
  const g0 = await gauge();
  const pool = new pg.Pool({ connectionString: server.connectionString, max: 3 });
  pool.on('error', () => {});
  const d = await delta(() => Promise.all([1, 2, 3].map((i) => pool.query(`SELECT pg_sleep(0.05), ${i} AS i`))));
  t.same(d.result.map((r) => r.rows[0].i), [1, 2, 3]);
  t.equal(await gauge(), g0 + 3, 'three pool clients counted');
  t.same(d.counts, { SELECT: 3 });
  const names = d.spans.map((s) => s.name).sort();
  t.same(names, ['SELECT', 'SELECT', 'SELECT', 'pg-pool.connect', 'pg-pool.connect', 'pg-pool.connect', 'pg.connect', 'pg.connect', 'pg.connect']);
  const acquire = d.spans.find((s) => s.name === 'pg-pool.connect');
  t.equal(acquire?.kind, SpanKind.INTERNAL);
  t.equal(acquire?.attributes['db.namespace'], 'cardlink');

  const client = await pool.connect();
  t.equal(await gauge(), g0 + 3, 'a reused client is not counted again');
  const r = await pgRunner(client as unknown as PgClientLike).all('SELECT ? :: int AS x', [7]);
  t.same(r, [{ x: 7 }]);
  client.release();

  const listed = openDatabases().filter((x) => x.system === 'postgresql');
  t.same(listed, [{ system: 'postgresql', kind: 'pool', namespace: 'cardlink', server: `127.0.0.1:${server.port}`, pool: { total: 3, idle: 3, waiting: 0 } }], 'the pool listed, not its clients');
  const ping = await delta(() => pingDatabases(2000));
  t.same(ping.result.filter((x) => x.system === 'postgresql').map((x) => [x.kind, x.ok, x.message]), [['pool', true, 'ok']]);
  t.same(ping.counts, {}, 'probes are not application queries');
  t.same(ping.spans, []);

  // A standalone client: pinged when idle, skipped when busy.
  const solo = await connected();
  t.same((await pingHandle(solo, 2000))?.message, 'ok');
  const busy = solo.query('SELECT pg_sleep(0.2)');
  const skipped = await pingHandle(solo, 2000);
  t.same({ ...skipped, durationMs: 0 }, { system: 'postgresql', kind: 'client', namespace: 'cardlink', server: `127.0.0.1:${server.port}`, ok: true, skipped: true, durationMs: 0, message: 'skipped: busy' }, 'a busy client is not probed');
  await busy;
  await solo.end();

  await pool.end();
  await eventually(async () => (await gauge()) === g0, 5000, 'pool clients uncounted after pool.end()');
  t.same(openDatabases().filter((x) => x.system === 'postgresql'), [], 'nothing open');

  // A pool that cannot connect: the error on the pg-pool.connect span, and a failed probe.
  const nowhere = new pg.Pool({ host: '127.0.0.1', port: 1, user: 'x', password: 'never-shown-1', database: 'none', max: 1 });
  const failed = await delta(() => nowhere.connect().then(() => undefined, (e: unknown) => e));
  t.equal((failed.result as { code?: string }).code, 'ECONNREFUSED');
  const span = failed.spans.find((s) => s.name === 'pg-pool.connect');
  t.equal(span?.attributes['error.type'], 'ECONNREFUSED');
  t.equal(span?.attributes['server.port'], 1);
  const probe = (await pingDatabases(2000)).find((x) => x.kind === 'pool');
  t.equal(probe?.ok, false);
  t.match(probe?.message, /ECONNREFUSED/);
  await nowhere.end();
  t.equal(await gauge(), g0);
});

t.test('health probes of a pool never queue behind the application, and the clients they open stay the pool\'s', async (t) => {
  const pool = new pg.Pool({ connectionString: server.connectionString, max: 1, idleTimeoutMillis: 50 });
  pool.on('error', () => {});
  t.teardown(() => pool.end());
  await pool.query('SELECT 1');
  await eventually(async () => pool.totalCount === 0, 5000, 'the idle client closed');
  // A probe on an empty pool makes it open a client: listed through the pool, no span.
  const first = await delta(() => pingHandle(pool, 2000));
  t.equal(first.result?.message, 'ok');
  t.same(first.spans, [], 'no pg.connect span for the probe\'s client');
  t.same(openDatabases().filter((x) => x.system === 'postgresql').map((x) => x.kind), ['pool'], 'the probe\'s client is not a client of its own');
  // Every client in use: the probe does not ask (no waiter in the pool's queue).
  const held = await pool.connect();
  held.on('error', () => {});
  for (let i = 0; i < 3; i++) {
    const busy = await pingHandle(pool, 200);
    t.same([busy?.ok, busy?.skipped, busy?.message], [true, true, 'skipped: every client in use']);
  }
  t.equal(pool.waitingCount, 0, 'no probe waits in the pool');
  // The application waits for a client too: that is the symptom to report, still without queueing.
  const waiting = pool.query('SELECT 2 AS n');
  const exhausted = await pingHandle(pool, 200);
  t.same([exhausted?.ok, exhausted?.message], [false, 'exhausted: 1 clients in use, 1 waiting']);
  t.equal(pool.waitingCount, 1, 'only the application waits');
  held.release();
  t.same((await waiting).rows, [{ n: 2 }], "the application's query is next, not behind probes");
});

t.test('a database that accepts connections and never answers stays unhealthy; probes take one pool slot at most', async (t) => {
  const { createServer } = await import('node:net');
  const sockets: import('node:net').Socket[] = [];
  const mute = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', () => r()));
  const pool = new pg.Pool({ host: '127.0.0.1', port: (mute.address() as import('node:net').AddressInfo).port, user: 'u', database: 'stalled', max: 3 });
  pool.on('error', () => {});
  t.teardown(async () => {
    // The server hangs up first: pool.end() waits for the clients still connecting.
    for (const s of sockets) s.destroy();
    mute.close();
    await pool.end().catch(() => undefined);
  });
  void pool.connect().catch(() => undefined); // the application tries too: the pool is known
  const results = [];
  for (let i = 0; i < 4; i++) results.push(await pingHandle(pool, 150));
  t.same(results.map((r) => r?.ok), [false, false, false, false], 'unhealthy every time');
  t.match(results[0]?.message, /^timeout after 150 ms$/);
  t.match(results[3]?.message, /^no answer: the last probe has waited \d+ ms for a connection$/);
  t.ok(pool.totalCount <= 2, `the probes hold one slot at most (pool total ${pool.totalCount})`);
});

t.test('a pool whose connect throws at once (an unreadable sslrootcert): the error on its pg-pool.connect span', async (t) => {
  const pool = new pg.Pool({ connectionString: `postgres://u@127.0.0.1:${server.port}/cardlink?sslrootcert=/nonexistent/root.pem` });
  const d = await delta(() => {
    try {
      void pool.connect();
      return undefined;
    } catch (e) {
      return e;
    }
  });
  t.equal((d.result as { code?: string }).code, 'ENOENT', 'the application gets the same throw');
  const span = d.spans.find((s) => s.name === 'pg-pool.connect');
  t.equal(span?.attributes['error.type'], 'ENOENT');
  t.equal(span?.status.code, SpanStatusCode.ERROR);
  await pool.end();
});

t.test('the health registry makes room for new databases once ended pools are pruned', async (t) => {
  const { trackHandle } = await import('../instrumentations/db/health.js');
  const ended = Array.from({ length: 10_000 }, () => ({ ended: true }));
  for (const p of ended) trackHandle('postgresql', 'pool', p, 'old', undefined);
  const db = new Database(':memory:');
  t.teardown(() => db.close());
  t.ok(openDatabases().some((x) => x.system === 'sqlite' && x.namespace === ':memory:'), 'a database opened after 10,000 ended pools is tracked');
});

t.test('executions by name after a failed first execution, or queued behind the first, keep the statement\'s text', async (t) => {
  const client = await connected();
  t.teardown(() => client.end());
  // Parsed, then failing at execution: pg keeps the statement, and so do we.
  await client.query({ name: 'ratio', text: 'SELECT 10 / $1::int AS r', values: [0] }).then(() => undefined, () => undefined);
  const later = await delta(() => client.query({ name: 'ratio', values: [5] } as PgModule.QueryConfig));
  t.same(later.result.rows, [{ r: 2 }]);
  t.same(later.counts, { SELECT: 1 });
  // Queued on one client before either ran.
  const queued = await delta(() =>
    Promise.all([client.query({ name: 'twice', text: 'SELECT $1::int AS n', values: [1] }), client.query({ name: 'twice', values: [2] } as PgModule.QueryConfig)]),
  );
  t.same(queued.result.map((r) => r.rows[0]), [{ n: 1 }, { n: 2 }]);
  t.same(queued.counts, { SELECT: 2 });
});

t.test('a prepared statement name pg refused keeps the text it prepared first', async (t) => {
  const client = await connected();
  t.teardown(() => client.end());
  await client.query({ name: 'by-name', text: 'SELECT 1 AS one' });
  const refused = await delta(() => client.query({ name: 'by-name', text: 'DELETE FROM nowhere_at_all' }).then(() => undefined, (e: unknown) => e));
  t.match(String(refused.result), /Prepared statements must be unique/);
  const again = await delta(() => client.query({ name: 'by-name' } as PgModule.QueryConfig));
  t.same(again.result.rows, [{ one: 1 }], 'pg ran the statement it prepared');
  t.same(again.counts, { SELECT: 1 }, 'recorded as what ran');
  t.equal(queries(again.spans)[0]?.name, 'SELECT');
});

t.test('a wrapper another tool put over ours stays on disable; enabled again, each query counts once', async (t) => {
  const client = await connected();
  t.teardown(() => client.end());
  const proto = pg.Client.prototype;
  const theirs = wrapOver(t, pgInstr, proto, 'query');
  pgInstr.disable();
  t.equal(proto.query, theirs.fn, 'their wrapper kept');
  const off = await delta(() => client.query('SELECT 1 AS x'));
  t.same(off.result.rows, [{ x: 1 }]);
  t.equal(theirs.calls, 1, 'their wrapper still runs');
  t.same(off.counts, {}, 'nothing recorded while disabled (our old wrapper inside theirs passes through)');
  pgInstr.enable();
  const on = await delta(() => client.query('SELECT 1 AS x'));
  t.same(on.counts, { SELECT: 1 }, 'enabled again: once, not twice');
  t.equal(queries(on.spans).length, 1);
});

t.test('the password never appears in spans, metrics or health output', async (t) => {
  const spans = [...allSpans, ...h.finished()];
  t.ok(spans.length > 140, `every span of the file so far (${spans.length})`);
  const everything = JSON.stringify({
    spans: spans.map((s) => [s.name, s.attributes, s.status, s.events]),
    metrics: await h.collect(),
    health: openDatabases(),
  });
  t.notOk(everything.includes(server.password));
  t.notOk(everything.includes('never-shown-1'));
  t.ok(server.connectionString.includes(server.password), 'the data-layer test connected with it in the URL');
});

// Last: the server does not come back.
t.test('the server goes away mid-query (immediate shutdown): same error, error span, gauge', async (t) => {
  const g0 = await gauge();
  const client = await connected();
  const d = await delta(async () => {
    const pending = client.query('SELECT pg_sleep(30)').then(() => undefined, (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    await server.crash();
    return pending;
  });
  const err = d.result;
  t.ok(err instanceof Error, 'the query fails');
  const span = queries(d.spans)[0];
  t.equal(span?.status.code, SpanStatusCode.ERROR);
  t.equal(span?.attributes['error.type'], describeDbError(err).type);
  await eventually(async () => (await gauge()) === g0, 5000, 'the dead client uncounted');
  const after = await client.query('SELECT 1').then(() => undefined, (e: unknown) => e);
  t.match((after as Error).message, /not queryable|terminated/);
  await client.end();
});
