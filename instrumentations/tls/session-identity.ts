/**
 * The PSK identity of a resumed TLS session. An abbreviated handshake (a session ticket or ID)
 * calls no pskCallback, so the identity the card presented is only in the session itself: the
 * DER OpenSSL serialises (`SSL_SESSION_ASN1`, a SEQUENCE whose field `[8]` is the psk_identity
 * OCTET STRING, explicitly tagged). Pure: no OpenTelemetry, no I/O; defensive on any input.
 */

const SEQUENCE = 0x30;
const PSK_IDENTITY = 0xa8; // [8] constructed, explicit
const OCTET_STRING = 0x04;

/** Length and header size of the DER element at `i`, or undefined when it does not fit `end`. */
function element(b: Uint8Array, i: number, end: number): { start: number; length: number } | undefined {
  if (i + 2 > end) return undefined;
  let n = b[i + 1]!;
  let start = i + 2;
  if (n & 0x80) {
    const k = n & 0x7f;
    if (k === 0 || k > 3 || start + k > end) return undefined;
    n = 0;
    for (let j = 0; j < k; j++) n = n * 256 + b[start + j]!;
    start += k;
  }
  if (start + n > end) return undefined;
  return { start, length: n };
}

/** The psk_identity of a serialised session (at most `maxBytes` of it), or undefined. */
export function pskIdentityOfSession(der: Uint8Array, maxBytes = 1024): string | undefined {
  if (der.length < 2 || der[0] !== SEQUENCE) return undefined;
  const outer = element(der, 0, der.length);
  if (outer === undefined) return undefined;
  const end = outer.start + outer.length;
  let i = outer.start;
  while (i < end) {
    const e = element(der, i, end);
    if (e === undefined) return undefined;
    if (der[i] === PSK_IDENTITY) {
      const inner = element(der, e.start, e.start + e.length);
      if (inner === undefined || der[e.start] !== OCTET_STRING || inner.length > maxBytes) return undefined;
      return Buffer.from(der.buffer, der.byteOffset + inner.start, inner.length).toString('utf8');
    }
    i = e.start + e.length;
  }
  return undefined;
}
