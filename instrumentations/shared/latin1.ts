/**
 * Latin-1 text of bytes[from, to) through Node's native decoder, called directly: it takes any
 * Uint8Array as `this`, skips Buffer#toString's dispatch on the encoding, and is several times
 * faster than String.fromCharCode for header values and AT lines. Pure; no copy of the bytes.
 */
type Latin1Slice = (this: Uint8Array, from: number, to: number) => string;

const latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: Latin1Slice }).latin1Slice;

export function latin1Text(bytes: Uint8Array, from: number, to: number): string {
  if (latin1Slice !== undefined) return latin1Slice.call(bytes, from, to);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1', from, to);
}
