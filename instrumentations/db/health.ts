/**
 * Health hooks of the database instrumentations: which databases are open right now, and a cheap
 * `SELECT 1` per database with a timeout. Fed by the `sqlite` and `pg` instrumentations (a
 * database they never saw open is not listed); read by the health endpoint.
 *
 * Probes are invisible to the instrumentations (no span, no query metric): SQLite probes run
 * under a synchronous flag, pg probes carry the `kHealthProbe` marker on their query config and
 * pool callback. Not to the drivers: better-sqlite3's own `verbose` log shows the `SELECT 1`. Handles are held weakly: listing never keeps a forgotten database alive.
 *
 * What a probe does:
 * - SQLite: `SELECT 1` through a statement prepared once per database. better-sqlite3 is
 *   synchronous, so the timeout cannot interrupt it; a probe slower than the timeout is reported
 *   as failed. The first probe of a database nobody used yet reads its schema (SQLite prepares
 *   that way), later ones touch no file and take no lock.
 * - pg pool: `pool.connect()`, `SELECT 1`, release (a failing client is released with its error
 *   so the pool drops it). Never queued behind the application: with every client in use the
 *   probe does not ask, and reports `exhausted` when callers wait (a real symptom), `skipped`
 *   when none do; one probe per pool at a time, and one still waiting for its connection past
 *   the timeout (a database that accepts and never answers) keeps the pool failing until pg
 *   answers it, instead of taking one more pool slot per probe. A client the probe made the pool open is listed
 *   through its pool, and its connect makes no span.
 * - pg client (not from a pool): `SELECT 1` on the client itself, only when it is idle (no query
 *   running or queued, not inside a transaction); a busy client is reported `skipped`, so the
 *   probe never interleaves with the application's own work.
 */
import type { DbSystem } from './types.js';

export type DbHandleKind = 'database' | 'client' | 'pool';

/** One open database, client or pool. */
export interface OpenDatabase {
  readonly system: DbSystem;
  readonly kind: DbHandleKind;
  /** SQLite file (or `:memory:`), PostgreSQL database name. */
  readonly namespace: string | undefined;
  /** `host:port` (pg). */
  readonly server: string | undefined;
  /** pg pools: clients in total, idle, and callers waiting for one (pg-pool's own counters). */
  readonly pool?: { readonly total: number; readonly idle: number; readonly waiting: number };
}

export interface DbPingResult extends OpenDatabase {
  /** The probe succeeded (or was skipped because the client is busy with real work). */
  readonly ok: boolean;
  /** True when the probe did not run (busy pg client). */
  readonly skipped: boolean;
  readonly durationMs: number;
  /** `ok`, `skipped: busy`, `timeout after N ms`, or the error (code and library message only). */
  readonly message: string;
}

export const DEFAULT_PING_TIMEOUT_MS = 2000;

/** Marker on a pg query config or pool.connect callback: a health probe, not application work. */
export const kHealthProbe: unique symbol = Symbol('cardlink-otel.db.healthProbe');

/**
 * Read by the wrappers: > 0 while a probe runs (synchronously): a SQLite probe, or a pg probe's
 * `pool.connect`, inside which pg-pool opens a new client when none is idle.
 */
export const probeState = { sqliteDepth: 0, pgConnectDepth: 0 };

interface Entry {
  readonly system: DbSystem;
  readonly kind: DbHandleKind;
  readonly ref: WeakRef<object>;
  readonly namespace: string | undefined;
  readonly server: string | undefined;
  /** pg clients handed out by a pool: represented by their pool. */
  pooled: boolean;
}

const byHandle = new WeakMap<object, Entry>();
/** pg clients a pool handed out (possibly before they were tracked: pg calls back before `connect` is emitted). */
const pooledClients = new WeakSet<object>();
const entries = new Set<Entry>();
const MAX_ENTRIES = 10_000;
/** Track calls refused at the cap since the last prune (ended pools and collected handles are pruned at most every this many). */
const PRUNE_EVERY = 1000;
let refusedSincePrune = PRUNE_EVERY;

/** Opaque: what `trackHandle` returns, for `forgetTracked` (it holds the handle only weakly). */
export type TrackedToken = object;

/** Called by the instrumentations when a database / client opens or a pool is first used. */
export function trackHandle(
  system: DbSystem,
  kind: DbHandleKind,
  handle: object,
  namespace: string | undefined,
  server: string | undefined,
): TrackedToken | undefined {
  if (byHandle.has(handle)) return undefined;
  if (entries.size >= MAX_ENTRIES) {
    // Ended pools and collected handles leave only when something lists them: prune them now.
    if (++refusedSincePrune < PRUNE_EVERY) return undefined;
    refusedSincePrune = 0;
    for (const e of [...entries]) live(e);
    if (entries.size >= MAX_ENTRIES) return undefined;
  }
  const e: Entry = { system, kind, ref: new WeakRef(handle), namespace, server, pooled: pooledClients.has(handle) };
  byHandle.set(handle, e);
  entries.add(e);
  return e;
}

/** A handle that was garbage-collected unclosed (the instrumentation's FinalizationRegistry). */
export function forgetTracked(token: TrackedToken | undefined): void {
  if (token !== undefined) entries.delete(token as Entry);
}

/** Called when a database / client closes (or was garbage-collected unclosed). */
export function untrackHandle(handle: object): void {
  const e = byHandle.get(handle);
  if (e === undefined) return;
  byHandle.delete(handle);
  entries.delete(e);
}

/** A pg client handed out by a pool: listed and probed through its pool. */
export function markPooled(client: object): void {
  pooledClients.add(client);
  const e = byHandle.get(client);
  if (e !== undefined) e.pooled = true;
}

/** Test hook: the tracked entries, whatever their state. */
export function trackedCount(): number {
  return entries.size;
}

/** pg-pool's `max` when the application gives none. */
const PG_POOL_DEFAULT_MAX = 10;

interface PoolLike {
  options?: { max?: unknown };
  totalCount?: number;
  idleCount?: number;
  waitingCount?: number;
  ending?: boolean;
  ended?: boolean;
  connect(cb: (err: unknown, client?: PgClientLike, release?: (e?: unknown) => void) => void): unknown;
}

interface PgClientLike {
  query(config: object, cb: (err: unknown, res?: unknown) => void): unknown;
  getTransactionStatus?: () => string | null;
  _getActiveQuery?: () => unknown;
  _queryQueue?: unknown[];
  _connected?: boolean;
  _ending?: boolean;
  _ended?: boolean;
  _queryable?: boolean;
}

interface SqliteStatementLike {
  pluck(on?: boolean): SqliteStatementLike;
  get(): unknown;
}

interface SqliteDbLike {
  open?: boolean;
  prepare(sql: string): SqliteStatementLike;
}

function live(e: Entry): object | undefined {
  const h = e.ref.deref();
  if (h === undefined) {
    entries.delete(e);
    return undefined;
  }
  if (e.kind === 'pool') {
    const p = h as PoolLike;
    if (p.ending === true || p.ended === true) {
      untrackHandle(h);
      return undefined;
    }
  }
  return h;
}

function describe(e: Entry, h: object): OpenDatabase {
  const base = { system: e.system, kind: e.kind, namespace: e.namespace, server: e.server };
  if (e.kind !== 'pool') return base;
  const p = h as PoolLike;
  const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return { ...base, pool: { total: n(p.totalCount), idle: n(p.idleCount), waiting: n(p.waitingCount) } };
}

/**
 * The open SQLite databases, pg pools, and pg clients that do not belong to a pool, in the order
 * they were opened.
 */
export function openDatabases(): OpenDatabase[] {
  const out: OpenDatabase[] = [];
  for (const e of [...entries]) {
    if (e.pooled) continue;
    const h = live(e);
    if (h !== undefined) out.push(describe(e, h));
  }
  return out;
}

/** Probes every open database concurrently (see module notes); each bounded by `timeoutMs`. */
export async function pingDatabases(timeoutMs: number = DEFAULT_PING_TIMEOUT_MS): Promise<DbPingResult[]> {
  const work: Promise<DbPingResult>[] = [];
  for (const e of [...entries]) {
    if (e.pooled) continue;
    const h = live(e);
    if (h !== undefined) work.push(probe(e, h, timeoutMs));
  }
  return Promise.all(work);
}

/** Probes one handle (a better-sqlite3 Database, pg Client or Pool) the instrumentations know. */
export async function pingHandle(handle: object, timeoutMs: number = DEFAULT_PING_TIMEOUT_MS): Promise<DbPingResult | undefined> {
  const e = byHandle.get(handle);
  return e === undefined ? undefined : probe(e, handle, timeoutMs);
}

function errorMessage(err: unknown): string {
  if (typeof err !== 'object' || err === null) return 'failed';
  const code = (err as { code?: unknown }).code;
  const message = (err as { message?: unknown }).message;
  // Server and SQLite messages may quote data: only their codes.
  if (typeof code === 'string' && (code.startsWith('SQLITE_') || typeof (err as { severity?: unknown }).severity === 'string')) return code;
  const m = typeof message === 'string' ? message.split('\n', 1)[0]!.slice(0, 200) : 'failed';
  return typeof code === 'string' ? `${code}: ${m}` : m;
}

async function probe(e: Entry, h: object, timeoutMs: number): Promise<DbPingResult> {
  const info = describe(e, h);
  const t0 = performance.now();
  const done = (ok: boolean, message: string, skipped = false): DbPingResult => ({
    ...info,
    ok,
    skipped,
    durationMs: Math.round((performance.now() - t0) * 1000) / 1000,
    message,
  });
  try {
    if (e.system === 'sqlite') return pingSqliteNow(h as SqliteDbLike, timeoutMs, done);
    if (e.kind === 'pool') return await pingPool(h as PoolLike, timeoutMs, done);
    return await pingClient(h as PgClientLike, timeoutMs, done);
  } catch (err) {
    return done(false, errorMessage(err));
  }
}

type Done = (ok: boolean, message: string, skipped?: boolean) => DbPingResult;

const sqliteProbes = new WeakMap<object, SqliteStatementLike>();

function pingSqliteNow(db: SqliteDbLike, timeoutMs: number, done: Done): DbPingResult {
  if (db.open === false) return done(false, 'closed');
  const t0 = performance.now();
  probeState.sqliteDepth++;
  try {
    let stmt = sqliteProbes.get(db);
    if (stmt === undefined) {
      stmt = db.prepare('SELECT 1').pluck(true);
      sqliteProbes.set(db, stmt);
    }
    const v = stmt.pluck(true).get();
    if (v !== 1) return done(false, 'unexpected probe result');
  } catch (err) {
    return done(false, errorMessage(err));
  } finally {
    probeState.sqliteDepth--;
  }
  const ms = performance.now() - t0;
  return ms > timeoutMs ? done(false, `slow: ${Math.round(ms)} ms > ${timeoutMs} ms`) : done(true, 'ok');
}

/** Runs `work` until it settles or `ms` pass; a synchronous throw settles through `onError`. */
function timeout<T>(ms: number, work: (settle: (v: T) => void) => void, onTimeout: () => T, onError: (err: unknown) => T): Promise<T> {
  return new Promise<T>((resolve) => {
    let settled = false;
    const settle = (v: T): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => settle(onTimeout()), Math.max(1, ms));
    timer.unref?.();
    try {
      work(settle);
    } catch (err) {
      settle(onError(err));
    }
  });
}

function selectOne(client: PgClientLike, cb: (err: unknown) => void): void {
  client.query({ text: 'SELECT 1', [kHealthProbe]: true }, (err) => cb(err));
}

/**
 * Pools with a probe whose `pool.connect` has not called back yet, and since when: one at a time
 * per pool. A probe that timed out still holds its place (and its pool slot) until pg answers it.
 */
const probing = new WeakMap<object, { readonly since: number; timedOut: boolean }>();

function pingPool(pool: PoolLike, timeoutMs: number, done: Done): Promise<DbPingResult> {
  if (pool.ending === true || pool.ended === true) return Promise.resolve(done(false, 'pool ended'));
  // Never a waiter in the pool's queue (the application's next query would wait behind it): with
  // every client in use, callers waiting is the symptom, and nobody waiting is a busy pool.
  const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const max = n(pool.options?.max) || PG_POOL_DEFAULT_MAX;
  if (n(pool.idleCount) === 0 && n(pool.totalCount) >= max) {
    const waiting = n(pool.waitingCount);
    if (waiting > 0) return Promise.resolve(done(false, `exhausted: ${n(pool.totalCount)} clients in use, ${waiting} waiting`));
    return Promise.resolve(done(true, 'skipped: every client in use', true));
  }
  const pending = probing.get(pool);
  if (pending !== undefined) {
    if (!pending.timedOut) return Promise.resolve(done(true, 'skipped: a probe is running', true));
    return Promise.resolve(done(false, `no answer: the last probe has waited ${Math.round(performance.now() - pending.since)} ms for a connection`));
  }
  const mine = { since: performance.now(), timedOut: false };
  probing.set(pool, mine);
  return timeout<DbPingResult>(
    timeoutMs,
    (settle) => {
      const cb = (err: unknown, client?: PgClientLike, release?: (e?: unknown) => void): void => {
        probing.delete(pool);
        if (err !== undefined && err !== null) {
          settle(done(false, errorMessage(err)));
          return;
        }
        if (client === undefined) {
          settle(done(false, 'no client'));
          return;
        }
        markPooled(client); // listed and probed through its pool, like the application's
        selectOne(client, (qerr) => {
          try {
            release?.(qerr ?? undefined);
          } catch {
            /* the pool's business */
          }
          settle(qerr !== undefined && qerr !== null ? done(false, errorMessage(qerr)) : done(true, 'ok'));
        });
      };
      (cb as unknown as Record<symbol, boolean>)[kHealthProbe] = true;
      probeState.pgConnectDepth++;
      try {
        pool.connect(cb);
      } catch (err) {
        probing.delete(pool);
        throw err;
      } finally {
        probeState.pgConnectDepth--;
      }
    },
    () => {
      mine.timedOut = true;
      return done(false, `timeout after ${timeoutMs} ms`);
    },
    (err) => done(false, errorMessage(err)),
  );
}

function pingClient(client: PgClientLike, timeoutMs: number, done: Done): Promise<DbPingResult> {
  if (client._ending === true || client._ended === true) return Promise.resolve(done(false, 'closed'));
  if (client._connected === false) return Promise.resolve(done(false, 'not connected'));
  if (client._queryable === false) return Promise.resolve(done(false, 'connection lost'));
  const busy =
    (typeof client._getActiveQuery === 'function' && client._getActiveQuery() != null) ||
    (Array.isArray(client._queryQueue) && client._queryQueue.length > 0) ||
    (typeof client.getTransactionStatus === 'function' && (client.getTransactionStatus() ?? 'I') !== 'I');
  if (busy) return Promise.resolve(done(true, 'skipped: busy', true));
  return timeout<DbPingResult>(
    timeoutMs,
    (settle) => selectOne(client, (err) => settle(err !== undefined && err !== null ? done(false, errorMessage(err)) : done(true, 'ok'))),
    () => done(false, `timeout after ${timeoutMs} ms`),
    (err) => done(false, errorMessage(err)),
  );
}
