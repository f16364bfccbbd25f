/**
 * One observed adb run: its `adb <operation>` span (and `sms.trigger` span for an SMS injection),
 * what it wrote to stderr (bounded) and, for `adb devices`, to stdout (bounded), and its end.
 *
 * Asynchronous runs are watched at the ChildProcess without changing what the application sees:
 * - events through an own, non-enumerable `emit` on that one child (no listener is added, so
 *   `listenerCount`, `newListener` and the order of the application's listeners are untouched);
 *   restored once the run is over;
 * - output through an own `push` on the child's stdout/stderr stream, which sees each chunk as
 *   the stream produces it. No `data` listener and no `resume()`: a stream the application reads
 *   later with `read()`, pipes, or leaves paused keeps its mode and its data, and Node's own
 *   flushing of unread pipes at exit still applies.
 * The span ends at the process's exit; the classification waits for `close` so stderr written just
 * before exit is read, bounded by `closeGraceMs` for pipes held open. A failed spawn ends at once.
 */
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import {
  SpanKind,
  SpanStatusCode,
  context,
  isSpanContextValid,
  trace,
  type Attributes,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { reportOnce } from '../../src/diag.js';
import type { CardlinkInstruments } from '../../src/metrics/instruments.js';
import { noteTriggerSent } from '../../src/triggers.js';
import { createLogger, type LogFields } from '../../src/logging/logger.js';
import { PeerLineLimiter } from '../../src/logging/peer-limit.js';
import { peerText } from '../../src/logging/sanitize.js';
import { logInSpan, roundMs } from '../../src/logging/in-span.js';
import {
  classifyAdbError,
  commandArgsForSpan,
  errorsMayBeOnStdout,
  isLiveLogcat,
  stdoutRefusal,
  phoneActions,
  type AdbErrorType,
  type AdbOperation,
} from './adb.js';
import type { AdbCall } from './call-args.js';
import { OutputCapture } from './output-capture.js';
import { LogcatStkScanner } from './logcat-stk.js';
import { phoneKey, recordStk, type BipDevice } from '../shared/bip-recorder.js';
import type { StkMessage } from '../shared/stk.js';
import { ADB_ATTR } from './types.js';
import { nowMs } from '../../src/clock.js';
import { ATTR_ERROR_TYPE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import { ATTR_PROCESS_COMMAND_ARGS, ATTR_PROCESS_EXECUTABLE_NAME, ATTR_PROCESS_EXIT_CODE } from './semconv.js';

/** What a run needs from its instrumentation. */
export interface AdbRunHost {
  getTracer(): Tracer;
  instruments(): CardlinkInstruments;
  maxDevicesOutputBytes(): number;
  maxStderrBytes(): number;
  closeGraceMs(): number;
  /** A successful `adb devices` printed `stdout`: update the gauge, add state-change events. */
  applyDevicesListing(span: Span, stdout: string): void;
  /** How a run ended, for the adb readiness check (errorType null: success). */
  noteRunEnd(operation: string, errorType: string | null): void;
}

const kRun = Symbol('cardlink.adb.run');
const kTap = Symbol('cardlink.adb.tap');

/** What a tapped stream's chunks are handed to: a bounded copy, or the radio-log scanner. */
interface Sink {
  add(chunk: unknown): void;
}

interface Tap {
  capture: Sink;
  push: (...args: unknown[]) => boolean;
}

type Emit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean;

const log = createLogger('adb');
/** A phone that is offline or unauthorized fails every run the application makes: rate-limited per error type. */
const errorLogLimit = new PeerLineLimiter(log);

const SPAN_NAMES = new Map<AdbOperation, string>();
function spanName(op: AdbOperation): string {
  let n = SPAN_NAMES.get(op);
  if (n === undefined) {
    n = `adb ${op}`;
    SPAN_NAMES.set(op, n);
  }
  return n;
}

const OPERATION_ATTRS = new Map<AdbOperation, Attributes>();
function operationAttrs(op: AdbOperation): Attributes {
  let a = OPERATION_ATTRS.get(op);
  if (a === undefined) {
    a = { operation: op };
    OPERATION_ATTRS.set(op, a);
  }
  return a;
}

const ERROR_ATTRS = new Map<AdbErrorType, Attributes>();
function errorAttrs(type: AdbErrorType): Attributes {
  let a = ERROR_ATTRS.get(type);
  if (a === undefined) {
    a = { device_type: 'phone', error_type: type };
    ERROR_ATTRS.set(type, a);
  }
  return a;
}

const SMS_ATTRS: Attributes = { trigger_type: 'sms' };

function baseName(file: string): string {
  const i = Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\'));
  return i >= 0 ? file.slice(i + 1) : file;
}

/** The shape shared by `spawnSync` results and the errors `execFileSync` / `execSync` throw. */
interface SyncOutcome {
  status?: unknown;
  signal?: unknown;
  stdout?: unknown;
  stderr?: unknown;
  error?: { code?: unknown };
  code?: unknown;
}

export class AdbRun {
  readonly span: Span;
  private readonly smsSpan: Span | undefined;
  private readonly startMs: number;
  private readonly operation: AdbOperation;
  /** The target phone (`-s`, else ANDROID_SERIAL), for the error log line. */
  private readonly serial: string | undefined;
  private readonly stderr: OutputCapture;
  /** Base name of the executable run: adb prefixes some errors with it (`adb.exe: ...`). */
  private readonly executableName: string;
  /** What of the outcome is adb's (see AdbCall): a shell line may pipe its stdout on, or go on after it. */
  private readonly exitIsAdbs: boolean;
  private readonly stderrIsAdbs: boolean;
  /** What stdout is read for: a devices listing, the card's proactive commands (a live radio log), adb's errors, or nothing. */
  private readonly stdoutUse: 'listing' | 'radio' | 'errors' | 'refusal' | undefined;
  private stdout: OutputCapture | undefined;
  /** adb exited 0 but said on stdout that it failed (stdoutRefusal). */
  private refused = false;
  private exitMs: number | undefined;
  private exitCode: number | null = null;
  private signal: string | null = null;
  private spawnErrorCode: string | undefined;
  private timedOut = false;
  private done = false;
  private timer: NodeJS.Timeout | undefined;
  private child: ChildProcess | undefined;
  /** This run's phone as the device of the card's STK traffic (a logcat run; made on the first command). */
  private bip: BipDevice | undefined;
  /** The child's `emit` before ours (read by `observedEmit`). */
  childEmit: Emit | undefined;

  constructor(
    private readonly host: AdbRunHost,
    call: AdbCall,
  ) {
    this.startMs = nowMs();
    const decoded = call.decoded;
    this.operation = decoded.operation;
    this.serial = call.serial;
    this.executableName = baseName(call.file);
    this.exitIsAdbs = call.exitIsAdbs;
    this.stderrIsAdbs = call.stderrIsAdbs;
    if (call.stdoutIsAdbs) {
      if (decoded.operation === 'devices') this.stdoutUse = 'listing';
      else if (isLiveLogcat(decoded)) this.stdoutUse = 'radio';
      else if (errorsMayBeOnStdout(decoded.operation)) this.stdoutUse = 'errors';
      else if (decoded.operation === 'connect' || decoded.operation === 'emu') this.stdoutUse = 'refusal';
    } else if (call.stdoutReachesCaller && isLiveLogcat(decoded)) {
      // `adb logcat -b radio | grep ...`: filtered, still the phone's radio log lines.
      this.stdoutUse = 'radio';
    }
    this.stderr = new OutputCapture(Math.max(0, host.maxStderrBytes() - 1024), Math.min(1024, host.maxStderrBytes()));
    const attributes: Attributes = {
      [ATTR_PROCESS_EXECUTABLE_NAME]: this.executableName,
      [ATTR_PROCESS_COMMAND_ARGS]: commandArgsForSpan(decoded),
      [ADB_ATTR.operation]: decoded.operation,
      [ADB_ATTR.deviceType]: 'phone',
    };
    if (call.serial !== undefined) attributes[ADB_ATTR.serial] = call.serial;
    if (decoded.transportId !== undefined) attributes[ADB_ATTR.transportId] = decoded.transportId;
    if (decoded.host !== undefined) attributes[ATTR_SERVER_ADDRESS] = decoded.host;
    if (decoded.port !== undefined) attributes[ATTR_SERVER_PORT] = decoded.port;
    const actions = phoneActions(decoded);
    // The AT command's name only: its arguments (PDUs, PINs) stay in the process.
    if (actions.atCommand !== null) attributes[ADB_ATTR.atCommand] = actions.atCommand;
    this.span = host.getTracer().startSpan(spanName(decoded.operation), { kind: SpanKind.CLIENT, startTime: this.startMs, attributes });
    if (actions.smsMethod !== null) {
      const smsAttributes: Attributes = {
        [ADB_ATTR.triggerType]: 'sms',
        [ADB_ATTR.deviceType]: 'phone',
        [ADB_ATTR.smsMethod]: actions.smsMethod,
      };
      if (call.serial !== undefined) smsAttributes[ADB_ATTR.serial] = call.serial;
      this.smsSpan = host.getTracer().startSpan(
        'sms.trigger',
        { kind: SpanKind.PRODUCER, startTime: this.startMs, attributes: smsAttributes },
        trace.setSpan(context.active(), this.span),
      );
    }
  }

  /** `TRACEPARENT` / `TRACESTATE` of the adb span, for the child's environment. */
  traceEnv(): Record<string, string> {
    const sc = this.span.spanContext();
    if (!isSpanContextValid(sc)) return {};
    const env: Record<string, string> = {
      TRACEPARENT: `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`,
    };
    const state = sc.traceState?.serialize();
    if (state !== undefined && state.length > 0) env['TRACESTATE'] = state;
    return env;
  }

  // -------------------------------------------------------------------------------------------
  // Asynchronous runs

  /** Starts watching the ChildProcess that spawn / execFile / exec returned. */
  attach(child: ChildProcess): void {
    try {
      if (child === null || typeof child !== 'object' || typeof child.emit !== 'function') {
        this.finish();
        return;
      }
      this.child = child;
      this.childEmit = child.emit as Emit;
      Object.defineProperty(child, kRun, { value: this, configurable: true, writable: true });
      Object.defineProperty(child, 'emit', { value: observedEmit, configurable: true, writable: true, enumerable: false });
      if (child.stderr !== null && child.stderr !== undefined && this.stderrIsAdbs) tap(child.stderr, this.stderr);
      const out = child.stdout;
      if (out === null || out === undefined || this.stdoutUse === undefined) return;
      if (this.stdoutUse === 'radio') {
        // A live radio log: the card's proactive commands (BIP OPEN CHANNEL ...) as the phone reports them.
        tap(out, new LogcatStkScanner((m) => this.proactiveCommand(m)));
      } else {
        this.stdout = this.stdoutCapture();
        tap(out, this.stdout);
      }
    } catch (err) {
      reportOnce('adb attach', err);
    }
  }

  /** A bounded copy of stdout: a whole devices listing, or the first and last KiB where adb's errors are. */
  private stdoutCapture(): OutputCapture {
    if (this.stdoutUse === 'listing') return new OutputCapture(this.host.maxDevicesOutputBytes());
    return new OutputCapture(1024, 1024);
  }

  /** The run's stdout as a synchronous call returned it, when it is read at all. */
  private syncStdout(stdout: unknown): void {
    if (stdout === null || stdout === undefined || this.stdoutUse === undefined || this.stdoutUse === 'radio') return;
    this.stdout = this.stdoutCapture();
    this.stdout.add(stdout);
  }

  /** A proactive command in the phone's radio log, recorded as it arrives. */
  private proactiveCommand(m: StkMessage): void {
    const serial = this.serial;
    this.bip ??= { deviceType: 'phone', key: phoneKey(serial), attributes: serial === undefined ? {} : { [ADB_ATTR.serial]: serial }, source: 'logcat' };
    recordStk(this.host.getTracer(), this.host.instruments(), this.bip, m, nowMs());
  }

  /** spawn / execFile / exec threw (bad arguments, or a spawn failure Node throws). */
  thrown(err: unknown): void {
    try {
      this.exitMs = nowMs();
      const code = (err as { code?: unknown } | null)?.code;
      this.spawnErrorCode = typeof code === 'string' && code.length > 0 ? code : 'ERR_SPAWN';
      this.finish();
    } catch (e) {
      reportOnce('adb thrown', e);
    }
  }

  /** Called from the child's `emit`, before the application's listeners run. */
  onEvent(event: string | symbol, a: unknown, b: unknown): void {
    if (this.done) return;
    try {
      if (event === 'exit') {
        if (this.exitMs === undefined) {
          this.exitMs = nowMs();
          this.exitCode = typeof a === 'number' ? a : null;
          this.signal = typeof b === 'string' ? b : null;
          this.armGrace();
        }
      } else if (event === 'error') {
        // Only an error before the process existed is a spawn failure (ENOENT ...); later ones are
        // kill() failures or aborts, and the exit tells what happened.
        if (this.exitMs === undefined && this.child !== undefined && this.child.pid === undefined) {
          this.exitMs = nowMs();
          const code = (a as { code?: unknown } | null)?.code;
          this.spawnErrorCode = typeof code === 'string' && code.length > 0 ? code : 'ERR_SPAWN';
          // Nothing ran, so no output is on its way: end now, before execFile's callback runs.
          this.finish();
        }
      } else if (event === 'close') {
        if (this.exitMs === undefined) {
          this.exitMs = nowMs();
          this.exitCode = typeof a === 'number' ? a : null;
          this.signal = typeof b === 'string' ? b : null;
        }
        this.finish();
      }
    } catch (err) {
      reportOnce('adb child event', err);
    }
  }

  private armGrace(): void {
    const ms = this.host.closeGraceMs();
    this.timer = setTimeout(graceExpired, ms, this);
    this.timer.unref();
  }

  /** Puts the child and its streams back as they were (only what is still ours). */
  private release(): void {
    const child = this.child;
    if (child === undefined) return;
    // If someone wrapped `emit` after us, ours stays in their chain (it passes events through).
    if (Object.getOwnPropertyDescriptor(child, 'emit')?.value === observedEmit) {
      delete (child as { emit?: unknown }).emit;
      delete (child as unknown as { [kRun]?: AdbRun })[kRun];
    }
    if (child.stderr) untap(child.stderr);
    if (child.stdout) untap(child.stdout);
  }

  // -------------------------------------------------------------------------------------------
  // Synchronous runs

  /** spawnSync returned `result`; execFileSync / execSync returned stdout (exit 0). */
  completeSync(returnedResultObject: boolean, result: unknown): void {
    try {
      this.exitMs = nowMs();
      if (returnedResultObject) {
        this.readSyncOutcome((result ?? {}) as SyncOutcome, false);
      } else {
        this.exitCode = 0;
        this.syncStdout(result);
      }
      this.finish();
    } catch (err) {
      reportOnce('adb sync result', err);
    }
  }

  /** spawnSync / execFileSync / execSync threw `err` (non-zero exit, timeout, spawn failure ...). */
  completeSyncThrown(err: unknown): void {
    try {
      this.exitMs = nowMs();
      this.readSyncOutcome((err ?? {}) as SyncOutcome, true);
      this.finish();
    } catch (e) {
      reportOnce('adb sync error', e);
    }
  }

  private readSyncOutcome(r: SyncOutcome, thrown: boolean): void {
    if (typeof r.status === 'number') this.exitCode = r.status;
    if (typeof r.signal === 'string') this.signal = r.signal;
    const code = thrown ? r.code : r.error?.code;
    if (code === 'ETIMEDOUT') this.timedOut = true;
    else if (typeof code === 'string' && code.length > 0 && r.status == null && r.signal == null) this.spawnErrorCode = code;
    else if (thrown && r.status == null && r.signal == null) this.spawnErrorCode = 'ERR_SPAWN';
    if (this.stderrIsAdbs) this.stderr.add(r.stderr);
    this.syncStdout(r.stdout);
  }

  // -------------------------------------------------------------------------------------------
  // The end

  /** Ends the spans and records the metrics, once. Never throws. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    try {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.release();
      const end = this.exitMs ?? nowMs();
      let errorType = classifyAdbError({
        exitCode: this.exitCode,
        signal: this.signal,
        stderr: this.stderr.text(),
        stdout: this.stdoutUse === 'errors' ? this.stdout?.text() : null,
        exitIsAdbs: this.exitIsAdbs,
        spawnErrorCode: this.spawnErrorCode ?? null,
        timedOut: this.timedOut,
        executableName: this.executableName,
      });
      // `adb connect` / `adb emu` say they failed on stdout, and exit 0.
      if (errorType === null && this.stdoutUse === 'refusal' && this.stdout !== undefined) {
        errorType = stdoutRefusal(this.operation, this.stdout.text());
        this.refused = errorType !== null;
      }
      const m = this.host.instruments();
      m.adbOperationDuration.record(Math.max(0, end - this.startMs) / 1000, operationAttrs(this.operation));
      const span = this.span;
      // The exit code of a shell line that went on after adb is the last command's, not adb's.
      if (this.exitIsAdbs && this.exitCode !== null && this.exitCode >= 0) span.setAttribute(ATTR_PROCESS_EXIT_CODE, this.exitCode);
      if (errorType !== null) {
        m.deviceErrors.add(1, errorAttrs(errorType));
        span.setAttribute(ATTR_ERROR_TYPE, errorType);
        span.setStatus({ code: SpanStatusCode.ERROR, message: `${errorType}: ${this.describeEnd()}` });
      } else if (this.stdoutUse === 'listing' && this.stdout !== undefined) {
        // A listing past the bound is incomplete: not judged (devices missing from it are not gone), but said.
        if (this.stdout.overflowed) span.setAttribute(ADB_ATTR.devicesTruncated, true);
        else this.host.applyDevicesListing(span, this.stdout.text());
      }
      if (this.smsSpan !== undefined) this.endSms(errorType, end);
      if (errorType !== null) this.logError(errorType, end);
      this.host.noteRunEnd(this.operation, errorType);
      span.end(end);
    } catch (err) {
      reportOnce('adb run end', err);
      try {
        this.span.end();
        this.smsSpan?.end();
      } catch {
        /* nothing more to do */
      }
    }
  }

  private endSms(errorType: AdbErrorType | null, end: number): void {
    const sms = this.smsSpan as Span;
    if (errorType === null) {
      // Only a delivered injection is a trigger the card can answer.
      this.host.instruments().triggersSent.add(1, SMS_ATTRS);
      noteTriggerSent({ atMs: this.startMs, deviceType: 'phone', triggerType: 'sms', spanContext: sms.spanContext(), deviceKey: phoneKey(this.serial) });
    } else {
      sms.setAttribute(ATTR_ERROR_TYPE, errorType);
      sms.setStatus({ code: SpanStatusCode.ERROR, message: `adb run failed: ${errorType}` });
    }
    sms.end(end);
  }

  /**
   * One warn line per failed run, in the context of its adb span: the operation and the serial,
   * never the command's arguments (shell command lines, file paths, SMS contents).
   */
  private logError(errorType: AdbErrorType, end: number): void {
    if (!log.isLevelEnabled('warn') || !errorLogLimit.allow(errorType, 'warn')) return;
    const fields: LogFields = { operation: this.operation, error_type: errorType };
    if (this.serial !== undefined) fields['serial'] = peerText(this.serial);
    if (this.exitCode !== null) fields['exit_code'] = this.exitCode;
    if (this.signal !== null) fields['signal'] = this.signal;
    if (this.spawnErrorCode !== undefined) fields['spawn_error'] = this.spawnErrorCode;
    if (this.timedOut) fields['timed_out'] = true;
    fields['duration_ms'] = roundMs(end - this.startMs);
    logInSpan(log.warn, this.span, 'adb run failed', fields);
  }

  private describeEnd(): string {
    if (this.spawnErrorCode !== undefined) return `spawn failed (${this.spawnErrorCode})`;
    if (this.timedOut) return 'timed out';
    if (this.signal !== null) return `killed by ${this.signal}`;
    if (this.refused) return `refused on stdout, exit code ${this.exitCode ?? 'unknown'}`;
    return `exit code ${this.exitCode ?? 'unknown'}`;
  }
}

function graceExpired(run: AdbRun): void {
  run.finish();
}

/** The child's own `emit` while a run is watched: one symbol read, then the original emit. */
function observedEmit(this: ChildProcess, event: string | symbol, a?: unknown, b?: unknown): boolean {
  const run = (this as unknown as { [kRun]?: AdbRun })[kRun];
  if (run === undefined) return (EventEmitter.prototype.emit as Emit).apply(this, arguments as unknown as [string]);
  const emit = run.childEmit ?? (EventEmitter.prototype.emit as Emit);
  if (event === 'exit' || event === 'close' || event === 'error') run.onEvent(event, a, b);
  return emit.apply(this, arguments as unknown as [string]);
}

function tap(stream: Readable, capture: Sink): void {
  if (typeof stream.push !== 'function') return;
  const t: Tap = { capture, push: stream.push as Tap['push'] };
  Object.defineProperty(stream, kTap, { value: t, configurable: true, writable: true });
  Object.defineProperty(stream, 'push', { value: observedPush, configurable: true, writable: true, enumerable: false });
}

function untap(stream: Readable): void {
  // If someone wrapped `push` after us, our tap stays in their chain (it only keeps bounded copies).
  if (Object.getOwnPropertyDescriptor(stream, 'push')?.value !== observedPush) return;
  delete (stream as { push?: unknown }).push;
  delete (stream as unknown as { [kTap]?: Tap })[kTap];
}

/** A watched stream's own `push`: copy (bounded) what is produced, then push it as before. */
function observedPush(this: Readable, chunk: unknown): boolean {
  const t = (this as unknown as { [kTap]?: Tap })[kTap];
  if (t === undefined) return (Readable.prototype.push as Tap['push']).apply(this, arguments as unknown as unknown[]);
  if (chunk !== null && chunk !== undefined) {
    try {
      t.capture.add(chunk);
    } catch (err) {
      reportOnce('adb output', err);
    }
  }
  return t.push.apply(this, arguments as unknown as unknown[]);
}
