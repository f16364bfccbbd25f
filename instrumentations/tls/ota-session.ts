/**
 * The OTA session state machine of one SCP81 connection (GlobalPlatform Amendment B): pure, no
 * OpenTelemetry, no I/O, time passed in.
 *
 * It is fed the HTTP messages the passive scanners (or the https request events) see and tells a
 * sink what happened: a session opened by the card's first admin POST, each command script the
 * server sent, the R-APDUs that answered it (paired in order; an R-APDU missing because the card
 * stopped executing is never invented), and the session's end:
 *   completed  the server answered 204 No Content,
 *   timeout    the socket timed out (or was idle-closed by a timeout) before that,
 *   failed     any other end: an HTTP error status, a reset, a close.
 */
import {
  commandType,
  decodeCommandApdu,
  decodeResponseApdu,
  type CommandApdu,
  type CommandType,
  type ResponseApdu,
} from '../shared/apdu.js';
import { decodeCommandScript, decodeResponseScript, scp81ContentKind, walkCommandScript, walkResponseScript, type ApduVisitor } from './scp81.js';

export type SessionStatus = 'completed' | 'failed' | 'timeout';

export interface SentCommand {
  readonly apdu: CommandApdu;
  /** The C-APDU bytes (a view into the captured script body). */
  readonly bytes: Uint8Array;
}

export interface ApduExchange {
  readonly command: SentCommand;
  readonly response: ResponseApdu | null;
  /** The R-APDU bytes, data + SW (a view into the captured body); null when not executed. */
  readonly responseBytes: Uint8Array | null;
}

/**
 * A script's APDUs as numbers, for a sink that only counts (no spans): entry i of `count`, in
 * arrays the tracker reuses (valid during the call only). No object per APDU.
 */
export interface ScriptCounts {
  readonly count: number;
  readonly commandTypes: readonly CommandType[];
  /** C-APDU bytes. */
  readonly commandLengths: readonly number[];
  /** Filled by the answer: the R-APDUs' status words (-1: not executed, or fewer than 2 bytes) and bytes. */
  readonly sws: readonly number[];
  readonly responseLengths: readonly number[];
}

export interface SessionSink {
  /**
   * Whether the sink wants the decoded objects (scriptSent / scriptAnswered: APDU spans) or only
   * the numbers (scriptCounted / answerCounted), asked per script.
   */
  readonly detailed: boolean;
  sessionStart(atMs: number, resumed: boolean): void;
  scriptSent(atMs: number, commands: readonly SentCommand[]): void;
  scriptAnswered(sentAtMs: number, atMs: number, exchanges: readonly ApduExchange[], executed: number | null): void;
  scriptCounted(atMs: number, script: ScriptCounts): void;
  answerCounted(sentAtMs: number, atMs: number, script: ScriptCounts): void;
  /** `X-Admin-Script-Status` other than `ok`. */
  scriptStatus(value: string): void;
  sessionEnd(atMs: number, status: SessionStatus, reason: string): void;
  /** Input that could not be decoded (a malformed script, a response with nothing pending ...). */
  unknown(kind: 'command_script' | 'response_script' | 'unpaired_response' | 'bad_apdu'): void;
}

export interface RequestInfo {
  readonly adminProtocol: string | undefined;
  readonly contentType: string | undefined;
  readonly resume: string | undefined;
  readonly scriptStatus: string | undefined;
}

export interface ResponseInfo {
  readonly statusCode: number;
  readonly contentType: string | undefined;
}

const MAX_SCRIPT_STATUS = 64;

/** The numbers of the script in flight (ScriptCounts), reused from script to script. */
class CountedScript implements ScriptCounts {
  count = 0;
  readonly commandTypes: CommandType[] = [];
  readonly commandLengths: number[] = [];
  readonly sws: number[] = [];
  readonly responseLengths: number[] = [];
  /** R-APDUs seen in the answer (more than `count` is an unpaired response). */
  answered = 0;
  badApdus = 0;
  body: Uint8Array = EMPTY;

  readonly onCommand: ApduVisitor = (offset, length) => {
    const b = this.body;
    if (length < 4) {
      this.badApdus++;
      return;
    }
    const i = this.count++;
    this.commandTypes[i] = commandType(b[offset]!, b[offset + 1]!, b[offset + 2]!);
    this.commandLengths[i] = length;
    this.sws[i] = -1;
    this.responseLengths[i] = 0;
  };

  readonly onResponse: ApduVisitor = (offset, length) => {
    const i = this.answered++;
    if (i >= this.count) return;
    if (length < 2) {
      this.badApdus++;
      return;
    }
    const b = this.body;
    this.sws[i] = (b[offset + length - 2]! << 8) | b[offset + length - 1]!;
    this.responseLengths[i] = length;
  };
}

const EMPTY = new Uint8Array(0);

/** Counted scripts not in flight, shared by all trackers (their arrays are reused, not regrown per connection). */
const pool: CountedScript[] = [];
const POOL_MAX = 64;

function takeCounted(): CountedScript {
  const c = pool.pop() ?? new CountedScript();
  c.count = 0;
  c.answered = 0;
  c.badApdus = 0;
  return c;
}

function releaseCounted(c: CountedScript): void {
  c.body = EMPTY;
  if (pool.length < POOL_MAX) pool.push(c);
}

export class OtaSessionTracker {
  private open = false;
  private pending: SentCommand[] | null = null;
  private pendingSentAt = 0;
  private timedOut = false;
  /** The counted script in flight (when the sink is not detailed), or null. */
  private counted: CountedScript | null = null;

  constructor(private readonly sink: SessionSink) {}

  get isOpen(): boolean {
    return this.open;
  }

  /** A request head; returns whether its body should be captured (an SCP81 response script). */
  request(info: RequestInfo, atMs: number): boolean {
    if (!this.open) {
      if (info.adminProtocol === undefined) return false;
      this.open = true;
      this.timedOut = false;
      this.sink.sessionStart(atMs, (info.resume ?? '').trim().toLowerCase() === 'true');
    }
    if (info.scriptStatus !== undefined) {
      const v = info.scriptStatus.trim();
      if (v.toLowerCase() !== 'ok') this.sink.scriptStatus(v.length > MAX_SCRIPT_STATUS ? v.slice(0, MAX_SCRIPT_STATUS) : v);
    }
    return scp81ContentKind(info.contentType) === 'response';
  }

  /** The captured body of a request whose head `request()` asked for. */
  requestBody(body: Uint8Array | null, atMs: number): void {
    if (!this.open || body === null) return;
    if (this.pending === null && (this.counted !== null || !this.sink.detailed)) {
      this.answerCounted(body, atMs);
      return;
    }
    const script = decodeResponseScript(body);
    if (script.format === 'unknown' || script.malformed) this.sink.unknown('response_script');
    const pending = this.pending;
    if (pending === null) {
      if (script.rapdus.length > 0) this.sink.unknown('unpaired_response');
      return;
    }
    this.pending = null;
    const exchanges: ApduExchange[] = new Array(pending.length);
    for (let i = 0; i < pending.length; i++) {
      const item = script.rapdus[i];
      const command = pending[i] as SentCommand;
      if (item === undefined) {
        exchanges[i] = { command, response: null, responseBytes: null };
        continue;
      }
      const response = decodeResponseApdu(body, item.offset, item.length);
      if (response === null) this.sink.unknown('bad_apdu');
      exchanges[i] = {
        command,
        response,
        responseBytes: response === null ? null : body.subarray(item.offset, item.offset + item.length),
      };
    }
    if (script.rapdus.length > pending.length) this.sink.unknown('unpaired_response');
    this.sink.scriptAnswered(this.pendingSentAt, atMs, exchanges, script.executed);
  }

  /** A response head; returns whether its body should be captured (an SCP81 command script). */
  response(info: ResponseInfo, atMs: number): boolean {
    if (!this.open) return false;
    if (info.statusCode === 204) {
      this.finish(atMs, 'completed', 'no_content');
      return false;
    }
    if (info.statusCode >= 400) {
      this.finish(atMs, 'failed', `http_${info.statusCode}`);
      return false;
    }
    return info.statusCode === 200 && scp81ContentKind(info.contentType) === 'command';
  }

  /** The captured body of a response whose head `response()` asked for. */
  responseBody(body: Uint8Array | null, atMs: number): void {
    if (!this.open || body === null) return;
    if (!this.sink.detailed) {
      this.scriptCounted(body, atMs);
      return;
    }
    const script = decodeCommandScript(body);
    if (script.format === 'unknown' || script.malformed) this.sink.unknown('command_script');
    const commands: SentCommand[] = [];
    for (const item of script.apdus) {
      const apdu = decodeCommandApdu(body, item.offset, item.length);
      if (apdu === null) {
        this.sink.unknown('bad_apdu');
        continue;
      }
      commands.push({ apdu, bytes: body.subarray(item.offset, item.offset + item.length) });
    }
    if (commands.length === 0) return;
    this.pending = commands;
    if (this.counted !== null) {
      releaseCounted(this.counted);
      this.counted = null;
    }
    this.pendingSentAt = atMs;
    this.sink.scriptSent(atMs, commands);
  }

  /** responseBody() for a sink that only counts: the same outcome, as numbers. */
  private scriptCounted(body: Uint8Array, atMs: number): void {
    const c = takeCounted();
    c.body = body;
    const shape = walkCommandScript(body, c.onCommand);
    c.body = EMPTY;
    if (shape.format === 'unknown' || shape.malformed) this.sink.unknown('command_script');
    for (let i = 0; i < c.badApdus; i++) this.sink.unknown('bad_apdu');
    if (c.count === 0) {
      releaseCounted(c); // like an empty decoded script: what was in flight stays so
      return;
    }
    if (this.counted !== null) releaseCounted(this.counted);
    this.pending = null;
    this.counted = c;
    this.pendingSentAt = atMs;
    this.sink.scriptCounted(atMs, c);
  }

  /** requestBody() for a sink that only counts (see scriptCounted()). */
  private answerCounted(body: Uint8Array, atMs: number): void {
    const inFlight = this.counted;
    const c = inFlight ?? takeCounted(); // nothing in flight: count 0, the R-APDUs are only seen as unpaired
    c.answered = 0;
    c.badApdus = 0;
    c.body = body;
    const shape = walkResponseScript(body, c.onResponse);
    c.body = EMPTY;
    if (shape.format === 'unknown' || shape.malformed) this.sink.unknown('response_script');
    if (inFlight === null) {
      if (c.answered > 0) this.sink.unknown('unpaired_response');
      releaseCounted(c);
      return;
    }
    this.counted = null;
    for (let i = 0; i < c.badApdus; i++) this.sink.unknown('bad_apdu');
    if (c.answered > c.count) this.sink.unknown('unpaired_response');
    try {
      this.sink.answerCounted(this.pendingSentAt, atMs, c);
    } finally {
      releaseCounted(c);
    }
  }

  /** The socket reported a timeout (its own setTimeout or the HTTP server's). */
  timeout(): void {
    if (this.open) this.timedOut = true;
  }

  /** The connection ended; `hadError` when it was reset or destroyed with an error. */
  close(atMs: number, hadError: boolean): void {
    if (!this.open) return;
    if (this.timedOut) this.finish(atMs, 'timeout', 'socket_timeout');
    else this.finish(atMs, 'failed', hadError ? 'connection_error' : 'connection_closed');
  }

  private finish(atMs: number, status: SessionStatus, reason: string): void {
    this.open = false;
    this.pending = null;
    if (this.counted !== null) {
      releaseCounted(this.counted);
      this.counted = null;
    }
    this.sink.sessionEnd(atMs, status, reason);
  }
}
