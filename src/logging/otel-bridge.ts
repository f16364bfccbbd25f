/**
 * Hands each written log line to the global OTel LoggerProvider as well, so that with a logs
 * exporter configured (src/sdk.ts) the record goes out over OTLP with its trace context and
 * Alloy/Loki get the same content as stdout. Without a provider the API's no-op logger takes it.
 */
import { context } from '@opentelemetry/api';
import { logs, SeverityNumber, type LogAttributes } from '@opentelemetry/api-logs';
import { ATTR_EXCEPTION_MESSAGE, ATTR_EXCEPTION_STACKTRACE, ATTR_EXCEPTION_TYPE } from '@opentelemetry/semantic-conventions';
import type { LogLevel } from '../config.js';
import { VERSION } from '../version.js';
import type { SerializedError } from './sanitize.js';

export const LOGGER_SCOPE = 'cardlink-otel';

const SEVERITY: Record<Exclude<LogLevel, 'silent'>, SeverityNumber> = {
  trace: SeverityNumber.TRACE,
  debug: SeverityNumber.DEBUG,
  info: SeverityNumber.INFO,
  warn: SeverityNumber.WARN,
  error: SeverityNumber.ERROR,
  fatal: SeverityNumber.FATAL,
};

const SEVERITY_TEXT: Record<Exclude<LogLevel, 'silent'>, string> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
  fatal: 'FATAL',
};

export interface BridgeRecord {
  level: Exclude<LogLevel, 'silent'>;
  timeMs: number;
  component: string;
  message: string;
  /** The child's context, already sanitised. */
  context: Readonly<Record<string, unknown>>;
  /** This call's fields, already sanitised. */
  fields: Readonly<Record<string, unknown>>;
  exception: SerializedError | undefined;
}

export function emitToOtel(r: BridgeRecord): void {
  const attributes: LogAttributes = { component: r.component };
  for (const k in r.context) attributes[k] = r.context[k] as LogAttributes[string];
  for (const k in r.fields) attributes[k] = r.fields[k] as LogAttributes[string];
  if (r.exception !== undefined) {
    // Semantic-convention names, so backends show the exception as such.
    attributes[ATTR_EXCEPTION_TYPE] = r.exception.type;
    attributes[ATTR_EXCEPTION_MESSAGE] = r.exception.message;
    if (r.exception.stack !== undefined) attributes[ATTR_EXCEPTION_STACKTRACE] = r.exception.stack;
  }
  // The provider may be installed or replaced after a logger was created: ask each time (cheap,
  // the SDK caches its loggers).
  logs.getLogger(LOGGER_SCOPE, VERSION).emit({
    timestamp: r.timeMs,
    severityNumber: SEVERITY[r.level],
    severityText: SEVERITY_TEXT[r.level],
    body: r.message,
    attributes,
    // The active context carries the span: the SDK copies its trace id, span id and flags.
    context: context.active(),
  });
}
