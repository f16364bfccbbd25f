/** Structured, trace-correlated logs (see logger.ts). */
export { createLogger, RESERVED_FIELDS, type Logger, type LogFields, type LogMethod, type WritableLevel } from './logger.js';
export { configureLogging, resetLogging, levelFor, DEFAULT_PEER_LINE_LIMIT, type LoggingOptions, type LogDestination, type PeerLineLimit } from './settings.js';
export { formatPretty, PrettyDestination } from './pretty.js';
export { sanitizeValue, sanitizeFields, serializeError, redactString, isSecretKey, peerText, REDACTED, MAX_PEER_TEXT, type SerializedError } from './sanitize.js';
export { PeerLineLimiter, SUPPRESSED_MESSAGE } from './peer-limit.js';
export { logInSpan, roundMs } from './in-span.js';
