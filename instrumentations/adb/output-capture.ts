/**
 * Bounded copies of what an adb child writes, for classification only (never exported).
 *
 * Text is kept as latin1: one character per byte, so bounds are byte bounds and a multi-byte
 * character cut by a chunk boundary cannot turn into replacement characters that shift anything.
 * adb's own messages, serials and states are ASCII.
 */

/** The first `headMax` bytes and the last `tailMax` bytes of a byte stream, whatever its chunking. */
export class OutputCapture {
  private head = '';
  private tail = '';
  /** Bytes seen in total. */
  total = 0;

  constructor(
    private readonly headMax: number,
    private readonly tailMax = 0,
  ) {}

  /** True once more bytes were seen than could be kept. */
  get overflowed(): boolean {
    return this.total > this.headMax + this.tailMax;
  }

  /** Adds one chunk (Buffer, other Uint8Array or string); anything else is ignored. */
  add(chunk: unknown): void {
    let n: number;
    if (typeof chunk === 'string') n = chunk.length;
    else if (chunk instanceof Uint8Array) n = chunk.byteLength;
    else return;
    if (n === 0) return;
    const before = this.total;
    this.total += n;
    let from = 0;
    if (before < this.headMax) {
      const take = Math.min(n, this.headMax - before);
      this.head += text(chunk, 0, take);
      from = take;
    }
    if (from >= n || this.tailMax === 0) return;
    // Only the last tailMax bytes of this chunk can end up in the tail.
    const start = Math.max(from, n - this.tailMax);
    const joined = this.tail + text(chunk, start, n);
    this.tail = joined.length > this.tailMax ? joined.slice(joined.length - this.tailMax) : joined;
  }

  /**
   * What was kept. When bytes between head and tail were dropped, a newline joins the two parts so
   * a line cut in the middle is not glued to another one.
   */
  text(): string {
    if (this.tail.length === 0) return this.head;
    return this.overflowed ? `${this.head}\n${this.tail}` : this.head + this.tail;
  }
}

function text(chunk: string | Uint8Array, from: number, to: number): string {
  if (typeof chunk === 'string') {
    return from === 0 && to === chunk.length ? chunk : chunk.slice(from, to);
  }
  const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return buf.toString('latin1', from, to);
}
