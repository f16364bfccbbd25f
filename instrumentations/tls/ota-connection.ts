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
 * data path only journals what it saw, with the time (journal.ts: one batch for all connections,
 * in typed arrays and a shared slab), and the batch is decoded and recorded together: after
 * `recordingDelayMs` (default 100 ms), before any metric is collected (so a scrape is never
 * behind), on the SDK's flush and shutdown, and at once when it is full or a chunk is too big to
 * copy (bounded memory; big chunks are scanned in place). Timestamps are those of the events, so
 * durations are exact; session-end log lines are written when the batch is recorded (that much
 * later at most).
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
  J_READ,
  J_TIMEOUT,
  J_WRITE,
  type OtaContext,
} from './ota-recorder.js';
import { nowMs } from '../../src/clock.js';
import { DEFAULT_RECORDING_DELAY_MS } from './types.js';

export type { OtaContext } from './ota-recorder.js';
export { flushOtaJournals, pendingOtaBytes, pendingOtaJournals } from './journal.js';
onBeforeCollect(flushOtaJournals);

const HttpsServer = https.Server;

/**
 * The socket to ask for the card's address and port: the TCP socket under the TLS socket when
 * there is one. The same getpeername without the TLS handle's method proxy (in a loaded admin
 * server about 2 µs instead of 5 per connection, the first read of either).
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

export class OtaConnection implements JournalTarget {
  private readonly isHttps: boolean;
  private rec: OtaRecorder | undefined;
  /** https: the request whose body is followed (it may be an SCP81 response script). */
  private bodyOf: IncomingMessage | undefined;
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
