/**
 * The recording side of one secure connection: the HTTP scanners, the OTA session tracker and the
 * OpenTelemetry recording of what they find (see ota-connection.ts for the event side, which feeds
 * it inline or in batches). Created on the first event it records, so a connection costs nothing
 * here until then.
 */
import type { IncomingMessage } from 'node:http';
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { labelCache } from '../../src/metrics/series.js';
import type { CardlinkInstruments } from '../../src/metrics/instruments.js';
import { reportOnce } from '../../src/diag.js';
import { takeChain } from '../../src/triggers.js';
import { tracingEnabled } from '../../src/tracing-state.js';
import { createLogger, type LogFields } from '../../src/logging/logger.js';
import { PeerLineLimiter } from '../../src/logging/peer-limit.js';
import { logInSpan, roundMs } from '../../src/logging/in-span.js';
import { endApduSpan, startApduSpan } from '../shared/apdu-recorder.js';
import { formatIndex, RECEIVED, releaseTally, SCRIPT_CODE, SENT, takeTally, type OtaTally } from './ota-tally.js';
import { DEFAULT_MAX_BODY_CAPTURE, HttpMessageScanner, headerValue, type HttpMessageHead, type HttpMessageEnd } from './http-stream.js';
import { releaseCapture, reserveCapture } from './capture-budget.js';
import {
  APDU_COMMAND_LENGTH,
  APDU_COMMAND_OFFSET,
  APDU_FIELDS,
  APDU_RESPONSE_LENGTH,
  APDU_RESPONSE_OFFSET,
  APDU_SW,
  APDU_TYPE,
  OtaSessionTracker,
  type RequestInfo,
  type ScriptApdus,
  type SessionSink,
  type SessionStatus,
} from './ota-session.js';
import { decodeCommandApdu, decodeResponseApdu, statusCategory, statusWordHex } from '../shared/apdu.js';
import type { DeviceType, SessionType, TlsInstrumentationConfig } from './types.js';
import { DEVICE_TYPES } from '../../src/metrics/catalogue.js';
import { scp81ContentKind, type BodyFormat } from './scp81.js';
import { ATTR_ERROR_TYPE, ATTR_NETWORK_PEER_ADDRESS, ATTR_NETWORK_PEER_PORT } from '@opentelemetry/semantic-conventions';
import { ATTR_TLS_CIPHER, ATTR_TLS_PROTOCOL_VERSION } from './semconv.js';
import { TLS_ATTR } from './spans.js';
import { APDU_ATTR } from '../shared/apdu-spans.js';

/**
 * The parent of an `ota.session`: the active context, unless that is another instrumentation's
 * SERVER span (the contrib http instrumentation's span of the session's first POST, which ends
 * long before the session): then the session starts its own trace, linked to that request.
 */
function sessionParent(links: Link[]): Context {
  const active = context.active();
  const span = trace.getSpan(active) as (Span & { kind?: SpanKind }) | undefined;
  if (span === undefined || span.kind !== SpanKind.SERVER) return active;
  links.push({ context: span.spanContext(), attributes: { [TLS_ATTR.linkType]: 'http_request' } });
  return ROOT_CONTEXT;
}

export interface OtaContext {
  tracer(): Tracer;
  instruments(): CardlinkInstruments;
  config(): TlsInstrumentationConfig;
}

/** Event kinds (what the event side saw), with their two arguments. */
export const J_WRITE = 0; // chunk, encoding: the application wrote
export const J_READ = 1; // chunk, encoding: a raw tls socket pushed to its reader
export const J_HTTPS_HEAD = 2; // RequestInfo: an https request's head (httpsRequestInfo())
export const J_HTTPS_BODY = 3; // bytes | null, last: its body (a chunk, true when it is the last one; null: the end)
export const J_TIMEOUT = 4;
export const J_CLOSE = 5; // hadError
export const J_HTTPS_RESPONSE = 6; // bytes | undefined, RES_* flags: what the application wrote of an https response
export const J_HTTPS_REQUEST = 7; // bytes, RequestInfo: a followed request whose body came in one chunk (head and body in one event)

/** J_HTTPS_RESPONSE flags: the first event of a response carries its head (status in the low bits). */
export const RES_HEAD = 1 << 16;
/** Its body is an SCP81 command script (the content type, on a head). */
export const RES_COMMAND = 1 << 17;
/** The response ended with this event. */
export const RES_END = 1 << 18;
const RES_STATUS = 0xffff;

const log = createLogger('tls');
/** Failed and timed-out sessions are lines a card can cause as fast as it can connect: rate-limited per status. */
const sessionLogLimit = new PeerLineLimiter(log);
const SESSION_TYPES: readonly SessionType[] = ['triggered', 'polled', 'resumed'];

/**
 * Attribute objects shared by every recording with the same label values, looked up without
 * building a key (label values are bounded: docs/architecture.md).
 */
const STATUS_ATTRS: Readonly<Record<SessionStatus, Attributes>> = {
  completed: { status: 'completed' },
  failed: { status: 'failed' },
  timeout: { status: 'timeout' },
};

const deviceAttributes = labelCache((deviceType) => ({ device_type: deviceType }));

/** Bit per known body format by BODY_FORMATS index (unknown has none), for the session's `cardlink.scp81.format`. */
const FORMAT_BIT: readonly number[] = [1, 2, 4, 0];
const UNKNOWN_FORMAT = 3;

/** What a session's bodies were: the one known format, `mixed`, `unknown` (bodies, none known), `none` (no body). */
function sessionFormat(bits: number, sawUnknown: boolean): string {
  switch (bits) {
    case 0:
      return sawUnknown ? 'unknown' : 'none';
    case 1:
      return 'expanded_definite';
    case 2:
      return 'expanded_indefinite';
    case 4:
      return 'length_prefixed';
    default:
      return 'mixed';
  }
}

/** `cardlink_sessions_total` attributes by status, then session type, then device type. */
const SESSION_ATTRS = {} as Record<SessionStatus, Record<SessionType, (deviceType: string) => Attributes>>;
for (const status of Object.keys(STATUS_ATTRS) as SessionStatus[]) {
  SESSION_ATTRS[status] = {} as Record<SessionType, (deviceType: string) => Attributes>;
  for (const type of SESSION_TYPES) SESSION_ATTRS[status][type] = labelCache((d) => ({ status, session_type: type, device_type: d }));
}

/**
 * Scratch space for string chunks (Node's http writes each response head as a latin1 string):
 * scanned in place instead of allocating a Buffer per write. Safe to share: the scanner is
 * synchronous and copies whatever it keeps.
 */
const SCRATCH = Buffer.allocUnsafeSlow(16 * 1024);
/** A UTF-16 string of at most this many units fits SCRATCH in any encoding (utf8: 3 bytes per unit). */
const SCRATCH_CHARS = SCRATCH.length / 4;

function scan(scanner: HttpMessageScanner, chunk: unknown, encoding: BufferEncoding | undefined): void {
  if (chunk instanceof Uint8Array) scanner.push(chunk);
  else if (typeof chunk === 'string') {
    if (chunk.length <= SCRATCH_CHARS) scanner.push(SCRATCH, 0, SCRATCH.write(chunk, 0, encoding ?? 'utf8'));
    else scanner.push(Buffer.from(chunk, encoding ?? 'utf8'));
  }
}

export class OtaRecorder implements SessionSink {
  private readonly tracker = new OtaSessionTracker(this);
  /** Raw tls only: the HTTP streams scanned from the socket's bytes (https is followed by messages). */
  private readonly responses: HttpMessageScanner | undefined;
  private readonly requests: HttpMessageScanner | undefined;
  private session: Span | undefined;
  private sessionStartMs = 0;
  private deviceType: DeviceType = 'unknown';
  private sessionType: SessionType = 'polled';
  private apduCount = 0;
  private errorCount = 0;
  private notExecuted = 0;
  private formatBits = 0;
  private sawUnknownFormat = false;
  /** The open session's APDU metrics, handed to the instruments together (ota-tally.ts). */
  private tally: OtaTally | undefined;
  /** https: the request and response bodies, collected when the tracker asked for them. */
  private readonly requestBody = new BodyCollector();
  private readonly responseBody = new BodyCollector();
  /** The time of the event being recorded. */
  private now = 0;
  /** Raw tls: messages handed to the tracker so far, and those held for their turn (rawMessage). */
  private requestsStarted = 0;
  private requestsEnded = 0;
  private responsesEnded = 0;
  private captureRequest = false;
  private captureResponse = false;
  private heldRequests: RawHeld[] | undefined;
  private heldResponses: RawHeld[] | undefined;
  private heldCount = 0;
  private heldBytes = 0;

  constructor(
    private readonly ctx: OtaContext,
    isHttps: boolean,
    private readonly identity: string | undefined,
    private readonly protocol: string | undefined,
    private readonly cipher: string | undefined,
    private readonly peerAddress: string | undefined,
    private readonly peerPort: number | undefined,
  ) {
    if (isHttps) return;
    this.responses = new HttpMessageScanner('response', {
      onMessageStart: (head) => this.rawMessage(RAW_RESPONSE_HEAD, head, this.now),
      onMessageEnd: (end) => this.rawMessage(RAW_RESPONSE_END, end, this.now),
    });
    this.requests = new HttpMessageScanner('request', {
      onMessageStart: (head) => this.rawMessage(RAW_REQUEST_HEAD, head, this.now),
      onMessageEnd: (end) => this.rawMessage(RAW_REQUEST_END, end, this.now),
    });
  }

  /**
   * Raw tls: a message scanned from either direction, handed to the tracker in HTTP's order (a
   * request whole, then its response, then the next request): a pipelined request that came
   * before the previous response ended, or a response written before its request's body came, is
   * held until its turn (each direction keeps its own order). Returns whether the message's body
   * should be captured.
   */
  private rawMessage(kind: number, m: HttpMessageHead | HttpMessageEnd, t: number): boolean {
    const response = kind >= RAW_RESPONSE_HEAD;
    const queue = response ? this.heldResponses : this.heldRequests;
    if (queue === undefined && this.rawTurn(kind)) return this.rawDeliver(kind, m, t);
    // A held body stays in the total capture budget (the scanner gave its share back at the message's end).
    const n = kind === RAW_REQUEST_END || kind === RAW_RESPONSE_END ? ((m as HttpMessageEnd).body?.length ?? 0) : 0;
    const reserved = n > 0 && reserveCapture(n) ? n : 0;
    const h: RawHeld = { kind, m, t, reserved };
    if (queue !== undefined) queue.push(h);
    else if (response) this.heldResponses = [h];
    else this.heldRequests = [h];
    this.heldBytes += n;
    // Bounded in messages and in body bytes kept alive (per connection and in total): past either,
    // delivered as they came.
    if (++this.heldCount > MAX_RAW_HELD || this.heldBytes > DEFAULT_MAX_BODY_CAPTURE || reserved < n) this.rawRelease(true);
    // Its turn is not known yet: a body the tracker may want is captured, and dropped if not.
    if (kind === RAW_REQUEST_HEAD) return scp81ContentKind((m as HttpMessageHead).headers['content-type']) === 'response';
    if (kind === RAW_RESPONSE_HEAD) return (m as HttpMessageHead).statusCode === 200;
    return false;
  }

  private rawTurn(kind: number): boolean {
    if (kind === RAW_REQUEST_HEAD) return this.responsesEnded >= this.requestsStarted;
    if (kind === RAW_RESPONSE_HEAD) return this.requestsEnded > this.responsesEnded;
    return true; // a message's end follows its head
  }

  private rawDeliver(kind: number, m: HttpMessageHead | HttpMessageEnd, t: number): boolean {
    this.now = t;
    switch (kind) {
      case RAW_REQUEST_HEAD:
        this.requestsStarted++;
        this.captureRequest = this.tracker.request(requestInfo(m as HttpMessageHead), t);
        return this.captureRequest;
      case RAW_REQUEST_END:
        this.requestsEnded++;
        if (this.captureRequest) this.onRequestEnd(m as HttpMessageEnd);
        this.captureRequest = false;
        return false;
      case RAW_RESPONSE_HEAD: {
        const head = m as HttpMessageHead;
        this.captureResponse = this.tracker.response({ statusCode: head.statusCode, contentType: head.headers['content-type'] }, t);
        return this.captureResponse;
      }
      default: {
        const end = m as HttpMessageEnd;
        if (end.head.statusCode >= 200) this.responsesEnded++; // 1xx: the final response is still to come
        if (this.captureResponse) this.onResponseEnd(end);
        this.captureResponse = false;
        return false;
      }
    }
  }

  /** Deliver held messages whose turn came (all of them, oldest first, when `force`). */
  private rawRelease(force: boolean): void {
    for (;;) {
      const rq = this.heldRequests;
      const rs = this.heldResponses;
      let q: RawHeld[] | undefined;
      if (force) q = rq === undefined ? rs : rs === undefined || rq[0]!.t <= rs[0]!.t ? rq : rs;
      else if (rq !== undefined && this.rawTurn(rq[0]!.kind)) q = rq;
      else if (rs !== undefined && this.rawTurn(rs[0]!.kind)) q = rs;
      if (q === undefined) return;
      const h = q.shift()!;
      this.heldCount--;
      if (q.length === 0) {
        if (q === rq) this.heldRequests = undefined;
        else this.heldResponses = undefined;
      }
      if (h.kind === RAW_REQUEST_END || h.kind === RAW_RESPONSE_END) this.heldBytes -= (h.m as HttpMessageEnd).body?.length ?? 0;
      if (h.reserved > 0) releaseCapture(h.reserved);
      this.rawDeliver(h.kind, h.m, h.t);
    }
  }

  /** No response stream to scan (https), or it is not HTTP: nothing written needs to be seen again. */
  get writesIgnored(): boolean {
    return this.responses === undefined || this.responses.gaveUp;
  }

  /** No request stream to follow (https), or it is not HTTP. */
  get readsIgnored(): boolean {
    return this.requests === undefined || this.requests.gaveUp;
  }

  record(kind: number, a: unknown, b: unknown, t: number): void {
    this.now = t;
    switch (kind) {
      case J_WRITE:
        if (this.responses !== undefined && !this.responses.gaveUp) scan(this.responses, a, b as BufferEncoding | undefined);
        if (this.heldCount !== 0) this.rawRelease(false);
        break;
      case J_READ:
        if (this.requests !== undefined && !this.requests.gaveUp) scan(this.requests, a, b as BufferEncoding | undefined);
        if (this.heldCount !== 0) this.rawRelease(false);
        break;
      case J_HTTPS_HEAD:
        this.requestBody.reset(this.tracker.request(a as RequestInfo, t));
        break;
      case J_HTTPS_REQUEST: {
        // The whole body in one chunk: nothing to collect.
        this.requestBody.reset(false);
        if (this.tracker.request(b as RequestInfo, t)) this.wholeBody('received', a as Uint8Array, t);
        break;
      }
      case J_HTTPS_BODY: {
        const body = this.requestBody;
        if (!body.active) break;
        if (a !== null) body.add(a as Uint8Array);
        if (a === null || b === true) {
          const bytes = body.take();
          // Past the bound, as the raw-socket scanner's truncated body: undecodable, not guessed at.
          if (bytes === null) this.tooBig('received');
          else this.tracker.requestBody(bytes, t);
        }
        break;
      }
      case J_HTTPS_RESPONSE:
        this.httpsResponse(a as Uint8Array | undefined, b as number, t);
        break;
      case J_TIMEOUT:
        this.tracker.timeout();
        break;
      case J_CLOSE:
        if (this.heldCount !== 0) this.rawRelease(true);
        this.requestBody.reset(false);
        this.responseBody.reset(false);
        this.responses?.release();
        this.requests?.release();
        this.tracker.close(t, a === true);
        break;
    }
  }

  private httpsResponse(bytes: Uint8Array | undefined, flags: number, t: number): void {
    const body = this.responseBody;
    if ((flags & RES_HEAD) !== 0) {
      const capture = this.tracker.responseHead(flags & RES_STATUS, (flags & RES_COMMAND) !== 0, t);
      if ((flags & RES_END) !== 0) {
        // The whole response in one call (`end(body)`): nothing to collect.
        body.reset(false);
        if (capture) this.wholeBody('sent', bytes ?? EMPTY_BODY, t);
        return;
      }
      body.reset(capture);
    }
    if (!body.active) return;
    if (bytes !== undefined) body.add(bytes);
    if ((flags & RES_END) === 0) return;
    const script = body.take();
    if (script === null) this.tooBig('sent');
    else this.tracker.responseBody(script, t);
  }

  /** A body that came whole: decoded, or counted undecodable past the capture bound (as a collected one). */
  private wholeBody(direction: 'sent' | 'received', bytes: Uint8Array, t: number): void {
    if (bytes.length > DEFAULT_MAX_BODY_CAPTURE) this.tooBig(direction);
    else if (direction === 'sent') this.tracker.responseBody(bytes, t);
    else this.tracker.requestBody(bytes, t);
  }

  /**
   * A body past the capture bound (or cut short): undecodable, not guessed at. Counted as a body of
   * unknown format, as one we could not read, so it is seen; only while a session is open, as any body.
   */
  private tooBig(direction: 'sent' | 'received'): void {
    if (!this.tracker.isOpen) return;
    if (direction === 'received') this.tracker.responseLost();
    this.bodyDecoded(direction, 'unknown');
    this.unknown(direction === 'sent' ? 'command_script' : 'response_script');
  }

  private onResponseEnd(end: HttpMessageEnd): void {
    if (end.body !== null && end.complete && !end.truncated) this.tracker.responseBody(end.body, this.now);
    else if (end.body !== null) this.tooBig('sent');
  }

  private onRequestEnd(end: HttpMessageEnd): void {
    if (end.body !== null && end.complete && !end.truncated) this.tracker.requestBody(end.body, this.now);
    else if (end.body !== null) this.tooBig('received');
  }

  /** See OtaConnection.abandon: the session's counts so far are kept, the session is not ended. */
  abandon(): void {
    for (const q of [this.heldRequests, this.heldResponses]) for (const h of q ?? []) if (h.reserved > 0) releaseCapture(h.reserved);
    this.heldRequests = undefined;
    this.heldResponses = undefined;
    this.heldCount = 0;
    this.heldBytes = 0;
    this.requestBody.reset(false);
    this.responseBody.reset(false);
    this.responses?.release();
    this.requests?.release();
    if (!this.tracker.abandon()) return;
    if (this.tally !== undefined) {
      releaseTally(this.tally);
      this.tally = undefined;
    }
    this.ctx.instruments().sessionsActive.add(-1, deviceAttributes(this.deviceType));
    this.session = undefined;
  }

  // --- SessionSink: OpenTelemetry recording ---------------------------------------------------

  sessionStart(atMs: number, resumed: boolean): void {
    const cfg = this.ctx.config();
    // The card's BIP channel and trigger, when it opened one: device type, parent span, span link.
    const chain = resumed ? undefined : takeChain(atMs, cfg.triggerWindowMs);
    const trigger = chain?.trigger;
    let deviceType: DeviceType = chain?.deviceType ?? cfg.defaultDeviceType ?? 'unknown';
    let sessionType: SessionType = resumed ? 'resumed' : trigger !== undefined ? 'triggered' : 'polled';
    if (cfg.sessionHook !== undefined) {
      try {
        const o = cfg.sessionHook({ identity: this.identity, peerAddress: this.peerAddress, deviceType, sessionType });
        if (o?.deviceType !== undefined && DEVICE_TYPES.includes(o.deviceType)) deviceType = o.deviceType;
        if (o?.sessionType !== undefined && SESSION_TYPES.includes(o.sessionType)) sessionType = o.sessionType;
      } catch (err) {
        reportOnce('tls sessionHook (user code)', err);
      }
    }
    this.deviceType = deviceType;
    this.sessionType = sessionType;
    this.sessionStartMs = atMs;
    this.apduCount = 0;
    this.errorCount = 0;
    this.notExecuted = 0;
    this.formatBits = 0;
    this.sawUnknownFormat = false;
    this.tally = takeTally(this.ctx, deviceType);
    this.ctx.instruments().sessionsActive.add(1, deviceAttributes(deviceType));
    if (!tracingEnabled()) return;
    const links: Link[] = trigger?.spanContext ? [{ context: trigger.spanContext, attributes: { [TLS_ATTR.linkType]: 'trigger' } }] : [];
    const attributes: Attributes = {
      [TLS_ATTR.sessionType]: sessionType,
      [APDU_ATTR.deviceType]: deviceType,
      [ATTR_NETWORK_PEER_ADDRESS]: this.peerAddress,
      [ATTR_NETWORK_PEER_PORT]: this.peerPort,
    };
    if (this.identity !== undefined) attributes[TLS_ATTR.pskIdentity] = this.identity;
    if (this.protocol !== undefined) attributes[ATTR_TLS_PROTOCOL_VERSION] = this.protocol;
    if (this.cipher !== undefined) attributes[ATTR_TLS_CIPHER] = this.cipher;
    this.session = this.ctx.tracer().startSpan(
      'ota.session',
      { kind: SpanKind.SERVER, startTime: atMs, attributes, links },
      chain?.parent === undefined ? sessionParent(links) : trace.setSpanContext(sessionParent(links), chain.parent),
    );
  }

  // The tracker calls these only while a session is open, so its tally exists.
  bodyDecoded(direction: 'sent' | 'received', format: BodyFormat): void {
    const f = formatIndex(format);
    (this.tally as OtaTally).body(direction === 'sent' ? SENT : RECEIVED, f);
    if (f === UNKNOWN_FORMAT) this.sawUnknownFormat = true;
    else this.formatBits |= FORMAT_BIT[f]!;
  }

  scriptSent(_atMs: number, script: ScriptApdus): void {
    const tally = this.tally as OtaTally;
    const a = script.apdus;
    const end = script.count * APDU_FIELDS;
    let bytes = 0;
    for (let j = 0; j < end; j += APDU_FIELDS) {
      tally.command(a[j + APDU_TYPE]!);
      bytes += a[j + APDU_COMMAND_LENGTH]!;
    }
    tally.bytes(SENT, bytes);
  }

  scriptAnswered(sentAtMs: number, atMs: number, script: ScriptApdus): void {
    const tally = this.tally as OtaTally;
    const a = script.apdus;
    const n = script.count;
    const end = n * APDU_FIELDS;
    let bytes = 0;
    for (let j = 0; j < end; j += APDU_FIELDS) {
      const sw = a[j + APDU_SW]!;
      if (sw < 0) this.notExecuted++;
      else {
        if (tally.response(sw) === 'error') this.errorCount++;
        bytes += a[j + APDU_RESPONSE_LENGTH]!;
      }
    }
    this.apduCount += n;
    tally.bytes(RECEIVED, bytes);
    // One C-APDU per script: its own timing; several: one SCRIPT timing (no invented per-APDU split).
    const seconds = (atMs - sentAtMs) / 1000;
    if (n === 1) tally.duration(a[APDU_TYPE]!, seconds);
    else if (n > 1) tally.duration(SCRIPT_CODE, seconds);
    if (this.session !== undefined) this.apduSpans(this.session, sentAtMs, atMs, script);
  }

  scriptUnanswered(sentAtMs: number, atMs: number, script: ScriptApdus): void {
    // Counted as sent already; no response, no duration: spans marked not executed, as the session says.
    this.apduCount += script.count;
    this.notExecuted += script.count;
    if (this.session !== undefined) this.apduSpans(this.session, sentAtMs, atMs, script);
  }

  /** One `apdu.<COMMAND_TYPE>` span per C-APDU of the script, decoded only for them. */
  private apduSpans(session: Span, sentAtMs: number, atMs: number, script: ScriptApdus): void {
    const tracer = this.ctx.tracer();
    const parent = trace.setSpan(context.active(), session);
    const capture = this.ctx.config().captureApduData === true;
    const cmd = script.commandBody;
    const rsp = script.responseBody;
    const a = script.apdus;
    for (let i = 0; i < script.count; i++) {
      const j = i * APDU_FIELDS;
      const co = a[j + APDU_COMMAND_OFFSET]!;
      const cl = a[j + APDU_COMMAND_LENGTH]!;
      const apdu = decodeCommandApdu(cmd, co, cl);
      if (apdu === null) continue; // never: counted C-APDUs have 4 bytes or more
      const bytes = cmd.subarray(co, co + cl);
      const span = startApduSpan(tracer, apdu, bytes, this.deviceType, sentAtMs, parent, capture);
      const sw = a[j + APDU_SW]!;
      const ro = a[j + APDU_RESPONSE_OFFSET]!;
      const rl = a[j + APDU_RESPONSE_LENGTH]!;
      const response = sw < 0 ? null : decodeResponseApdu(rsp, ro, rl);
      if (response === null) endApduSpan(span, apdu.commandType, null, null, undefined, undefined, capture, atMs);
      else {
        const responseBytes = rsp.subarray(ro, ro + rl);
        endApduSpan(span, apdu.commandType, response, responseBytes, statusWordHex(sw), statusCategory(sw), capture, atMs);
      }
    }
    if (script.executed !== null) session.setAttribute(TLS_ATTR.scp81LastExecuted, script.executed);
  }

  scriptStatus(value: string): void {
    this.session?.setAttribute(TLS_ATTR.scp81ScriptStatus, value);
    this.session?.addEvent('scp81.script_status', { [TLS_ATTR.scp81ScriptStatus]: value });
  }

  sessionEnd(atMs: number, status: SessionStatus, reason: string): void {
    if (this.tally !== undefined) {
      releaseTally(this.tally);
      this.tally = undefined;
    }
    const m = this.ctx.instruments();
    const deviceType = this.deviceType;
    const sessionType = this.sessionType;
    m.sessionsActive.add(-1, deviceAttributes(deviceType));
    m.sessions.add(1, SESSION_ATTRS[status][sessionType](deviceType));
    m.sessionDuration.record((atMs - this.sessionStartMs) / 1000, STATUS_ATTRS[status]);
    const span = this.session;
    this.session = undefined;
    this.logSessionEnd(atMs, status, reason, span);
    if (span === undefined) return;
    span.setAttribute(TLS_ATTR.sessionStatus, status);
    span.setAttribute(TLS_ATTR.sessionEndReason, reason);
    span.setAttribute(TLS_ATTR.apduCount, this.apduCount);
    span.setAttribute(TLS_ATTR.scp81Format, sessionFormat(this.formatBits, this.sawUnknownFormat));
    span.setAttribute(TLS_ATTR.apduErrorCount, this.errorCount);
    if (this.notExecuted > 0) span.setAttribute(TLS_ATTR.apduNotExecuted, this.notExecuted);
    if (status !== 'completed') {
      span.setAttribute(ATTR_ERROR_TYPE, reason);
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${status}: ${reason}` });
    }
    span.end(atMs);
  }

  /**
   * One line per OTA session: info when it completed, warn when it failed or timed out. Counts
   * only: never APDU data, never the key.
   */
  private logSessionEnd(atMs: number, status: SessionStatus, reason: string, span: Span | undefined): void {
    const level = status === 'completed' ? 'info' : 'warn';
    if (!log.isLevelEnabled(level)) return;
    if (level === 'warn' && !sessionLogLimit.allow(`session_${status}`, level)) return;
    const fields: LogFields = {
      status,
      end_reason: reason,
      session_type: this.sessionType,
      device_type: this.deviceType,
      apdu_count: this.apduCount,
      error_count: this.errorCount,
      scp81_format: sessionFormat(this.formatBits, this.sawUnknownFormat),
    };
    if (this.notExecuted > 0) fields['not_executed_count'] = this.notExecuted;
    fields['duration_ms'] = roundMs(atMs - this.sessionStartMs);
    if (this.identity !== undefined) fields['psk_identity'] = this.identity; // escaped already
    if (this.peerAddress !== undefined) fields['peer_address'] = this.peerAddress;
    logInSpan(log[level], span, 'OTA session ended', fields);
  }

  unknown(kind: string): void {
    this.session?.addEvent('scp81.undecodable', { [TLS_ATTR.scp81Input]: kind });
  }
}

const EMPTY_BODY = new Uint8Array(0);

/** Raw tls message events (OtaRecorder.rawMessage). */
const RAW_REQUEST_HEAD = 0;
const RAW_REQUEST_END = 1;
const RAW_RESPONSE_HEAD = 2;
const RAW_RESPONSE_END = 3;
/** Pipelining deeper than this is recorded as it comes. */
const MAX_RAW_HELD = 256;

interface RawHeld {
  readonly kind: number;
  readonly m: HttpMessageHead | HttpMessageEnd;
  readonly t: number;
  /** Bytes of the capture budget its body holds while held. */
  readonly reserved: number;
}

/**
 * What the session tracker needs of an https request's head, read when the request arrives: a
 * journal holds these values, not the request (which would keep the request and its socket alive
 * until the batch is recorded). Its time is that of the event that records it.
 */
export function httpsRequestInfo(req: IncomingMessage): RequestInfo {
  const h = req.headers;
  return {
    adminProtocol: headerValue(h['x-admin-protocol']),
    responseScript: scp81ContentKind(headerValue(h['content-type'])) === 'response',
    resume: headerValue(h['x-admin-resume']),
    scriptStatus: headerValue(h['x-admin-script-status']),
  };
}

function requestInfo(head: HttpMessageHead) {
  return {
    adminProtocol: head.headers['x-admin-protocol'],
    responseScript: scp81ContentKind(head.headers['content-type']) === 'response',
    resume: head.headers['x-admin-resume'],
    scriptStatus: head.headers['x-admin-script-status'],
  };
}

/**
 * Collects an https message body up to the raw-socket scanner's capture bound, by bytes: chunks are
 * copied into one buffer that doubles as it fills (a body pushed one byte at a time holds its bytes,
 * not a view per byte), within the total capture budget. A single chunk is kept as it is. One per
 * direction per connection, reset for each message.
 */
class BodyCollector {
  /** A body is being collected (the tracker asked for it). */
  active = false;
  private first: Uint8Array | undefined;
  private buf: Uint8Array | undefined;
  private size = 0;
  private over = false;

  /** Drop what was collected; collect the next message's body when `collect`. */
  reset(collect: boolean): void {
    this.release();
    this.active = collect;
    this.size = 0;
    this.over = false;
  }

  add(b: Uint8Array): void {
    if (this.over || b.length === 0) return;
    const need = this.size + b.length;
    if (need > DEFAULT_MAX_BODY_CAPTURE) return this.overflow();
    if (this.size === 0) {
      this.first = b;
      this.size = need;
      return;
    }
    let buf = this.buf;
    if (buf === undefined || buf.length < need) {
      let cap = buf === undefined ? 256 : buf.length * 2;
      while (cap < need) cap *= 2;
      if (cap > DEFAULT_MAX_BODY_CAPTURE) cap = DEFAULT_MAX_BODY_CAPTURE;
      if (!reserveCapture(cap - (buf === undefined ? 0 : buf.length))) return this.overflow();
      const grown = new Uint8Array(cap);
      if (buf !== undefined) grown.set(buf.subarray(0, this.size));
      else grown.set(this.first!);
      this.first = undefined;
      buf = grown;
      this.buf = grown;
    }
    buf.set(b, this.size);
    this.size = need;
  }

  /** The body, or null past the bound; the budget is given back either way, and collecting ends. */
  take(): Uint8Array | null {
    const out = this.over ? null : this.buf !== undefined ? this.buf.subarray(0, this.size) : (this.first ?? EMPTY_BODY);
    this.reset(false);
    return out;
  }

  release(): void {
    if (this.buf !== undefined) releaseCapture(this.buf.length);
    this.buf = undefined;
    this.first = undefined;
  }

  private overflow(): void {
    this.over = true;
    this.release();
  }
}
