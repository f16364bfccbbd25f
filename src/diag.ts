/**
 * How cardlink-otel talks about itself: one line per problem on stderr, never twice the same.
 *
 * The OTel diag logger is pointed here (level from OTEL_LOG_LEVEL, default warn) and so is the SDK's
 * global error handler (at debug: export failures are reported once per outage by export-status.ts,
 * not on every retry). Instrumentation code reports failures with `reportOnce`, so a patch that keeps
 * failing on every socket chunk prints one line, not thousands.
 */
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { setGlobalErrorHandler } from '@opentelemetry/core';
import type { DiagLogLevelName } from './config.js';

const PREFIX = 'cardlink-otel:';
const MAX_REMEMBERED = 1000;
const seen = new Set<string>();

function firstTime(key: string): boolean {
  if (seen.has(key)) return false;
  if (seen.size >= MAX_REMEMBERED) return false; // bounded: past this, stay quiet rather than grow
  seen.add(key);
  return true;
}

/** One line on stderr; never throws (stderr may be closed). */
export function printLine(message: string): void {
  try {
    process.stderr.write(`${PREFIX} ${message}\n`);
  } catch {
    /* nothing sensible left to do */
  }
}

/** Print `message` the first time `key` is seen. */
export function warnOnce(key: string, message: string): void {
  if (firstTime(key)) printLine(message);
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  try {
    return String(err);
  } catch {
    return 'unprintable error';
  }
}

/**
 * For instrumentation code: a failure inside our own patch, caught so the application never sees it.
 * Reported once per `where` through the diag logger (and so on stderr at the default level).
 */
export function reportOnce(where: string, err: unknown): void {
  if (firstTime(`report:${where}`)) diag.error(`instrumentation error in ${where} (reported once): ${describe(err)}`);
}

const LEVELS = {
  none: DiagLogLevel.NONE,
  error: DiagLogLevel.ERROR,
  warn: DiagLogLevel.WARN,
  info: DiagLogLevel.INFO,
  debug: DiagLogLevel.DEBUG,
  verbose: DiagLogLevel.VERBOSE,
  all: DiagLogLevel.ALL,
} satisfies Record<DiagLogLevelName, DiagLogLevel>;

/**
 * SDK messages about a failed or timed-out export: export-status.ts already reports each exporter's
 * failure once, with its endpoint, so these are demoted to debug.
 */
const EXPORT_FAILURE = /^(PeriodicExportingMetricReader|BatchSpanProcessor|BatchLogRecordProcessor|OTLPExportDelegate)\b.*(export|timed out|failed)/i;

function line(level: string) {
  return (message: string, ...args: unknown[]): void => {
    if (level !== 'debug' && level !== 'verbose' && EXPORT_FAILURE.test(message)) {
      if (currentLevel >= DiagLogLevel.DEBUG) stderrLogger.debug(message, ...args);
      return;
    }
    const extra = args.length > 0 ? ` ${args.map(describe).join(' ')}` : '';
    const text = `${level} ${message}${extra}`;
    if (firstTime(`diag:${text}`)) printLine(text);
  };
}

const stderrLogger: DiagLogger = {
  error: line('error'),
  warn: line('warn'),
  info: line('info'),
  debug: line('debug'),
  verbose: line('verbose'),
};

let installed = false;
let currentLevel: DiagLogLevel = DiagLogLevel.WARN;

/**
 * Runs `f` (NodeSDK's constructor) without our diag logger, then puts it back: with OTEL_LOG_LEVEL
 * set, NodeSDK installs a console logger of its own, which over ours would print two "logger will
 * be overwritten" warnings with stack traces (and the value is ours to validate: config.ts).
 */
export function withoutDiag<T>(f: () => T): T {
  if (!installed) return f();
  diag.disable();
  try {
    return f();
  } finally {
    reinstallDiag();
  }
}

/** Puts our logger back after a component (NodeSDK, for OTEL_LOG_LEVEL) installed its own. */
export function reinstallDiag(): void {
  if (installed) diag.setLogger(stderrLogger, { logLevel: currentLevel, suppressOverrideMessage: true });
}

/** `level`: OTEL_LOG_LEVEL as validated by the configuration (src/config.ts). */
export function installDiag(level: keyof typeof LEVELS = 'warn'): void {
  if (installed) return;
  installed = true;
  currentLevel = LEVELS[level] ?? DiagLogLevel.WARN;
  diag.setLogger(stderrLogger, { logLevel: currentLevel, suppressOverrideMessage: true });
  setGlobalErrorHandler((err) => diag.debug(`SDK error: ${describe(err)}`));
}
