/**
 * `serialport` instrumentation: AT commands, `+CSIM` / `+CRSM` APDUs, `+CMGS` SMS-PP triggers and
 * open ports of IoT modems driven through the `serialport` package (10 to 13).
 *
 * Every `SerialPort` (and `SerialPortMock`) is a `SerialPortStream` from `@serialport/stream`, and
 * every byte passes through three methods of that one prototype, patched in place:
 *
 * - `_write(data, encoding, cb)`: each chunk the binding is about to write (`_writev` concatenates
 *   into `_write`; a write before `open` is re-issued through `_write` once open, so a chunk is only
 *   fed when the port is open, i.e. exactly once);
 * - `push(chunk)`: each chunk the binding read, fed to the decoder BEFORE the stream delivers it, so
 *   a command the application writes from inside its `data` handler comes after the answer it
 *   reacted to;
 * - `emit`: `open` and `close` for the device gauge and the decoder's end of pending commands.
 *
 * The decoder sees the bytes as they pass; what it finds is recorded (spans, metrics, log lines)
 * once the application has handled them (deferred-recorder.ts).
 *
 * Passive: the wrappers call the originals with the same arguments and return their results; no
 * listener is added, no stream mode or encoding changed, nothing the application reads is consumed.
 * `@serialport/stream` is CommonJS, required by `serialport` in both module systems, so the
 * require hook (and the ESM hook for a direct import) sees it; prototypes already patched are
 * recognised, and every patched copy is restored by `disable()`.
 */
import { InstrumentationNodeModuleDefinition } from '@opentelemetry/instrumentation';
import { CardlinkInstrumentationBase } from '../shared/instrumentation-base.js';
import type { Attributes } from '@opentelemetry/api';
import { markInstalled, restorePrototype, savePrototype, type PatchRecord } from '../shared/prototype-patch.js';
import { reportOnce } from '../../src/diag.js';
import { AtDecoder, DEFAULT_AT_TIMEOUTS_MS, type AtDecoderStats } from './at.js';
import { ModemPortRecorder, recordModemError, type RecorderContext } from './modem-recorder.js';
import { DeferredRecorder, flushModemEvents } from './deferred-recorder.js';
import type { SerialportInstrumentationConfig } from './types.js';
import { existsSync } from 'node:fs';
import { registerResourceCheck } from '../../src/health/resource-checks.js';
import { createLogger } from '../../src/logging/logger.js';
import { nowMs } from '../../src/clock.js';

const kPatched = Symbol.for('cardlink-otel.serialport.patched');
const MODEM: Attributes = { device_type: 'modem' };
const log = createLogger('modem');

type WriteFn = (this: PortLike, data: unknown, encoding: BufferEncoding, cb: unknown) => unknown;
type PushFn = (this: PortLike, chunk: unknown, encoding?: BufferEncoding) => boolean;
type EmitFn = (this: PortLike, event: string | symbol, ...args: unknown[]) => boolean;

/** What we read from a SerialPortStream: public getters and the binding handle. */
interface PortLike {
  readonly path?: unknown;
  readonly isOpen?: boolean;
  readonly port?: unknown;
}

/** Decoder state of one port object. */
interface PortState {
  readonly decoder: AtDecoder;
  readonly recorder: ModemPortRecorder;
  /** Counted in cardlink_devices_connected. */
  counted: boolean;
  /** Ticks the decoder while a command is pending (unref'd), so a silent modem still times out. */
  timer: NodeJS.Timeout | undefined;
  readonly tickMs: number;
  /** Removes the port from the `serial_ports` readiness check (on the application's own close). */
  untrack: (() => void) | undefined;
}

/**
 * The `serial_ports` readiness check: each port the application opened is healthy while it is open
 * and its device node exists; a modem that vanished (unplugged, socat gone) makes it unhealthy.
 */
function trackPort(port: PortLike): () => void {
  const path = typeof port.path === 'string' ? port.path : 'unknown';
  // Only a port backed by a device node is checked for it (not serialport's mock binding).
  const hasNode = existsSync(path);
  return registerResourceCheck('serial_ports', path, () => {
    if (port.isOpen !== true) return { status: 'unhealthy', message: `${path} is closed` };
    if (hasNode && !existsSync(path)) return { status: 'unhealthy', message: `${path}: the device node is gone` };
    return { status: 'healthy', message: `${path} open` };
  });
}

/** Set on a port whose read side reached end of file (pushed by serialport itself, never by the app). */
const kEof = Symbol('cardlink.serialport.eof');

/** Ports the filter rejected: remembered so the filter runs once per port. */
const IGNORED = null;

/** Timer callback shared by every port (no closure per arming). */
function tickPort(state: PortState): void {
  try {
    state.decoder.tick(nowMs());
    if (state.decoder.pendingCount === 0 && state.timer !== undefined) {
      clearInterval(state.timer);
      state.timer = undefined;
    }
  } catch (err) {
    reportOnce('serialport timer', err);
  }
}

function stopTimer(state: PortState): void {
  if (state.timer !== undefined) {
    clearInterval(state.timer);
    state.timer = undefined;
  }
}

/** Diagnostics of one port's decoder (tests, debugging): counters and bounded buffer sizes. */
export interface SerialportPortDiagnostics {
  readonly stats: Readonly<AtDecoderStats>;
  readonly bufferedBytes: number;
  readonly queuedCommands: number;
  readonly pendingCommands: number;
  readonly openSpans: number;
  readonly counted: boolean;
  readonly timerArmed: boolean;
}

export class SerialportInstrumentation extends CardlinkInstrumentationBase<SerialportInstrumentationConfig> {
  private readonly ports = new WeakMap<object, PortState | typeof IGNORED>();
  private readonly patched: PatchRecord[] = [];
  private readonly ctx: RecorderContext;

  constructor(config: SerialportInstrumentationConfig = {}) {
    super('serialport', config);
    this.ctx = {
      tracer: () => this.tracer,
      instruments: () => this.m,
      config: () => this._config,
    };
    this.enableIfConfigured(config);
  }

  // Not `_wrap`: `push` and `emit` are inherited (Readable, EventEmitter) and must be put back
  // exactly (deleted), which shimmer's unwrap does not do; `_write` goes with them in one record.

  protected override init(): InstrumentationNodeModuleDefinition[] {
    return [
      new InstrumentationNodeModuleDefinition(
        '@serialport/stream',
        ['>=10 <14'],
        (exports: unknown) => {
          this.patchModule(exports);
          return exports;
        },
        (exports: unknown) => this.unpatchModule(exports),
      ),
    ];
  }

  override disable(): void {
    super.disable();
    // Every copy we patched (the base class only remembers the last one it saw).
    for (const p of this.patched.slice()) this.restore(p);
  }

  /** Diagnostics of a port's decoder, or undefined when the port was never seen (or is filtered out). */
  portDiagnostics(port: object): SerialportPortDiagnostics | undefined {
    const s = this.ports.get(port);
    if (s === undefined || s === IGNORED) return undefined;
    flushModemEvents();
    return {
      stats: { ...s.decoder.stats },
      bufferedBytes: s.decoder.bufferedBytes,
      queuedCommands: s.decoder.queuedCount,
      pendingCommands: s.decoder.pendingCount,
      openSpans: s.recorder.openSpans,
      counted: s.counted,
      timerArmed: s.timer !== undefined,
    };
  }

  // --- patching ---------------------------------------------------------------------------------

  private patchModule(exports: unknown): void {
    try {
      const cls = (exports as { SerialPortStream?: unknown } | null)?.SerialPortStream;
      if (typeof cls !== 'function') return;
      const proto = (cls as { prototype: Record<PropertyKey, unknown> }).prototype;
      if (proto[kPatched] === true || typeof proto['_write'] !== 'function') return;
      const record = savePrototype(proto, ['_write', 'push', 'emit']);
      const write = proto['_write'] as WriteFn;
      const push = proto['push'] as PushFn;
      const emit = proto['emit'] as EmitFn;
      if (typeof push !== 'function' || typeof emit !== 'function') return;
      const self = this;
      const gen = this.generation;

      proto['_write'] = function _write(this: PortLike, data: unknown, encoding: BufferEncoding, cb: unknown) {
        if (self.generation === gen) self.onWrite(this, data, encoding);
        return write.call(this, data, encoding, cb);
      };
      proto['push'] = function push_(this: PortLike, chunk: unknown, encoding?: BufferEncoding) {
        if (self.generation === gen) {
          if (chunk !== null && chunk !== undefined) self.onRead(this, chunk, encoding);
          else if (chunk === null) (this as { [kEof]?: boolean })[kEof] = true;
        }
        // eslint-disable-next-line prefer-rest-params
        return push.apply(this, arguments as unknown as [unknown, BufferEncoding?]);
      };
      proto['emit'] = function emit_(this: PortLike, event: string | symbol, arg?: unknown) {
        if (self.generation === gen && (event === 'open' || event === 'close' || event === 'error')) self.onEvent(this, event, arg);
        // eslint-disable-next-line prefer-rest-params
        return emit.apply(this, arguments as unknown as [string | symbol, ...unknown[]]);
      };
      markInstalled(record);
      Object.defineProperty(proto, kPatched, { value: true, configurable: true, enumerable: false, writable: true });
      this.patched.push(record);
    } catch (err) {
      reportOnce('serialport patch', err);
    }
  }

  private unpatchModule(exports: unknown): void {
    const cls = (exports as { SerialPortStream?: { prototype?: unknown } } | null)?.SerialPortStream;
    const p = this.patched.find((x) => x.proto === cls?.prototype);
    if (p !== undefined) this.restore(p);
  }

  private restore(p: PatchRecord): void {
    try {
      restorePrototype(p);
      delete p.proto[kPatched];
    } catch (err) {
      reportOnce('serialport unpatch', err);
    }
    const i = this.patched.indexOf(p);
    if (i >= 0) this.patched.splice(i, 1);
  }

  // --- observation --------------------------------------------------------------------------------

  private onWrite(port: PortLike, data: unknown, encoding: BufferEncoding): void {
    try {
      // Before open, SerialPortStream re-issues the write through _write once open: feed it then.
      if (port.isOpen !== true || port.port === undefined || port.port === null) return;
      const s = this.stateOf(port);
      if (s === undefined) return;
      // The clock itself: lines of binary payload never read it.
      if (data instanceof Uint8Array) s.decoder.written(data, nowMs);
      else if (typeof data === 'string') s.decoder.written(Buffer.from(data, encoding), nowMs);
    } catch (err) {
      reportOnce('serialport write', err);
    }
  }

  private onRead(port: PortLike, chunk: unknown, encoding: BufferEncoding | undefined): void {
    try {
      const s = this.stateOf(port);
      if (s === undefined) return;
      // The clock itself: binary payload skipped whole never reads it.
      if (chunk instanceof Uint8Array) s.decoder.read(chunk, nowMs);
      else if (typeof chunk === 'string') s.decoder.read(Buffer.from(chunk, encoding), nowMs);
    } catch (err) {
      reportOnce('serialport read', err);
    }
  }

  private onEvent(port: PortLike, event: 'open' | 'close' | 'error', arg: unknown): void {
    try {
      if (event === 'open') {
        const s = this.stateOf(port);
        if (s === undefined || s.counted) return;
        s.counted = true;
        this.m.devicesConnected.add(1, MODEM);
        s.untrack ??= trackPort(port);
        return;
      }
      const s = this.ports.get(port as object);
      if (s === undefined || s === IGNORED) return;
      if (event === 'error' && port.isOpen === true) return; // an error the port survives
      const now = nowMs();
      if (event === 'close') {
        s.decoder.close(now);
        // What the port said before it closed is recorded first: a channel opened then ends now.
        flushModemEvents();
        s.recorder.portClosed(now);
        stopTimer(s);
        // A vanished device: serialport's disconnect error (an unplugged USB modem: a read or write
        // failed and serialport closed the port), or a close after the read side hit end of file (a
        // hung-up pty reads as EOF: the stream ends, no error). It stays in the readiness check
        // (which now reports it); any other close removes it.
        const vanished = (arg as { disconnected?: unknown } | null)?.disconnected === true || (port as { [kEof]?: boolean })[kEof] === true;
        if (vanished) {
          recordModemError(this.m, 'disconnected');
          if (log.isLevelEnabled('error')) {
            log.error('modem port disconnected', { port: typeof port.path === 'string' ? port.path : 'unknown', error_type: 'disconnected' });
          }
        } else {
          s.untrack?.();
          s.untrack = undefined;
        }
      }
      if (s.counted) {
        s.counted = false;
        this.m.devicesConnected.add(-1, MODEM);
      }
    } catch (err) {
      reportOnce(`serialport ${event}`, err);
    }
  }

  /** The port's state, created on first sight; undefined for ports the filter rejects. */
  private stateOf(port: PortLike): PortState | undefined {
    const known = this.ports.get(port as object);
    if (known !== undefined) return known === IGNORED ? undefined : known;
    const path = typeof port.path === 'string' ? port.path : 'unknown';
    const filter = this._config.portFilter;
    if (filter !== undefined) {
      let accept = false;
      try {
        accept = filter(path) === true;
      } catch (err) {
        reportOnce('serialport portFilter (user code)', err);
      }
      if (!accept) {
        this.ports.set(port as object, IGNORED);
        return undefined;
      }
    }
    const cfg = this._config;
    const state: PortState = {
      decoder: undefined as unknown as AtDecoder,
      recorder: undefined as unknown as ModemPortRecorder,
      counted: false,
      untrack: undefined,
      timer: undefined,
      tickMs: tickPeriod(cfg),
    };
    const recorder = new ModemPortRecorder(this.ctx, path, () => {
      if (state.timer === undefined) {
        state.timer = setInterval(tickPort, state.tickMs, state);
        state.timer.unref();
      }
    });
    const decoder = new AtDecoder(new DeferredRecorder(recorder), {
      defaultTimeoutMs: cfg.defaultTimeoutMs,
      commandTimeoutsMs: cfg.commandTimeoutsMs,
      abandonAfterMs: cfg.abandonAfterMs,
    });
    (state as { decoder: AtDecoder }).decoder = decoder;
    (state as { recorder: ModemPortRecorder }).recorder = recorder;
    this.ports.set(port as object, state);
    return state;
  }
}

/**
 * How often a port with a pending command ticks its decoder: a fifth of the shortest timeout,
 * between 20 ms and 1 s. Spans end at the deadline itself whatever the tick, so this only bounds
 * how late a timeout is noticed.
 */
function tickPeriod(cfg: SerialportInstrumentationConfig): number {
  let min = typeof cfg.defaultTimeoutMs === 'number' && cfg.defaultTimeoutMs > 0 ? cfg.defaultTimeoutMs : 5000;
  for (const v of Object.values({ ...DEFAULT_AT_TIMEOUTS_MS, ...(cfg.commandTimeoutsMs ?? {}) })) {
    if (typeof v === 'number' && v > 0 && v < min) min = v;
  }
  return Math.min(1000, Math.max(20, Math.floor(min / 5)));
}
