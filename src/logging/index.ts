/** Structured, trace-correlated logs (see logger.ts). */
export { createLogger, RESERVED_FIELDS, type Logger, type LogFields, type LogMethod, type WritableLevel } from './logger.js';
export { configureLogging, resetLogging, levelFor, type LoggingOptions, type LogDestination } from './settings.js';
export { formatPretty, PrettyDestination } from './pretty.js';
export { sanitizeValue, sanitizeFields, serializeError, redactString, isSecretKey, REDACTED, type SerializedError } from './sanitize.js';
export { logInSpan, roundMs } from './in-span.js';
