/**
 * Maps what Node reports for a failed server-side TLS handshake (the `tlsClientError` error) to the
 * bounded `failure_reason` label. Pure; codes checked against Node 20 / OpenSSL 3 with
 * `openssl s_client -psk` as the peer.
 */
export type HandshakeFailureReason =
  | 'unknown_identity'
  | 'bad_psk'
  | 'protocol_version'
  | 'no_shared_cipher'
  | 'timeout'
  | 'client_abort'
  | 'other';

const BY_CODE: Readonly<Record<string, HandshakeFailureReason>> = {
  ERR_SSL_PSK_IDENTITY_NOT_FOUND: 'unknown_identity',
  ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC: 'bad_psk',
  ERR_SSL_BAD_RECORD_MAC: 'bad_psk',
  ERR_SSL_DECRYPTION_FAILED: 'bad_psk',
  ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR: 'bad_psk',
  ERR_SSL_SSLV3_ALERT_BAD_RECORD_MAC: 'bad_psk',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_PSK_IDENTITY: 'unknown_identity',
  ERR_SSL_UNSUPPORTED_PROTOCOL: 'protocol_version',
  ERR_SSL_WRONG_VERSION_NUMBER: 'protocol_version',
  ERR_SSL_VERSION_TOO_LOW: 'protocol_version',
  ERR_SSL_VERSION_TOO_HIGH: 'protocol_version',
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: 'protocol_version',
  ERR_SSL_NO_PROTOCOLS_AVAILABLE: 'protocol_version',
  ERR_SSL_NO_SHARED_CIPHER: 'no_shared_cipher',
  ERR_SSL_NO_CIPHERS_AVAILABLE: 'no_shared_cipher',
  ERR_SSL_NO_CIPHER_MATCH: 'no_shared_cipher',
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: 'no_shared_cipher',
  ERR_TLS_HANDSHAKE_TIMEOUT: 'timeout',
  ETIMEDOUT: 'timeout',
  ECONNRESET: 'client_abort',
  EPIPE: 'client_abort',
  ECONNABORTED: 'client_abort',
};

export function classifyHandshakeError(err: unknown, pskCallbackReturnedNull = false): HandshakeFailureReason {
  if (pskCallbackReturnedNull) return 'unknown_identity';
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (typeof code === 'string') {
    const r = BY_CODE[code];
    if (r !== undefined) return r;
  }
  return 'other';
}

/** `TLSv1.2` -> `1.2` (OTel `tls.protocol.version`). */
export function tlsProtocolVersion(protocol: string | null | undefined): string | undefined {
  if (typeof protocol !== 'string') return undefined;
  return protocol.startsWith('TLSv') ? protocol.slice(4) : protocol;
}
