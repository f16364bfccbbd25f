/**
 * A passive, incremental HTTP/1.1 message scanner for one direction of one connection.
 *
 * The TLS instrumentation watches the plaintext of an SCP81 connection without taking part in it:
 * the bytes the server writes (responses) and, for a raw `tls` server, the bytes it reads
 * (requests), in whatever chunks the socket hands over. This scanner turns that byte stream into
 * message events: start (start line + the few headers that matter), body bytes (de-chunked) and
 * end. Any split of the same stream yields the same start/end events and the same body bytes.
 *
 * Bounds (per scanner, i.e. per connection direction):
 * - header section (start line + fields + blank line, and likewise a chunked trailer section):
 *   `maxHeaderBytes`, default 16 KiB. Past it the scanner gives up on the connection.
 * - chunk-size line (size + extensions): 4 KiB, chunk size: 12 significant hex digits.
 * - body capture: `maxBodyCapture`, default 64 KiB per message. Past it the message is flagged
 *   `truncated`; its length is still counted and framing stays in sync with the stream.
 * - decoded header values and the request path: the first 1024 characters (latin1).
 * - memory: one line buffer (grows to at most `maxHeaderBytes`) plus, for a message whose body is
 *   captured, one buffer of at most `maxBodyCapture` that is handed to `onMessageEnd`. Capture
 *   buffers of all scanners together stay within capture-budget.ts's total: a capture that would
 *   pass it stops growing and its message is `truncated`.
 *
 * Behaviour:
 * - Framing follows RFC 9112 6.3: 1xx/204/304 responses have no body; Transfer-Encoding whose final
 *   coding is `chunked` wins over Content-Length; other transfer codings on a response read until
 *   `end()`; a request without either has no body. Chunk extensions are skipped, trailers ignored.
 * - A HEAD request's response cannot be recognised from the response direction alone: its
 *   Content-Length would be taken as a body (SCP81 only uses POST).
 * - A 101 response ends HTTP on the connection: the scanner gives up (`upgrade`) after it.
 * - Anything that does not look like HTTP/1.x (bad start line, header line without a colon, bad
 *   chunk framing, invalid Content-Length) makes the scanner give up: from then on `push` returns
 *   at once. A message already started gets an `onMessageEnd` with `complete: false` first.
 * - It never throws. If a handler callback throws, the scanner gives up (`handler-error`) and
 *   calls no handler again. It is not re-entrant: do not call `push` from a callback.
 *
 * Pure: no OpenTelemetry, no I/O, no regular expressions; body bytes are skipped in O(1) per
 * chunk unless they are captured, and header values are only decoded for the headers listed in
 * HTTP_HEADER_NAMES.
 */

import { latin1Text } from '../shared/latin1.js';
import { releaseCapture, reserveCapture } from './capture-budget.js';

export type HttpScannerMode = 'request' | 'response';

/** The only header fields decoded (lower-case names). */
export const HTTP_HEADER_NAMES = [
  'content-type',
  'content-length',
  'transfer-encoding',
  'connection',
  'x-admin-protocol',
  'x-admin-from',
  'x-admin-resume',
  'x-admin-script-status',
  'x-admin-targeted-application',
  'x-admin-next-uri',
] as const;

export type HttpHeaderName = (typeof HTTP_HEADER_NAMES)[number];

/** Decoded values (trimmed; repeated fields joined with ", "); absent headers are undefined. */
export type HttpHeaders = { [K in HttpHeaderName]: string | undefined };

export type HttpBodyFraming = 'none' | 'length' | 'chunked' | 'eof';

export interface HttpMessageHead {
  readonly kind: HttpScannerMode;
  /** 0-based position of the message on this stream. */
  readonly index: number;
  /** Request method as sent (`POST`); '' for a response. */
  readonly method: string;
  /** Request target (`/server/admin`), first 1024 characters; '' for a response. */
  readonly path: string;
  /** Response status code; 0 for a request. */
  readonly statusCode: number;
  /** Minor version of HTTP/1.x. */
  readonly httpMinor: number;
  readonly headers: Readonly<HttpHeaders>;
  readonly framing: HttpBodyFraming;
  /** Declared Content-Length, null when absent or overridden by chunked framing. */
  readonly contentLength: number | null;
}

export interface HttpMessageEnd {
  readonly head: HttpMessageHead;
  /** De-chunked body bytes seen, counted even past the capture bound. */
  readonly bodyLength: number;
  /** The captured body (at most `maxBodyCapture` bytes), null when it was not captured. Owned by the receiver. */
  readonly body: Uint8Array | null;
  /** The body was captured but is longer than the capture bound. */
  readonly truncated: boolean;
  /** False when the stream ended or the scanner gave up before the message was complete. */
  readonly complete: boolean;
}

export type HttpGiveUpReason = 'not-http' | 'header-too-large' | 'bad-framing' | 'bad-chunk' | 'upgrade' | 'handler-error';

export interface HttpScannerHandler {
  /** A message's head was read. Return false to not capture its body (it is then only counted). */
  onMessageStart?(head: HttpMessageHead): boolean | void;
  /** Body bytes of a captured message, de-chunked, as views into the pushed chunk (valid only during the call). */
  onBody?(head: HttpMessageHead, bytes: Uint8Array, offset: number, length: number): void;
  onMessageEnd?(end: HttpMessageEnd): void;
  /** The scanner stopped following the stream; no event follows. */
  onGiveUp?(reason: HttpGiveUpReason): void;
}

export interface HttpScannerOptions {
  /** Bound on a header (or trailer) section; default 16384. */
  maxHeaderBytes?: number;
  /** Bound on the bytes captured per message body; default 65536; 0 captures nothing. */
  maxBodyCapture?: number;
}

export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
export const DEFAULT_MAX_BODY_CAPTURE = 64 * 1024;
const MAX_CHUNK_LINE = 4096;
const MAX_CHUNK_HEX_DIGITS = 12;
const MAX_VALUE_CHARS = 1024;
const MAX_METHOD_CHARS = 20;

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;

const enum S {
  Head, // start line and header fields (also skips blank lines before a start line)
  BodyLength,
  BodyEof,
  ChunkSize,
  ChunkExt,
  ChunkData,
  ChunkDataCr,
  ChunkDataLf,
  Trailer,
  GaveUp,
  Closed,
}

export type HttpScannerState = 'head' | 'body' | 'gave-up' | 'closed';

/** Header names as lower-case bytes, for allocation-free case-insensitive matching. */
const NAME_BYTES: readonly Uint8Array[] = HTTP_HEADER_NAMES.map((n) => Uint8Array.from(n, (c) => c.charCodeAt(0)));

/** tchar per RFC 9110 5.6.2. */
const TCHAR = new Uint8Array(256);
for (let c = 0x21; c < 0x7f; c++) TCHAR[c] = 1;
for (const c of '"(),/:;<=>?@[\\]{}') TCHAR[c.charCodeAt(0)] = 0;

/** Shared body of captured messages that had none (zero length, so sharing it is harmless). */
const EMPTY = new Uint8Array(0);

const HTTP_PREFIX = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e]; // "HTTP/1."

function emptyHeaders(): HttpHeaders {
  return {
    'content-type': undefined,
    'content-length': undefined,
    'transfer-encoding': undefined,
    connection: undefined,
    'x-admin-protocol': undefined,
    'x-admin-from': undefined,
    'x-admin-resume': undefined,
    'x-admin-script-status': undefined,
    'x-admin-targeted-application': undefined,
    'x-admin-next-uri': undefined,
  };
}

function latin1(buf: Uint8Array, s: number, e: number): string {
  return latin1Text(buf, s, e - s > MAX_VALUE_CHARS ? s + MAX_VALUE_CHARS : e);
}

function isOws(c: number): boolean {
  return c === SP || c === HT;
}

/** The first value of a header as Node or an application holds it (a string, or a list of them; a number is none). */
export function headerValue(v: unknown): string | undefined {
  return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
}

/** Content-Length value -> length, or -1 when invalid. A list of identical values is accepted (RFC 9110 8.6). */
export function parseContentLength(value: string): number {
  let result = -1;
  let i = 0;
  const n = value.length;
  while (i <= n) {
    while (i < n && isOws(value.charCodeAt(i))) i++;
    let v = 0;
    let digits = 0;
    while (i < n) {
      const c = value.charCodeAt(i);
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
      digits++;
      i++;
    }
    while (i < n && isOws(value.charCodeAt(i))) i++;
    if (digits === 0 || digits > 15) return -1;
    if (result >= 0 && v !== result) return -1;
    result = v;
    if (i === n) return result;
    if (value.charCodeAt(i) !== 44) return -1; // ','
    i++;
  }
  return result;
}

/** Whether the last transfer coding is `chunked`. */
function finalCodingIsChunked(value: string): boolean {
  let end = value.length;
  while (end > 0 && (isOws(value.charCodeAt(end - 1)) || value.charCodeAt(end - 1) === 44)) end--;
  let start = value.lastIndexOf(',', end - 1) + 1;
  while (start < end && isOws(value.charCodeAt(start))) start++;
  return end - start === 7 && value.slice(start, end).toLowerCase() === 'chunked';
}

/**
 * The value of header `lowerName` (lower case) in a message head held as a string (`HTTP/1.1 200 OK\r\n
 * Name: value\r\n...`, as Node stores a response head), trimmed and cut to MAX_VALUE_CHARS; the
 * first such field, or undefined. Names are compared ignoring ASCII case; `spelled` (`\r\nName:`),
 * the usual spelling, is looked for first.
 */
export function headerInHead(head: string, lowerName: string, spelled?: string): string | undefined {
  const n = lowerName.length;
  const first = lowerName.charCodeAt(0);
  // The usual spelling first, found natively (far cheaper than scanning character by character).
  let pos = spelled === undefined ? -1 : head.indexOf(spelled);
  if (pos >= 0) return fieldValue(head, pos + spelled!.length);
  pos = head.indexOf('\n');
  while (pos >= 0 && pos + 1 + n < head.length) {
    const s = pos + 1;
    if ((head.charCodeAt(s) | 0x20) === first && head.charCodeAt(s + n) === 58 && sameLowerAt(head, s, lowerName)) return fieldValue(head, s + n + 1);
    pos = head.indexOf('\n', s);
  }
  return undefined;
}

/** The field value starting at `vs` (after the colon), trimmed and cut. */
function fieldValue(head: string, vs: number): string {
  let ve = head.indexOf('\n', vs);
  if (ve < 0) ve = head.length;
  if (ve > vs && head.charCodeAt(ve - 1) === 13) ve--;
  while (vs < ve && isOws(head.charCodeAt(vs))) vs++;
  while (ve > vs && isOws(head.charCodeAt(ve - 1))) ve--;
  return head.slice(vs, ve - vs > MAX_VALUE_CHARS ? vs + MAX_VALUE_CHARS : ve);
}

function sameLowerAt(s: string, at: number, lower: string): boolean {
  for (let i = 1; i < lower.length; i++) {
    let c = s.charCodeAt(at + i);
    if (c >= 65 && c <= 90) c |= 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

export class HttpMessageScanner {
  readonly mode: HttpScannerMode;
  private readonly handler: HttpScannerHandler;
  private readonly maxHeaderBytes: number;
  private readonly maxBodyCapture: number;

  private s: S = S.Head;
  private reason: HttpGiveUpReason | null = null;
  private messages = 0;

  // Line assembly (header and trailer sections).
  private lineBuf: Uint8Array | null = null;
  private lineLen = 0;
  private sectionBytes = 0;
  private haveStartLine = false;

  // The message being read.
  private head: HttpMessageHead | null = null;
  private method = '';
  private path = '';
  private statusCode = 0;
  private httpMinor = 1;
  private headers: HttpHeaders = emptyHeaders();
  private remaining = 0;
  private bodyLength = 0;
  private capture = false;
  private captured: Uint8Array | null = null;
  private capturedLen = 0;
  /** Bytes this message may capture: maxBodyCapture, or what it had when the total budget ran out. */
  private captureLimit = 0;

  // Chunk-size line.
  private chunkSize = 0;
  private chunkDigits = 0;
  private chunkSignificant = 0;
  private chunkLine = 0;

  constructor(mode: HttpScannerMode, handler: HttpScannerHandler = {}, options: HttpScannerOptions = {}) {
    this.mode = mode === 'request' ? 'request' : 'response';
    this.handler = handler;
    this.maxHeaderBytes = positiveInt(options.maxHeaderBytes, DEFAULT_MAX_HEADER_BYTES);
    this.maxBodyCapture = nonNegativeInt(options.maxBodyCapture, DEFAULT_MAX_BODY_CAPTURE);
  }

  /** Coarse state: reading a head, reading a body, or stopped. */
  get state(): HttpScannerState {
    if (this.s === S.GaveUp) return 'gave-up';
    if (this.s === S.Closed) return 'closed';
    return this.s === S.Head ? 'head' : 'body';
  }

  get gaveUp(): boolean {
    return this.s === S.GaveUp;
  }

  get giveUpReason(): HttpGiveUpReason | null {
    return this.reason;
  }

  /** Messages whose head has been read so far. */
  get messageCount(): number {
    return this.messages;
  }

  /** Feed the next bytes of the stream (`chunk[offset, offset + length)`). Never throws. */
  push(chunk: Uint8Array, offset?: number, length?: number): void {
    if (this.s === S.GaveUp || this.s === S.Closed) return;
    if (!(chunk instanceof Uint8Array)) return;
    let pos = offset === undefined ? 0 : Math.trunc(offset);
    if (!(pos >= 0)) pos = 0;
    if (pos > chunk.length) pos = chunk.length;
    let end = length === undefined ? chunk.length : pos + Math.trunc(length);
    if (!(end >= pos)) end = pos;
    if (end > chunk.length) end = chunk.length;
    try {
      while (pos < end) {
        switch (this.s) {
          case S.Head:
          case S.Trailer:
            pos = this.lines(chunk, pos, end);
            break;
          case S.BodyLength: {
            const n = end - pos < this.remaining ? end - pos : this.remaining;
            this.body(chunk, pos, n);
            pos += n;
            this.remaining -= n;
            if (this.remaining === 0) this.finish(true);
            break;
          }
          case S.BodyEof:
            this.body(chunk, pos, end - pos);
            pos = end;
            break;
          case S.ChunkSize:
          case S.ChunkExt:
            pos = this.chunkLineBytes(chunk, pos, end);
            break;
          case S.ChunkData: {
            const n = end - pos < this.remaining ? end - pos : this.remaining;
            this.body(chunk, pos, n);
            pos += n;
            this.remaining -= n;
            if (this.remaining === 0) this.s = S.ChunkDataCr;
            break;
          }
          case S.ChunkDataCr: {
            const c = chunk[pos++]!;
            if (c === CR) this.s = S.ChunkDataLf;
            else if (c === LF) this.startChunkLine();
            else this.giveUp('bad-chunk');
            break;
          }
          case S.ChunkDataLf:
            if (chunk[pos++] === LF) this.startChunkLine();
            else this.giveUp('bad-chunk');
            break;
          default:
            return; // GaveUp / Closed
        }
      }
    } catch {
      this.abort('handler-error');
    }
  }

  /**
   * The stream ended (connection closed). Completes a read-until-close body; a message cut short
   * gets `onMessageEnd` with `complete: false`. Further pushes are ignored. Never throws.
   */
  end(): void {
    if (this.s === S.GaveUp || this.s === S.Closed) return;
    try {
      if (this.head !== null) this.finish(this.s === S.BodyEof);
      this.s = S.Closed;
    } catch {
      this.abort('handler-error');
    }
  }

  /**
   * The connection is gone: drop the buffers without any event (a message cut short is not
   * reported), giving the capture back to the total budget. Further pushes are ignored.
   */
  release(): void {
    if (this.s === S.GaveUp) return;
    this.lineBuf = null;
    this.lineLen = 0;
    this.dropCapture();
    this.head = null;
    this.s = S.Closed;
  }

  // ---- header / trailer sections -------------------------------------------------------------

  /** Consume header or trailer bytes: whole lines are processed, a partial one is buffered. */
  private lines(chunk: Uint8Array, pos: number, end: number): number {
    while (pos < end && (this.s === S.Head || this.s === S.Trailer)) {
      const lf = findLf(chunk, pos, end);
      const take = (lf < 0 ? end : lf + 1) - pos;
      if (this.sectionBytes + take > this.maxHeaderBytes) {
        this.giveUp('header-too-large');
        return end;
      }
      this.sectionBytes += take;
      if (lf < 0) {
        this.appendLine(chunk, pos, end);
        // Reject a non-HTTP stream on its first bytes rather than after 16 KiB of garbage.
        if (this.s === S.Head && !this.haveStartLine && !this.startLinePrefixOk()) this.giveUp('not-http');
        return end;
      }
      if (this.lineLen > 0) {
        this.appendLine(chunk, pos, lf);
        const buf = this.lineBuf!;
        const n = this.lineLen;
        this.lineLen = 0;
        this.line(buf, 0, n);
      } else this.line(chunk, pos, lf);
      pos = lf + 1;
    }
    return pos;
  }

  private appendLine(src: Uint8Array, s: number, e: number): void {
    const n = e - s;
    if (n <= 0) return;
    let buf = this.lineBuf;
    const need = this.lineLen + n;
    if (buf === null || buf.length < need) {
      let size = buf === null ? 256 : buf.length * 2;
      while (size < need) size *= 2;
      if (size > this.maxHeaderBytes) size = this.maxHeaderBytes;
      const grown = new Uint8Array(size);
      if (buf !== null) grown.set(buf.subarray(0, this.lineLen));
      buf = grown;
      this.lineBuf = buf;
    }
    buf.set(src.subarray(s, e), this.lineLen);
    this.lineLen = need;
  }

  /** Plausibility of the partial first line: "HTTP/1." for responses, a method token for requests. */
  private startLinePrefixOk(): boolean {
    const buf = this.lineBuf!;
    const n = this.lineLen;
    if (buf[0] === CR) return n === 1; // the CR of a blank line before the start line
    if (this.mode === 'response') {
      const m = n < HTTP_PREFIX.length ? n : HTTP_PREFIX.length;
      for (let i = 0; i < m; i++) if (buf[i] !== HTTP_PREFIX[i]) return false;
      return true;
    }
    for (let i = 0; i < n; i++) {
      const c = buf[i]!;
      if (c === SP) return i > 0;
      if (i >= MAX_METHOD_CHARS || !isMethodChar(c)) return false;
    }
    return true;
  }

  /** One complete line without its LF. */
  private line(buf: Uint8Array, s: number, e: number): void {
    if (e > s && buf[e - 1] === CR) e--;
    if (this.s === S.Trailer) {
      if (e === s) this.finish(true); // trailer fields are not decoded
      return;
    }
    if (!this.haveStartLine) {
      if (e === s) return; // tolerate blank lines before a start line (RFC 9112 2.2)
      if (this.mode === 'request' ? this.requestLine(buf, s, e) : this.statusLine(buf, s, e)) this.haveStartLine = true;
      else this.giveUp('not-http');
      return;
    }
    if (e === s) {
      this.headersComplete();
      return;
    }
    const first = buf[s]!;
    if (first === SP || first === HT) return; // obsolete line folding: ignored
    this.field(buf, s, e);
  }

  private requestLine(buf: Uint8Array, s: number, end: number): boolean {
    // Trailing whitespace after the version, as some card libraries write it, is no other protocol.
    let e = end;
    while (e > s && (buf[e - 1] === SP || buf[e - 1] === HT)) e--;
    let i = s;
    while (i < e && isMethodChar(buf[i]!)) i++;
    const methodEnd = i;
    if (methodEnd === s || methodEnd - s > MAX_METHOD_CHARS || i >= e || buf[i] !== SP) return false;
    const pathStart = ++i;
    while (i < e) {
      const c = buf[i]!;
      if (c === SP) break;
      if (c < 0x21 || c === 0x7f) return false;
      i++;
    }
    const pathEnd = i;
    if (pathEnd === pathStart || i >= e) return false;
    i++;
    if (e - i !== 8 || !this.version(buf, i)) return false;
    this.method = latin1(buf, s, methodEnd);
    this.path = latin1(buf, pathStart, pathEnd);
    return true;
  }

  private statusLine(buf: Uint8Array, s: number, e: number): boolean {
    if (e - s < 12 || !this.version(buf, s) || buf[s + 8] !== SP) return false;
    let code = 0;
    for (let i = s + 9; i < s + 12; i++) {
      const c = buf[i]!;
      if (c < 48 || c > 57) return false;
      code = code * 10 + (c - 48);
    }
    if (code < 100 || code > 599) return false;
    if (e > s + 12 && buf[s + 12] !== SP) return false;
    for (let i = s + 13; i < e; i++) {
      const c = buf[i]!;
      if ((c < 0x20 && c !== HT) || c === 0x7f) return false;
    }
    this.statusCode = code;
    return true;
  }

  /** "HTTP/1.x" at `i` (8 bytes known to be present). */
  private version(buf: Uint8Array, i: number): boolean {
    for (let k = 0; k < HTTP_PREFIX.length; k++) if (buf[i + k] !== HTTP_PREFIX[k]) return false;
    const d = buf[i + 7]!;
    if (d < 48 || d > 57) return false;
    this.httpMinor = d - 48;
    return true;
  }

  private field(buf: Uint8Array, s: number, e: number): void {
    let colon = s;
    while (colon < e && TCHAR[buf[colon]!] === 1) colon++;
    const nameEnd = colon;
    // Whitespace before the colon is forbidden (RFC 9112 5.1) but harmless to a passive reader.
    while (colon < e && isOws(buf[colon]!)) colon++;
    if (nameEnd === s || colon >= e || buf[colon] !== 0x3a) {
      this.giveUp('not-http');
      return;
    }
    const idx = matchName(buf, s, nameEnd);
    if (idx < 0) return;
    let vs = colon + 1;
    let ve = e;
    while (vs < ve && isOws(buf[vs]!)) vs++;
    while (ve > vs && isOws(buf[ve - 1]!)) ve--;
    const name = HTTP_HEADER_NAMES[idx]!;
    const value = latin1(buf, vs, ve);
    const prev = this.headers[name];
    this.headers[name] = prev === undefined ? value : `${prev}, ${value}`;
  }

  // ---- message framing -----------------------------------------------------------------------

  private headersComplete(): void {
    const h = this.headers;
    const te = h['transfer-encoding'];
    const clText = h['content-length'];
    let framing: HttpBodyFraming;
    let contentLength: number | null = null;
    const code = this.statusCode;
    if (this.mode === 'response' && (code < 200 || code === 204 || code === 304)) framing = 'none';
    else if (te !== undefined) {
      if (finalCodingIsChunked(te)) framing = 'chunked';
      else if (this.mode === 'response') framing = 'eof';
      else {
        this.giveUp('bad-framing'); // a request body whose length cannot be determined (RFC 9112 6.3)
        return;
      }
    } else if (clText !== undefined) {
      const cl = parseContentLength(clText);
      if (cl < 0) {
        this.giveUp('bad-framing');
        return;
      }
      contentLength = cl;
      framing = cl === 0 ? 'none' : 'length';
    } else framing = this.mode === 'response' ? 'eof' : 'none';

    const head: HttpMessageHead = {
      kind: this.mode,
      index: this.messages++,
      method: this.method,
      path: this.path,
      statusCode: code,
      httpMinor: this.httpMinor,
      headers: h,
      framing,
      contentLength,
    };
    this.head = head;
    this.bodyLength = 0;
    this.dropCapture();
    this.capture = false;
    const onStart = this.handler.onMessageStart;
    const want = onStart === undefined ? true : onStart.call(this.handler, head) !== false;
    if (this.s !== S.Head) return; // the handler cannot change our state, but stay defensive
    this.capture = want && this.maxBodyCapture > 0;
    this.captureLimit = this.maxBodyCapture;
    switch (framing) {
      case 'none':
        this.finish(true);
        break;
      case 'length':
        this.remaining = contentLength!;
        this.s = S.BodyLength;
        break;
      case 'chunked':
        this.startChunkLine();
        break;
      case 'eof':
        this.s = S.BodyEof;
        break;
    }
  }

  private startChunkLine(): void {
    this.s = S.ChunkSize;
    this.chunkSize = 0;
    this.chunkDigits = 0;
    this.chunkSignificant = 0;
    this.chunkLine = 0;
  }

  /** Chunk-size line: hex size, then optional whitespace / `;` extensions up to LF. */
  private chunkLineBytes(chunk: Uint8Array, pos: number, end: number): number {
    if (this.s === S.ChunkSize) {
      while (pos < end) {
        const c = chunk[pos]!;
        const v = hexDigit(c);
        if (v < 0) {
          if (this.chunkDigits === 0 || !(c === SP || c === HT || c === 0x3b || c === CR || c === LF)) {
            this.giveUp('bad-chunk');
            return end;
          }
          this.s = S.ChunkExt;
          break;
        }
        // Leading zeros are allowed; only significant digits count towards the bound.
        if ((this.chunkSize > 0 || v > 0) && ++this.chunkSignificant > MAX_CHUNK_HEX_DIGITS) {
          this.giveUp('bad-chunk');
          return end;
        }
        this.chunkSize = this.chunkSize * 16 + v;
        this.chunkDigits++;
        this.chunkLine++;
        pos++;
        if (this.chunkLine > MAX_CHUNK_LINE) {
          this.giveUp('bad-chunk');
          return end;
        }
      }
      if (this.s === S.ChunkSize) return pos;
    }
    // S.ChunkExt: skip to LF.
    const lf = findLf(chunk, pos, end);
    const upto = lf < 0 ? end : lf + 1;
    this.chunkLine += upto - pos;
    if (this.chunkLine > MAX_CHUNK_LINE) {
      this.giveUp('bad-chunk');
      return end;
    }
    if (lf < 0) return end;
    if (this.chunkSize === 0) {
      this.s = S.Trailer;
      this.sectionBytes = 0;
      this.lineLen = 0;
    } else {
      this.remaining = this.chunkSize;
      this.s = S.ChunkData;
    }
    return upto;
  }

  private body(chunk: Uint8Array, pos: number, n: number): void {
    if (n <= 0) return;
    this.bodyLength += n;
    if (!this.capture) return;
    const room = this.captureLimit - this.capturedLen;
    if (room > 0) {
      const take = n < room ? n : room;
      const need = this.capturedLen + take;
      let buf = this.captured;
      if (buf === null || buf.length < need) {
        // By the bytes that came, never by a declared length alone (a peer declaring a large body
        // and sending a byte would hold the shared budget): 1 KiB, doubled as needed; a
        // Content-Length body that fits that gets exactly its size, in one allocation.
        let size = buf === null ? 1024 : buf.length * 2;
        while (size < need) size *= 2;
        const total = this.head?.framing === 'length' ? this.capturedLen + this.remaining : 0;
        if (total >= need && total < size) size = total;
        if (size > this.maxBodyCapture) size = this.maxBodyCapture;
        if (!reserveCapture(size - (buf === null ? 0 : buf.length))) {
          this.captureLimit = this.capturedLen;
          return this.bodyEvent(chunk, pos, n);
        }
        // Pooled memory for small sizes, seen as a plain Uint8Array (its views are cheaper than a
        // Buffer's); never read past capturedLen, so the pool's old contents never show.
        const pooled = Buffer.allocUnsafe(size);
        const grown = new Uint8Array(pooled.buffer, pooled.byteOffset, size);
        if (buf !== null) grown.set(buf.subarray(0, this.capturedLen));
        buf = grown;
        this.captured = buf;
      }
      buf.set(chunk.subarray(pos, pos + take), this.capturedLen);
      this.capturedLen = need;
    }
    this.bodyEvent(chunk, pos, n);
  }

  private bodyEvent(chunk: Uint8Array, pos: number, n: number): void {
    const onBody = this.handler.onBody;
    if (onBody !== undefined) onBody.call(this.handler, this.head!, chunk, pos, n);
  }

  /** Give the capture buffer back to the total budget (the receiver of a finished body keeps its bytes). */
  private dropCapture(): void {
    if (this.captured !== null) releaseCapture(this.captured.length);
    this.captured = null;
    this.capturedLen = 0;
  }

  /** End the current message (complete or cut short) and get ready for the next one. */
  private finish(complete: boolean): void {
    const head = this.head;
    const captured = this.captured;
    const body = this.capture ? (captured === null ? EMPTY : captured.subarray(0, this.capturedLen)) : null;
    const bodyLength = this.bodyLength;
    const truncated = this.capture && bodyLength > this.capturedLen;
    this.resetMessage();
    if (head === null) return;
    const onEnd = this.handler.onMessageEnd;
    if (onEnd !== undefined) onEnd.call(this.handler, { head, bodyLength, body, truncated, complete });
    if (complete && head.framing === 'eof') this.s = S.Closed;
    else if (complete && head.statusCode === 101) this.giveUp('upgrade');
  }

  private resetMessage(): void {
    if (this.s !== S.GaveUp && this.s !== S.Closed) this.s = S.Head;
    this.head = null;
    this.haveStartLine = false;
    this.sectionBytes = 0;
    this.lineLen = 0;
    this.method = '';
    this.path = '';
    this.statusCode = 0;
    this.httpMinor = 1;
    this.headers = emptyHeaders();
    this.remaining = 0;
    this.bodyLength = 0;
    this.capture = false;
    this.dropCapture();
  }

  /** Stop following the stream; a started message is ended as incomplete first. */
  private giveUp(reason: HttpGiveUpReason): void {
    if (this.s === S.GaveUp || this.s === S.Closed) return;
    this.reason = reason;
    const open = this.head !== null;
    if (open) {
      // Mark the state first so the end event cannot resume scanning.
      this.s = S.GaveUp;
      this.finish(false);
    }
    this.abort(reason);
    const onGiveUp = this.handler.onGiveUp;
    if (onGiveUp !== undefined) onGiveUp.call(this.handler, reason);
  }

  /** Stop without calling any handler; drops buffers. */
  private abort(reason: HttpGiveUpReason): void {
    if (this.reason === null) this.reason = reason;
    this.s = S.GaveUp;
    this.lineBuf = null;
    this.lineLen = 0;
    this.dropCapture();
    this.head = null;
  }
}

/** Buffer's native byte search (memchr), which also takes a plain Uint8Array; V8's own indexOf is several times slower. */
const indexOfByte = Buffer.prototype.indexOf as (this: Uint8Array, value: number, byteOffset: number) => number;

/**
 * Index of the first LF in `chunk[pos, end)`, or -1. The native search may look past `end`, up to
 * the next LF of the chunk (a head written as a string is scanned in a window of a scratch buffer).
 */
function findLf(chunk: Uint8Array, pos: number, end: number): number {
  const i = indexOfByte.call(chunk, LF, pos);
  return i < end ? i : -1;
}

function isMethodChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f;
}

/** Index into HTTP_HEADER_NAMES of the (case-insensitive) name `buf[s, e)`, or -1. */
function matchName(buf: Uint8Array, s: number, e: number): number {
  const len = e - s;
  for (let k = 0; k < NAME_BYTES.length; k++) {
    const name = NAME_BYTES[k]!;
    if (name.length !== len) continue;
    let i = 0;
    while (i < len) {
      let c = buf[s + i]!;
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      if (c !== name[i]) break;
      i++;
    }
    if (i === len) return k;
  }
  return -1;
}

function positiveInt(v: number | undefined, dflt: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 1 ? Math.floor(v) : dflt;
}

function nonNegativeInt(v: number | undefined, dflt: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : dflt;
}
