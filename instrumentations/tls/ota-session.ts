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
  decodeCommandApdu,
  decodeResponseApdu,
  type CommandApdu,
  type ResponseApdu,
} from '../shared/apdu.js';
import { decodeCommandScript, decodeResponseScript, scp81ContentKind } from './scp81.js';

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

export interface SessionSink {
  sessionStart(atMs: number, resumed: boolean): void;
  scriptSent(atMs: number, commands: readonly SentCommand[]): void;
  scriptAnswered(sentAtMs: number, atMs: number, exchanges: readonly ApduExchange[], executed: number | null): void;
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

export class OtaSessionTracker {
  private open = false;
  private pending: SentCommand[] | null = null;
  private pendingSentAt = 0;
  private timedOut = false;

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
    this.pendingSentAt = atMs;
    this.sink.scriptSent(atMs, commands);
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
    this.sink.sessionEnd(atMs, status, reason);
  }
}
