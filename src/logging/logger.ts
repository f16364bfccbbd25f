/**
 * `createLogger(component)`: structured logs on pino, one JSON object per line:
 *
 *     {"level":"warn","timestamp":"2025-05-01T12:00:00.000Z","component":"tls","peer":"10.0.0.7",
 *      "trace_id":"4bf9...","span_id":"00f0...","trace_flags":"01","reason":"bad_psk",
 *      "message":"handshake failed"}
 *
 * `trace_id` / `span_id` / `trace_flags` are added when a span is active, `exception`
 * (`{type, message, stack, code, cause}`) when an Error is logged. Every field goes through
 * sanitize.ts (secrets redacted, bytes summarised, sizes bounded). Each written line is also handed
 * to the OTel Logs API (otel-bridge.ts).
 *
 * Logging never throws into the caller: a failure inside is reported once through the diag logger.
 */
import { isSpanContextValid, trace } from '@opentelemetry/api';
import { createRequire } from 'node:module';
import type { default as PinoFactory, DestinationStream, Logger as PinoLogger } from 'pino';
import type { LogLevel } from '../config.js';
import { reportOnce } from '../diag.js';
import { emitToOtel } from './otel-bridge.js';
import { PrettyDestination } from './pretty.js';
import { redactString, sanitizeFields, serializeError, type SerializedError } from './sanitize.js';
import { levelFor, loggingState, type LogDestination } from './settings.js';

export type LogFields = Record<string, unknown>;
export type WritableLevel = Exclude<LogLevel, 'silent'>;

/**
 * Accepts `(message, fields?)`, `(message, error)`, pino-style `(fields, message?)` and
 * `(error, message?)`. An Error under `err`, `error` or `exception` in the fields is logged as the
 * line's `exception`.
 */
export interface LogMethod {
  (message: string, fields?: LogFields | Error): void;
  (fields: LogFields | Error, message?: string): void;
}

export interface Logger {
  /** The component name given to createLogger (the `component` field of every line). */
  readonly component: string;
  /** The context fields of this logger (frozen). */
  readonly context: Readonly<LogFields>;
  /** The effective level (from CARDLINK_LOG_LEVEL: the component's entry or the default). */
  readonly level: LogLevel;
  isLevelEnabled(level: WritableLevel): boolean;
  trace: LogMethod;
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
  fatal: LogMethod;
  /** A logger with more context; this logger is unchanged (a child's context is immutable). */
  child(context: LogFields): Logger;
}

/** The fixed fields of a line: context and call fields with these names are renamed `_<name>`. */
export const RESERVED_FIELDS: ReadonlySet<string> = new Set([
  'level',
  'timestamp',
  'component',
  'message',
  'trace_id',
  'span_id',
  'trace_flags',
  'exception',
]);

const ERROR_KEYS = ['err', 'error', 'exception'] as const;
const MAX_COMPONENT = 100;

const stdoutDestination: LogDestination = {
  // Looked up per write: tests and applications may replace process.stdout.write.
  write: (line: string) => process.stdout.write(line),
};

/**
 * The ISO timestamp of the line being written. The logger sets it just before calling pino (pino
 * calls `timestamp()` synchronously), so the JSON line and the OTel record carry the same instant.
 */
let pendingTimestamp: string | undefined;
const timestamp = (): string => `,"timestamp":"${pendingTimestamp ?? new Date().toISOString()}"`;

function useColor(): boolean {
  if (process.env['NO_COLOR'] !== undefined && process.env['NO_COLOR'] !== '') return false;
  return process.stdout.isTTY === true;
}

let root: { gen: number; logger: PinoLogger } | undefined;

/**
 * pino is loaded on the first line actually written (never for a level check), not at import: the
 * instrumentations create their loggers at start-up and most never log, so a process that logs
 * nothing never pays pino's load time (~20 ms).
 */
let pino: typeof PinoFactory | undefined;
const requireHere = createRequire(import.meta.url);

/** The pino root for the current settings; loggers take a child of it per component. */
function rootLogger(): PinoLogger {
  const s = loggingState();
  if (root === undefined || root.gen !== s.gen) {
    const dest = s.destination ?? stdoutDestination;
    const stream: DestinationStream =
      s.format === 'pretty'
        ? new PrettyDestination(dest, { color: s.destination === undefined && useColor() })
        : { write: (line: string) => void dest.write(line) };
    pino ??= requireHere('pino') as typeof PinoFactory;
    const logger = pino(
      {
        level: s.level,
        base: null,
        messageKey: 'message',
        timestamp,
        formatters: { level: (label) => ({ level: label }) },
      },
      stream,
    );
    root = { gen: s.gen, logger };
  }
  return root.logger;
}

/** pino's level numbers (silent: nothing is enabled). */
const LEVEL_RANK: Readonly<Record<LogLevel, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

function hex2(n: number): string {
  return n < 16 ? `0${n.toString(16)}` : (n & 0xff).toString(16);
}

function isPlainObject(v: unknown): v is LogFields {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class CardlinkLogger implements Logger {
  private gen = -1;
  private pinoChild: PinoLogger | undefined;
  private effective: LogLevel = 'info';

  readonly trace: LogMethod = (a: unknown, b?: unknown) => this.write('trace', a, b);
  readonly debug: LogMethod = (a: unknown, b?: unknown) => this.write('debug', a, b);
  readonly info: LogMethod = (a: unknown, b?: unknown) => this.write('info', a, b);
  readonly warn: LogMethod = (a: unknown, b?: unknown) => this.write('warn', a, b);
  readonly error: LogMethod = (a: unknown, b?: unknown) => this.write('error', a, b);
  readonly fatal: LogMethod = (a: unknown, b?: unknown) => this.write('fatal', a, b);

  constructor(
    readonly component: string,
    readonly context: Readonly<LogFields>,
  ) {}

  get level(): LogLevel {
    this.sync();
    return this.effective;
  }

  /** Answered from the settings alone: asking (every OTA session does) never loads pino. */
  isLevelEnabled(level: WritableLevel): boolean {
    try {
      this.sync();
      return LEVEL_RANK[level] >= LEVEL_RANK[this.effective];
    } catch {
      return false;
    }
  }

  child(context: LogFields): Logger {
    const extra = isPlainObject(context) ? sanitizeFields(context, RESERVED_FIELDS) : {};
    return new CardlinkLogger(this.component, Object.freeze({ ...this.context, ...extra }));
  }

  /** The effective level for the current settings (the pino child is dropped when they changed). */
  private sync(): void {
    const s = loggingState();
    if (this.gen !== s.gen) {
      this.effective = levelFor(this.component, s);
      this.pinoChild = undefined;
      this.gen = s.gen;
    }
  }

  /** The pino child for the current settings (rebuilt when they changed). */
  private current(): PinoLogger {
    this.sync();
    this.pinoChild ??= rootLogger().child({ component: this.component, ...this.context }, { level: this.effective });
    return this.pinoChild;
  }

  private write(level: WritableLevel, a: unknown, b: unknown): void {
    try {
      this.sync();
      if (LEVEL_RANK[level] < LEVEL_RANK[this.effective]) return;
      const p = this.current();

      let message = '';
      let raw: LogFields | undefined;
      let error: unknown;
      if (typeof a === 'string') {
        message = a;
        if (b instanceof Error) error = b;
        else if (isPlainObject(b)) raw = b;
      } else if (a instanceof Error) {
        error = a;
        message = typeof b === 'string' ? b : a.message;
      } else if (isPlainObject(a)) {
        raw = a;
        if (typeof b === 'string') message = b;
      } else if (a !== undefined) {
        // Anything else (an array, a number ...) is kept as a field rather than stringified.
        raw = { value: a };
        if (typeof b === 'string') message = b;
      }
      if (raw !== undefined && error === undefined) {
        for (const k of ERROR_KEYS) {
          if (raw[k] instanceof Error) {
            error = raw[k];
            raw = { ...raw };
            delete raw[k];
            break;
          }
        }
      }

      const out: Record<string, unknown> = {};
      const span = trace.getActiveSpan();
      if (span !== undefined) {
        const sc = span.spanContext();
        if (isSpanContextValid(sc)) {
          out['trace_id'] = sc.traceId;
          out['span_id'] = sc.spanId;
          out['trace_flags'] = hex2(sc.traceFlags);
        }
      }
      const fields = sanitizeFields(raw, RESERVED_FIELDS);
      Object.assign(out, fields);
      let exception: SerializedError | undefined;
      if (error !== undefined) {
        exception = serializeError(error);
        out['exception'] = exception;
      }
      message = redactString(message);

      const now = Date.now();
      pendingTimestamp = new Date(now).toISOString();
      try {
        p[level](out, message);
      } finally {
        pendingTimestamp = undefined;
      }
      emitToOtel({ level, timeMs: now, component: this.component, message, context: this.context, fields, exception });
    } catch (err) {
      reportOnce('logging', err);
    }
  }
}

/**
 * A logger for one component (`tls`, `modem`, `adb`, `db`, your app's own names). Its level is the
 * component's entry in CARDLINK_LOG_LEVEL (`info,tls=debug,modem=warn`; `modem` also covers
 * `modem.at`), else the default; CARDLINK_LOG_FORMAT=pretty switches to a human layout.
 */
export function createLogger(component: string, context?: LogFields): Logger {
  let name = typeof component === 'string' && component.trim() !== '' ? component.trim() : 'app';
  if (name.length > MAX_COMPONENT) name = name.slice(0, MAX_COMPONENT);
  const base = isPlainObject(context) ? sanitizeFields(context, RESERVED_FIELDS) : {};
  return new CardlinkLogger(name, Object.freeze(base));
}
