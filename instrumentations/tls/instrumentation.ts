/**
 * `tls` instrumentation: PSK-TLS handshakes and connections of every `tls.Server` (and so every
 * `https.Server`), and the SCP81 exchange inside them (see ota-connection.ts).
 *
 * Patches, all on prototypes (shared by CommonJS and ESM users of node:tls, node:https and
 * node:http, so no module needs wrapping):
 * - `tls.Server.prototype.emit` sees `connection` (TCP accept), the `secureConnection` /
 *   `tlsClientError` outcome of each handshake and, for https, each `request` (or `checkContinue`);
 *   `http.Server.prototype.emit` the same requests when a tls server hands its sockets to an http
 *   server;
 * - `tls.TLSSocket.prototype._writeGeneric` and `push` hand the plaintext of the raw tls connections
 *   we follow to their OtaConnection; for https, `http.IncomingMessage.prototype.push` hands it the
 *   request bodies and `http.ServerResponse.prototype.write` / `end` the responses as the
 *   application gives them, and `writeHead` the headers object it is given (where a response's
 *   Content-Type is read without searching the head string). For every other socket or message
 *   they cost one property read: no per-connection wrapper, closure or own property.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import type { InstrumentationNodeModuleDefinition } from '@opentelemetry/instrumentation';
import { CardlinkInstrumentationBase } from '../shared/instrumentation-base.js';
import { labelCache } from '../../src/metrics/series.js';
import { reportOnce } from '../../src/diag.js';
import { tracingEnabled } from '../../src/tracing-state.js';
import { createLogger, type LogFields } from '../../src/logging/logger.js';
import { logInSpan, roundMs } from '../../src/logging/in-span.js';
import { PeerLineLimiter } from '../../src/logging/peer-limit.js';
import { peerText } from '../../src/logging/sanitize.js';
import { classifyHandshakeError, tlsProtocolVersion, type HandshakeFailureReason } from './handshake-failure.js';
import type { TlsInstrumentationConfig } from './types.js';
import { OtaConnection, flushOtaJournals, peerAddressOf, peerPortOf, type OtaContext } from './ota-connection.js';
import { markInstalled, restorePrototype, savePrototype, type PatchRecord } from '../shared/prototype-patch.js';
import { nowMs } from '../../src/clock.js';
import { peekChain } from '../../src/triggers.js';
import { pskIdentityOfSession } from './session-identity.js';

/**
 * A server with a pskCallback: the admin server. Handshakes on other tls / https servers of the
 * process (a certificate API, a web UI) are none of ours. Node keeps the callback under one
 * module-level symbol: looked up once.
 */
function isPskServer(server: unknown): boolean {
  if (server === null || typeof server !== 'object') return false;
  pskSymbol ??= Object.getOwnPropertySymbols(server).find((s) => s.description === kPskCallback);
  return pskSymbol !== undefined && typeof (server as Record<symbol, unknown>)[pskSymbol] === 'function';
}

function serverOf(socket: tls.TLSSocket): unknown {
  return (socket as unknown as { server?: unknown }).server;
}

/** The card's BIP channel (or trigger) a connection accepted at `atMs` answers: its handshake joins that trace. */
function chainContext(atMs: number): Context {
  const parent = peekChain(atMs);
  return parent === undefined ? context.active() : trace.setSpanContext(context.active(), parent);
}
import { ATTR_ERROR_TYPE, ATTR_NETWORK_PEER_ADDRESS, ATTR_NETWORK_PEER_PORT, ATTR_NETWORK_TRANSPORT, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import { TLS_ATTR } from './spans.js';
import { ATTR_TLS_CIPHER, ATTR_TLS_PROTOCOL_NAME, ATTR_TLS_PROTOCOL_VERSION } from './semconv.js';

const kAcceptMs = Symbol('cardlink.tls.acceptMs');
const kState = Symbol('cardlink.tls.state');
const kPskCallback = 'pskcallback';
const MAX_IDENTITY = 128;
let pskSymbol: symbol | undefined;
/** The first argument of the server event the outer of two wrappers of ours is handling (outerServerEmit). */
let serverEventHandled: unknown;

interface ConnState {
  identity: string | undefined;
  pskReturnedNull: boolean;
  counted: boolean;
  ota: OtaConnection | undefined;
}

type Emit = (this: tls.Server, event: string | symbol, ...args: unknown[]) => boolean;
type HttpEmit = (this: http.Server, event: string | symbol, ...args: unknown[]) => boolean;
type SocketEmit = (this: tls.TLSSocket, event: string | symbol, ...args: unknown[]) => boolean;
type WriteGeneric = (this: tls.TLSSocket, writev: boolean, data: unknown, encoding: BufferEncoding, cb: unknown) => unknown;
type Push = (this: unknown, chunk: unknown, encoding?: BufferEncoding) => boolean;
type ResponseWrite = (this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) => unknown;
type ResponseWriteHead = (this: ServerResponse, status: number, reason?: unknown, headers?: unknown) => unknown;
type WithState = { [kState]?: ConnState };
type PskCallback = (this: unknown, socket: tls.TLSSocket, identity: string) => unknown;

const log = createLogger('tls');
const handshakeLogLimit = new PeerLineLimiter(log);

/** The followed connection a response is written to, if any. */
function otaOfResponse(res: ServerResponse): OtaConnection | undefined {
  return (res.req?.socket as unknown as WithState | undefined)?.[kState]?.ota;
}

function stateOf(socket: tls.TLSSocket): ConnState {
  const s = socket as unknown as { [kState]?: ConnState };
  let st = s[kState];
  if (st === undefined) {
    st = { identity: undefined, pskReturnedNull: false, counted: false, ota: undefined };
    s[kState] = st;
  }
  return st;
}

/**
 * Untrusted bytes from a card, as spans and log lines show them: escaped as every peer-chosen
 * value is (`\x1b`, `\u202e`, `\\`, never a raw control) and bounded (`...[+N]`).
 */
function cleanIdentity(identity: unknown): string | undefined {
  return typeof identity === 'string' ? peerText(identity, MAX_IDENTITY) : undefined;
}

/** A resumed session's PSK identity (no pskCallback ran): read from the session, whose copy is then wiped. */
function resumedIdentity(socket: tls.TLSSocket): string | undefined {
  const der = socket.getSession();
  if (der === undefined) return undefined;
  try {
    return cleanIdentity(pskIdentityOfSession(der, MAX_IDENTITY * 4));
  } finally {
    der.fill(0); // it holds the session's master secret
  }
}

export class TlsInstrumentation extends CardlinkInstrumentationBase<TlsInstrumentationConfig> {
  private dataPatches: PatchRecord[] | undefined;
  private readonly pskWrappers = new WeakSet<PskCallback>();
  /** Connections counted in `cardlink_tls_connections_active`, until their close. */
  private readonly openConnections = new Set<ConnState>();
  /** Attributes of a successful handshake by cipher suite (at most 64 suites cached). */
  private readonly successAttrs = labelCache((cipher) => ({ result: 'success', cipher_suite: cipher, failure_reason: 'none' }), 64);
  private readonly failedAttrs = new Map<HandshakeFailureReason, Attributes>();
  private readonly ctx: OtaContext;

  constructor(config: TlsInstrumentationConfig = {}) {
    super('tls', config);
    this.ctx = {
      tracer: () => this.tracer,
      instruments: () => this.m,
      config: () => this._config,
    };
    this.enableIfConfigured(config);
  }

  // Not `_wrap`: every property patched here is inherited (EventEmitter's emit, Readable's push,
  // net.Socket's _writeGeneric) and must be put back exactly (deleted), which shimmer's unwrap does not do.
  protected override init(): InstrumentationNodeModuleDefinition[] {
    return [this.builtinModule('tls', tls, () => this.patch(), () => this.unpatch())];
  }

  /** Idempotent: the require hook may call it again for a later `require('tls')`. */
  private patch(): void {
    if (this.dataPatches !== undefined) return;
    const serverProto = tls.Server.prototype as unknown as { emit: Emit };
    const httpServerProto = http.Server.prototype as unknown as { emit: HttpEmit };
    const socketProto = tls.TLSSocket.prototype as unknown as { _writeGeneric: WriteGeneric; push: Push; emit: SocketEmit };
    const messageProto = http.IncomingMessage.prototype as unknown as { push: Push };
    const responseProto = http.ServerResponse.prototype as unknown as { write: ResponseWrite; end: ResponseWrite; writeHead: ResponseWriteHead };
    this.dataPatches = [
      savePrototype(serverProto as unknown as Record<PropertyKey, unknown>, ['emit']),
      savePrototype(httpServerProto as unknown as Record<PropertyKey, unknown>, ['emit']),
      savePrototype(socketProto as unknown as Record<PropertyKey, unknown>, ['_writeGeneric', 'push', 'emit']),
      savePrototype(messageProto as unknown as Record<PropertyKey, unknown>, ['push']),
      savePrototype(responseProto as unknown as Record<PropertyKey, unknown>, ['write', 'end', 'writeHead']),
    ];
    const self = this;
    const gen = this.generation;
    const serverEmit = (original: Emit): Emit =>
      function (this: tls.Server, event: string | symbol, a?: unknown, b?: unknown): boolean {
        if (self.generation === gen && a !== serverEventHandled) self.onServerEvent(this, event, a, b);
        // eslint-disable-next-line prefer-rest-params
        return original.apply(this, arguments as unknown as [string | symbol, ...unknown[]]);
      };
    // The outer of two wrappers of ours (https.Server's own emit, see below): the inner one, reached
    // through the other instrumentation's wrapper, leaves the event it handled.
    const outerServerEmit = (original: Emit): Emit =>
      function (this: tls.Server, event: string | symbol, a?: unknown, b?: unknown): boolean {
        if (self.generation === gen) self.onServerEvent(this, event, a, b);
        const outer = serverEventHandled;
        serverEventHandled = a;
        try {
          // eslint-disable-next-line prefer-rest-params
          return original.apply(this, arguments as unknown as [string | symbol, ...unknown[]]);
        } finally {
          serverEventHandled = outer;
        }
      };
    serverProto.emit = serverEmit(serverProto.emit);
    // The contrib http instrumentation wraps https.Server.prototype.emit as its own property, over the
    // emit it inherited then: loaded before us, it never reaches tls.Server.prototype's. Wrap it too.
    const httpsProto = https.Server.prototype as unknown as { emit: Emit };
    if (Object.prototype.hasOwnProperty.call(httpsProto, 'emit')) {
      const record = savePrototype(httpsProto as unknown as Record<PropertyKey, unknown>, ['emit']);
      this.dataPatches.push(record);
      httpsProto.emit = outerServerEmit(httpsProto.emit);
    }
    // A tls server may hand its sockets to an http server (`httpServer.emit('connection', socket)`).
    const httpOriginal = httpServerProto.emit;
    httpServerProto.emit = function (this: http.Server, event: string | symbol, a?: unknown): boolean {
      if (self.generation === gen) {
        if (event === 'request' || event === 'checkContinue' || event === 'checkExpectation') self.onHttpsRequest(a as IncomingMessage);
        else if (event === 'connection') (a as WithState | undefined)?.[kState]?.ota?.becomeHttps();
      }
      // eslint-disable-next-line prefer-rest-params
      return httpOriginal.apply(this, arguments as unknown as [string | symbol, ...unknown[]]);
    };
    this.patchDataPath(socketProto, messageProto, gen);
    this.patchResponses(responseProto, gen);
    for (const record of this.dataPatches) markInstalled(record);
  }

  private unpatch(): void {
    for (const p of this.dataPatches ?? []) restorePrototype(p);
    this.dataPatches = undefined;
    // Their close is no longer seen: what they hold in the gauges is given back now.
    try {
      flushOtaJournals();
      for (const st of this.openConnections) {
        st.counted = false;
        this.m.tlsConnectionsActive.add(-1);
        st.ota?.abandon();
        st.ota = undefined;
      }
    } catch (err) {
      reportOnce('tls disable', err);
    }
    this.openConnections.clear();
  }

  /** The plaintext of followed connections: see the file comment. */
  private patchDataPath(
    socketProto: { _writeGeneric: WriteGeneric; push: Push; emit: SocketEmit },
    messageProto: { push: Push },
    gen: number,
  ): void {
    const writeGeneric = socketProto._writeGeneric;
    const socketPush = socketProto.push;
    const messagePush = messageProto.push;
    const socketEmit = socketProto.emit;
    const self = this;
    if (typeof socketEmit === 'function') {
      // 'close' and 'timeout' of the sockets we follow, without a listener on the application's socket.
      socketProto.emit = function (this: tls.TLSSocket, event: string | symbol): boolean {
        if (event === 'close' || event === 'timeout') {
          const st = (this as unknown as WithState)[kState];
          if (st !== undefined && self.generation === gen) self.onSocketEvent(st, event);
        }
        // eslint-disable-next-line prefer-rest-params
        return socketEmit.apply(this, arguments as unknown as [string | symbol, ...unknown[]]);
      };
    }
    if (typeof writeGeneric === 'function') {
      socketProto._writeGeneric = function (this: tls.TLSSocket, writev, data, encoding, cb) {
        const ota = (this as unknown as WithState)[kState]?.ota;
        if (ota !== undefined && !ota.isHttps && self.generation === gen) ota.written(writev, data, encoding);
        return writeGeneric.call(this, writev, data, encoding, cb);
      };
    }
    if (typeof socketPush === 'function') {
      socketProto.push = function (this: unknown, chunk: unknown, encoding?: BufferEncoding) {
        const ota = (this as WithState)[kState]?.ota;
        if (ota !== undefined && !ota.isHttps && chunk !== null && self.generation === gen) ota.read(chunk, encoding);
        // eslint-disable-next-line prefer-rest-params
        return socketPush.apply(this, arguments as unknown as [unknown, BufferEncoding?]);
      };
    }
    if (typeof messagePush === 'function') {
      messageProto.push = function (this: unknown, chunk: unknown, encoding?: BufferEncoding) {
        const ota = ((this as IncomingMessage).socket as unknown as WithState | null | undefined)?.[kState]?.ota;
        if (ota !== undefined && self.generation === gen) ota.requestPush(this as IncomingMessage, chunk, encoding);
        // eslint-disable-next-line prefer-rest-params
        return messagePush.apply(this, arguments as unknown as [unknown, BufferEncoding?]);
      };
    }
  }

  /** https responses as the application writes them (before Node's HTTP framing). */
  private patchResponses(responseProto: { write: ResponseWrite; end: ResponseWrite; writeHead: ResponseWriteHead }, gen: number): void {
    const self = this;
    const write = responseProto.write;
    const end = responseProto.end;
    const writeHead = responseProto.writeHead;
    if (typeof writeHead === 'function') {
      // The headers object given here is the only place its Content-Type can be read without
      // searching the head string Node builds from it (see OtaConnection.headersGiven).
      responseProto.writeHead = function (this: ServerResponse, status: number, reason?: unknown, headers?: unknown) {
        const ota = otaOfResponse(this);
        if (ota !== undefined && self.generation === gen) ota.headersGiven(this, typeof reason === 'string' ? headers : reason);
        // eslint-disable-next-line prefer-rest-params
        return writeHead.apply(this, arguments as unknown as [number, unknown, unknown]);
      };
    }
    if (typeof write === 'function') {
      responseProto.write = function (this: ServerResponse, chunk?: unknown, encoding?: unknown) {
        const ota = otaOfResponse(this);
        if (ota !== undefined && self.generation === gen) ota.responseData(this, chunk, encoding, false);
        // eslint-disable-next-line prefer-rest-params
        return write.apply(this, arguments as unknown as [unknown, unknown, unknown]);
      };
    }
    if (typeof end === 'function') {
      responseProto.end = function (this: ServerResponse, chunk?: unknown, encoding?: unknown) {
        const ota = otaOfResponse(this);
        if (ota !== undefined && self.generation === gen) ota.responseData(this, typeof chunk === 'function' ? undefined : chunk, encoding, true);
        // eslint-disable-next-line prefer-rest-params
        return end.apply(this, arguments as unknown as [unknown, unknown, unknown]);
      };
    }
  }

  private onServerEvent(server: tls.Server, event: string | symbol, a: unknown, b: unknown): void {
    if (event === 'connection') this.onConnection(server, a as Socket);
    else if (event === 'secureConnection') this.onSecure(a as tls.TLSSocket);
    else if (event === 'tlsClientError') this.onClientError(a, b as tls.TLSSocket);
    else if (event === 'request' || event === 'checkContinue' || event === 'checkExpectation') this.onHttpsRequest(a as IncomingMessage);
  }

  private onConnection(server: tls.Server, raw: Socket): void {
    try {
      if (!isPskServer(server)) return;
      (raw as unknown as { [kAcceptMs]?: number })[kAcceptMs] = nowMs();
      // Asked now, while the socket is up: Node keeps the answer (address and port) for later reads,
      // and a card that hangs up mid-handshake is reported after its socket closed, when it could no
      // longer be asked. No extra call for a completed handshake: its session reads it anyway.
      void raw.remotePort;
      this.wrapPskCallback(server);
    } catch (err) {
      reportOnce('tls connection', err);
    }
  }

  /** The identity a card presents is only visible to the server's pskCallback: observe it there. */
  private wrapPskCallback(server: tls.Server): void {
    const sym = pskSymbol;
    if (sym === undefined) return;
    const holder = server as unknown as Record<symbol, PskCallback | undefined>;
    const current = holder[sym];
    if (typeof current !== 'function' || this.pskWrappers.has(current)) return;
    const wrapped: PskCallback = function (this: unknown, socket, identity) {
      const key = current.call(this, socket, identity);
      try {
        const st = stateOf(socket);
        st.identity = cleanIdentity(identity);
        st.pskReturnedNull = key === null || key === undefined;
      } catch {
        /* bookkeeping only */
      }
      return key;
    };
    this.pskWrappers.add(wrapped);
    holder[sym] = wrapped;
  }

  private acceptTime(socket: tls.TLSSocket): number | undefined {
    const parent = (socket as unknown as { _parent?: { [kAcceptMs]?: number } })._parent;
    return parent?.[kAcceptMs];
  }

  private onSecure(socket: tls.TLSSocket): void {
    try {
      if (!isPskServer(serverOf(socket))) return;
      const end = nowMs();
      const start = this.acceptTime(socket) ?? end;
      const st = stateOf(socket);
      if (st.identity === undefined && socket.isSessionReused()) st.identity = resumedIdentity(socket);
      const cipher = socket.getCipher()?.standardName ?? 'unknown';
      const tracing = tracingEnabled();
      // The protocol version only goes on spans.
      const protocol = tracing ? tlsProtocolVersion(socket.getProtocol()) : undefined;
      this.m.tlsHandshakes.add(1, this.successAttrs(cipher));
      this.m.tlsHandshakeDuration.record((end - start) / 1000, RESULT_SUCCESS);
      this.m.tlsConnectionsActive.add(1);
      st.counted = true;
      this.openConnections.add(st);

      if (tracing) {
        this.tracer
          .startSpan(
            'tls.handshake',
            { kind: SpanKind.SERVER, startTime: start, attributes: this.spanAttributes(socket, st, protocol, cipher) },
            chainContext(start),
          )
          .end(end);
      }
      // SCP81 runs over PSK: a certificate handshake on the same server (anyone can make one when
      // it has a certificate) opens no OTA session. A resumed one does: it goes on an earlier
      // handshake with this server (TLS 1.3 resumes with no PSK cipher name and no identity).
      if (st.identity !== undefined || cipher.includes('PSK') || socket.isSessionReused()) {
        st.ota = new OtaConnection(this.ctx, socket, st.identity, protocol, cipher);
      }
    } catch (err) {
      reportOnce('tls secureConnection', err);
    }
  }

  private onClientError(err: unknown, socket: tls.TLSSocket | undefined): void {
    try {
      if (!isPskServer(socket === undefined ? undefined : serverOf(socket))) return;
      const end = nowMs();
      const st = socket ? stateOf(socket) : undefined;
      const start = (socket && this.acceptTime(socket)) ?? end;
      const reason = classifyHandshakeError(err, st?.pskReturnedNull === true);
      let attrs = this.failedAttrs.get(reason);
      if (attrs === undefined) {
        attrs = { result: 'failed', cipher_suite: 'none', failure_reason: reason };
        this.failedAttrs.set(reason, attrs);
      }
      this.m.tlsHandshakes.add(1, attrs);
      this.m.tlsHandshakeDuration.record((end - start) / 1000, RESULT_FAILED);
      const rawCode = err instanceof Error ? (err as { code?: unknown }).code : undefined;
      const code = typeof rawCode === 'string' ? rawCode : undefined;
      let span: Span | undefined;
      if (tracingEnabled()) {
        span = this.tracer.startSpan('tls.handshake', {
          kind: SpanKind.SERVER,
          startTime: start,
          attributes: {
            ...(socket && st ? this.spanAttributes(socket, st, undefined, undefined) : {}),
            [ATTR_ERROR_TYPE]: reason,
          },
        });
        const message = err instanceof Error ? code ?? err.message.split('\n')[0] : 'handshake failed';
        span.setStatus({ code: SpanStatusCode.ERROR, message: `${reason}: ${message}` });
        span.end(end);
      }
      this.logHandshakeFailure(reason, code, socket, st, end - start, span);
    } catch (e) {
      reportOnce('tls tlsClientError', e);
    }
  }

  /**
   * One line per failed handshake: warn, except `client_abort` (a peer that hung up mid-handshake:
   * TCP probes of load balancers, a card that lost its bearer) at info, so `tls=warn` keeps the
   * failures that need an operator. The PSK identity is logged, never the key.
   */
  private logHandshakeFailure(
    reason: HandshakeFailureReason,
    code: string | undefined,
    socket: tls.TLSSocket | undefined,
    st: ConnState | undefined,
    durationMs: number,
    span: Span | undefined,
  ): void {
    const level = reason === 'client_abort' ? 'info' : 'warn';
    // Failing a handshake needs no key: anyone can cause these lines, so they are rate-limited.
    if (!log.isLevelEnabled(level) || !handshakeLogLimit.allow(reason, level)) return;
    const fields: LogFields = { failure_reason: reason };
    if (socket !== undefined) {
      fields['peer_address'] = peerAddressOf(socket);
      fields['peer_port'] = peerPortOf(socket);
    }
    if (st?.identity !== undefined) fields['psk_identity'] = st.identity; // escaped already
    // Known when the handshake got as far as choosing one (a wrong key fails at Finished).
    let cipher: string | undefined;
    try {
      cipher = socket?.getCipher()?.standardName;
    } catch {
      cipher = undefined;
    }
    if (cipher !== undefined) fields['cipher'] = cipher;
    if (code !== undefined) fields['error_code'] = code;
    fields['duration_ms'] = roundMs(durationMs);
    logInSpan(log[level], span, 'TLS handshake failed', fields);
  }

  private onSocketEvent(st: ConnState, event: 'close' | 'timeout'): void {
    try {
      if (event === 'timeout') {
        st.ota?.onTimeout();
        return;
      }
      if (!st.counted) return;
      st.counted = false;
      this.openConnections.delete(st);
      this.m.tlsConnectionsActive.add(-1);
      st.ota?.onClose();
    } catch (err) {
      reportOnce('tls close', err);
    }
  }

  private onHttpsRequest(req: IncomingMessage): void {
    try {
      const socket = req.socket as tls.TLSSocket | undefined;
      if (socket === undefined) return;
      const st = (socket as unknown as { [kState]?: ConnState })[kState];
      st?.ota?.onHttpsRequest(req);
    } catch (err) {
      reportOnce('tls https request', err);
    }
  }

  private spanAttributes(
    socket: tls.TLSSocket,
    st: ConnState,
    protocol: string | undefined,
    cipher: string | undefined,
  ): Attributes {
    const a: Attributes = {
      [ATTR_NETWORK_TRANSPORT]: 'tcp',
      [ATTR_NETWORK_PEER_ADDRESS]: peerAddressOf(socket),
      [ATTR_NETWORK_PEER_PORT]: peerPortOf(socket),
      [ATTR_SERVER_PORT]: socket.localPort,
      [ATTR_TLS_PROTOCOL_NAME]: 'tls',
    };
    if (protocol !== undefined) a[ATTR_TLS_PROTOCOL_VERSION] = protocol;
    if (cipher !== undefined) a[ATTR_TLS_CIPHER] = cipher;
    if (st.identity !== undefined) a[TLS_ATTR.pskIdentity] = st.identity;
    return a;
  }
}

const RESULT_SUCCESS: Attributes = { result: 'success' };
const RESULT_FAILED: Attributes = { result: 'failed' };
