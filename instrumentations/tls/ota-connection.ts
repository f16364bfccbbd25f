/**
 * The event side of one secure connection followed for OTA sessions.
 *
 * Passive by construction: the instrumentation's prototype-level wrappers (see instrumentation.ts)
 * hand this connection, for a raw tls server, the bytes the application writes (`_writeGeneric`)
 * and reads (`push`), HTTP framing included; for https, HTTP messages: the request head from the
 * server's `request` event, its body from the request's `push`, and the response as the
 * application writes it (`ServerResponse` `write` / `end`: status and Content-Type read from the
 * response, the body before Node frames it, so no response is parsed from bytes). Nothing is added to the socket, the request or
 * the response; stream modes, reads and results are untouched. What it sees is recorded by an
 * OtaRecorder (ota-recorder.ts), inline or in batches:
 *
 * Inline by default. With a positive `recordingDelayMs` and no trace exporter, the data path
 * instead only journals what it saw, with the time (journal.ts: one batch for all connections, in
 * typed arrays and a shared slab), and the batch is decoded and recorded together: after
 * `recordingDelayMs`, before any metric is collected (so a scrape is never behind), on the SDK's
 * flush and shutdown, and at once when it is full or a chunk is too big to copy (bounded memory;
 * big chunks are scanned in place). Timestamps are those of the events, so durations are exact;
 * session-end log lines are written when the batch is recorded (that much later at most). Batches
 * are not the default because under load they save no server CPU (bench/tls-session's last row
 * compares the two).
 * With a trace exporter, everything is recorded inline (spans and logs at once).
 */
import https from 'node:https';
import type tls from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { reportOnce } from '../../src/diag.js';
import { tracingEnabled } from '../../src/tracing-state.js';
import { onBeforeCollect } from '../../src/metrics/before-collect.js';
import { flushOtaJournals, journal, type JournalTarget } from './journal.js';
import {
  OtaRecorder,
  httpsRequestInfo,
  J_CLOSE,
  J_HTTPS_BODY,
  J_HTTPS_HEAD,
  J_HTTPS_REQUEST,
  J_HTTPS_RESPONSE,
  J_READ,
  J_TIMEOUT,
  J_WRITE,
  RES_COMMAND,
  RES_END,
  RES_HEAD,
  type OtaContext,
} from './ota-recorder.js';
import { DEFAULT_MAX_BODY_CAPTURE, headerInHead, headerValue, parseContentLength } from './http-stream.js';
import { scp81ContentKind } from './scp81.js';
import type { RequestInfo } from './ota-session.js';
import { nowMs } from '../../src/clock.js';
import { DEFAULT_RECORDING_DELAY_MS } from './types.js';

export type { OtaContext } from './ota-recorder.js';
export { flushOtaJournals, pendingOtaBytes, pendingOtaJournals } from './journal.js';
onBeforeCollect(flushOtaJournals);

const HttpsServer = https.Server;

/**
 * The socket to ask for the card's address and port: the TCP socket under the TLS socket when
 * there is one: the same getpeername without going through the TLS handle's method proxy.
 */
function peerSocket(socket: tls.TLSSocket): { readonly remoteAddress?: string; readonly remotePort?: number } {
  return (socket as unknown as { _parent?: { remoteAddress?: string; remotePort?: number } | null })._parent ?? socket;
}

export function peerAddressOf(socket: tls.TLSSocket): string | undefined {
  return peerSocket(socket).remoteAddress ?? socket.remoteAddress;
}

export function peerPortOf(socket: tls.TLSSocket): number | undefined {
  return peerSocket(socket).remotePort ?? socket.remotePort;
}

function toBytes(chunk: unknown, encoding: unknown): Uint8Array | undefined {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  return undefined;
}

/**
 * Whether an https response's body is an SCP81 command script, by its Content-Type: from the
 * headers object given to writeHead when it names it in one of the two usual spellings (a
 * property read), else from the head Node stored then (headers given there are in no other place:
 * a search of that string, which Node builds by concatenation, so reading it also flattens it),
 * else from the headers set so far (the head is then made from them, after `write` / `end` began).
 */
function isCommandResponse(res: ServerResponse, given: unknown): boolean {
  let type: string | undefined;
  if (typeof given === 'object' && given !== null && !Array.isArray(given)) {
    const h = given as Record<string, unknown>;
    const v = h['Content-Type'] ?? h['content-type'];
    if (v !== undefined) return scp81ContentKind(headerValue(v)) === 'command';
  }
  const head = (res as unknown as { _header?: unknown })._header;
  if (typeof head === 'string' && head.length > 0) type = headerInHead(head, 'content-type', '\r\nContent-Type:');
  else type = headerValue(res.getHeader('content-type'));
  return scp81ContentKind(type) === 'command';
}

/** An https call held for its turn (OtaConnection.held). */
interface Held {
  readonly op: number;
  readonly target: IncomingMessage | ServerResponse;
  readonly chunk: unknown;
  readonly encoding: unknown;
  readonly end: boolean;
  /** A response's headers as given to writeHead, when held before its first write. */
  readonly given: unknown;
  readonly t: number;
}
const HELD_REQUEST = 0;
const HELD_PUSH = 1;
const HELD_RESPONSE = 2;
/** Pipelining deeper than this is recorded as it comes. */
const MAX_HELD = 256;
const MAX_HELD_BYTES = DEFAULT_MAX_BODY_CAPTURE;

export class OtaConnection implements JournalTarget {
  /**
   * An https connection (HTTP messages come from the request and response wrappers), else raw tls
   * (bytes). Also set when a tls server hands the socket to an http server (`becomeHttps`).
   */
  isHttps: boolean;
  /** The application wrote on the raw socket itself: it stays a raw tls connection. */
  private wroteRaw = false;
  private rec: OtaRecorder | undefined;
  /** https: the request whose body is followed (an SCP81 response script, by its content type). */
  private bodyOf: IncomingMessage | undefined;
  /** Bytes of that body not yet seen, by its Content-Length (-1: unknown, its end is the push of null). */
  private bodyLeft = -1;
  /**
   * Its head, not yet recorded: a body in one chunk is recorded with it, in one event, at the body's
   * time (the same parse of the same bytes when they come together).
   */
  private head: RequestInfo | undefined;
  /** https: the response being written, once its head was seen. */
  private responseOf: ServerResponse | undefined;
  /** Its body is followed (a 200 with the command script content type). */
  private responseBody = false;
  /** The headers object the application gave writeHead for `givenFor`, until that response's first write. */
  private given: unknown;
  private givenFor: ServerResponse | undefined;
  /** https: the request of the exchange being recorded, until its response ends. */
  private exchange: IncomingMessage | undefined;
  /** Its request was seen whole (its followed body ended, or it had none to follow). */
  private exchangeRead = true;
  /** The last request seen: a `checkContinue` listener may emit the same request again as `request`. */
  private lastRequest: IncomingMessage | undefined;
  /**
   * https calls held until their turn, so the tracker sees HTTP's order (a request whole, then its
   * response, then the next request) when a pipelined request arrives before the previous response
   * ended, or a response is written before its request's body arrived. Undefined when empty.
   */
  private held: Held[] | undefined;
  /** Bytes of the chunks held calls keep alive. */
  private heldBytes = 0;
  /** Held calls are being delivered whatever their order (the connection closed, or too many were held). */
  private draining = false;
  /** Events are recorded as they happen, not journaled. */
  private readonly inline: boolean;
  private readonly delayMs: number;
  /** Read while the socket is up: once it is closed (when most sessions end) Node no longer knows them. */
  private readonly peerAddress: string | undefined;
  private readonly peerPort: number | undefined;
  /** Dropped at the close (undefined: closed): a journal waiting for its batch must not keep the socket alive. */
  private socket: tls.TLSSocket | undefined;

  constructor(
    private readonly ctx: OtaContext,
    socket: tls.TLSSocket,
    private readonly identity: string | undefined,
    private readonly protocol: string | undefined,
    private readonly cipher: string | undefined,
  ) {
    this.socket = socket;
    this.peerAddress = peerAddressOf(socket);
    this.peerPort = peerPortOf(socket);
    this.isHttps = (socket as unknown as { server?: unknown }).server instanceof HttpsServer;
    const d = ctx.config().recordingDelayMs;
    this.delayMs = typeof d === 'number' && d >= 0 && Number.isFinite(d) ? Math.min(d, 2 ** 31 - 1) : DEFAULT_RECORDING_DELAY_MS;
    this.inline = tracingEnabled() || this.delayMs === 0;
  }

  /** What the application wrote (`_writeGeneric` arguments): a raw tls server's responses (called for raw tls only; https: see `responseData`). */
  written(writev: boolean, data: unknown, encoding: BufferEncoding): void {
    this.wroteRaw = true;
    if (this.rec?.writesIgnored === true) return;
    try {
      const t = nowMs();
      if (writev) {
        const items = data as ArrayLike<{ chunk: unknown; encoding: BufferEncoding }>;
        for (let i = 0; i < items.length; i++) {
          const item = items[i] as { chunk: unknown; encoding: BufferEncoding };
          this.event(J_WRITE, item.chunk, item.encoding, t);
        }
      } else this.event(J_WRITE, data, encoding, t);
    } catch (err) {
      reportOnce('tls response scan', err);
    }
  }

  /** What a raw tls socket pushed to its reader: the card's requests (called for raw tls only). */
  read(chunk: unknown, encoding: BufferEncoding | undefined): void {
    if (this.rec?.readsIgnored === true) return;
    try {
      this.event(J_READ, chunk, encoding, nowMs());
    } catch (err) {
      reportOnce('tls request scan', err);
    }
  }

  /**
   * https: a request (the header values the tracker needs are read now). Its body comes through
   * `requestPush`, followed when its content type is the SCP81 response script's (the recorder
   * keeps it only if the session's state asks for it).
   */
  onHttpsRequest(req: IncomingMessage): void {
    if (req === this.lastRequest || !this.isHttps) return;
    this.lastRequest = req;
    this.request(req, nowMs());
  }

  /** A request seen once (`onHttpsRequest`), now or when its held turn came. */
  private request(req: IncomingMessage, t: number): void {
    if (!this.draining && (this.exchange !== undefined || this.held !== undefined)) {
      this.hold(HELD_REQUEST, req, undefined, undefined, false, undefined, t);
      return;
    }
    if (this.head !== undefined) this.flushHead(t);
    this.bodyOf = undefined;
    this.exchange = req;
    this.exchangeRead = true;
    const head = httpsRequestInfo(req);
    if (head.responseScript) {
      const length = headerValue(req.headers['content-length']);
      this.bodyLeft = length === undefined ? -1 : parseContentLength(length);
      // An empty body (the card's first POST) is no script: nothing to follow.
      if (this.bodyLeft !== 0) {
        this.bodyOf = req;
        this.exchangeRead = false;
        this.head = head;
        return;
      }
    }
    this.event(J_HTTPS_HEAD, head, undefined, t);
  }

  /**
   * A tls server handed this socket to an http server (`httpServer.emit('connection', socket)`):
   * its HTTP messages are followed as an https server's from now on, one feed only. What the raw
   * scanner saw of them so far (a first request read before an asynchronous hand-over) is dropped:
   * the http server reads those bytes again and emits them as requests. Unless the application
   * wrote on the raw socket itself: then it stays raw.
   */
  becomeHttps(): void {
    if (this.isHttps || this.wroteRaw) return;
    this.isHttps = true;
    if (this.rec !== undefined) {
      this.rec.abandon();
      this.rec = undefined;
    }
  }

  /** The held request head, recorded on its own at `t` (its body did not come in one chunk, or something else happened first). */
  private flushHead(t: number): void {
    const head = this.head;
    if (head === undefined) return;
    this.head = undefined;
    this.event(J_HTTPS_HEAD, head, undefined, t);
  }

  /**
   * https: a request pushed body bytes (null: its end). A chunk that completes its Content-Length
   * is the last one; when it is the whole body it is recorded with the request's head, in one
   * event (the usual case: an R-APDU body arrives with its head).
   */
  requestPush(req: IncomingMessage, chunk: unknown, encoding: BufferEncoding | undefined, at?: number): void {
    if (req !== this.bodyOf) {
      // A held request's body, if it is one that will be followed (an SCP81 response script).
      if (this.held !== undefined && !this.draining && this.isHeld(req) && httpsRequestInfo(req).responseScript) {
        this.hold(HELD_PUSH, req, chunk, encoding, false, undefined, nowMs());
      }
      return;
    }
    try {
      const t = at ?? nowMs();
      if (chunk === null) {
        this.bodyOf = undefined;
        this.flushHead(t);
        this.event(J_HTTPS_BODY, null, false, t);
        this.requestRead();
        return;
      }
      const bytes = toBytes(chunk, encoding);
      if (bytes === undefined) return;
      let last = false;
      if (this.bodyLeft >= 0) {
        this.bodyLeft -= bytes.length;
        if (this.bodyLeft <= 0) {
          last = true;
          this.bodyOf = undefined;
        }
      }
      const head = this.head;
      if (head !== undefined && last) {
        this.head = undefined;
        this.event(J_HTTPS_REQUEST, bytes, head, t);
      } else {
        this.flushHead(t);
        this.event(J_HTTPS_BODY, bytes, last, t);
      }
      if (last) this.requestRead();
    } catch (err) {
      reportOnce('tls https body', err);
    }
  }

  /** The exchange's request body ended: a response held for it can go. */
  private requestRead(): void {
    this.exchangeRead = true;
    if (this.held !== undefined && !this.draining) this.release();
  }

  /**
   * https: the application wrote to a response (`write`, or `end` when `end`), before Node frames
   * it: the status and content type are read from the response on its first call, the body is its
   * data as given (no HTTP framing to undo). Only an SCP81 command script's body is followed.
   */
  responseData(res: ServerResponse, chunk: unknown, encoding: unknown, end: boolean): void {
    if (res.writableEnded || !this.isHttps) return;
    try {
      const t = nowMs();
      if (this.responseWaits(res)) {
        const given = this.givenFor === res ? this.given : undefined;
        if (given !== undefined) {
          this.given = undefined;
          this.givenFor = undefined;
        }
        this.hold(HELD_RESPONSE, res, chunk, encoding, end, given, t);
        return;
      }
      this.response(res, chunk, encoding, end, this.givenFor === res ? this.given : undefined, t);
    } catch (err) {
      reportOnce('tls https response', err);
    }
  }

  private response(res: ServerResponse, chunk: unknown, encoding: unknown, end: boolean, given: unknown, t: number): void {
    this.flushHead(t); // a response before its request's body (an early reject)
    let flags = 0;
    if (res !== this.responseOf) {
      this.responseOf = res;
      const status = res.statusCode;
      const command = status === 200 && isCommandResponse(res, given);
      this.given = undefined;
      this.givenFor = undefined;
      this.responseBody = command;
      flags = RES_HEAD | (status & 0xffff) | (command ? RES_COMMAND : 0);
    }
    const bytes = this.responseBody ? toBytes(chunk, encoding) : undefined;
    if (end) {
      flags |= RES_END;
      this.responseOf = undefined;
    }
    if (flags !== 0 || (bytes !== undefined && bytes.length > 0)) this.event(J_HTTPS_RESPONSE, bytes, flags, t);
    if (end && res.req === this.exchange) {
      this.exchange = undefined;
      if (this.held !== undefined && !this.draining) this.release();
    }
  }

  private hold(op: number, target: IncomingMessage | ServerResponse, chunk: unknown, encoding: unknown, end: boolean, given: unknown, t: number): void {
    const held = this.held;
    if (held === undefined) {
      this.held = [{ op, target, chunk, encoding, end, given, t }];
      this.heldBytes = 0;
    } else held.push({ op, target, chunk, encoding, end, given, t });
    if (chunk instanceof Uint8Array || typeof chunk === 'string') this.heldBytes += chunk.length;
    // Bounded in calls and in bytes kept alive: past either, delivered as they came, and so is the
    // rest of the exchange (holding again would keep its end back until the connection closes).
    if (this.held!.length > MAX_HELD || this.heldBytes > MAX_HELD_BYTES) {
      this.drain();
      this.exchangeRead = true;
    }
  }

  /** A response's turn has not come: its request was not seen whole, or is held itself. */
  private responseWaits(res: ServerResponse): boolean {
    if (this.draining) return false;
    const req = res.req;
    if (req === this.exchange) return !this.exchangeRead;
    return this.held !== undefined && (this.isHeld(req) || this.isHeld(res));
  }

  private isHeld(req: IncomingMessage | ServerResponse): boolean {
    for (const h of this.held!) if (h.target === req) return true;
    return false;
  }

  /** Deliver held calls in order; those whose turn has not come are held again (still in order). */
  private release(): void {
    const held = this.held!;
    this.held = undefined;
    for (let i = 0; i < held.length; i++) this.deliver(held[i]!);
  }

  /** Deliver every held call in the order it came, turn or not. */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.held !== undefined) {
        const held = this.held;
        this.held = undefined;
        for (let i = 0; i < held.length; i++) this.deliver(held[i]!);
      }
    } finally {
      this.draining = false;
    }
  }

  private deliver(h: Held): void {
    if (h.op === HELD_REQUEST) {
      this.request(h.target as IncomingMessage, h.t);
    } else if (h.op === HELD_PUSH) this.requestPush(h.target as IncomingMessage, h.chunk, h.encoding as BufferEncoding | undefined, h.t);
    else {
      const res = h.target as ServerResponse;
      if (this.responseWaits(res)) this.hold(h.op, res, h.chunk, h.encoding, h.end, h.given, h.t);
      else this.response(res, h.chunk, h.encoding, h.end, h.given, h.t);
    }
  }

  /** https: the application called writeHead on a response of this connection, with these headers (any form). */
  headersGiven(res: ServerResponse, headers: unknown): void {
    this.givenFor = res;
    this.given = headers;
  }

  /** The socket's 'timeout' event. */
  onTimeout(): void {
    const t = nowMs();
    this.flushHead(t);
    this.event(J_TIMEOUT, undefined, undefined, t);
  }

  onClose(): void {
    if (this.socket === undefined) return; // closed already
    if (this.held !== undefined) this.drain();
    const hadError = (this.socket as unknown as { _hadError?: boolean })._hadError === true;
    this.forget();
    const t = nowMs();
    this.flushHead(t);
    this.event(J_CLOSE, hadError, undefined, t);
  }

  /**
   * The instrumentation was disabled with this connection open: nothing more is recorded, and an
   * open session leaves the active gauge without being counted as ended (its end is not seen).
   */
  abandon(): void {
    this.forget();
    this.held = undefined;
    this.head = undefined;
    this.rec?.abandon();
  }

  /** Drops the socket and the messages followed on it (the socket closed, or nothing more is followed). */
  private forget(): void {
    this.socket = undefined;
    this.bodyOf = undefined;
    this.responseOf = undefined;
    this.given = undefined;
    this.givenFor = undefined;
    this.exchange = undefined;
    this.lastRequest = undefined;
  }

  /** Journal the event, or record it at once (tracing on). */
  private event(kind: number, a: unknown, b: unknown, t: number): void {
    if (this.inline) this.record(kind, a, b, t);
    else journal(this, kind, a, b, t, this.delayMs);
  }

  /** Records one event (JournalTarget: from the batch, or inline). */
  record(kind: number, a: unknown, b: unknown, t: number): void {
    try {
      this.rec ??= new OtaRecorder(this.ctx, this.isHttps, this.identity, this.protocol, this.cipher, this.peerAddress, this.peerPort);
      this.rec.record(kind, a, b, t);
    } catch (err) {
      reportOnce('tls session recording', err);
    }
  }
}
