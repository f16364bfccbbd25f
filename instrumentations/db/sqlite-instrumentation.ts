/**
 * `sqlite` instrumentation: better-sqlite3 (9 to 12) queries, databases opened and closed.
 *
 * better-sqlite3 is synchronous, so everything here is about a small constant cost per query:
 *
 * - `Statement.prototype.run/get/all/iterate` and `StatementIterator.prototype.next/return` of the
 *   native addon are wrapped in place. The addon is caught when better-sqlite3 loads it (a file hook
 *   on `build/Release/better_sqlite3.node`), before any statement exists, so the statements
 *   better-sqlite3 prepares internally (`pragma()`, the BEGIN / COMMIT / SAVEPOINT statements of
 *   `transaction()`) are observed like the application's own. A custom `nativeBinding` is caught
 *   at its first `prepare()` instead.
 * - A statement is classified once: at `prepare()` (or at its first run for internal statements),
 *   its QueryInfo (span name, frozen attributes, metric attributes) goes into a WeakMap. A run is
 *   then a WeakMap lookup, two `performance.now()`, the histogram record and the span.
 * - `iterate()`'s span ends when the iterator is exhausted, returned (`break` in for-of) or throws.
 * - `Database.prototype.exec` records one query per call (a multi-statement script is classified
 *   by its first statement); a failing `prepare()` records the failed query.
 * - Opening is seen through a Proxy around the exported `Database` constructor (its
 *   `prototype.constructor` points at the Proxy, so `db.constructor === Database` still holds);
 *   `close()` and garbage collection of an unclosed database end the count, exactly once.
 *
 * The application gets the same return values and the same error objects (rethrown untouched);
 * the only difference is our frames in their stacks.
 */
import { context } from '@opentelemetry/api';
import { InstrumentationNodeModuleDefinition, InstrumentationNodeModuleFile } from '@opentelemetry/instrumentation';
import { markInstalled, savePrototype } from '../shared/prototype-patch.js';
import { reportOnce } from '../../src/diag.js';
import { DbInstrumentationBase } from './db-instrumentation.js';
import { sqliteNamespace, type DbTarget, type QueryInfo } from './recorder.js';
import { forgetTracked, probeState, trackHandle, untrackHandle, type TrackedToken } from './health.js';
import type { DbInstrumentationConfig } from './types.js';

const SUPPORTED = ['>=9.0.0 <13'];
const kOriginal = Symbol('cardlink-otel.sqlite.original');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (this: any, ...args: unknown[]) => unknown;
type Ctor = (new (...args: unknown[]) => object) & ((...args: unknown[]) => object) & { prototype: Record<PropertyKey, unknown> };

/** What we read from a better-sqlite3 Database (public getters only). */
interface DbLike {
  readonly name?: unknown;
  readonly open?: unknown;
}

/** What we read from a Statement (own properties set by the addon). */
interface StatementLike {
  readonly source?: unknown;
  readonly database?: unknown;
}

interface DbState {
  readonly target: DbTarget;
  counted: boolean;
}

/** Held by the FinalizationRegistry: never the database itself (it would never be collected). */
interface Finalizable {
  readonly state: DbState;
  token: TrackedToken | undefined;
}

interface IterState {
  readonly info: QueryInfo;
  readonly t0: number;
  readonly parent: ReturnType<typeof context.active>;
}

export class SqliteInstrumentation extends DbInstrumentationBase {
  private readonly stmts = new WeakMap<object, QueryInfo>();
  private readonly dbs = new WeakMap<object, DbState>();
  private readonly iters = new WeakMap<object, IterState>();
  private readonly proxies = new WeakMap<Ctor, Ctor>();
  private readonly proxySet = new WeakSet<object>();
  private readonly finalizer = new FinalizationRegistry<Finalizable>((held) => this.onCollected(held));

  constructor(config: DbInstrumentationConfig = {}) {
    super('sqlite', 'sqlite', config);
    this.enableIfConfigured(config);
  }

  protected override init(): InstrumentationNodeModuleDefinition[] {
    const addon = (path: string): InstrumentationNodeModuleFile =>
      new InstrumentationNodeModuleFile(
        `better-sqlite3/${path}/better_sqlite3.node`,
        SUPPORTED,
        (exports: unknown) => {
          this.patchAddon(exports);
          return exports;
        },
        (exports: unknown) => this.unpatchAddon(exports),
      );
    return [
      new InstrumentationNodeModuleDefinition(
        'better-sqlite3',
        SUPPORTED,
        (exports: unknown) => this.patchMain(exports),
        (exports: unknown) => this.unpatchMain(exports),
        [
          addon('build/Release'),
          addon('build/Debug'),
          // lib/index.js re-exports `require('./database')`: hooking that require hands the proxy
          // to ESM applications too (their import of the main file is not a require).
          new InstrumentationNodeModuleFile(
            'better-sqlite3/lib/database.js',
            SUPPORTED,
            (exports: unknown) => this.patchMain(exports),
            (exports: unknown) => this.unpatchMain(exports),
          ),
        ],
      ),
    ];
  }

  // --- patching ---------------------------------------------------------------------------------

  /** better-sqlite3's main export (CommonJS: the constructor; ESM: a namespace whose default it is). */
  private patchMain(exports: unknown): unknown {
    try {
      const esm = typeof exports !== 'function';
      const Database = (esm ? (exports as { default?: unknown } | null)?.default : exports) as Ctor | undefined;
      if (typeof Database !== 'function') return exports;
      if (this.proxySet.has(Database)) return Database;
      let proxy = this.proxies.get(Database);
      if (proxy === undefined) {
        proxy = this.makeProxy(Database);
        this.proxies.set(Database, proxy);
        this.proxySet.add(proxy);
      }
      this.patchDatabasePrototype(Database.prototype, proxy);
      // CommonJS: require() hands out the proxy. ESM: the namespace's default becomes the proxy.
      return proxy;
    } catch (err) {
      reportOnce('sqlite patch', err);
      return exports;
    }
  }

  private unpatchMain(exports: unknown): void {
    const esm = typeof exports !== 'function';
    let Database = (esm ? (exports as { default?: unknown } | null)?.default : exports) as Ctor | undefined;
    if (Database !== undefined && this.proxySet.has(Database)) Database = (Database as unknown as { [kOriginal]: Ctor })[kOriginal];
    this.unpatchProto(Database?.prototype);
  }

  private makeProxy(Database: Ctor): Ctor {
    const self = this;
    return new Proxy(Database, {
      construct(target, args, newTarget) {
        const db = Reflect.construct(target, args, newTarget) as object;
        self.onOpen(db);
        return db;
      },
      apply(target, thisArg, args) {
        // `Database(file)` without new: better-sqlite3 calls `new` itself (not through us).
        const db = Reflect.apply(target, thisArg, args) as object;
        self.onOpen(db);
        return db;
      },
      get(target, key, receiver) {
        if (key === kOriginal) return target;
        return Reflect.get(target, key, receiver);
      },
    });
  }

  private patchDatabasePrototype(proto: Record<PropertyKey, unknown>, proxy: Ctor): void {
    if (this.isPatched(proto)) return;
    const prepare = proto['prepare'] as Fn;
    const exec = proto['exec'] as Fn;
    const close = proto['close'] as Fn;
    if (typeof prepare !== 'function' || typeof exec !== 'function' || typeof close !== 'function') return;
    const record = savePrototype(proto, ['prepare', 'exec', 'close', 'constructor']);
    const self = this;
    const gen = this.generation;
    proto['prepare'] = function prepare_(this: object, source: unknown) {
      if (self.generation !== gen || probeState.sqliteDepth > 0) return prepare.apply(this, arguments as unknown as unknown[]);
      let stmt: unknown;
      const t0 = performance.now();
      try {
        stmt = prepare.apply(this, arguments as unknown as unknown[]);
      } catch (err) {
        self.onPrepareFailed(this, source, t0, err);
        throw err;
      }
      self.onPrepared(this, source, stmt);
      return stmt;
    };
    proto['exec'] = function exec_(this: object, source: unknown) {
      if (self.generation !== gen || probeState.sqliteDepth > 0 || typeof source !== 'string') return exec.apply(this, arguments as unknown as unknown[]);
      const info = self.execInfo(this, source);
      const t0 = performance.now();
      let result: unknown;
      try {
        result = exec.apply(this, arguments as unknown as unknown[]);
      } catch (err) {
        if (info !== undefined) self.recorder().fail(info, t0, performance.now(), err, context.active());
        throw err;
      }
      if (info !== undefined) self.recorder().ok(info, t0, performance.now(), context.active());
      return result;
    };
    proto['close'] = function close_(this: object) {
      const result = close.apply(this, arguments as unknown as unknown[]);
      // Counted databases are uncounted even when disabled since: the gauge must balance.
      self.onClose(this);
      return result;
    };
    // `db.constructor === Database` keeps holding for applications that hold the proxy.
    Object.defineProperty(proto, 'constructor', { value: proxy, writable: true, configurable: true, enumerable: false });
    markInstalled(record);
    this.patched.push(record);
  }

  /** The native addon: Statement and StatementIterator prototypes. */
  private patchAddon(addon: unknown): void {
    try {
      const a = addon as { Statement?: { prototype?: Record<PropertyKey, unknown> }; StatementIterator?: { prototype?: Record<PropertyKey, unknown> } } | null;
      const sp = a?.Statement?.prototype;
      if (sp !== undefined) this.patchStatementPrototype(sp);
      const ip = a?.StatementIterator?.prototype;
      if (ip !== undefined) this.patchIteratorPrototype(ip);
    } catch (err) {
      reportOnce('sqlite patch addon', err);
    }
  }

  private unpatchAddon(addon: unknown): void {
    const a = addon as { Statement?: { prototype?: unknown }; StatementIterator?: { prototype?: unknown } } | null;
    this.unpatchProto(a?.Statement?.prototype);
    this.unpatchProto(a?.StatementIterator?.prototype);
  }

  private patchStatementPrototype(proto: Record<PropertyKey, unknown>): void {
    if (this.isPatched(proto)) return;
    const names = ['run', 'get', 'all'] as const;
    const originals = names.map((n) => proto[n]);
    const iterate = proto['iterate'];
    if (!originals.every((f) => typeof f === 'function') || typeof iterate !== 'function') return;
    const record = savePrototype(proto, [...names, 'iterate']);
    names.forEach((name, i) => {
      proto[name] = this.wrapExecution(originals[i] as Fn, name);
    });
    proto['iterate'] = this.wrapIterate(iterate as Fn);
    markInstalled(record);
    this.patched.push(record);
  }

  private patchIteratorPrototype(proto: Record<PropertyKey, unknown>): void {
    if (this.isPatched(proto)) return;
    const next = proto['next'] as Fn;
    const ret = proto['return'] as Fn;
    if (typeof next !== 'function' || typeof ret !== 'function') return;
    const record = savePrototype(proto, ['next', 'return']);
    const self = this;
    const iters = this.iters;
    const gen = this.generation;
    proto['next'] = function next_(this: object) {
      const st = self.generation === gen ? iters.get(this) : undefined;
      if (st === undefined) return next.apply(this, arguments as unknown as unknown[]);
      let r: unknown;
      try {
        r = next.apply(this, arguments as unknown as unknown[]);
      } catch (err) {
        iters.delete(this);
        self.recorder().fail(st.info, st.t0, performance.now(), err, st.parent);
        throw err;
      }
      if (r !== null && typeof r === 'object' && (r as { done?: unknown }).done === true) {
        iters.delete(this);
        self.recorder().ok(st.info, st.t0, performance.now(), st.parent);
      }
      return r;
    };
    proto['return'] = function return_(this: object) {
      const st = self.generation === gen ? iters.get(this) : undefined;
      if (st === undefined) return ret.apply(this, arguments as unknown as unknown[]);
      iters.delete(this);
      let r: unknown;
      try {
        r = ret.apply(this, arguments as unknown as unknown[]);
      } catch (err) {
        self.recorder().fail(st.info, st.t0, performance.now(), err, st.parent);
        throw err;
      }
      self.recorder().ok(st.info, st.t0, performance.now(), st.parent);
      return r;
    };
    markInstalled(record);
    this.patched.push(record);
  }

  /** run / get / all: the hot path. */
  private wrapExecution(original: Fn, name: string): Fn {
    const self = this;
    const stmts = this.stmts;
    const gen = this.generation;
    const wrapped = function (this: object) {
      if (probeState.sqliteDepth > 0 || self.generation !== gen) return original.apply(this, arguments as unknown as unknown[]);
      let info = stmts.get(this);
      if (info === undefined || info.epoch !== self.recorder().epoch) info = self.lateInfo(this);
      const t0 = performance.now();
      let result: unknown;
      try {
        result = original.apply(this, arguments as unknown as unknown[]);
      } catch (err) {
        if (info !== undefined) self.recorder().fail(info, t0, performance.now(), err, context.active());
        throw err;
      }
      if (info !== undefined) self.recorder().ok(info, t0, performance.now(), context.active());
      return result;
    };
    Object.defineProperty(wrapped, 'name', { value: name });
    return wrapped;
  }

  private wrapIterate(original: Fn): Fn {
    const self = this;
    const stmts = this.stmts;
    const iters = this.iters;
    const gen = this.generation;
    return function iterate(this: object) {
      if (probeState.sqliteDepth > 0 || self.generation !== gen) return original.apply(this, arguments as unknown as unknown[]);
      let info = stmts.get(this);
      if (info === undefined || info.epoch !== self.recorder().epoch) info = self.lateInfo(this);
      const t0 = performance.now();
      let it: unknown;
      try {
        it = original.apply(this, arguments as unknown as unknown[]);
      } catch (err) {
        if (info !== undefined) self.recorder().fail(info, t0, performance.now(), err, context.active());
        throw err;
      }
      if (info !== undefined && it !== null && typeof it === 'object') iters.set(it, { info, t0, parent: context.active() });
      return it;
    };
  }

  // --- observation --------------------------------------------------------------------------------

  private stateOf(db: object): DbState {
    let st = this.dbs.get(db);
    if (st === undefined) {
      // A database opened before we were enabled: observed, never counted.
      st = { target: this.recorder().target(sqliteNamespace((db as DbLike).name)), counted: false };
      this.dbs.set(db, st);
    }
    return st;
  }

  private onOpen(db: object): void {
    try {
      if (!this.isEnabled() || this.dbs.get(db)?.counted === true) return;
      const st = this.stateOf(db);
      st.counted = true;
      this.instruments().dbConnectionsActive.add(1);
      const held: Finalizable = { state: st, token: undefined };
      this.finalizer.register(db, held, st);
      held.token = trackHandle('sqlite', 'database', db, st.target.namespace, undefined);
    } catch (err) {
      reportOnce('sqlite open', err);
    }
  }

  private onClose(db: object): void {
    try {
      const st = this.dbs.get(db);
      if (st === undefined || !st.counted || (db as DbLike).open !== false) return;
      st.counted = false;
      this.instruments().dbConnectionsActive.add(-1);
      this.finalizer.unregister(st);
      untrackHandle(db);
    } catch (err) {
      reportOnce('sqlite close', err);
    }
  }

  /** An unclosed database was garbage-collected (better-sqlite3 closes it natively). */
  private onCollected(held: Finalizable): void {
    try {
      forgetTracked(held.token);
      if (!held.state.counted) return;
      held.state.counted = false;
      this.instruments().dbConnectionsActive.add(-1);
    } catch (err) {
      reportOnce('sqlite finalize', err);
    }
  }

  private onPrepared(db: object, source: unknown, stmt: unknown): void {
    try {
      if (stmt === null || typeof stmt !== 'object' || typeof source !== 'string') return;
      const proto = Object.getPrototypeOf(stmt) as Record<PropertyKey, unknown> | null;
      if (proto !== null && !this.isPatched(proto)) this.patchStatementPrototype(proto); // custom nativeBinding
      this.stmts.set(stmt, this.recorder().info(this.stateOf(db).target, source));
    } catch (err) {
      reportOnce('sqlite prepare', err);
    }
  }

  private onPrepareFailed(db: object, source: unknown, t0: number, error: unknown): void {
    try {
      if (typeof source !== 'string') return; // better-sqlite3's own argument check
      const info = this.recorder().info(this.stateOf(db).target, source);
      this.recorder().fail(info, t0, performance.now(), error, context.active());
    } catch (err) {
      reportOnce('sqlite prepare', err);
    }
  }

  private execInfo(db: object, source: string): QueryInfo | undefined {
    try {
      return this.recorder().info(this.stateOf(db).target, source);
    } catch (err) {
      reportOnce('sqlite exec', err);
      return undefined;
    }
  }

  /** Statements prepared inside better-sqlite3 (pragma, transaction) or before we were enabled. */
  private lateInfo(stmt: object): QueryInfo | undefined {
    try {
      const s = stmt as StatementLike;
      const db = s.database;
      const source = s.source;
      if (db === null || typeof db !== 'object' || typeof source !== 'string') return undefined;
      const info = this.recorder().info(this.stateOf(db).target, source);
      this.stmts.set(stmt, info);
      return info;
    } catch (err) {
      reportOnce('sqlite statement', err);
      return undefined;
    }
  }
}
