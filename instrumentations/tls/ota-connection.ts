/**
 * The event side of one secure connection followed for OTA sessions.
 *
 * Passive by construction: the instrumentation's prototype-level wrappers (see instrumentation.ts)
 * hand this connection the bytes the application writes (`_writeGeneric`: HTTP framing included,
 * for raw tls and https alike) and, for a raw tls server, the bytes it reads (`push`); for https,
 * whose parser consumes the socket natively, the request head comes from the server's `request`
 * event and the body from the request's `push`. Nothing is added to the socket or the request;
 * stream modes, reads and results are untouched. What it sees is recorded by an OtaRecorder
 * (ota-recorder.ts), inline or in batches:
 *
 * Batching. Decoding a session and recording its APDUs inline, between the application's own
 * socket work, runs our code cold every time (hrtime around the hooks in a real server: about
 * twice its cost in a warm loop). Without a trace exporter nothing needs to happen at once, so the
 * data path only appends what it saw, with the time, to the connection's journal, and the journals
 * of all connections are decoded and recorded together: after `recordingDelayMs` (default 100 ms),
 * before any metric is collected (so a scrape is never behind), on the SDK's flush and shutdown,
 * and at once for a connection whose journal passes JOURNAL_BYTES or that writes a chunk larger
 * than COPY_MAX (bounded memory; big chunks are scanned in place, not copied). Timestamps are those
 * of the events, so durations are exact; session-end log lines are written when the batch is
 * recorded (that much later at most).
 * With a trace exporter, everything is recorded inline (spans and logs at once).
 */
import https from 'node:https';
import type tls from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { reportOnce } from '../../src/diag.js';
import { tracingEnabled } from '../../src/tracing-state.js';
import { onBeforeCollect } from '../../src/metrics/before-collect.js';
import {
  OtaRecorder,
  httpsRequestInfo,
  J_CLOSE,
  J_HTTPS_BODY,
  J_HTTPS_HEAD,
  J_READ,
  J_TIMEOUT,
  J_WRITE,
  type OtaContext,
} from './ota-recorder.js';
import { nowMs } from '../../src/clock.js';
import { DEFAULT_RECORDING_DELAY_MS } from './types.js';

export type { OtaContext } from './ota-recorder.js';

const HttpsServer = https.Server;

const JOURNAL_BYTES = 64 * 1024;
const COPY_MAX = 16 * 1024;
const MAX_DIRTY = 1024;

const dirty: OtaConnection[] = [];
let flushTimer: NodeJS.Timeout | undefined;
let flushAt = 0;

/** Decode and record every journal now (also runs before each metric collection). */
export function flushOtaJournals(): void {
  if (flushTimer !== undefined) {
    clearTimeout(flushTimer);
    flushTimer = undefined;
  }
  const n = dirty.length;
  for (let i = 0; i < n; i++) (dirty[i] as OtaConnection).drain();
  dirty.splice(0, n);
}
onBeforeCollect(flushOtaJournals);

/** Connections with events not yet recorded (for tests and diagnostics). */
export function pendingOtaJournals(): number {
  return dirty.length;
}

/** Bytes held in journals not yet recorded (for tests and diagnostics). */
export function pendingOtaBytes(): number {
  let n = 0;
  for (const c of new Set(dirty)) n += c.journaledBytes;
  return n;
}

function markDirty(c: OtaConnection, delayMs: number, now: number): void {
  dirty.push(c);
  if (dirty.length >= MAX_DIRTY) flushOtaJournals();
  else if (flushTimer === undefined || now + delayMs < flushAt) {
    // One timer for all connections, due at the earliest time one of them asked for.
    if (flushTimer !== undefined) clearTimeout(flushTimer);
    flushAt = now + delayMs;
    flushTimer = setTimeout(flushOtaJournals, delayMs);
    flushTimer.unref();
  }
}

/** A private copy of a chunk the application may reuse after writing it (pooled memory, seen as a plain Uint8Array: cheaper views). */
function copyOf(chunk: Uint8Array): Uint8Array {
  const b = Buffer.allocUnsafe(chunk.length);
  const u = new Uint8Array(b.buffer, b.byteOffset, chunk.length);
  u.set(chunk);
  return u;
}

export class OtaConnection {
  private readonly isHttps: boolean;
  private rec: OtaRecorder | undefined;
  /** https: the request whose body is followed (it may be an SCP81 response script). */
  private bodyOf: IncomingMessage | undefined;
  /** Events not yet recorded (kind, a, b, time; flat), or null when recording inline. */
  private journal: unknown[] | null;
  private journalBytes = 0;
  private readonly delayMs: number;
  /** Read while the socket is up: once it is closed (when most sessions end) Node no longer knows it. */
  private readonly peerAddress: string | undefined;

  constructor(
    private readonly ctx: OtaContext,
    /** Dropped at the close (undefined: closed): a journal waiting for its batch must not keep the socket alive. */
    private socket: tls.TLSSocket | undefined,
    private readonly identity: string | undefined,
    private readonly protocol: string | undefined,
    private readonly cipher: string | undefined,
  ) {
    this.peerAddress = socket?.remoteAddress;
    this.isHttps = (socket as unknown as { server?: unknown } | undefined)?.server instanceof HttpsServer;
    const d = ctx.config().recordingDelayMs;
    this.delayMs = typeof d === 'number' && d >= 0 && Number.isFinite(d) ? Math.min(d, 2 ** 31 - 1) : DEFAULT_RECORDING_DELAY_MS;
    this.journal = tracingEnabled() || this.delayMs === 0 ? null : [];
  }

  /** What the application wrote (`_writeGeneric` arguments): the server's responses. */
  written(writev: boolean, data: unknown, encoding: BufferEncoding): void {
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

  /** What a raw tls socket pushed to its reader: the card's requests. */
  read(chunk: unknown, encoding: BufferEncoding | undefined): void {
    if (this.isHttps || this.rec?.readsIgnored === true) return;
    try {
      this.event(J_READ, chunk, encoding, nowMs());
    } catch (err) {
      reportOnce('tls request scan', err);
    }
  }

  /**
   * https: a request (the header values the tracker needs are read now); its body comes through `requestPush`. Every
   * request body is followed: the recorder keeps it only if the head makes it an SCP81 response script.
   */
  onHttpsRequest(req: IncomingMessage, _res: ServerResponse): void {
    this.bodyOf = req;
    this.event(J_HTTPS_HEAD, httpsRequestInfo(req), undefined, nowMs());
  }

  /** https: a request pushed body bytes (null: its end). Only the request asked for is followed. */
  requestPush(req: IncomingMessage, chunk: unknown, encoding: BufferEncoding | undefined): void {
    if (req !== this.bodyOf) return;
    try {
      if (chunk === null) this.bodyOf = undefined;
      this.event(J_HTTPS_BODY, chunk, encoding, nowMs());
    } catch (err) {
      reportOnce('tls https body', err);
    }
  }

  /** The socket's 'timeout' event. */
  onTimeout(): void {
    this.event(J_TIMEOUT, undefined, undefined, nowMs());
  }

  onClose(): void {
    if (this.socket === undefined) return; // closed already
    const hadError = (this.socket as unknown as { _hadError?: boolean })._hadError === true;
    this.socket = undefined;
    this.bodyOf = undefined;
    this.event(J_CLOSE, hadError, undefined, nowMs());
  }

  /** Journal the event, or record it at once (tracing on, or too big to copy). */
  private event(kind: number, a: unknown, b: unknown, t: number): void {
    if (this.journal === null) {
      this.record(kind, a, b, t);
      return;
    }
    if (a instanceof Uint8Array) {
      if (a.length > COPY_MAX || this.journalBytes + a.length > JOURNAL_BYTES) {
        this.drain();
        this.record(kind, a, b, t);
        return;
      }
      this.journalBytes += a.length;
      a = copyOf(a);
    } else if (typeof a === 'string') {
      if (this.journalBytes + a.length > JOURNAL_BYTES) this.drain();
      this.journalBytes += a.length;
    }
    // Read after a drain, which starts a new journal.
    const j = this.journal;
    if (j.length === 0) markDirty(this, this.delayMs, t);
    j.push(kind, a, b, t);
  }

  get journaledBytes(): number {
    return this.journalBytes;
  }

  /** Record every journaled event, in order. */
  drain(): void {
    const j = this.journal;
    if (j === null || j.length === 0) return;
    this.journal = [];
    this.journalBytes = 0;
    for (let i = 0; i < j.length; i += 4) this.record(j[i] as number, j[i + 1], j[i + 2], j[i + 3] as number);
  }

  private record(kind: number, a: unknown, b: unknown, t: number): void {
    try {
      this.rec ??= new OtaRecorder(this.ctx, this.socket, this.isHttps, this.identity, this.protocol, this.cipher, this.peerAddress);
      this.rec.record(kind, a, b, t);
    } catch (err) {
      reportOnce('tls session recording', err);
    }
  }
}
