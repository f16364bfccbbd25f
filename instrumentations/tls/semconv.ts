/*
 * Incubating semantic-convention keys this instrumentation writes, copied from
 * `@opentelemetry/semantic-conventions/incubating` (as the contrib instrumentations do: the
 * incubating entry point may change between minor versions, so it is not imported at run time).
 */
export const ATTR_TLS_CIPHER = 'tls.cipher' as const;
export const ATTR_TLS_PROTOCOL_NAME = 'tls.protocol.name' as const;
export const ATTR_TLS_PROTOCOL_VERSION = 'tls.protocol.version' as const;
