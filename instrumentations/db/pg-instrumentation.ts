/**
 * `pg` instrumentation: node-postgres 8 queries and connections, and pg-pool's `connect`.
 *
 * Patched in place on the shared prototypes (the same objects for CommonJS and ESM users, so an
 * ESM application importing `pg` is covered as soon as either hook sees the module):
 *
 * - `Client.prototype.query` in every form. Callback forms (`query(text, cb)`, `query(text,
 *   values, cb)`, a config object with its own `callback`): the callback is wrapped so the span
 *   ends just before the application's callback runs. Promise form: the span ends in a `then` on
 *   pg's promise and the application gets the derived promise, which settles with the same value
 *   or the same error object one microtask later (the unavoidable cost of observing a promise
 *   without marking it handled). Submittables (`pg-cursor`, `pg-query-stream`, a `pg.Query`, any
 *   object with `submit`): pg returns the object itself, so its `handleReadyForQuery` /
 *   `handleError` get non-enumerable own wrappers for the duration of the query, removed before
 *   the original runs.
 * - Named prepared statements: the text given the first time is remembered per client, so later
 *   executions by name alone are classified too (`cardlink.db.statement_name` on the span).
 * - `Client.prototype._connect` (behind both `connect()` forms): a `pg.connect` CLIENT span.
 * - `Client.prototype.emit`: `connect` and `end` drive `cardlink_db_connections_active`, exactly
 *   once per client, pool clients included (pg-pool connects them through the same prototype).
 * - `Pool.prototype.connect` of pg-pool: a `pg-pool.connect` INTERNAL span (time to get a client,
 *   i.e. pool exhaustion shows), and the pool becomes known to the health hooks.
 *
 * Errors: `error.type` is the SQLSTATE (`57P01` for a terminated backend), a Node code
 * (`ECONNREFUSED`) or the error class; the application receives the very same error object.
 * No span is ever made active, and no password is ever read: only `database`, `host`, `port`.
 */
import { SpanKind, context, type Context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { InstrumentationNodeModuleDefinition, InstrumentationNodeModuleFile, isWrapped } from '@opentelemetry/instrumentation';
import { markInstalled, savePrototype } from '../shared/prototype-patch.js';
import { reportOnce } from '../../src/diag.js';
import { DbInstrumentationBase } from './db-instrumentation.js';
import type { DbTarget, QueryInfo } from './recorder.js';
import { kHealthProbe, markPooled, probeState, trackHandle, untrackHandle } from './health.js';
import type { DbInstrumentationConfig } from './types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (this: any, ...args: any[]) => any;

/** What we read from a pg Client: public connection fields (never `password`). */
interface ClientLike {
  readonly database?: unknown;
  readonly host?: unknown;
  readonly port?: unknown;
}

interface PoolLike {
  readonly options?: Record<string, unknown>;
}

interface ClientState {
  readonly target: DbTarget;
  counted: boolean;
  /** Prepared statement name -> what its text was (bounded). */
  names: Map<string, QueryInfo> | undefined;
}

interface Pending {
  readonly info: QueryInfo;
  readonly t0: number;
  readonly parent: Context;
  readonly name: string | undefined;
  done: boolean;
}

const MAX_NAMES = 256;

/**
 * Whether another instrumentation (`@opentelemetry/instrumentation-pg`: it wraps with shimmer,
 * outside or inside ours) makes a span for this call: ours then records the metrics only, so a
 * query is one span, not two. Two property reads per call.
 */
function parentFor(current: unknown, original: unknown): Context {
  return isWrapped(current) || isWrapped(original) ? suppressTracing(context.active()) : context.active();
}

/**
 * Our wrapper over a function another instrumentation shimmer-wrapped, marked as that wrapper: the
 * contrib pg instrumentation wraps `pg/lib/client.js`, then for `pg` unwraps what it finds wrapped
 * and wraps again. Marked, its unwrap takes its first wrapper out from under ours (`dropInner`)
 * instead of finding nothing to unwrap and wrapping twice (two spans and two durations per query).
 */
function seeThrough(ours: Fn, inner: Fn, dropInner: () => void): void {
  const hidden = { configurable: true, enumerable: false, writable: true };
  const marked = ours as Fn & { __original?: unknown; __wrapped?: unknown; __unwrap?: unknown };
  Object.defineProperty(marked, '__original', { ...hidden, value: (inner as unknown as { __original: unknown }).__original });
  Object.defineProperty(marked, '__wrapped', { ...hidden, value: true });
  Object.defineProperty(marked, '__unwrap', {
    ...hidden,
    value: () => {
      dropInner();
      delete marked.__original;
      delete marked.__wrapped;
      delete marked.__unwrap;
    },
  });
}

/**
 * Whether pg may still hold a statement under `name` on this client: parsed or submitted (pg's own
 * maps), or a query is running or queued that could carry it. When unsure (another pg), true.
 */
function pgKnowsName(client: object, name: string): boolean {
  // pg's private fields, as the health probe reads them (the public getters print deprecation warnings).
  const c = client as {
    connection?: { parsedStatements?: Record<string, unknown>; submittedNamedStatements?: Record<string, unknown> };
    _queryQueue?: unknown[];
    _getActiveQuery?: () => unknown;
  };
  const conn = c.connection;
  if (conn?.parsedStatements === undefined || typeof c._getActiveQuery !== 'function') return true;
  if (conn.parsedStatements[name] !== undefined || conn.submittedNamedStatements?.[name] !== undefined) return true;
  return c._getActiveQuery() != null || (Array.isArray(c._queryQueue) && c._queryQueue.length > 0);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function portOf(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : undefined;
}

/** database / host / port of pool options, from the fields or a connection string (never its password). */
function poolTargetParts(options: Record<string, unknown> | undefined): [string | undefined, string | undefined, number | undefined] {
  if (options === undefined || options === null) return [undefined, undefined, undefined];
  let database = str(options['database']);
  let host = str(options['host']);
  let port = portOf(options['port']);
  const cs = options['connectionString'];
  if (typeof cs === 'string' && /^postgres(ql)?:\/\//i.test(cs)) {
    try {
      const u = new URL(cs);
      host ??= str(decodeURIComponent(u.hostname));
      port ??= portOf(u.port);
      database ??= str(decodeURIComponent(u.pathname.slice(1)));
    } catch {
      /* not a URL: leave the fields as they are */
    }
  }
  return [database, host, port];
}

export class PgInstrumentation extends DbInstrumentationBase {
  private readonly clients = new WeakMap<object, ClientState>();
  private readonly pools = new WeakSet<object>();

  constructor(config: DbInstrumentationConfig = {}) {
    super('pg', 'postgresql', config);
    this.enableIfConfigured(config);
  }

  protected override init(): InstrumentationNodeModuleDefinition[] {
    return [
      new InstrumentationNodeModuleDefinition(
        'pg',
        ['>=8.0.0 <9'],
        (exports: unknown) => {
          this.patchPg(exports);
          return exports;
        },
        (exports: unknown) => this.unpatchPg(exports),
        // pg's own `require('./client')`: seen for ESM applications too (an ESM import of the
        // package's main file is not a require, so the hook above alone would miss them), and
        // the Client prototype is the same object either way. patchPg is idempotent.
        [
          new InstrumentationNodeModuleFile(
            'pg/lib/client.js',
            ['>=8.0.0 <9'],
            (exports: unknown) => {
              this.patchPg({ Client: exports });
              return exports;
            },
            (exports: unknown) => this.unpatchPg({ Client: exports }),
          ),
        ],
      ),
      new InstrumentationNodeModuleDefinition(
        'pg-pool',
        ['>=2.0.0 <4'],
        (exports: unknown) => {
          this.patchPool(exports);
          return exports;
        },
        (exports: unknown) => this.unpatchPool(exports),
      ),
    ];
  }

  // --- patching ---------------------------------------------------------------------------------

  private static clientProto(exports: unknown): Record<PropertyKey, unknown> | undefined {
    const e = exports as { Client?: { prototype?: unknown }; default?: { Client?: { prototype?: unknown } } } | null;
    const proto = e?.Client?.prototype ?? e?.default?.Client?.prototype;
    return proto !== null && typeof proto === 'object' ? (proto as Record<PropertyKey, unknown>) : undefined;
  }

  private static poolProto(exports: unknown): Record<PropertyKey, unknown> | undefined {
    const Pool = (typeof exports === 'function' ? exports : (exports as { default?: unknown } | null)?.default) as { prototype?: unknown } | undefined;
    const proto = Pool?.prototype;
    return proto !== null && typeof proto === 'object' ? (proto as Record<PropertyKey, unknown>) : undefined;
  }

  private patchPg(exports: unknown): void {
    try {
      const proto = PgInstrumentation.clientProto(exports);
      if (proto === undefined || this.isPatched(proto)) return;
      let query = proto['query'] as Fn;
      const emit = proto['emit'] as Fn;
      const connect = proto['_connect'] as Fn | undefined;
      if (typeof query !== 'function' || typeof emit !== 'function') return;
      const record = savePrototype(proto, ['query', 'emit', '_connect']);
      const self = this;
      const gen = this.generation;

      proto['query'] = function query_(this: object, config: unknown, values: unknown, callback: unknown) {
        if (self.generation !== gen || config === null || config === undefined || (config as Record<symbol, unknown>)[kHealthProbe] === true) {
          return query.apply(this, arguments as unknown as unknown[]);
        }
        const p = self.begin(this, config, parentFor(proto['query'], query));
        if (p === undefined) return query.apply(this, arguments as unknown as unknown[]);
        if (typeof (config as { submit?: unknown }).submit === 'function') {
          self.watchSubmittable(config as Record<string, unknown>, p);
          return self.call(p, query, this, arguments as unknown as unknown[]);
        }
        // pg's precedence: the callback argument, then a function as `values`, then config.callback.
        if (callback) {
          if (typeof callback !== 'function') return self.call(p, query, this, arguments as unknown as unknown[]);
          return self.call(p, query, this, [config, values, self.wrapCallback(p, callback as Fn)]);
        }
        if (typeof values === 'function') return self.call(p, query, this, [config, self.wrapCallback(p, values as Fn)]);
        const own = typeof config === 'object' ? (config as { callback?: unknown }).callback : undefined;
        if (typeof own === 'function') return self.call(p, query, this, [config, values, self.wrapCallback(p, own as Fn)]);
        const result = self.call(p, query, this, arguments as unknown as unknown[]);
        if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
          return (result as Promise<unknown>).then(
            (r) => {
              self.settle(p, undefined);
              return r;
            },
            (err: unknown) => {
              self.settle(p, err);
              throw err;
            },
          );
        }
        return result;
      };
      if (isWrapped(query)) {
        seeThrough(proto['query'] as Fn, query, () => {
          query = (query as unknown as { __original: Fn }).__original;
        });
      }

      if (typeof connect === 'function') {
        proto['_connect'] = function _connect_(this: object, callback: unknown) {
          // A client a health probe made the pool open: no span (probes are invisible).
          if (self.generation !== gen || typeof callback !== 'function' || probeState.pgConnectDepth > 0) return connect.apply(this, arguments as unknown as unknown[]);
          const wrapped = self.connectCallback(this, callback as Fn, parentFor(proto['connect'], undefined));
          return connect.call(this, wrapped);
        };
      }

      proto['emit'] = function emit_(this: object, event: unknown) {
        if (event === 'connect') self.onConnected(this);
        else if (event === 'end') self.onEnded(this);
        return emit.apply(this, arguments as unknown as unknown[]);
      };
      markInstalled(record);
      this.patched.push(record);
    } catch (err) {
      reportOnce('pg patch', err);
    }
  }

  private unpatchPg(exports: unknown): void {
    this.unpatchProto(PgInstrumentation.clientProto(exports));
  }

  private patchPool(exports: unknown): void {
    try {
      const proto = PgInstrumentation.poolProto(exports);
      if (proto === undefined || this.isPatched(proto)) return;
      const connect = proto['connect'] as Fn;
      if (typeof connect !== 'function') return;
      const record = savePrototype(proto, ['connect']);
      const self = this;
      const gen = this.generation;
      proto['connect'] = function connect_(this: object, cb: unknown) {
        if (self.generation !== gen || (typeof cb === 'function' && (cb as unknown as Record<symbol, unknown>)[kHealthProbe] === true)) {
          return connect.apply(this, arguments as unknown as unknown[]);
        }
        self.onPoolUsed(this);
        const t0 = performance.now();
        const parent = parentFor(proto['connect'], connect);
        let done = false;
        const finish = (err: unknown, client: unknown): void => {
          if (done) return;
          done = true;
          self.poolConnected(this, t0, parent, err, client);
        };
        if (typeof cb === 'function') {
          try {
            return connect.call(this, function (this: unknown, err: unknown, client: unknown) {
              finish(err, client);
              return (cb as Fn).apply(this, arguments as unknown as unknown[]);
            });
          } catch (err) {
            finish(err, undefined);
            throw err;
          }
        }
        let result: unknown;
        try {
          result = connect.apply(this, arguments as unknown as unknown[]);
        } catch (err) {
          finish(err, undefined); // a malformed connection string, a missing sslrootcert
          throw err;
        }
        if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
          return (result as Promise<unknown>).then(
            (client) => {
              finish(undefined, client);
              return client;
            },
            (err: unknown) => {
              finish(err, undefined);
              throw err;
            },
          );
        }
        return result;
      };
      markInstalled(record);
      this.patched.push(record);
    } catch (err) {
      reportOnce('pg-pool patch', err);
    }
  }

  private unpatchPool(exports: unknown): void {
    this.unpatchProto(PgInstrumentation.poolProto(exports));
  }

  // --- queries ------------------------------------------------------------------------------------

  private stateOf(client: object): ClientState {
    let st = this.clients.get(client);
    if (st === undefined) {
      const c = client as ClientLike;
      st = { target: this.recorder().target(str(c.database), str(c.host), portOf(c.port)), counted: false, names: undefined };
      this.clients.set(client, st);
    }
    return st;
  }

  /** Classifies a query at `query()` time; undefined (= not observed) on any surprise. */
  private begin(client: object, config: unknown, parent: Context): Pending | undefined {
    try {
      const st = this.stateOf(client);
      let text: unknown;
      let name: unknown;
      if (typeof config === 'string') text = config;
      else if (typeof config === 'object' || typeof config === 'function') {
        const c = config as { text?: unknown; name?: unknown; cursor?: { text?: unknown } };
        text = c.text;
        name = c.name;
        if (typeof text !== 'string' && c.cursor !== null && typeof c.cursor === 'object') text = c.cursor.text; // pg-query-stream
      }
      let info: QueryInfo;
      const rec = this.recorder();
      if (typeof name === 'string' && name !== '') {
        if (typeof text === 'string') {
          info = rec.info(st.target, text);
          const names = (st.names ??= new Map());
          // As pg: the first text sent under a name is the statement (a later, different text is
          // refused), unless pg no longer knows the name (its Parse failed) and nothing is queued.
          // Applications usually send the text with every execution: nothing to store again then.
          const known = names.get(name);
          if (known !== info && (known === undefined ? names.size < MAX_NAMES : !pgKnowsName(client, name))) names.set(name, info);
        } else {
          info = st.names?.get(name) ?? rec.info(st.target, undefined);
        }
      } else {
        name = undefined;
        info = rec.info(st.target, typeof text === 'string' ? text : undefined);
      }
      return { info, t0: performance.now(), parent, name: name as string | undefined, done: false };
    } catch (err) {
      reportOnce('pg query', err);
      return undefined;
    }
  }

  private settle(p: Pending, err: unknown): void {
    if (p.done) return;
    p.done = true;
    const t1 = performance.now();
    if (err === undefined || err === null) this.recorder().ok(p.info, p.t0, t1, p.parent, p.name);
    else this.recorder().fail(p.info, p.t0, t1, err, p.parent, p.name);
  }

  /** Calls pg; a synchronous throw (pg's own argument checks) ends the query with that error. */
  private call(p: Pending, fn: Fn, thisArg: object, args: unknown[]): unknown {
    try {
      return fn.apply(thisArg, args);
    } catch (err) {
      this.settle(p, err);
      throw err;
    }
  }

  private wrapCallback(p: Pending, cb: Fn): Fn {
    const self = this;
    return function (this: unknown, err: unknown) {
      self.settle(p, err);
      return cb.apply(this, arguments as unknown as unknown[]);
    };
  }

  /**
   * A Submittable ends in `handleReadyForQuery` or `handleError` (pg calls one of them, also when
   * the connection dies). Own wrappers, removed when it ends; a method we cannot wrap leaves the
   * query unobserved rather than touching the object further.
   */
  private watchSubmittable(sub: Record<string, unknown>, p: Pending): void {
    try {
      const rfq = sub['handleReadyForQuery'];
      const herr = sub['handleError'];
      if (typeof rfq !== 'function' || typeof herr !== 'function') return;
      const dRfq = Object.getOwnPropertyDescriptor(sub, 'handleReadyForQuery');
      const dErr = Object.getOwnPropertyDescriptor(sub, 'handleError');
      if ((dRfq !== undefined && dRfq.configurable !== true) || (dErr !== undefined && dErr.configurable !== true)) return;
      if (!Object.isExtensible(sub)) return;
      const self = this;
      const restore = (): void => {
        try {
          if (dRfq !== undefined) Object.defineProperty(sub, 'handleReadyForQuery', dRfq);
          else delete sub['handleReadyForQuery'];
          if (dErr !== undefined) Object.defineProperty(sub, 'handleError', dErr);
          else delete sub['handleError'];
        } catch (err) {
          reportOnce('pg submittable restore', err);
        }
      };
      const onReady = function (this: { _canceledDueToError?: unknown }) {
        // pg's own Query turns a row-parsing failure into handleError from here: let that end it.
        if (!this._canceledDueToError) {
          restore();
          self.settle(p, undefined);
        }
        return (rfq as Fn).apply(this, arguments as unknown as unknown[]);
      };
      const onError = function (this: unknown, err: unknown) {
        restore();
        self.settle(p, err ?? new Error('query failed'));
        return (herr as Fn).apply(this, arguments as unknown as unknown[]);
      };
      Object.defineProperty(sub, 'handleReadyForQuery', { value: onReady, writable: true, configurable: true, enumerable: dRfq?.enumerable ?? false });
      Object.defineProperty(sub, 'handleError', { value: onError, writable: true, configurable: true, enumerable: dErr?.enumerable ?? false });
    } catch (err) {
      reportOnce('pg submittable', err);
    }
  }

  // --- connections --------------------------------------------------------------------------------

  private connectCallback(client: object, callback: Fn, parent: Context): Fn {
    const self = this;
    let target: DbTarget | undefined;
    let t0 = 0;
    try {
      target = this.stateOf(client).target;
      t0 = performance.now();
    } catch (err) {
      reportOnce('pg connect', err);
    }
    let done = false;
    return function (this: unknown, err: unknown) {
      if (!done && target !== undefined) {
        done = true;
        self.recorder().operation('pg.connect', SpanKind.CLIENT, target, t0, performance.now(), parent, err);
      }
      return callback.apply(this, arguments as unknown as unknown[]);
    };
  }

  private onConnected(client: object): void {
    try {
      if (!this.isEnabled()) return;
      const st = this.stateOf(client);
      if (st.counted) return;
      st.counted = true;
      this.instruments().dbConnectionsActive.add(1);
      const t = st.target;
      trackHandle('postgresql', 'client', client, t.namespace, t.serverAddress === undefined ? undefined : `${t.serverAddress}:${t.serverPort ?? ''}`);
    } catch (err) {
      reportOnce('pg connected', err);
    }
  }

  private onEnded(client: object): void {
    try {
      const st = this.clients.get(client);
      untrackHandle(client);
      if (st === undefined || !st.counted) return;
      st.counted = false;
      this.instruments().dbConnectionsActive.add(-1);
    } catch (err) {
      reportOnce('pg end', err);
    }
  }

  private onPoolUsed(pool: object): void {
    try {
      if (this.pools.has(pool)) return;
      this.pools.add(pool);
      const [db, host, port] = poolTargetParts((pool as PoolLike).options);
      trackHandle('postgresql', 'pool', pool, db, host === undefined ? undefined : `${host}:${port ?? 5432}`);
    } catch (err) {
      reportOnce('pg-pool track', err);
    }
  }

  private poolConnected(pool: object, t0: number, parent: Context, err: unknown, client: unknown): void {
    try {
      let target: DbTarget;
      if (client !== null && typeof client === 'object') {
        markPooled(client);
        target = this.stateOf(client).target;
      } else {
        const [db, host, port] = poolTargetParts((pool as PoolLike).options);
        target = this.recorder().target(db, host, port);
      }
      this.recorder().operation('pg-pool.connect', SpanKind.INTERNAL, target, t0, performance.now(), parent, err);
    } catch (e) {
      reportOnce('pg-pool connect', e);
    }
  }
}
