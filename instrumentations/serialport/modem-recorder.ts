/**
 * Turns the AT decoder's events for one modem port into spans and metrics.
 *
 * The decoder (at.ts) decides what happened; this file only records it: one `at <command>` span per
 * command (started at its real write time, ended at its final result or deadline), APDU spans and
 * metrics for `+CSIM` / `+CRSM` exchanges, the `sms.trigger` span and trigger hand-over for a
 * submitted `+CMGS`, and device errors. Attribute objects for metrics and span starts are cached,
 * so a command costs a span and a few map lookups, nothing per byte; when the SDK has no trace
 * exporter (tracingEnabled() false) no span object or span attribute is made at all, only metrics.
 */
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { labelCache } from '../../src/metrics/series.js';
import type { CardlinkInstruments } from '../../src/metrics/instruments.js';
import { noteTriggerSent } from '../../src/triggers.js';
import { tracingEnabled } from '../../src/tracing-state.js';
import { createLogger, type LogFields, type WritableLevel } from '../../src/logging/logger.js';
import { logInSpan, roundMs } from '../../src/logging/in-span.js';
import { PeerLineLimiter } from '../../src/logging/peer-limit.js';
import { peerText } from '../../src/logging/sanitize.js';
import type { StkMessage } from '../shared/stk.js';
import {
  commandType,
  decodeCommandApdu,
  decodeResponseApdu,
  hexToBytes,
  isSensitiveCommand,
  statusWordHex,
  type StatusCategory,
} from '../shared/apdu.js';
import { countApduBytes, countCommand, countResponseCategory, endApduSpan, startApduSpan, timeApdu } from '../shared/apdu-recorder.js';
import type {
  AtCommandEndEvent,
  AtCommandKind,
  AtCommandStartEvent,
  AtCrsmEvent,
  AtCsimEvent,
  AtListener,
  AtPromptEvent,
  AtResult,
  AtSmsSubmitEvent,
  AtUrcEvent,
} from './at.js';
import type { SerialportInstrumentationConfig } from './types.js';
import { STK_RESPONSE_COMMANDS, STK_URC_NAMES, stkFromCommand, stkFromUrc } from './stk-urc.js';
import { abandonChannels, recordStk, type BipDevice } from '../shared/bip-recorder.js';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import { MODEM_ATTR } from './spans.js';
import { APDU_ATTR } from '../shared/apdu-spans.js';

export interface RecorderContext {
  tracer(): Tracer;
  instruments(): CardlinkInstruments;
  config(): SerialportInstrumentationConfig;
}

/** Span attribute names of the modem path (spans.ts; APDU ones are shared with the tls instrumentation). */
export const ATTR = MODEM_ATTR;

const MODEM = 'modem';
/** Open `at` spans kept per port; the decoder bounds its own queue at 32, this is a safety net. */
const MAX_OPEN_SPANS = 64;

/** Results that are a modem error, with their `error_type` label. */
const ERROR_TYPES: Partial<Record<AtResult, string>> = {
  error: 'error',
  cme_error: 'cme_error',
  cms_error: 'cms_error',
  timeout: 'timeout',
  no_carrier: 'no_carrier',
  busy: 'busy',
  no_answer: 'no_answer',
  no_dialtone: 'no_dialtone',
};

/**
 * Results written to the `modem` log, with their level: a timeout (the modem never answered) and
 * `+CME ERROR` / `+CMS ERROR` (the modem, SIM or network refused: SIM missing, PIN needed, SMS
 * rejected) are warnings; a bare `ERROR` is info, because it is usually an unsupported command or
 * a syntax error the application probes on purpose (vendor commands on another vendor's modem).
 */
const LOGGED_RESULTS: Partial<Record<AtResult, { level: WritableLevel; message: string }>> = {
  timeout: { level: 'warn', message: 'AT command timed out' },
  cme_error: { level: 'warn', message: 'modem answered +CME ERROR' },
  cms_error: { level: 'warn', message: 'modem answered +CMS ERROR' },
  error: { level: 'info', message: 'modem answered ERROR' },
};

const log = createLogger('modem');
/** A modem answering errors in a loop must not flood the log: per result kind (peer-limit.ts). */
const limiter = new PeerLineLimiter(log);

/** Results without a modem round trip: no duration recorded. */
const NO_ROUND_TRIP: ReadonlySet<AtResult> = new Set<AtResult>(['timeout', 'closed', 'overflow']);
/** Results that are not failures of the command. */
const SUCCESSFUL: ReadonlySet<AtResult> = new Set<AtResult>(['ok', 'connect', 'cancelled']);

/** `+CRSM` command numbers (27.007 8.18) -> the INS the modem sends to the card. */
const CRSM_INS: ReadonlyMap<number, number> = new Map([
  [176, 0xb0], // READ BINARY
  [178, 0xb2], // READ RECORD
  [192, 0xc0], // GET RESPONSE
  [203, 0xcb], // RETRIEVE DATA
  [214, 0xd6], // UPDATE BINARY
  [219, 0xdb], // SET DATA
  [220, 0xdc], // UPDATE RECORD
  [242, 0xf2], // STATUS
]);

/**
 * Commands whose arguments are PINs or passwords: never on a span. Besides 27.007's (SIM PINs,
 * facility passwords, PDP authentication) the vendors' packet-data logins: Cinterion ^SGAUTH and
 * ^SICS (its `passwd` parameter), Sierra $QCPDPP, Icera %IPDPCFG, u-blox +UAUTHREQ, SIMCom +CSTT,
 * Quectel +QICSGP, Telit #SGACT.
 */
const SECRET_ARGUMENTS: ReadonlySet<string> = new Set([
  '+CPIN',
  '+CPWD',
  '+CLCK',
  '+CPINR',
  '+CPIN2',
  '+CGAUTH',
  '^SGAUTH',
  '^SICS',
  '$QCPDPP',
  '%IPDPCFG',
  '+UAUTHREQ',
  '+CSTT',
  '+QICSGP',
  '#SGACT',
  // Ericsson (MBM) packet-data user and password, Intel XMM's, Huawei's NDIS dial-up, Sierra's unlock password.
  '*EIAAUW',
  '+XGAUTH',
  '^NDISDUP',
  '!ENTERCND',
]);

/** The prefixes of extended command names: 27.007's `+`, and the vendors' `^`, `$`, `%`, `#`, `*` (Ericsson) and `!` (Sierra). */
function isCommandPrefix(c: number): boolean {
  return c === 0x2b || c === 0x5e || c === 0x24 || c === 0x25 || c === 0x23 || c === 0x2a || c === 0x21;
}
/** Commands whose arguments are APDU or SMS payloads: only with captureApduData. */
const PAYLOAD_ARGUMENTS: ReadonlySet<string> = new Set(['+CSIM', '+CRSM', '+CGLA', '+CMGS', '+CMGW']);

// --- attribute caches (bounded: command names are bounded, see at-names.ts) -------------------------

/** Command names with cached attribute objects (names are bounded anyway, see at-names.ts). */
const MAX_CACHED_NAMES = 1024;
/** Attribute objects shared by every recording with the same label values. */
const SMS: Attributes = { trigger_type: 'sms' };
/** `command` label of cardlink_at_command_duration_seconds, by command name. */
const commandAttrs = labelCache((name) => ({ command: name }), MAX_CACHED_NAMES);
const errorAttrs = labelCache((type) => ({ device_type: MODEM, error_type: type }));

/** Counts a device error of a modem (also used by the instrumentation for `disconnected`). */
export function recordModemError(m: CardlinkInstruments, errorType: string): void {
  m.deviceErrors.add(1, errorAttrs(errorType));
}

const REDACTED = '<redacted>';

/**
 * The command line as it may appear on a span (see SerialportInstrumentationConfig.captureAtArguments).
 * Every command of the line is judged on its own (`AT+CMEE=1;+CPIN="1234"`, `ATE0+CPIN=...`):
 * PIN and password arguments never appear, payload arguments only with `captureApdu`, and then the
 * C-APDU of `+CSIM` / `+CGLA` (quoted or not) without the data of PUT KEY and STORE DATA.
 */
export function commandLineForSpan(text: string, captureApdu: boolean): string {
  const upper = text.toUpperCase();
  let out = '';
  let copied = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) quoted = !quoted;
    if (quoted || !isCommandPrefix(c)) continue;
    let j = i + 1;
    while (j < text.length && isNameChar(upper.charCodeAt(j))) j++;
    const name = upper.slice(i, j);
    if (text.charCodeAt(j) !== 0x3d /* = */ || text.charCodeAt(j + 1) === 0x3f /* =? */) continue;
    const argsStart = j + 1;
    const argsEnd = endOfArguments(text, argsStart);
    const kept = keptArguments(name, text, argsStart, argsEnd, captureApdu);
    if (kept < argsEnd) {
      out += `${text.slice(copied, kept)}${REDACTED}`;
      copied = argsEnd;
    }
    i = argsEnd - 1;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

function isNameChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39);
}

/** The `;` that ends a command's arguments (outside quotes), or the end of the line. */
function endOfArguments(text: string, from: number): number {
  let quoted = false;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) quoted = !quoted;
    else if (c === 0x3b && !quoted) return i;
  }
  return text.length;
}

/** Up to where a command's arguments (`start`..`end`) may be shown: `end` when all of them. */
function keptArguments(name: string, text: string, start: number, end: number, captureApdu: boolean): number {
  if (SECRET_ARGUMENTS.has(name) || (PAYLOAD_ARGUMENTS.has(name) && !captureApdu)) return start;
  if (name !== '+CSIM' && name !== '+CGLA') return end;
  // The C-APDU is the last argument; PUT KEY / STORE DATA keep their header (CLA INS P1 P2) only.
  let apdu = text.lastIndexOf(',', end - 1) + 1;
  if (apdu <= start) apdu = start;
  if (text.charCodeAt(apdu) === 0x22) apdu++;
  const header = hexToBytes(text.slice(apdu, Math.min(apdu + 8, end)));
  if (header === null || header.length < 4) return apdu;
  const type = commandType(header[0] as number, header[1] as number, header[2] as number);
  return isSensitiveCommand(type) ? apdu + 8 : end;
}

/**
 * The open `at` spans of a port by decoder command id, oldest first. Commands end nearly always
 * oldest first, so two short arrays searched from the front do: a Map costs more, its delete of
 * the last entry reallocating the table on every command.
 */
class OpenSpans {
  private readonly ids: number[] = [];
  private readonly list: Span[] = [];

  get size(): number {
    return this.ids.length;
  }

  add(id: number, span: Span): void {
    this.ids.push(id);
    this.list.push(span);
  }

  get(id: number): Span | undefined {
    const i = this.ids.indexOf(id);
    return i < 0 ? undefined : this.list[i];
  }

  /** Removes and returns the span of `id`. */
  take(id: number): Span | undefined {
    const i = this.ids.indexOf(id);
    if (i < 0) return undefined;
    const span = this.list[i];
    if (i === 0) {
      this.ids.shift();
      this.list.shift();
    } else {
      this.ids.splice(i, 1);
      this.list.splice(i, 1);
    }
    return span;
  }

  oldest(): Span | undefined {
    return this.list[0];
  }

  takeOldest(): Span | undefined {
    this.ids.shift();
    return this.list.shift();
  }
}

/** Name and start attributes of the `at` span of one command name and kind on one port. */
interface SpanStart {
  readonly spanName: string;
  /** Shared by every span started with it: the SDK copies attributes, never keeps or changes this. */
  readonly attributes: Attributes;
}

export class ModemPortRecorder implements Required<AtListener> {
  /** Open `at` spans by decoder command id, oldest first. */
  private readonly spans = new OpenSpans();
  /** Span starts by command name, then kind (bounded like the names). */
  private readonly starts = new Map<string, Partial<Record<AtCommandKind, SpanStart>>>();
  /** Id of the last command answered `+CMGS: <mr>` (its smsSubmit comes before its commandEnd). */
  private submittedId = -1;
  /** This port as the device of the card's STK traffic (made on the first STK message). */
  private bip: BipDevice | undefined;

  constructor(
    private readonly ctx: RecorderContext,
    /** The path the port was opened with. */
    private readonly path: string,
    /** Called when a command starts, so the owner can make sure a silent modem still times out. */
    private readonly onPending: () => void,
  ) {}

  commandStart(e: AtCommandStartEvent): void {
    this.onPending();
    // The application's terminal response to a proactive command (`AT+CUSATT=...`).
    if (STK_RESPONSE_COMMANDS.has(e.name)) this.stk(e.name, stkFromCommand(e.name, e.text), e.at);
    // No trace exporter: no span at all (metrics come from commandEnd alone).
    if (!tracingEnabled()) return;
    if (this.spans.size >= MAX_OPEN_SPANS) this.dropOldest();
    const start = this.startOf(e.name, e.kind);
    let attributes = start.attributes;
    const cfg = this.ctx.config();
    if (cfg.captureAtArguments === true) {
      attributes = { ...attributes, [ATTR.commandLine]: commandLineForSpan(e.text, cfg.captureApduData === true) };
    }
    // The application's active context when it wrote the command: its span is the parent. Times go
    // in as HrTime, converted as the SDK would (a number costs it a clock read, to tell a
    // performance timestamp from an epoch one).
    const span = this.ctx
      .tracer()
      .startSpan(start.spanName, { kind: SpanKind.CLIENT, startTime: millisToHrTime(e.at), attributes }, context.active());
    this.spans.add(e.id, span);
  }

  commandEnd(e: AtCommandEndEvent): void {
    const m = this.ctx.instruments();
    const result = e.result;
    if (!NO_ROUND_TRIP.has(result)) m.atCommandDuration.record(e.durationMs / 1000, commandAttrs(e.name));
    const errorType = ERROR_TYPES[result];
    if (errorType !== undefined) recordModemError(m, errorType);
    const logged = LOGGED_RESULTS[result];
    if (logged !== undefined) this.logResult(e, logged.level, logged.message);
    if ((e.name === '+CMGS' || e.name === '+CMSS') && e.kind === 'set' && e.id !== this.submittedId && !SUCCESSFUL.has(result)) {
      this.failedTrigger(e);
    }

    const span = this.spans.take(e.id);
    if (span === undefined) return;
    // One call per attribute: no object to build and walk.
    span.setAttribute(ATTR.result, result);
    span.setAttribute(ATTR.echoed, e.echoed);
    span.setAttribute(ATTR.lineCount, e.lines.length);
    // One type for the attribute: the 27.007 / 27.005 number when known (`10` for `SIM not inserted`), else the text.
    if (e.errorCode !== undefined) span.setAttribute(ATTR.errorCode, e.errorNumber !== undefined ? String(e.errorNumber) : e.errorCode);
    if (!SUCCESSFUL.has(result)) {
      span.setAttribute(ATTR_ERROR_TYPE, result);
      span.setStatus({ code: SpanStatusCode.ERROR, message: e.errorCode !== undefined ? `${result} ${e.errorCode}` : result });
    }
    span.end(millisToHrTime(e.endMs));
  }

  urc(e: AtUrcEvent): void {
    // Only the name: URC lines carry phone numbers and message contents.
    this.spans.oldest()?.addEvent('at.urc', { [ATTR.urc]: e.name }, e.at);
    // A card's proactive command (BIP OPEN CHANNEL ...): decoded only for these URC names.
    if (STK_URC_NAMES.has(e.name)) this.stk(e.name, stkFromUrc(e.name, e.line), e.at);
  }

  prompt(e: AtPromptEvent): void {
    this.spans.get(e.id)?.addEvent('at.prompt', undefined, e.at);
  }

  csim(e: AtCsimEvent): void {
    if (e.commandHex === null || e.responseHex === null) return; // not an APDU exchange with the card
    const command = hexToBytes(e.commandHex);
    const response = hexToBytes(e.responseHex);
    if (command === null || response === null) return;
    const apdu = decodeCommandApdu(command);
    const r = decodeResponseApdu(response);
    if (apdu === null || r === null) return;
    const type = apdu.commandType;
    const category = this.countApdu(type, r.sw, command.length, response.length, e.durationMs);
    if (!tracingEnabled()) return;
    // The APDU span of every path (shared/apdu-recorder.ts), timed by the modem's answer.
    const capture = this.ctx.config().captureApduData === true;
    const span = startApduSpan(this.ctx.tracer(), apdu, command, MODEM, e.at - e.durationMs, this.parentOf(e.id), capture);
    if (e.lengthMismatch) span.setAttribute(ATTR.lengthMismatch, true);
    endApduSpan(span, type, r, response, statusWordHex(r.sw), category, capture, e.at);
  }

  crsm(e: AtCrsmEvent): void {
    if (e.sw1 === null || e.sw2 === null) return; // no `+CRSM: <sw1>,<sw2>` answer
    const ins = e.command === null ? undefined : CRSM_INS.get(e.command);
    const p1 = e.p1 ?? 0;
    // The modem builds the APDU; STATUS goes out with the UICC's proprietary class 80.
    const type = ins === undefined ? 'UNKNOWN' : commandType(ins === 0xf2 ? 0x80 : 0x00, ins, p1);
    const sw = (e.sw1 << 8) | e.sw2;
    const dataLength = e.dataHex === null ? 0 : e.dataHex.length >> 1;
    const responseLength = (e.responseHex === null ? 0 : e.responseHex.length >> 1) + 2;
    const category = this.countApdu(type, sw, 5 + dataLength, responseLength, e.durationMs);
    if (!tracingEnabled()) return;
    const attributes: Attributes = {
      [APDU_ATTR.commandType]: type,
      [ATTR.deviceType]: MODEM,
      [ATTR.command]: '+CRSM',
    };
    if (ins !== undefined) attributes[APDU_ATTR.ins] = ins;
    if (e.p1 !== null) attributes[APDU_ATTR.p1] = e.p1;
    if (e.p2 !== null) attributes[APDU_ATTR.p2] = e.p2;
    if (e.fileId !== null && e.fileId <= 0xffff) attributes[ATTR.simFileId] = e.fileId.toString(16).toUpperCase().padStart(4, '0');
    const span = this.ctx
      .tracer()
      .startSpan(`apdu.${type}`, { kind: SpanKind.CLIENT, startTime: e.at - e.durationMs, attributes }, this.parentOf(e.id));
    // Ended as every APDU span: status word, category, error status (no response data on +CRSM spans).
    const r = { sw, sw1: e.sw1, sw2: e.sw2, dataLength: responseLength - 2 };
    endApduSpan(span, type, r, null, statusWordHex(sw), category, false, e.at);
  }

  smsSubmit(e: AtSmsSubmitEvent): void {
    this.submittedId = e.id;
    this.ctx.instruments().triggersSent.add(1, SMS);
    if (!tracingEnabled()) {
      noteTriggerSent({ atMs: e.at, deviceType: MODEM, triggerType: 'sms', spanContext: undefined, deviceKey: this.path });
      return;
    }
    const attributes: Attributes = {
      [ATTR.triggerType]: 'sms',
      [ATTR.deviceType]: MODEM,
      [ATTR.port]: this.path,
      [ATTR.command]: e.name,
    };
    if (e.tpduLength !== null) attributes[ATTR.pduLength] = e.tpduLength;
    if (e.mr !== null) attributes[ATTR.mr] = e.mr;
    const span = this.ctx.tracer().startSpan(
      'sms.trigger',
      { kind: SpanKind.PRODUCER, startTime: e.at - e.durationMs, attributes },
      this.parentOf(e.id),
    );
    span.end(e.at);
    noteTriggerSent({ atMs: e.at, deviceType: MODEM, triggerType: 'sms', spanContext: span.spanContext(), deviceKey: this.path });
  }

  /** Ends every open span (the decoder lost track, or the instrumentation is going away). */
  abandonAll(atMs: number): void {
    while (this.spans.size > 0) this.dropOldest(atMs);
  }

  /** The port closed: a BIP channel the card had open through it ends. */
  portClosed(atMs: number): void {
    abandonChannels(this.path, atMs);
  }

  get openSpans(): number {
    return this.spans.size;
  }

  // ----------------------------------------------------------------------------------------------

  private stk(name: string, msg: StkMessage | null, atMs: number): void {
    if (msg === null) return;
    this.bip ??= { deviceType: MODEM, key: this.path, attributes: { [ATTR.port]: this.path }, source: name };
    const device = this.bip.source === name ? this.bip : { ...this.bip, source: name };
    recordStk(this.ctx.tracer(), this.ctx.instruments(), device, msg, atMs);
  }

  private startOf(name: string, kind: AtCommandKind): SpanStart {
    let byKind = this.starts.get(name);
    if (byKind === undefined) {
      byKind = {};
      if (this.starts.size < MAX_CACHED_NAMES) this.starts.set(name, byKind);
    }
    let start = byKind[kind];
    if (start === undefined) {
      start = {
        spanName: `at ${name}`,
        attributes: { [ATTR.command]: name, [ATTR.kind]: kind, [ATTR.port]: this.path, [ATTR.deviceType]: MODEM },
      };
      byKind[kind] = start;
    }
    return start;
  }

  /** The same APDU metrics as the SCP81 path (one recorder); a modem times each APDU on its own. Returns the status category. */
  private countApdu(type: string, sw: number, sentBytes: number, receivedBytes: number, durationMs: number): StatusCategory {
    const m = this.ctx.instruments();
    countCommand(m, type, MODEM);
    countApduBytes(m, 'sent', sentBytes);
    const category = countResponseCategory(m, sw);
    countApduBytes(m, 'received', receivedBytes);
    timeApdu(m, type, durationMs / 1000);
    return category;
  }

  /** One line for a timeout or an error answer, in the context of the command's `at` span. */
  private logResult(e: AtCommandEndEvent, level: WritableLevel, message: string): void {
    if (!log.isLevelEnabled(level) || !limiter.allow(e.result, level)) return;
    // Name and port only: the command line may carry a PIN or an APDU.
    const fields: LogFields = { command: e.name, port: this.path, result: e.result };
    // A textual error is whatever the modem sent: escaped.
    if (e.errorCode !== undefined) fields['error_code'] = e.errorNumber !== undefined ? String(e.errorNumber) : peerText(e.errorCode);
    fields['duration_ms'] = roundMs(e.durationMs);
    logInSpan(log[level], this.spans.get(e.id), message, fields);
  }

  /** A submission that failed (error, timeout, port closed): a failed `sms.trigger`, not counted as sent. */
  private failedTrigger(e: AtCommandEndEvent): void {
    if (!tracingEnabled()) return;
    const span = this.ctx.tracer().startSpan(
      'sms.trigger',
      {
        kind: SpanKind.PRODUCER,
        startTime: e.startMs,
        attributes: {
          [ATTR.triggerType]: 'sms',
          [ATTR.deviceType]: MODEM,
          [ATTR.port]: this.path,
          [ATTR.command]: e.name,
          [ATTR.result]: e.result,
          [ATTR_ERROR_TYPE]: e.result,
        },
      },
      this.parentOf(e.id),
    );
    span.setStatus({ code: SpanStatusCode.ERROR, message: e.errorCode !== undefined ? `${e.result} ${e.errorCode}` : e.result });
    span.end(e.endMs);
  }

  private parentOf(id: number) {
    const span = this.spans.get(id);
    return span === undefined ? context.active() : trace.setSpan(context.active(), span);
  }

  private dropOldest(atMs?: number): void {
    const span = this.spans.takeOldest();
    if (span === undefined) return;
    span.setAttribute(ATTR.result, 'unknown');
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'lost track of this command' });
    span.end(atMs);
  }
}
