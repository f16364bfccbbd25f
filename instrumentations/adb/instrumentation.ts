/**
 * `adb` instrumentation: every run of adb through `node:child_process` (`spawn`, `execFile`,
 * `exec`, `spawnSync`, `execFileSync`, `execSync`, and the promisified `execFile` / `exec`) becomes
 * an `adb <operation>` span with its duration, exit and error class; `adb devices` feeds the
 * connected-phones gauge; SMS injections become `sms.trigger` spans. See run.ts for how a run is
 * watched, adb.ts for the decoding.
 *
 * Patching: the functions are wrapped (`_wrap`) on the `child_process` exports object at `enable()`
 * (shared by every CommonJS `require`), then `syncBuiltinESMExports()` updates the live bindings of
 * ESM imports (`import { spawn } from 'node:child_process'`, made before or after), so no ESM
 * loader hook is needed.
 *
 * Cost for the application's other children: two flag tests, a few character comparisons on the
 * executable's name and a look at whether `shell` is set (two substring searches for an `exec`
 * command line), then the original function applied to the very same `this` and `arguments`.
 * Nothing is allocated (bench/adb-spawn.mjs: about 10 ns per call).
 *
 * One adb run, one span: Node's `exec` calls the exported `execFile`, and the `*Sync` helpers call
 * `spawnSync`; a depth counter makes the inner patched call pass straight through.
 */
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import { promisify } from 'node:util';
import type { Attributes, Span, Tracer } from '@opentelemetry/api';
import type { InstrumentationNodeModuleDefinition } from '@opentelemetry/instrumentation';
import type { CardlinkInstruments } from '../../src/metrics/instruments.js';
import { CardlinkInstrumentationBase } from '../shared/instrumentation-base.js';
import { reportOnce } from '../../src/diag.js';
import { countOnline, isAdbExecutable, parseAdbDevices } from './adb.js';
import { AdbHealth } from './health.js';
import {
  adbCallFromCommand,
  adbCallFromFile,
  argumentsWithEnv,
  baseNameOf,
  mentionsAdb,
  shellLineMentionsAdb,
  type AdbCall,
  type CallKind,
} from './call-args.js';
import { DeviceStates } from './device-states.js';
import { AdbRun, type AdbRunHost } from './run.js';
import { ADB_ATTR, ADB_CONFIG_DEFAULTS, DEVICE_STATE_EVENT, type AdbInstrumentationConfig } from './types.js';

type AnyFn = (this: unknown, ...args: unknown[]) => unknown;

const PATCHED: readonly CallKind[] = ['spawn', 'execFile', 'exec', 'spawnSync', 'execFileSync', 'execSync'];
const PHONE: Attributes = { device_type: 'phone' };

/** `util.promisify` of exec / execFile, as Node defines it, but calling `fn` (our wrapper). */
function promisifiedExec(fn: AnyFn): (...args: unknown[]) => Promise<{ stdout: unknown; stderr: unknown }> {
  return (...args: unknown[]) => {
    let resolve!: (v: { stdout: unknown; stderr: unknown }) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<{ stdout: unknown; stderr: unknown }>((res, rej) => {
      resolve = res;
      reject = rej;
    }) as Promise<{ stdout: unknown; stderr: unknown }> & { child?: unknown };
    promise.child = fn(...args, (err: (Error & { stdout?: unknown; stderr?: unknown }) | null, stdout: unknown, stderr: unknown) => {
      if (err !== null) {
        err.stdout = stdout;
        err.stderr = stderr;
        reject(err);
      } else {
        resolve({ stdout, stderr });
      }
    });
    return promise;
  };
}

export class AdbInstrumentation extends CardlinkInstrumentationBase<AdbInstrumentationConfig> implements AdbRunHost {
  private wrappers: Partial<Record<CallKind, AnyFn>> | undefined;
  /** > 0 while one of our patched calls runs an original (its inner calls pass through). */
  private depth = 0;
  private active = false;
  private adbPath: string | undefined;
  private adbBase: string | undefined;
  private readonly deviceStates = new DeviceStates();
  private readonly health = new AdbHealth();

  constructor(config: AdbInstrumentationConfig = {}) {
    super('adb', config);
    this.refreshConfig();
    this.enableIfConfigured(config);
  }

  override setConfig(config: AdbInstrumentationConfig = {}): void {
    super.setConfig(config);
    this.refreshConfig();
  }

  private refreshConfig(): void {
    // Called by the base constructor too, before this class's fields exist: nothing to refresh then.
    if (this.deviceStates === undefined) return;
    const cfg = this._config ?? {};
    this.adbPath = typeof cfg.adbPath === 'string' && cfg.adbPath !== '' ? cfg.adbPath : undefined;
    this.adbBase = this.adbPath === undefined ? undefined : baseNameOf(this.adbPath);
  }

  protected override init(): InstrumentationNodeModuleDefinition[] {
    return [this.builtinModule('child_process', childProcess, (e) => this.patch(e), (e) => this.unpatch(e))];
  }

  protected override _updateMetricInstruments(): void {
    const before = this.m;
    super._updateMetricInstruments();
    // A new provider means a new gauge that starts at 0.
    if (before !== undefined && before !== this.m) this.deviceStates.resetCount();
  }

  /** Idempotent: the require hook may call it again for a later `require('child_process')`. */
  private patch(exportsObj: typeof childProcess): void {
    if (this.wrappers !== undefined) return;
    const wrappers: Partial<Record<CallKind, AnyFn>> = {};
    for (const kind of PATCHED) {
      if (typeof exportsObj[kind] !== 'function') continue;
      this._wrap(exportsObj, kind, ((original: AnyFn) => (wrappers[kind] = this.wrap(kind, original))) as never);
    }
    this.wrappers = wrappers;
    this.active = true;
    // The live bindings of ESM imports (`import { spawn } from 'node:child_process'`) follow.
    syncBuiltinESMExports();
  }

  private unpatch(exportsObj: typeof childProcess): void {
    const wrappers = this.wrappers;
    if (wrappers === undefined) return;
    this.active = false;
    for (const kind of PATCHED) {
      // Someone who wrapped us keeps a pass-through (`active` is false); we do not unwrap them.
      if (wrappers[kind] !== undefined && exportsObj[kind] === wrappers[kind]) this._unwrap(exportsObj, kind);
    }
    this.wrappers = undefined;
    syncBuiltinESMExports();
  }

  private wrap(kind: CallKind, original: AnyFn): AnyFn {
    const self = this;
    let wrapper: AnyFn;
    if (kind === 'exec' || kind === 'execSync') {
      const sync = kind === 'execSync';
      wrapper = function (this: unknown, command: unknown): unknown {
        // The fast path: every non-adb command line of the application.
        if (self.depth !== 0 || !self.active || typeof command !== 'string' || !mentionsAdb(command, self.adbBase)) {
          return original.apply(this, arguments as unknown as unknown[]);
        }
        return self.run(kind, sync, original, this, arguments);
      };
    } else {
      const sync = kind === 'spawnSync' || kind === 'execFileSync';
      wrapper = function (this: unknown, file: unknown, a1?: unknown, a2?: unknown): unknown {
        // The fast path: every non-adb child of the application (a `shell: true` command line
        // such as `spawn('adb devices', { shell: true })` is searched for adb).
        if (
          self.depth !== 0 ||
          !self.active ||
          typeof file !== 'string' ||
          !(isAdbExecutable(file, self.adbPath) || shellLineMentionsAdb(file, a1, a2, self.adbBase))
        ) {
          return original.apply(this, arguments as unknown as unknown[]);
        }
        return self.run(kind, sync, original, this, arguments);
      };
    }
    Object.defineProperty(wrapper, 'name', { value: original.name, configurable: true });
    Object.defineProperty(wrapper, 'length', { value: original.length, configurable: true });
    if (kind === 'exec' || kind === 'execFile') {
      // `util.promisify(execFile)` uses this symbol: resolve `{ stdout, stderr }` as Node does,
      // through the wrapper so promisified runs are observed too.
      Object.defineProperty(wrapper, promisify.custom, { value: promisifiedExec(wrapper), enumerable: false });
    }
    return wrapper;
  }

  /** A call that may run adb: decode, observe, and make the original call. */
  private run(kind: CallKind, sync: boolean, original: AnyFn, thisArg: unknown, args: IArguments): unknown {
    let run: AdbRun | undefined;
    let callArgs: ArrayLike<unknown> = args;
    try {
      const call: AdbCall | undefined =
        kind === 'exec' || kind === 'execSync'
          ? adbCallFromCommand(args[0] as string, args[1], this.adbPath)
          : adbCallFromFile(args[0] as string, args[1], args[2], this.adbPath);
      if (call !== undefined) {
        run = new AdbRun(this, call);
        if (this._config.propagateTraceContext === true) callArgs = argumentsWithEnv(kind, args, run.traceEnv()) ?? args;
      }
    } catch (err) {
      reportOnce('adb call', err);
      run = undefined;
      callArgs = args;
    }
    if (run === undefined) return original.apply(thisArg, args as unknown as unknown[]);

    let result: unknown;
    this.depth++;
    try {
      result = original.apply(thisArg, callArgs as unknown[]);
    } catch (err) {
      if (sync) run.completeSyncThrown(err);
      else run.thrown(err);
      throw err;
    } finally {
      this.depth--;
    }
    if (sync) run.completeSync(kind === 'spawnSync', result);
    else run.attach(result as never);
    return result;
  }

  // -------------------------------------------------------------------------------------------
  // AdbRunHost

  getTracer(): Tracer {
    return this.tracer;
  }

  instruments(): CardlinkInstruments {
    return this.m;
  }

  maxDevicesOutputBytes(): number {
    const v = this._config.maxDevicesOutputBytes;
    return typeof v === 'number' && v > 0 ? v : ADB_CONFIG_DEFAULTS.maxDevicesOutputBytes;
  }

  maxStderrBytes(): number {
    const v = this._config.maxStderrBytes;
    return typeof v === 'number' && v > 0 ? v : ADB_CONFIG_DEFAULTS.maxStderrBytes;
  }

  closeGraceMs(): number {
    const v = this._config.closeGraceMs;
    return typeof v === 'number' && v >= 0 ? v : ADB_CONFIG_DEFAULTS.closeGraceMs;
  }

  noteRunEnd(operation: string, errorType: string | null): void {
    if (errorType === null) this.health.runSucceeded();
    else this.health.runFailed(operation, errorType);
  }

  applyDevicesListing(span: Span, stdout: string): void {
    const listing = parseAdbDevices(stdout);
    this.health.listing(listing.devices);
    const update = this.deviceStates.update(listing.devices);
    span.setAttributes({
      [ADB_ATTR.devicesListed]: listing.devices.length,
      [ADB_ATTR.devicesOnline]: countOnline(listing.devices),
    });
    if (listing.malformed > 0) span.setAttribute(ADB_ATTR.devicesMalformed, listing.malformed);
    if (listing.truncated) span.setAttribute(ADB_ATTR.devicesTruncated, true);
    for (const c of update.changes) {
      const attrs: Attributes = {
        [ADB_ATTR.serial]: c.serial,
        [ADB_ATTR.deviceState]: c.state,
        [ADB_ATTR.devicePreviousState]: c.previous,
      };
      if (c.model !== undefined) attrs[ADB_ATTR.deviceModel] = c.model;
      span.addEvent(DEVICE_STATE_EVENT, attrs);
    }
    // Always add, 0 included: after the first listing the series exists and reads the count.
    this.instruments().devicesConnected.add(update.delta, PHONE);
  }
}
