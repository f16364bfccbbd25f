/**
 * The OTA session state machine of one SCP81 connection (GlobalPlatform Amendment B): pure, no
 * OpenTelemetry, no I/O, time passed in.
 *
 * It is fed the HTTP messages the passive scanners (or the https request events) see and tells a
 * sink what happened: a session opened by the card's first admin POST, the format of each body
 * (scp81.ts: expanded scripts or length-prefixed frames, decided per body), each command script the
 * server sent, the R-APDUs that answered it (paired in order; an R-APDU missing because the card
 * stopped executing is never invented), and the session's end:
 *   completed  the server answered 204 No Content,
 *   timeout    the socket timed out (or was idle-closed by a timeout) before that,
 *   failed     any other end: an HTTP error status, a reset, a close.
 */
import { commandTypeCode } from '../shared/apdu.js';
import { scp81ContentKind, walkCommandBody, walkResponseBody, type ApduVisitor, type BodyFormat } from './scp81.js';

export type SessionStatus = 'completed' | 'failed' | 'timeout';

/** The numbers of APDU i of a script: `apdus[i * APDU_FIELDS + APDU_*]`. */
export const APDU_FIELDS = 6;
/** The command type code (COMMAND_TYPES index). */
export const APDU_TYPE = 0;
export const APDU_COMMAND_OFFSET = 1;
export const APDU_COMMAND_LENGTH = 2;
/** Status word of the R-APDU; -1 when the card did not execute the command (or sent fewer than 2 bytes). */
export const APDU_SW = 3;
export const APDU_RESPONSE_OFFSET = 4;
export const APDU_RESPONSE_LENGTH = 5;

/**
 * A command script and, once the card answered, its R-APDUs, as numbers: APDU i of `count` in one
 * typed array the tracker reuses (valid during the sink call only), no object per APDU. Offsets
 * are into `commandBody` / `responseBody`, for a sink that decodes an APDU (a span's attributes).
 */
export interface ScriptApdus {
  readonly count: number;
  readonly commandBody: Uint8Array;
  readonly responseBody: Uint8Array;
  readonly apdus: Int32Array;
  /** The `80` executed-commands count of the response script, null when absent. */
  readonly executed: number | null;
}

export interface SessionSink {
  sessionStart(atMs: number, resumed: boolean): void;
  /** A command script with at least one C-APDU went to the card. */
  scriptSent(atMs: number, script: ScriptApdus): void;
  /** The card answered the script sent at `sentAtMs` (R-APDUs paired in order; the missing ones not executed). */
  scriptAnswered(sentAtMs: number, atMs: number, script: ScriptApdus): void;
  /**
   * The script sent at `sentAtMs` got no answer by `atMs`, when the session ended or the server sent
   * the next script: none of its C-APDUs executed.
   */
  scriptUnanswered(sentAtMs: number, atMs: number, script: ScriptApdus): void;
  /** A non-empty body was decoded (sent: the server's, received: the card's), in the format found. */
  bodyDecoded(direction: 'sent' | 'received', format: BodyFormat): void;
  /** `X-Admin-Script-Status` other than `ok`. */
  scriptStatus(value: string): void;
  sessionEnd(atMs: number, status: SessionStatus, reason: string): void;
  /** Input that could not be decoded (a malformed script, a response with nothing pending ...). */
  unknown(kind: 'command_script' | 'response_script' | 'unpaired_response' | 'bad_apdu'): void;
}

export interface RequestInfo {
  readonly adminProtocol: string | undefined;
  /** The content type is the SCP81 response script's (`scp81ContentKind`, read once per request). */
  readonly responseScript: boolean;
  readonly resume: string | undefined;
  readonly scriptStatus: string | undefined;
}

export interface ResponseInfo {
  readonly statusCode: number;
  readonly contentType: string | undefined;
}

const MAX_SCRIPT_STATUS = 64;

const REMOTE_ADMIN = 'globalplatform-remote-admin';

/**
 * `X-Admin-Protocol: globalplatform-remote-admin/1.0` (GlobalPlatform Amendment B), any version
 * and case: the header that opens a session. Another value is some other client's request.
 */
export function isRemoteAdmin(value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trimStart();
  return v.length >= REMOTE_ADMIN.length && v.slice(0, REMOTE_ADMIN.length).toLowerCase() === REMOTE_ADMIN;
}

/** The script in flight (ScriptApdus), its array reused from script to script. */
class CountedScript implements ScriptApdus {
  count = 0;
  commandBody: Uint8Array = EMPTY;
  responseBody: Uint8Array = EMPTY;
  apdus: Int32Array = new Int32Array(4 * APDU_FIELDS);
  executed: number | null = null;
  /** R-APDUs seen in the answer (more than `count` is an unpaired response). */
  answered = 0;
  badApdus = 0;

  /** A C-APDU of commandBody: fewer than 4 bytes is no APDU. */
  readonly onCommand: ApduVisitor = (offset, length) => {
    if (length < 4) {
      this.badApdus++;
      return;
    }
    const b = this.commandBody;
    const j = this.count++ * APDU_FIELDS;
    let a = this.apdus;
    if (j + APDU_FIELDS > a.length) a = this.grow();
    a[j + APDU_TYPE] = commandTypeCode(b[offset]!, b[offset + 1]!, b[offset + 2]!);
    a[j + APDU_COMMAND_OFFSET] = offset;
    a[j + APDU_COMMAND_LENGTH] = length;
    a[j + APDU_SW] = -1;
    a[j + APDU_RESPONSE_OFFSET] = 0;
    a[j + APDU_RESPONSE_LENGTH] = 0;
  };

  /** An R-APDU of responseBody (data, SW1 SW2), paired with C-APDU i in order. */
  readonly onResponse: ApduVisitor = (offset, length) => {
    const i = this.answered++;
    if (i >= this.count) return;
    if (length < 2) {
      this.badApdus++;
      return;
    }
    const b = this.responseBody;
    const a = this.apdus;
    const j = i * APDU_FIELDS;
    a[j + APDU_SW] = (b[offset + length - 2]! << 8) | b[offset + length - 1]!;
    a[j + APDU_RESPONSE_OFFSET] = offset;
    a[j + APDU_RESPONSE_LENGTH] = length;
  };

  /** This script, made empty for the next body. */
  emptied(): this {
    this.count = 0;
    this.answered = 0;
    this.badApdus = 0;
    this.executed = null;
    return this;
  }

  /** Room for twice as many APDUs (a script holds at most MAX_SCRIPT_APDUS). */
  private grow(): Int32Array {
    const a = new Int32Array(this.apdus.length * 2);
    a.set(this.apdus);
    this.apdus = a;
    return a;
  }
}

const EMPTY = new Uint8Array(0);

/** Counted scripts not in flight, shared by all trackers (their arrays are reused, not regrown per connection). */
const pool: CountedScript[] = [];
const POOL_MAX = 64;

function takeCounted(): CountedScript {
  return (pool.pop() ?? new CountedScript()).emptied();
}

function releaseCounted(c: CountedScript): void {
  c.commandBody = EMPTY;
  c.responseBody = EMPTY;
  if (pool.length < POOL_MAX) pool.push(c);
}

export class OtaSessionTracker {
  private open = false;
  private timedOut = false;
  /** The command script in flight (sent, not yet answered), or null. */
  private inFlight: CountedScript | null = null;
  /** A script kept for the next body of this session (the session's scripts stay the same objects). */
  private spare: CountedScript | null = null;
  private sentAt = 0;

  constructor(private readonly sink: SessionSink) {}

  get isOpen(): boolean {
    return this.open;
  }

  /** A request head; returns whether its body should be captured (an SCP81 response script). */
  request(info: RequestInfo, atMs: number): boolean {
    if (!this.open) {
      if (!isRemoteAdmin(info.adminProtocol)) return false;
      this.open = true;
      this.timedOut = false;
      this.sink.sessionStart(atMs, (info.resume ?? '').trim().toLowerCase() === 'true');
    }
    const status = info.scriptStatus;
    if (status !== undefined && status !== 'ok') {
      const v = status.trim();
      if (v.toLowerCase() !== 'ok') this.sink.scriptStatus(v.length > MAX_SCRIPT_STATUS ? v.slice(0, MAX_SCRIPT_STATUS) : v);
    }
    return info.responseScript;
  }

  /** The captured body of a response whose head `response()` asked for: a command script (none when empty). */
  responseBody(body: Uint8Array | null, atMs: number): void {
    if (!this.open || body === null || body.length === 0) return;
    const c = this.take();
    c.commandBody = body;
    const shape = walkCommandBody(body, c.onCommand);
    this.sink.bodyDecoded('sent', shape.format);
    if (shape.format === 'unknown') this.sink.unknown('command_script');
    for (let i = 0; i < c.badApdus; i++) this.sink.unknown('bad_apdu');
    if (c.count === 0) {
      this.keep(c); // nothing sent: what was in flight stays so
      return;
    }
    this.unanswered(atMs); // replaced before the card answered it (an empty POST, or none)
    this.inFlight = c;
    this.sentAt = atMs;
    this.sink.scriptSent(atMs, c);
  }

  /**
   * The captured body of a request whose head `request()` asked for: the card's response script.
   * Empty is no script: the card's first POST carries the response content type and no body.
   */
  requestBody(body: Uint8Array | null, atMs: number): void {
    if (!this.open || body === null || body.length === 0) return;
    const inFlight = this.inFlight;
    const c = inFlight ?? this.take(); // nothing in flight: count 0, its R-APDUs are only seen as unpaired
    c.answered = 0;
    c.badApdus = 0;
    c.responseBody = body;
    const shape = walkResponseBody(body, c.onResponse);
    c.executed = shape.executed;
    this.sink.bodyDecoded('received', shape.format);
    if (shape.format === 'unknown') this.sink.unknown('response_script');
    if (inFlight === null) {
      if (c.answered > 0) this.sink.unknown('unpaired_response');
      this.keep(c);
      return;
    }
    this.inFlight = null;
    for (let i = 0; i < c.badApdus; i++) this.sink.unknown('bad_apdu');
    if (c.answered > c.count) this.sink.unknown('unpaired_response');
    try {
      this.sink.scriptAnswered(this.sentAt, atMs, c);
    } finally {
      this.keep(c);
    }
  }

  /**
   * The card answered, but its response script could not be read (past the capture bound): the
   * script in flight is neither paired nor later reported unanswered.
   */
  responseLost(): void {
    if (this.inFlight === null) return;
    this.keep(this.inFlight);
    this.inFlight = null;
  }

  /** A response head; returns whether its body should be captured (an SCP81 command script). */
  response(info: ResponseInfo, atMs: number): boolean {
    return this.responseHead(info.statusCode, scp81ContentKind(info.contentType) === 'command', atMs);
  }

  /** `response()` with the content type already classified (`command`: the SCP81 command script type). */
  responseHead(statusCode: number, command: boolean, atMs: number): boolean {
    if (!this.open) return false;
    if (statusCode === 204) {
      this.finish(atMs, 'completed', 'no_content');
      return false;
    }
    if (statusCode >= 400) {
      this.finish(atMs, 'failed', `http_${statusCode}`);
      return false;
    }
    return statusCode === 200 && command;
  }

  /** An empty script: the session's spare, else one from the pool. */
  private take(): CountedScript {
    const c = this.spare;
    if (c === null) return takeCounted();
    this.spare = null;
    return c.emptied();
  }

  /** A script done with: kept as the session's spare (its bodies dropped), or back to the pool. */
  private keep(c: CountedScript): void {
    if (this.spare !== null) return releaseCounted(c);
    c.commandBody = EMPTY;
    c.responseBody = EMPTY;
    this.spare = c;
  }

  /** The socket reported a timeout (its own setTimeout or the HTTP server's). */
  timeout(): void {
    if (this.open) this.timedOut = true;
  }

  /** Stop following without an end (no sink call); returns whether a session was open. */
  abandon(): boolean {
    const wasOpen = this.open;
    this.open = false;
    if (this.inFlight !== null) releaseCounted(this.inFlight);
    if (this.spare !== null) releaseCounted(this.spare);
    this.inFlight = null;
    this.spare = null;
    return wasOpen;
  }

  /** The connection ended; `hadError` when it was reset or destroyed with an error. */
  close(atMs: number, hadError: boolean): void {
    if (!this.open) return;
    if (this.timedOut) this.finish(atMs, 'timeout', 'socket_timeout');
    else this.finish(atMs, 'failed', hadError ? 'connection_error' : 'connection_closed');
  }

  /** The script in flight got no answer by `atMs` (the next script came, or the session ended): none of it executed. */
  private unanswered(atMs: number): void {
    const c = this.inFlight;
    if (c === null) return;
    this.inFlight = null;
    try {
      this.sink.scriptUnanswered(this.sentAt, atMs, c);
    } finally {
      this.keep(c);
    }
  }

  private finish(atMs: number, status: SessionStatus, reason: string): void {
    this.open = false;
    this.unanswered(atMs);
    if (this.spare !== null) {
      releaseCounted(this.spare);
      this.spare = null;
    }
    this.sink.sessionEnd(atMs, status, reason);
  }
}
