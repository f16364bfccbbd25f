/**
 * Pure AT command stream decoder (ITU-T V.250, 3GPP TS 27.007 / 27.005).
 *
 * Fed with the bytes an application WRITES to a modem port and the bytes it READS back, in any
 * chunking, each with a caller-supplied timestamp in milliseconds (or a clock it reads only when
 * it needs the time); reports commands, their final results, URCs, `+CSIM` / `+CRSM` exchanges,
 * `+CMGS` SMS submissions and prompts through a listener.
 * No OpenTelemetry, no I/O, no timers (time only moves when the caller passes it), never throws,
 * bounded memory: written and read line buffers, pending-command queue, stored lines, a cache of
 * parsed command lines.
 *
 * Decisions worth knowing (the tests pin each one):
 *
 * - Commands end at CR only (V.250 S3). A written line is a command when, after any leading
 *   whitespace, `A/` or `+++` (and after the last Ctrl-Z/ESC, i.e. leftovers of an SMS body), it
 *   starts with `AT`/`at` and holds no control byte. Anything else is counted in `stats.writtenNoise`.
 * - Answer lines end at CR or LF; empty lines are skipped, so CR LF, lone CR and lone LF all work.
 * - Echo: a read line equal to the text of a command not yet echoed is that command's echo and is
 *   skipped, whatever `ATE` said: no echo state is needed.
 * - Final results `OK`, `ERROR`, `+CME ERROR: x`, `+CMS ERROR: x`, `NO CARRIER`, `BUSY`,
 *   `NO ANSWER`, `NO DIALTONE` (and the V.250 digits after a written `ATV0`) close the OLDEST
 *   command. So do the vendor error finals ModemManager and ofono end a command on
 *   (`COMMAND NOT SUPPORT`, `TOO MANY PARAMETERS`, `NA`, `MODEM ERROR: <n>`, `+EXT ERROR: <x>`):
 *   result `error`, the line as its error code; otherwise the command would end as a false timeout. `CONNECT [text]` is final for `ATD`, `ATA`, `ATO`, `AT+CGDATA`, Quectel's transparent
 *   access mode (`AT+QIOPEN`, `AT+QISWTMD`) and SIMCom's transparent `AT+CIPOPEN` (result `connect`; the port is then in data mode, see
 *   below); for any other command (vendor transfers such as `AT+QFUPL`) it is an intermediate line
 *   and the command waits for its `OK`. With nothing pending (SIMCom's transparent `AT+CIPSTART`
 *   answers `OK`, then `CONNECT`) it switches to data mode. A few commands have finals of their
 *   own, for them only: `SEND OK` / `SEND FAIL` (`+QISEND`, `+QSSLSEND`, `+CIPSEND`),
 *   `DATA ACCEPT:` (SIMCom's quick `+CIPSEND`), `SHUT OK` (`+CIPSHUT`), `[<n>, ]CLOSE OK` (`+CIPCLOSE`).
 * - Information lines: a prefixed line (`+CSIM: ...`) whose prefix is one of the pending command's
 *   names belongs to it, even when the prefix is a URC name (`+CPIN: READY` for `AT+CPIN?`,
 *   `+CREG: 0,1` for `AT+CREG?`); another prefixed line is a URC (named when known, else `other`).
 *   A prefix-less line is a URC when it is a known bare URC (`RING`, `RDY` ...), else it belongs to
 *   the pending command (`ATI`, `AT+CGSN`, `AT+CIMI` answer without prefix), else, with nothing
 *   pending, a URC `other`. URC names are bounded (at-names.ts): a known name with a digit glued on
 *   (`+PACSP0`) or followed by text instead of a colon (`^SYSSTART AIRPLANE MODE`) is that name,
 *   and the latter is a URC even while a command is pending. `+CMT`, `+CBM` and PDU-mode `+CDS: <len>` take the next line as their
 *   data (the PDU), reported in the same URC event.
 * - `AT+CMGS=...` (also `+CMGW`, `+CMGC`, set form): after its CR the written bytes are the message
 *   body until Ctrl-Z (send) or ESC (cancel); the modem's `> ` prompt (no line end) is reported as a
 *   `prompt` event and the rest of that line (the body's echo) is skipped. A cancelled command ends
 *   with result `cancelled` at its final result (modems answer ESC with `OK`) or deadline. A send
 *   answered `+CMGS: <mr>` + `OK` reports `smsSubmit`.
 * - Timeouts: a command without a final result by its deadline (default 5 s; 60 s for `+CMGS`,
 *   `+CMSS`, `+CMGW` and `+COPS=?`; configurable) ends as `timeout` when a feed or `tick` passes the
 *   deadline; its end time is the deadline, not the time the decoder noticed. The application's own
 *   timeout is unknown and often shorter, so a command still pending `abandonAfterMs` (default 1 s)
 *   after it was written ends as `timeout` when the application writes its next command line: an
 *   application that waits for answers only does that once it gave up (pipelined commands, written
 *   together, are younger than that). Either way the command then waits for a late answer below.
 * - Late answers. The decoder models the modem as answering commands strictly in order, so a timed-out
 *   command stays in the queue as "may still answer" for a late window (default: its own timeout):
 *     1. A final result that arrives while the oldest queued entry is such a timed-out command is that
 *        command's late answer and is discarded (`stats.lateResults`), never given to a newer command.
 *        Information lines seen meanwhile are likewise held back, not given to the newer command.
 *     2. As soon as the newer command shows it is being answered (its echo, its `> ` prompt, or a
 *        prefixed line that only it can produce), every timed-out entry ahead of it is dropped: a
 *        serial modem has finished with them.
 *     3. Echo off and a command that never answers make rule 1 ambiguous: the newer command's own
 *        final would be discarded. So the last final discarded while the newer command showed no sign
 *        of life is kept aside; if that command then reaches its deadline with nothing else, or the
 *        application writes another command (it obviously got its answer), the kept final (and the
 *        lines before it) become that command's result, timed when they arrived
 *        (`stats.reattributedResults`). Otherwise (its echo or another final arrives) the kept final
 *        is confirmed as the old command's late answer.
 *     4. A command the application gave up on sooner than `abandonAfterMs` is still pending when
 *        the next one is written. The modem answers one command at a time, so it went past the
 *        older one when the next one shows it is being answered while the older one's answer has
 *        not begun: by its echo, when the older one was not even echoed; by its prompt, or a
 *        prefixed line only it produces that is no URC name, when the older one has no line yet
 *        (echoed or not). The older one then ends as `timeout` (`stats.skipped`), and the answer
 *        goes to the command it belongs to instead of shifting every later result by one. An
 *        older one that already has lines but no final (Wavecom's `AT+CPIN?` is never followed by
 *        `OK`) ends as `ok` at that sign (`stats.unterminated`).
 * - Queue bound (`maxPending`, default 32): on overflow the oldest timed-out entries are forgotten
 *   first, then the oldest pending command ends with result `overflow`.
 * - Data mode: after `CONNECT` for a dial-type command the bytes both ways are payload (PPP ...):
 *   nothing is decoded or counted as noise until a read `NO CARRIER` (reported as URC), `OK` or
 *   `ERROR` line (the answer to `+++`), or a written AT command line.
 * - Data phases without a terminator (a socket send's payload after its `> ` / `@` prompt, ESP-AT's
 *   data after `OK` and `>`, a `+QFUPL` upload): written bytes still waiting for their CR when the
 *   modem sends a line are payload and dropped, unless they can begin a command line (`A`, `AT...`,
 *   blanks, `+++`). A written line whose command follows the escape `+++` after payload (ESP-AT
 *   leaves passthrough on `+++` without an answer) starts after the last `+++`.
 * - Binary write: a binary line (its last control byte is one no command holds: binary payload,
 *   a CR about every 256 bytes) in a write() longer than 64 bytes makes the rest of that write
 *   payload, one noise line in `stats.writtenNoise`, and the next write begins a new line. An
 *   application writes a command after payload in a write of its own (after `+++` and its guard
 *   time, or once the payload's last byte is sent), and that command is seen whatever the
 *   payload's last bytes were; a command right behind payload in the same write is not. Lines
 *   before the binary line are classified as usual. Why: checking every line of the payload takes
 *   a native search each (a CR about every 256 bytes), which in a running application costs far
 *   more than in a warm loop; it showed in bench/serialport's pure-data rows. This is the one
 *   place where how the application chunked its writes matters: `stats.writtenNoise` and what is
 *   payload depend on the write sizes. Commands, SMS bodies, `+++` and writes of at most 64 bytes
 *   are decoded line by line, in any chunking.
 * - Binary read: a read line holding a control byte (binary payload, line noise) switches the read
 *   side to skipping everything up to the next CR LF (unless, without its control bytes, it is the
 *   final result of a pending command: then it is that result, and still counted as noise), the framing of every V.250 verbose answer
 *   (`\r\nOK\r\n`, `\r\nNO CARRIER\r\n`, `\r\n+CMTI: "SM",3\r\n`): one native search per chunk
 *   instead of one per line, which is what binary payload costs otherwise. After that CR LF, or
 *   when the application writes a command line, lines are read one by one again. The price:
 *   `stats.readNoise` counts runs of binary (a noise line and what follows it up to a CR LF), not
 *   every noise line; text between a noise line and the next CR LF is not seen (a lone-CR or
 *   lone-LF line, ATV0 numeric results not preceded by CR LF, the echo of nothing written). Where
 *   a run ends depends on the bytes only, never on how they were chunked. A run that starts with
 *   no command queued and not in data mode (nothing that could answer: a port carrying no AT
 *   traffic, or noise at power-up) is searched for its CR LF over its first 64 KiB only; longer,
 *   it lasts until the application writes a command line, and chunks cost nothing but a check. A
 *   URC after that much binary with nothing pending is not seen; an answer, `NO CARRIER` and
 *   everything after power-up noise are.
 * - `close(now)` (port closed) ends every pending command with result `closed`.
 * - Events of one command come in this order: `commandStart`, `prompt`, domain event (`csim`, `crsm`,
 *   `smsSubmit`), `commandEnd`. A listener that throws is counted (`stats.listenerErrors`), never
 *   propagated.
 */

import {
  AT_RESPONSE_ALIASES,
  AT_URC_NAMES,
  VENDOR_ERROR_FINALS,
  errorNumber,
  isBareUrc,
  isCommandPrefixChar,
  isNumberedVendorError,
  linePrefix,
  parseAtCommandLine,
  spacedUrcName,
  urcName,
  type AtCommandKind,
  type AtResult,
} from './at-names.js';
import { latin1Text } from '../shared/latin1.js';

export { AT_OTHER, AT_RESULTS, atCommandName, parseAtCommandLine } from './at-names.js';
export type { AtCommandKind, AtCommandLineInfo, AtResult } from './at-names.js';

/** Default per-command timeouts in ms, keyed by name, or by name + `?` / `=?` for one form. */
export const DEFAULT_AT_TIMEOUTS_MS: Readonly<Record<string, number>> = Object.freeze({
  '+CMGS': 60_000,
  '+CMSS': 60_000,
  '+CMGW': 60_000,
  '+COPS=?': 60_000,
});

export interface AtDecoderOptions {
  /** Timeout of commands not listed in `commandTimeoutsMs` (default 5000 ms). */
  defaultTimeoutMs?: number;
  /** Per-command timeouts merged over DEFAULT_AT_TIMEOUTS_MS; keys `+CSIM`, `+COPS=?`, `+CPIN?`, `D`. */
  commandTimeoutsMs?: Readonly<Record<string, number>>;
  /** How long a timed-out command's late answer is expected (default: that command's timeout). */
  lateAnswerWindowMs?: number;
  /**
   * A command still pending this long when the application writes another command line is taken
   * as given up by the application and ends as `timeout` at that write (default 1000 ms;
   * `Infinity` disables). Commands written together (pipelined) are younger than this.
   */
  abandonAfterMs?: number;
  /** Longest read line kept (default 4096 bytes); longer lines are skipped and counted. */
  maxLineLength?: number;
  /** Longest written line or message body kept (default 4096 bytes). */
  maxWrittenLineLength?: number;
  /** Queue bound, pending and timed-out commands together (default 32). */
  maxPending?: number;
  /** Intermediate lines kept per command (default 16). */
  maxLinesPerCommand?: number;
  /** Length at which a kept intermediate line is cut (default 256 characters). */
  maxStoredLineLength?: number;
  /** Length at which command texts and URC lines in events are cut (default 512 characters). */
  maxTextLength?: number;
}

export interface AtCommandStartEvent {
  readonly id: number;
  /** Bounded name (label-safe): `+CSIM`, `E`, `AT`, `other`. */
  readonly name: string;
  readonly kind: AtCommandKind;
  /** The command line as written, arguments included, cut at maxTextLength. */
  readonly text: string;
  readonly at: number;
}

export interface AtCommandEndEvent {
  readonly id: number;
  readonly name: string;
  readonly kind: AtCommandKind;
  readonly result: AtResult;
  /** The argument of `+CME ERROR:` / `+CMS ERROR:` as sent (`10`, `SIM not inserted`), cut at 64. */
  readonly errorCode: string | undefined;
  /** That argument as a number (27.007 texts mapped to their numbers), when known. */
  readonly errorNumber: number | undefined;
  readonly startMs: number;
  readonly endMs: number;
  readonly durationMs: number;
  /** Intermediate lines (bounded count and length). */
  readonly lines: readonly string[];
  /** True when lines were dropped or cut. */
  readonly linesTruncated: boolean;
  /** True when the modem echoed the command. */
  readonly echoed: boolean;
}

export interface AtUrcEvent {
  /** Known URC name (`+CMTI`, `RING`, `+QIND` ...) or `other`. */
  readonly name: string;
  /** The URC line, cut at maxTextLength. */
  readonly line: string;
  /** The second line of `+CMT` / `+CBM` / `+CDS` (the PDU); null for one-line URCs or an unreadable line. */
  readonly data: string | null;
  readonly at: number;
}

export interface AtCsimEvent {
  readonly id: number;
  /** Upper-case hex of the C-APDU; null when the command's hex is not valid hex. */
  readonly commandHex: string | null;
  /** Upper-case hex of the R-APDU (data + SW); null without a valid `+CSIM:` answer. */
  readonly responseHex: string | null;
  /** Last 4 hex digits of responseHex (`9000`, `6120`); null without. */
  readonly sw: string | null;
  /** A `<length>` that disagrees with its hex (command or response); the hex is still reported. */
  readonly lengthMismatch: boolean;
  /** The command or its answer did not parse (missing/odd/invalid hex, missing length). */
  readonly malformed: boolean;
  readonly result: AtResult;
  readonly durationMs: number;
  readonly at: number;
}

export interface AtCrsmEvent {
  readonly id: number;
  /** 27.007 +CRSM command: 176 READ BINARY, 178 READ RECORD, 192 GET RESPONSE, 214 UPDATE BINARY, 220 UPDATE RECORD, 242 STATUS. */
  readonly command: number | null;
  readonly fileId: number | null;
  readonly p1: number | null;
  readonly p2: number | null;
  readonly p3: number | null;
  readonly dataHex: string | null;
  readonly pathId: string | null;
  /** Status bytes, decimal in the answer `+CRSM: <sw1>,<sw2>[,"<hex>"]`. */
  readonly sw1: number | null;
  readonly sw2: number | null;
  /** `sw1 sw2` as 4 upper-case hex digits (`9000`); null without an answer. */
  readonly sw: string | null;
  readonly responseHex: string | null;
  readonly result: AtResult;
  readonly durationMs: number;
  readonly at: number;
}

export interface AtSmsSubmitEvent {
  readonly id: number;
  /** `+CMGS` (PDU/text entry) or `+CMSS` (send from storage). */
  readonly name: string;
  /** TP-Message-Reference from `+CMGS: <mr>`; null when unreadable. */
  readonly mr: number | null;
  /** The message body written before Ctrl-Z when it is hex (PDU mode); null otherwise. */
  readonly pduHex: string | null;
  /** The TPDU length `AT+CMGS=<length>` gave (PDU mode); null in text mode and for `+CMSS`. */
  readonly tpduLength: number | null;
  readonly durationMs: number;
  readonly at: number;
}

export interface AtPromptEvent {
  readonly id: number;
  readonly at: number;
}

/** Receives decoder events; every method is optional. */
export interface AtListener {
  commandStart?(e: AtCommandStartEvent): void;
  commandEnd?(e: AtCommandEndEvent): void;
  urc?(e: AtUrcEvent): void;
  csim?(e: AtCsimEvent): void;
  crsm?(e: AtCrsmEvent): void;
  smsSubmit?(e: AtSmsSubmitEvent): void;
  prompt?(e: AtPromptEvent): void;
}

/** Counters of what the decoder saw; plain numbers the instrumentation can read at any time. */
export interface AtDecoderStats {
  commands: number;
  echoes: number;
  urcs: number;
  /** Written lines that are not AT commands (binary, text without `AT`). */
  writtenNoise: number;
  /** Written lines or message bodies longer than maxWrittenLineLength. */
  writtenOverflow: number;
  /** Runs of binary read: a read line holding control bytes and what follows it up to the next CR LF. */
  readNoise: number;
  /** Read lines longer than maxLineLength. */
  readOverflow: number;
  /** Final results with nothing pending and no late answer expected. */
  strayFinals: number;
  /** Final results confirmed as a timed-out command's late answer (discarded). */
  lateResults: number;
  /** Information lines discarded as a timed-out command's late answer. */
  lateLines: number;
  /** Kept-aside finals finally given to the newer command (late-answer rule 3). */
  reattributedResults: number;
  /** Pending commands the modem went past before their answer began, ended as `timeout` (rule 4). */
  skipped: number;
  /**
   * Commands answered with lines but no final result before the modem went on to the next one
   * (Wavecom's `AT+CPIN?`: `+CPIN: READY`, no `OK`), ended as `ok` (rule 4).
   */
  unterminated: number;
  /** Commands ended with `overflow` or timed-out entries forgotten because the queue was full. */
  queueOverflow: number;
  listenerErrors: number;
  /** Decoder bugs caught (state reset); should stay 0. */
  internalErrors: number;
}

interface FinalResult {
  readonly result: AtResult;
  readonly errorCode: string | undefined;
}

const fin = (result: AtResult): FinalResult => Object.freeze({ result, errorCode: undefined });
const F_OK = fin('ok');
const F_ERROR = fin('error');
const F_NO_CARRIER = fin('no_carrier');
const F_BUSY = fin('busy');
const F_NO_ANSWER = fin('no_answer');
const F_NO_DIALTONE = fin('no_dialtone');
const F_CONNECT = fin('connect');
const F_TIMEOUT = fin('timeout');
const F_CANCELLED = fin('cancelled');
const F_OVERFLOW = fin('overflow');
const F_CLOSED = fin('closed');
/** V.250 numeric result codes (ATV0), index = digit; 2 (RING) and 5 are not finals. */
const NUMERIC_FINALS: readonly (FinalResult | null)[] = [
  F_OK,
  F_CONNECT,
  null,
  F_NO_CARRIER,
  F_ERROR,
  null,
  F_NO_DIALTONE,
  F_BUSY,
  F_NO_ANSWER,
];

/** A vendor's error final (`COMMAND NOT SUPPORT`, `MODEM ERROR: 5`): `error`, the line as its code. */
function vendorErrorFinal(line: string): FinalResult {
  return { result: 'error', errorCode: cut(line, MAX_ERROR_CODE_LENGTH) };
}

/** Commands after which the modem waits for a message body ended by Ctrl-Z / ESC (27.005). */
const TEXT_ENTRY_COMMANDS: ReadonlySet<string> = new Set(['+CMGS', '+CMGW', '+CMGC']);
/** Commands whose `CONNECT` is a final result that switches the port to data mode (V.250, 27.007 +CGDATA). */
const DIAL_COMMANDS: ReadonlySet<string> = new Set(['D', 'A', 'O', '+CGDATA']);
const EMPTY_LINES: readonly string[] = Object.freeze([]);
const MAX_ERROR_CODE_LENGTH = 64;
const MAX_PDU_CHARS = 1024;

const CR = 13;
const LF = 10;
const CTRL_Z = 0x1a;
const ESC = 0x1b;

/** Entry states of a text-entry command (`+CMGS`). */
const ENTRY_NONE = 0;
const ENTRY_OPEN = 1;
const ENTRY_SENT = 2;
const ENTRY_CANCELLED = 3;

/** One queued command: pending, or timed out and possibly still answering late. */
class QueuedCommand {
  timedOut = false;
  lateUntil = 0;
  echoed = false;
  /** The modem showed it is answering this command (echo, prompt, a line only it can produce). */
  alive = false;
  lines: string[] = [];
  linesTruncated = false;
  /** The first `+CSIM:` / `+CRSM:` / `+CMGS:` / `+CMSS:` answer line, kept whole for decoding. */
  response: string | null = null;
  entry = ENTRY_NONE;
  prompted = false;
  pduHex: string | null = null;
  /** The application wrote a later command after this one had lines: it took them for the whole answer. */
  answeredBeforeNext = false;
  constructor(
    readonly id: number,
    readonly name: string,
    readonly kind: AtCommandKind,
    /** Full command text (for echo matching and argument decoding). */
    readonly text: string,
    /** Trimmed text compared with read lines. */
    readonly echoKey: string,
    /** Answer prefixes that belong to this command (names of the line + aliases). */
    readonly prefixes: readonly string[],
    readonly startMs: number,
    readonly deadline: number,
    readonly timeoutMs: number,
  ) {}
}

/** A pending command the modem has shown no sign of working on: no echo, prompt, line or life. */
function isSilent(c: QueuedCommand): boolean {
  return !c.alive && !c.echoed && isUnanswered(c);
}

/** A pending command whose answer has not begun (it may have been echoed): no prompt, no line. */
function isUnanswered(c: QueuedCommand): boolean {
  return !c.prompted && c.lines.length === 0;
}

/** What a command line means to the queue (parseAtCommandLine and the timeout), cached per text. */
interface CommandShape {
  readonly name: string;
  readonly kind: AtCommandKind;
  readonly verbose: boolean | undefined;
  /** Answer prefixes that belong to the command (names of the line + aliases); shared, never changed. */
  readonly prefixes: readonly string[];
  readonly timeoutMs: number;
}

/** Parsed command lines cached per decoder, and the longest text cached. */
const MAX_CACHED_COMMANDS = 64;
const MAX_CACHED_COMMAND_LENGTH = 64;

/** The final kept aside by late-answer rule 3, with the lines before it. */
interface KeptFinal {
  readonly cmd: QueuedCommand;
  readonly final: FinalResult;
  readonly at: number;
  readonly lines: string[];
}

/** A URC whose next line is its data (`+CMT`). */
interface UrcContinuation {
  readonly name: string;
  readonly line: string;
}

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === LF || c === CR;
}

/** Control bytes that make a line binary noise (TAB is allowed; bytes >= 0x80 are allowed text). */
function isControl(c: number): boolean {
  return (c < 0x20 && c !== 0x09) || c === 0x7f;
}

/** 1 for the control bytes of isControl, else 0. */
const CONTROL = new Uint8Array(256);
for (let c = 0; c < 256; c++) CONTROL[c] = isControl(c) ? 1 : 0;

/**
 * Whether b[from, to) holds a control byte. Eight bytes per branch: binary payload has a control
 * byte every 8 bytes or so, and a byte-by-byte loop spends its time in mispredicted exits.
 */
function hasControl(b: Buffer, from: number, to: number): boolean {
  const t = CONTROL;
  let k = from;
  for (; k + 8 <= to; k += 8) {
    const any =
      t[b[k]!]! | t[b[k + 1]!]! | t[b[k + 2]!]! | t[b[k + 3]!]! | t[b[k + 4]!]! | t[b[k + 5]!]! | t[b[k + 6]!]! | t[b[k + 7]!]!;
    if (any !== 0) return true;
  }
  for (; k < to; k++) if (t[b[k]!] !== 0) return true;
  return false;
}

/**
 * 1 for the control bytes that no command part holds (all but LF, which may be leading whitespace,
 * and Ctrl-Z / ESC, after which a command part starts): nothing up to such a byte is a command.
 */
const BAD_IN_COMMAND = new Uint8Array(256);
for (let c = 0; c < 256; c++) BAD_IN_COMMAND[c] = isControl(c) && c !== LF && c !== CTRL_Z && c !== ESC ? 1 : 0;

/** 1 for the bytes that cannot come right before an LF in a command line's leading part (see writtenLine). */
const NOT_BEFORE_LEADING_LF = new Uint8Array(256).fill(1);
for (const c of [0x20, 0x09, LF, 0x2f, 0x2b, CTRL_Z, ESC]) NOT_BEFORE_LEADING_LF[c] = 0;

/**
 * Per byte, what the nearest control byte before a written line's CR says (isBinaryLine): 0 not a
 * control byte, 1 one no command part holds (the line is binary), 2 LF, Ctrl-Z or ESC (writtenLine
 * decides).
 */
const WRITTEN_KIND = new Uint8Array(256);
for (let c = 0; c < 256; c++) WRITTEN_KIND[c] = BAD_IN_COMMAND[c] === 1 ? 1 : CONTROL[c] === 1 ? 2 : 0;

/**
 * Whether b[from, to) holds a control byte other than LF: then where the line's command part could
 * start (after a Ctrl-Z / ESC) or that it has none lies in b[from, to), whatever came before it.
 */
function hasCommandBreak(b: Buffer, from: number, to: number): boolean {
  for (let k = to - 1; k >= from; k--) {
    const c = b[k]!;
    if (CONTROL[c] !== 0 && c !== LF) return true;
  }
  return false;
}

/** Lengths up to which appendWritten copies in JS (a native copy costs more for a few bytes). */
const SHORT_COPY = 32;


/**
 * Commands whose `CONNECT` is a final result that switches the port to data mode, besides the
 * dial-type ones: Quectel's transparent access mode (`AT+QIOPEN=...,2`, `AT+QISWTMD=<id>,2`) and
 * SIMCom's `AT+CIPOPEN` after `AT+CIPMODE=1` (SIM7600: `CONNECT 115200`). In their normal modes
 * these commands answer no `CONNECT`.
 */
const TRANSPARENT_COMMANDS: ReadonlySet<string> = new Set(['+QIOPEN', '+QISWTMD', '+CIPOPEN']);

/** A read line with control bytes longer than this is never taken for a final result (readControlLine). */
const MAX_FINAL_WITH_CONTROLS = 256;

/** b[from, to) as latin1 text without its control bytes. */
function withoutControls(b: Buffer, from: number, to: number): string {
  let out = '';
  for (let i = from; i < to; i++) {
    const c = b[i]!;
    if (CONTROL[c] === 0) out += String.fromCharCode(c);
  }
  return out;
}

/** Latin-1 characters String#trim removes (a clean line has no control byte but TAB). */
function canTrim(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0xa0 || (c >= 0x0a && c <= 0x0d);
}

/**
 * Whether b[0, len) can be the start of a command line still being written: after its last
 * Ctrl-Z / ESC (what precedes is a message body; `dirty`: the line's start was dropped at a
 * control byte, so a command part needs one), blanks and `+` (the data-mode escape) so far, or,
 * after them, `A` followed by nothing, `T` or `/`.
 */
function mayStartCommand(b: Buffer, len: number, dirty: boolean): boolean {
  let i = len - 1;
  while (i >= 0 && b[i] !== CTRL_Z && b[i] !== ESC) i--;
  if (i < 0 && dirty) return false;
  i++;
  while (i < len && (isWhitespace(b[i] as number) || b[i] === 0x2b)) i++;
  if (i === len) return true;
  if (((b[i] as number) | 0x20) !== 0x61) return false;
  if (i + 1 === len) return true;
  const c = (b[i + 1] as number) | 0x20;
  return c === 0x74 || c === 0x2f;
}

/** The index after the last `+++` of b[from, to) that is followed by `AT` / `at`, or -1. */
function lastEscapeBeforeAt(b: Buffer, from: number, to: number): number {
  for (let k = to - 5; k >= from; k--) {
    if (b[k] === 0x2b && b[k + 1] === 0x2b && b[k + 2] === 0x2b && ((b[k + 3] as number) | 0x20) === 0x61 && ((b[k + 4] as number) | 0x20) === 0x74) {
      return k + 3;
    }
  }
  return -1;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function onlyWhitespace(b: Buffer, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (!isWhitespace(b[k] as number)) return false;
  return true;
}

function latin1(b: Buffer, from: number, to: number): string {
  // `OK`, and most text lines binary payload throws up, are one or two bytes: cheaper without a native call.
  if (to - from === 1) return String.fromCharCode(b[from]!);
  if (to - from === 2) return String.fromCharCode(b[from]!, b[from + 1]!);
  return latin1Text(b, from, to);
}

/**
 * Whether the written line b[from, to) is binary: its last control byte is one no command holds
 * (WRITTEN_KIND 1), so it is noise whatever came before it.
 */
function isBinaryLine(b: Buffer, from: number, to: number): boolean {
  let k = to - 1;
  while (k >= from && WRITTEN_KIND[b[k]!] === 0) k--;
  return k >= from && WRITTEN_KIND[b[k]!] === 1;
}

/** Remaining lengths up to which indexOfByte searches in JS. */
const SHORT_SEARCH = 64;

/** Bytes a binary read run with nothing that could answer is searched for its CR LF (see "Binary read"). */
const BINARY_READ_SEARCH = 64 * 1024;

/**
 * `b.indexOf(byte, from)`, in JS when little is left to search: AT traffic comes in chunks of a few
 * dozen bytes, where a native call costs more than the loop (all the more between two commands,
 * when the caches are cold). Binary payload comes in large chunks, searched natively.
 */
function indexOfByte(b: Buffer, byte: number, from: number): number {
  const n = b.length;
  if (n - from > SHORT_SEARCH) return b.indexOf(byte, from);
  for (let k = from; k < n; k++) if (b[k] === byte) return k;
  return -1;
}

const CRLF = Buffer.from([CR, LF]);

/** `b.indexOf(CRLF, from)` in JS, for the short rests indexOfByte also searches in JS. */
function indexOfCrLf(b: Buffer, from: number): number {
  const last = b.length - 1;
  for (let k = from; k < last; k++) if (b[k] === CR && b[k + 1] === LF) return k;
  return -1;
}

/** Upper-case hex when `s` is a non-empty, even-length string of hex digits; else null. */
export function normalizeHex(s: string | undefined | null): string | null {
  if (typeof s !== 'string' || s.length === 0 || (s.length & 1) !== 0) return null;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))) return null;
  }
  return s.toUpperCase();
}

/**
 * Splits AT arguments (`14,"00A4..."`) at commas outside double quotes, removing the quotes and
 * surrounding spaces. At most `max` arguments are returned.
 */
export function splitAtArguments(s: string, max = 8): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let wasQuoted = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (ch === '"') {
      quoted = !quoted;
      wasQuoted = true;
    } else if (ch === ',' && !quoted) {
      out.push(wasQuoted ? cur : cur.trim());
      if (out.length >= max) return out;
      cur = '';
      wasQuoted = false;
    } else if (quoted || ch !== ' ' || cur.length > 0) cur += ch;
  }
  out.push(wasQuoted ? cur : cur.trim());
  return out;
}

/** A non-negative decimal integer of at most 9 digits, else null. */
function parseUint(s: string | undefined): number | null {
  if (s === undefined || s.length === 0 || s.length > 9) return null;
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return null;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

/** The arguments after `=` of a set command (`AT+CSIM=14,"..."`), or after `: ` of an answer line. */
function argumentsAfter(text: string, sep: string): string[] {
  const i = text.indexOf(sep);
  return i < 0 ? [] : splitAtArguments(text.slice(i + sep.length));
}

function cut(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) : s;
}

function positive(v: number | undefined, dflt: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : dflt;
}

/**
 * The stream decoder. One instance per port; `written()` / `read()` / `tick()` in time order.
 * Timestamps are milliseconds from any monotonic-ish clock; a non-finite timestamp reuses the last one.
 */
export class AtDecoder {
  readonly stats: AtDecoderStats = {
    commands: 0,
    echoes: 0,
    urcs: 0,
    writtenNoise: 0,
    writtenOverflow: 0,
    readNoise: 0,
    readOverflow: 0,
    strayFinals: 0,
    lateResults: 0,
    lateLines: 0,
    reattributedResults: 0,
    skipped: 0,
    unterminated: 0,
    queueOverflow: 0,
    listenerErrors: 0,
    internalErrors: 0,
  };

  private readonly listener: AtListener;
  private readonly defaultTimeoutMs: number;
  private readonly timeouts: Readonly<Record<string, number>>;
  private readonly lateWindowMs: number | undefined;
  private readonly abandonAfterMs: number;
  private readonly maxPending: number;
  private readonly maxLines: number;
  private readonly maxStoredLine: number;
  private readonly maxText: number;

  // Written side: the current line (or message body while a text-entry command is open).
  private readonly wBuf: Buffer;
  private wLen = 0;
  /** Length of the current written line so far (wBuf may hold only its end, see appendWritten). */
  private wTotal = 0;
  /** The current written line had a control byte that rules out every byte up to it (see appendWritten). */
  private wDirty = false;
  private wOverflow = false;
  /** The text-entry command whose body is being written, if any. */
  private entryCmd: QueuedCommand | null = null;

  // Read side: the current line.
  private readonly rBuf: Buffer;
  private rLen = 0;
  private rOverflow = false;
  /** Skip the rest of the current line (after a `> ` prompt: the body's echo). */
  private rSkip = false;
  /** The text-entry command whose `> ` prompt may come. */
  private promptCmd: QueuedCommand | null = null;
  private urcContinuation: UrcContinuation | null = null;
  /** Binary read: skipping to the next CR LF (see "Binary read" above). */
  private rBinary = false;
  /** In binary read, the last byte read was CR: a CR LF may straddle two chunks. */
  private rBinaryCr = false;
  /** Bytes of the binary read run still searched for its CR LF (see "Binary read" above). */
  private rBinaryLeft = 0;

  /** Commands in write order: pending ones and timed-out ones that may still answer. */
  private queue: QueuedCommand[] = [];
  /** Lines held back while a timed-out command is ahead of the first pending one (rule 1). */
  private heldLines: string[] = [];
  private kept: KeptFinal | null = null;
  private nextDeadline = Infinity;
  private seq = 0;
  private numericResults = false;
  private dataMode = false;
  /** Parsed command lines by text (bounded: MAX_CACHED_COMMANDS of at most MAX_CACHED_COMMAND_LENGTH). */
  private readonly shapes = new Map<string, CommandShape>();
  private lastNow = 0;
  /** The clock given to the written() call in progress, until read (writtenNow). */
  private wClock: (() => number) | null = null;
  private wNow = 0;

  constructor(listener: AtListener = {}, options: AtDecoderOptions = {}) {
    this.listener = listener;
    this.defaultTimeoutMs = positive(options.defaultTimeoutMs, 5000);
    this.timeouts = { ...DEFAULT_AT_TIMEOUTS_MS, ...(options.commandTimeoutsMs ?? {}) };
    this.lateWindowMs =
      typeof options.lateAnswerWindowMs === 'number' && options.lateAnswerWindowMs >= 0
        ? options.lateAnswerWindowMs
        : undefined;
    this.abandonAfterMs =
      typeof options.abandonAfterMs === 'number' && options.abandonAfterMs >= 0 ? options.abandonAfterMs : 1000;
    this.maxPending = Math.max(1, Math.floor(positive(options.maxPending, 32)));
    this.maxLines = Math.floor(positive(options.maxLinesPerCommand, 16));
    this.maxStoredLine = Math.floor(positive(options.maxStoredLineLength, 256));
    this.maxText = Math.floor(positive(options.maxTextLength, 512));
    this.rBuf = Buffer.alloc(Math.floor(positive(options.maxLineLength, 4096)));
    this.wBuf = Buffer.alloc(Math.floor(positive(options.maxWrittenLineLength, 4096)));
  }

  /**
   * Bytes the application wrote to the port. `nowMs` may also be a clock, read only when the time is
   * needed: for a deadline that may have passed, or at the chunk's first command line (the time of
   * the whole chunk, as when given); lines of binary payload need none.
   */
  written(chunk: Uint8Array | string, nowMs: number | (() => number)): void {
    try {
      // NaN: the time is wClock's, not read yet (a time given is never NaN after clock()).
      let now = NaN;
      if (typeof nowMs !== 'function' || this.nextDeadline !== Infinity) {
        now = this.clock(typeof nowMs === 'function' ? nowMs() : nowMs);
        this.expire(now);
      } else this.wClock = nowMs;
      const buf = toBuffer(chunk);
      if (buf !== null) this.feedWritten(buf, now);
    } catch {
      this.internalError();
    }
  }

  /** The time of the written() call in progress that was given a clock: read once, when first needed. */
  private writtenNow(): number {
    const c = this.wClock;
    if (c !== null) {
      this.wClock = null;
      this.wNow = this.clock(c());
    }
    return this.wNow;
  }

  /**
   * Bytes the application read from the port. `nowMs` may also be a clock, called only when the
   * time is needed: not for a chunk of binary payload skipped whole (no CR LF in it) while no
   * command is pending, where reading the clock would cost a good part of what decoding costs.
   */
  read(chunk: Uint8Array | string, nowMs: number | (() => number)): void {
    try {
      const buf = toBuffer(chunk);
      // Binary read reports nothing: skipped before the time is known. With no deadline, expire()
      // would do nothing, so a chunk skipped whole needs no time.
      const from = buf !== null && this.rBinary ? this.skipBinary(buf, 0) : 0;
      if (from < 0 && typeof nowMs === 'function' && this.nextDeadline === Infinity) return;
      const now = this.clock(typeof nowMs === 'function' ? nowMs() : nowMs);
      this.expire(now);
      if (buf !== null && from >= 0) this.feedRead(buf, now, from);
    } catch {
      this.internalError();
    }
  }

  /** Lets time pass: ends commands whose deadline is at or before `nowMs`. */
  tick(nowMs: number): void {
    try {
      this.expire(this.clock(nowMs));
    } catch {
      this.internalError();
    }
  }

  /** The port closed: ends every pending command with result `closed` and forgets partial lines. */
  close(nowMs: number): void {
    try {
      const now = this.clock(nowMs);
      this.expire(now);
      const pending = this.queue.filter((c) => !c.timedOut);
      this.queue = [];
      this.kept = null;
      this.heldLines = [];
      for (const c of pending) this.finish(c, F_CLOSED, now);
      this.resetLines();
    } catch {
      this.internalError();
    }
  }

  /** Commands pending (not timed out). */
  get pendingCount(): number {
    let n = 0;
    for (const c of this.queue) if (!c.timedOut) n++;
    return n;
  }

  /** Bytes held in partial-line buffers (bounded by the two max line lengths). */
  get bufferedBytes(): number {
    return this.wLen + this.rLen;
  }

  /** Entries in the queue, timed-out ones included (bounded by maxPending). */
  get queuedCount(): number {
    return this.queue.length;
  }

  // ---------------------------------------------------------------- time

  private clock(nowMs: number): number {
    if (typeof nowMs === 'number' && Number.isFinite(nowMs)) this.lastNow = nowMs;
    return this.lastNow;
  }

  private expire(now: number): void {
    if (now < this.nextDeadline) return;
    // Time out in deadline order (events in time order), then forget the late windows that are
    // closed, those just opened included: a second call with the same `now` must change nothing,
    // or the result would depend on how the caller chunked its data.
    const due = this.queue.filter((c) => !c.timedOut && c.deadline <= now);
    due.sort((a, b) => a.deadline - b.deadline);
    for (const c of due) if (this.queue.includes(c) && !c.timedOut) this.timeOut(c, c.deadline);
    for (const c of this.queue.slice()) if (c.timedOut && c.lateUntil <= now) this.forgetTimedOut(c);
    this.updateDeadline();
  }

  /** Ends `c` as timed out at `at` (its deadline, or the write that gave it up); it may still answer late. */
  private timeOut(c: QueuedCommand, at: number): void {
    if (this.kept !== null && this.kept.cmd === c) {
      // Rule 3: nothing else came for this command; the kept final was its answer.
      this.resolveKept();
      return;
    }
    if (this.entryCmd === c) this.closeEntry();
    if (this.promptCmd === c) this.promptCmd = null;
    c.timedOut = true;
    c.lateUntil = at + (this.lateWindowMs ?? c.timeoutMs);
    this.emitEnd(c, c.entry === ENTRY_CANCELLED ? F_CANCELLED : F_TIMEOUT, at);
  }

  /** A timed-out entry's late window closed: its answer is not coming. */
  private forgetTimedOut(c: QueuedCommand): void {
    const i = this.queue.indexOf(c);
    if (i < 0) return;
    this.queue.splice(i, 1);
    if (this.queue.length === 0 || !this.queue[0]?.timedOut) this.releaseHeldLines();
  }

  private updateDeadline(): void {
    let d = Infinity;
    for (const c of this.queue) {
      const t = c.timedOut ? c.lateUntil : c.deadline;
      if (t < d) d = t;
    }
    this.nextDeadline = d;
  }

  private timeoutFor(name: string, kind: AtCommandKind): number {
    const t = this.timeouts;
    const form = kind === 'test' ? name + '=?' : kind === 'read' ? name + '?' : undefined;
    const v = (form !== undefined ? t[form] : undefined) ?? t[name];
    return positive(v, this.defaultTimeoutMs);
  }

  // ---------------------------------------------------------------- written side

  private feedWritten(buf: Buffer, now: number): void {
    const n = buf.length;
    let i = 0;
    while (i < n) {
      if (this.entryCmd !== null) {
        const z = indexOfByte(buf, CTRL_Z, i);
        const e = indexOfByte(buf, ESC, i);
        const end = z < 0 ? e : e < 0 ? z : Math.min(z, e);
        if (end < 0) {
          this.appendWritten(buf, i, n);
          return;
        }
        this.appendWritten(buf, i, end);
        this.endEntry(buf[end] === CTRL_Z);
        i = end + 1;
        continue;
      }
      const cr = indexOfByte(buf, CR, i);
      if (cr < 0) {
        this.appendWritten(buf, i, n);
        return;
      }
      if (n - i > SHORT_SEARCH && !this.wOverflow && this.wTotal + cr - i <= this.wBuf.length && isBinaryLine(buf, i, cr)) {
        // Noise whatever came before it in earlier chunks: its last control byte is one no command
        // holds. The rest of the write is payload (see "Binary write" above).
        if (!this.dataMode) this.stats.writtenNoise++;
        this.clearWritten();
        return;
      }
      if (this.wTotal === 0 && !this.wOverflow) {
        // The whole line is in this chunk: classified where it lies, no copy.
        if (cr - i > this.wBuf.length) {
          // Too long, as appendWritten would find: counted, never classified.
          if (!this.dataMode) this.stats.writtenOverflow++;
        } else if (cr > i) this.writtenLine(buf, i, cr, now, false);
      } else if (!this.wOverflow && this.wTotal + cr - i <= this.wBuf.length && hasCommandBreak(buf, i, cr)) {
        // What came before in earlier chunks cannot be part of the command: classified where it
        // lies, no copy (a line of binary payload in a short write, an SMS body's leftovers).
        this.clearWritten();
        this.writtenLine(buf, i, cr, now, true);
      } else {
        this.appendWritten(buf, i, cr);
        const len = this.wLen;
        const dirty = this.wDirty;
        const overflow = this.wOverflow;
        this.clearWritten();
        if (!overflow && (len > 0 || dirty)) this.writtenLine(this.wBuf, 0, len, now, dirty);
      }
      i = cr + 1;
      if (this.entryCmd === null && n > SHORT_SEARCH) i = this.wholeWrittenLines(buf, i, now);
    }
  }

  /**
   * The complete lines from buf[i] on, no line pending, classified as feedWritten's loop would, in
   * a loop of their own (one native search per line). Stops at a binary line (the rest of the
   * write is payload, see "Binary write" above), at a message body (after `AT+CMGS=...`) and where
   * at most SHORT_SEARCH bytes remain; returns where feedWritten goes on.
   */
  private wholeWrittenLines(buf: Buffer, i: number, now: number): number {
    const n = buf.length;
    const max = this.wBuf.length;
    while (n - i > SHORT_SEARCH) {
      const cr = buf.indexOf(CR, i);
      if (cr < 0) break;
      if (cr - i > max) {
        if (!this.dataMode) this.stats.writtenOverflow++;
      } else if (cr > i) {
        if (isBinaryLine(buf, i, cr)) {
          // The rest of the write is payload (see "Binary write" above); no line is pending.
          if (!this.dataMode) this.stats.writtenNoise++;
          return n;
        }
        this.writtenLine(buf, i, cr, now, false);
        if (this.entryCmd !== null) return cr + 1;
      }
      i = cr + 1;
    }
    return i;
  }

  /**
   * Appends buf[from, to) to the current written line. Outside a message body only what follows the
   * line's last control byte other than LF, Ctrl-Z and ESC is kept (with wDirty set): a command
   * part holds no such byte and starts after the last Ctrl-Z / ESC, so nothing up to it can be a
   * command (writtenLine with `dirty`). The tail of a chunk of binary payload keeps a few bytes.
   */
  private appendWritten(buf: Buffer, from: number, to: number): void {
    const len = to - from;
    if (len <= 0 || this.wOverflow) return;
    if (this.wTotal + len > this.wBuf.length) {
      this.wOverflow = true;
      this.wLen = 0;
      if (!this.dataMode) this.stats.writtenOverflow++;
      return;
    }
    this.wTotal += len;
    let s = from;
    if (this.entryCmd === null) {
      let k = to - 1;
      while (k >= from && BAD_IN_COMMAND[buf[k]!] === 0) k--;
      if (k >= from) {
        s = k + 1;
        this.wDirty = true;
        this.wLen = 0;
      }
    }
    const w = this.wBuf;
    let at = this.wLen;
    if (to - s > SHORT_COPY) buf.copy(w, at, s, to);
    else for (let k = s; k < to; k++) w[at++] = buf[k]!;
    this.wLen += to - s;
  }

  /**
   * A read line came while written bytes wait for their CR. Unless they begin a command line
   * (`AT...`, or only blanks and `+++` so far), they are the payload of a data phase the
   * application wrote without a terminator, which the modem answered: ESP-AT `+CIPSEND` (`OK`,
   * `>`, data, `SEND OK`), u-blox `+USOWR` (`@`, data, `+USOWR:`), a `+QFUPL` upload, SIMCom's
   * quick send. Never the start of the next command.
   */
  private payloadAnswered(): void {
    if (this.wOverflow || !mayStartCommand(this.wBuf, this.wLen, this.wDirty)) this.clearWritten();
  }

  private clearWritten(): void {
    this.wLen = 0;
    this.wTotal = 0;
    this.wDirty = false;
    this.wOverflow = false;
  }

  /**
   * Classifies the complete written line b[from, to) (CR excluded, not empty): a command, or noise.
   *
   * A command is, after the line's last Ctrl-Z / ESC, whitespace, `A/` and `+++`, then `AT` and no
   * control byte. The line is scanned backwards to its last control byte, which settles nearly every
   * line at once: a Ctrl-Z / ESC starts the command part and nothing after it is a control byte;
   * no control byte at all, likewise from the start; any other control byte but LF (which may be
   * leading whitespace) lies in the command part and is not whitespace, so the line is noise. Binary
   * payload has a control byte every 8 bytes or so: its lines are decided within a few bytes of
   * their end. `dirty`: the line's start, up to a control byte no command part holds, is not in
   * b[from, to) (appendWritten dropped it): the command part, if any, starts after a Ctrl-Z / ESC
   * in b[from, to), and the line is never only whitespace.
   */
  private writtenLine(b: Buffer, from: number, to: number, now: number, dirty: boolean): void {
    let k = to - 1;
    while (k >= from && CONTROL[b[k]!] === 0) k--;
    let s = from;
    /** No control byte from s to the end. */
    let clean = true;
    if (k >= from) {
      const c = b[k] as number;
      if (c === CTRL_Z || c === ESC) s = k + 1;
      else if (c === LF) {
        clean = false;
        // The LF is leading whitespace of the command part, or the line is noise: what precedes it
        // there is whitespace, `A/`, `+++` or the Ctrl-Z / ESC the command part starts after.
        // Anything else settles the line without the scan back to its start below (binary
        // payload: an LF about every 256 bytes). Counted once, as the paths below would.
        if (k > from && NOT_BEFORE_LEADING_LF[b[k - 1]!] === 1) {
          if (!this.dataMode) this.stats.writtenNoise++;
          return;
        }
        // Start after the last Ctrl-Z / ESC: what precedes is a message body written after its
        // command already failed, not part of this command.
        for (let j = k - 1; j >= from; j--) {
          const d = b[j] as number;
          if (d === CTRL_Z || d === ESC) {
            s = j + 1;
            break;
          }
        }
        if (s === from && dirty) {
          // The command part would reach back into the dropped start, past a control byte.
          if (!this.dataMode) this.stats.writtenNoise++;
          return;
        }
      } else {
        if (!this.dataMode) this.stats.writtenNoise++;
        return;
      }
    } else if (dirty) {
      if (!this.dataMode) this.stats.writtenNoise++;
      return;
    }
    const junk = s > from;
    // Skip whitespace, `A/` (repeat, executed by the modem without CR) and `+++` (data-mode escape).
    for (;;) {
      while (s < to && isWhitespace(b[s] as number)) s++;
      if (s + 1 < to && ((b[s] as number) | 0x20) === 0x61 && b[s + 1] === 0x2f) s += 2;
      else if (s + 2 < to && b[s] === 0x2b && b[s + 1] === 0x2b && b[s + 2] === 0x2b) s += 3;
      else break;
    }
    let ok = s + 1 < to && ((b[s] as number) | 0x20) === 0x61 && ((b[s + 1] as number) | 0x20) === 0x74;
    let afterEscape = false;
    if (!ok && !this.dataMode) {
      // Transparent-mode payload written without a terminator, then the escape `+++` and the next
      // command (ESP-AT passthrough answers `+++` with nothing): the command starts after the last
      // `+++`. Not in data mode: there the modem answers `+++` itself, and payload may hold `+++AT`.
      const e = lastEscapeBeforeAt(b, s, to);
      if (e > 0) {
        s = e;
        ok = true;
        afterEscape = true;
      }
    }
    if (ok && !clean) {
      for (let j = s + 2; j < to; j++) {
        if (isControl(b[j] as number)) {
          ok = false;
          break;
        }
      }
    }
    if (!ok) {
      if (!this.dataMode && (dirty || !onlyWhitespace(b, from, to))) this.stats.writtenNoise++;
      return;
    }
    if ((junk || afterEscape) && !this.dataMode) this.stats.writtenNoise++;
    if (this.dataMode) this.leaveDataMode();
    this.startCommand(latin1(b, s, to), Number.isNaN(now) ? this.writtenNow() : now);
  }

  private startCommand(text: string, now: number): void {
    // Rule 3: the application moved on, so the command waiting with a kept final got its answer.
    if (this.kept !== null && !this.kept.cmd.alive) this.resolveKept();
    if (this.queue.length > 0) this.abandonOld(now);
    // Its answer, echo included, is text: read every line again.
    this.rBinary = false;
    this.rBinaryCr = false;
    for (const q of this.queue) if (!q.timedOut && q.lines.length > 0) q.answeredBeforeNext = true;
    const shape = this.shapeOf(text);
    if (shape.verbose !== undefined) this.numericResults = !shape.verbose;
    const timeoutMs = shape.timeoutMs;
    const c = new QueuedCommand(
      ++this.seq,
      shape.name,
      shape.kind,
      text,
      text.trim(),
      shape.prefixes,
      now,
      now + timeoutMs,
      timeoutMs,
    );
    this.makeRoom(now);
    this.queue.push(c);
    this.stats.commands++;
    if (c.deadline < this.nextDeadline) this.nextDeadline = c.deadline;
    this.emit('commandStart', {
      id: c.id,
      name: c.name,
      kind: c.kind,
      text: cut(text, this.maxText),
      at: now,
    });
    if (c.kind === 'set' && TEXT_ENTRY_COMMANDS.has(c.name)) {
      c.entry = ENTRY_OPEN;
      this.entryCmd = c;
      this.promptCmd = c;
    }
  }

  /** Commands pending for long: the application gave up on them (its own timeout) before writing `now`. */
  private abandonOld(now: number): void {
    // Look first: usually none is that old, and the queue is copied only when one is (timeOut may change it).
    let any = false;
    for (const c of this.queue) {
      if (!c.timedOut && now - c.startMs >= this.abandonAfterMs) {
        any = true;
        break;
      }
    }
    if (!any) return;
    for (const c of this.queue.slice()) {
      if (!c.timedOut && now - c.startMs >= this.abandonAfterMs && this.queue.includes(c)) this.timeOut(c, now);
    }
  }

  /** The parsed form of a command line, from a small cache: applications repeat the same few lines. */
  private shapeOf(text: string): CommandShape {
    const cacheable = text.length <= MAX_CACHED_COMMAND_LENGTH;
    if (cacheable) {
      const known = this.shapes.get(text);
      if (known !== undefined) return known;
    }
    const info = parseAtCommandLine(text);
    const prefixes: string[] = [];
    for (const n of info.names) {
      prefixes.push(n);
      const alias = AT_RESPONSE_ALIASES[n];
      if (alias !== undefined) prefixes.push(...alias);
    }
    const shape: CommandShape = {
      name: info.name,
      kind: info.kind,
      verbose: info.verbose,
      prefixes,
      timeoutMs: this.timeoutFor(info.name, info.kind),
    };
    if (cacheable) {
      // Bounded: a full cache starts over (APDU lines, which differ every time, cycle through it).
      if (this.shapes.size >= MAX_CACHED_COMMANDS) this.shapes.clear();
      this.shapes.set(text, shape);
    }
    return shape;
  }

  /** Queue bound: forget the oldest timed-out entries, then end the oldest pending command. */
  private makeRoom(now: number): void {
    while (this.queue.length >= this.maxPending) {
      this.stats.queueOverflow++;
      const i = this.queue.findIndex((c) => c.timedOut);
      if (i >= 0) {
        this.queue.splice(i, 1);
        continue;
      }
      const oldest = this.queue[0];
      if (oldest === undefined) return;
      if (this.kept !== null && this.kept.cmd === oldest) this.kept = null;
      this.finish(oldest, F_OVERFLOW, now);
    }
    if (this.queue.length === 0 || !this.queue[0]?.timedOut) this.releaseHeldLines();
  }

  /** Ctrl-Z or ESC ended the message body of the text-entry command. */
  private endEntry(send: boolean): void {
    const c = this.entryCmd;
    if (c === null) return;
    if (!this.wOverflow) {
      const len = this.wLen;
      let s = 0;
      let e = len;
      while (s < e && isWhitespace(this.wBuf[s] as number)) s++;
      while (e > s && isWhitespace(this.wBuf[e - 1] as number)) e--;
      c.pduHex = send && e - s <= MAX_PDU_CHARS ? normalizeHex(this.wBuf.toString('latin1', s, e)) : null;
    }
    c.entry = send ? ENTRY_SENT : ENTRY_CANCELLED;
    this.closeEntry();
  }

  private closeEntry(): void {
    this.entryCmd = null;
    this.clearWritten();
  }

  // ---------------------------------------------------------------- read side

  /** Read bytes from buf[from], where read() left binary read if it was in it. */
  private feedRead(buf: Buffer, now: number, from: number): void {
    const n = buf.length;
    let i = from;
    let cr = indexOfByte(buf, CR, i);
    let lf = indexOfByte(buf, LF, i);
    while (i < n) {
      if (cr >= 0 && cr < i) cr = indexOfByte(buf, CR, i);
      if (lf >= 0 && lf < i) lf = indexOfByte(buf, LF, i);
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
      if (end < 0) {
        this.appendRead(buf, i, n, now);
        this.checkPrompt(now);
        return;
      }
      if (this.rLen === 0 && !this.rSkip && !this.rOverflow && this.promptCmd === null) {
        // The whole line is in this chunk and no `> ` prompt is expected: classified where it
        // lies, without copying it (readLineEnd without rBuf). Binary payload is a stream of such
        // lines (a CR or LF every 128 bytes), nearly all noise found within their first bytes.
        if (end > i) {
          if (end - i > this.rBuf.length) this.readOverflowLine(now);
          else if (hasControl(buf, i, end)) this.readControlLine(buf, i, end, now);
          else this.readText(latin1(buf, i, end), now);
        }
      } else {
        this.appendRead(buf, i, end, now);
        this.readLineEnd(now);
      }
      if (this.rBinary) {
        // From the noise line's own end: its CR may be the CR of a CR LF.
        i = this.skipBinary(buf, end);
        if (i < 0) return;
      } else i = end + 1;
    }
  }

  /**
   * Binary read from buf[from]: the index after the next CR LF, where binary read ends, or -1 when
   * the chunk holds none, or none the run still searches. One native search per chunk instead of
   * one per line; none once the run searched all it does.
   */
  private skipBinary(buf: Buffer, from: number): number {
    const n = buf.length;
    if (this.rBinaryCr) {
      this.rBinaryCr = false;
      if (from < n && buf[from] === LF) {
        this.rBinary = false;
        return from + 1;
      }
    }
    const left = this.rBinaryLeft;
    if (left <= 0) return -1;
    const p = n - from > SHORT_SEARCH ? buf.indexOf(CRLF, from) : indexOfCrLf(buf, from);
    if (p >= 0 && p - from < left) {
      this.rBinary = false;
      return p + 2;
    }
    this.rBinaryLeft = left - (n - from);
    this.rBinaryCr = n - 1 - from < left && n > from && buf[n - 1] === CR;
    return -1;
  }

  /** A line longer than maxLineLength that lay wholly in one chunk (as appendRead + readLineEnd). */
  private readOverflowLine(now: number): void {
    if (!this.dataMode) this.stats.readOverflow++;
    if (this.urcContinuation !== null) this.endUrcContinuation(null, now);
  }

  private appendRead(buf: Buffer, from: number, to: number, now: number): void {
    const len = to - from;
    if (len <= 0 || this.rSkip || this.rOverflow) return;
    if (this.rLen + len > this.rBuf.length) {
      // A `> ` prompt is told by its line's first two bytes, however long the rest (the body's
      // echo): as when those two came in a chunk of their own.
      if (this.promptCmd !== null && this.rBuf.length >= 2) {
        const head = this.rLen < 2 ? 2 - this.rLen : 0;
        if (head > 0) buf.copy(this.rBuf, this.rLen, from, from + head);
        this.rLen += head;
        if (this.checkPrompt(now)) return;
        this.rLen -= head;
      }
      this.rOverflow = true;
      this.rLen = 0;
      if (!this.dataMode) this.stats.readOverflow++;
      return;
    }
    buf.copy(this.rBuf, this.rLen, from, to);
    this.rLen += len;
  }

  /** `> ` at the start of a line while a text-entry command waits for it: the prompt (no line end follows). */
  private checkPrompt(now: number): boolean {
    const c = this.promptCmd;
    if (c === null || this.rSkip || this.rOverflow || this.rLen < 2) return false;
    if (this.rBuf[0] !== 0x3e || this.rBuf[1] !== 0x20) return false;
    this.promptSeen(c, now);
    return true;
  }

  private promptSeen(c: QueuedCommand, now: number): void {
    this.rSkip = true;
    this.rLen = 0;
    if (c.prompted) return; // text mode: one `> ` per body line
    c.prompted = true;
    // Only the command being executed gets a prompt: as strong a sign as its own answer line.
    this.markAlive(c, now, true);
    this.emit('prompt', { id: c.id, at: now });
  }

  private readLineEnd(now: number): void {
    if (this.rSkip) {
      this.rSkip = false;
      this.rLen = 0;
      return;
    }
    if (this.rOverflow) {
      this.rOverflow = false;
      this.rLen = 0;
      if (this.urcContinuation !== null) this.endUrcContinuation(null, now);
      return;
    }
    const len = this.rLen;
    if (len === 0) return;
    if (this.checkPrompt(now)) {
      this.rSkip = false;
      return;
    }
    if (len === 1 && this.promptCmd !== null && this.rBuf[0] === 0x3e) {
      this.rLen = 0;
      this.promptSeen(this.promptCmd, now);
      this.rSkip = false;
      return;
    }
    this.rLen = 0;
    if (hasControl(this.rBuf, 0, len)) this.readControlLine(this.rBuf, 0, len, now);
    else this.readText(latin1(this.rBuf, 0, len), now);
  }

  /**
   * A read line holding control bytes: noise, unless it is, without them, the final result of a
   * pending command (a stray byte on the line must not turn the modem's answer into a timeout).
   */
  private readControlLine(b: Buffer, from: number, to: number, now: number): void {
    if (this.queue.length > 0 && !this.dataMode && this.urcContinuation === null && to - from <= MAX_FINAL_WITH_CONTROLS) {
      const text = withoutControls(b, from, to);
      const line = text.trim();
      if (line.length > 0 && this.classifyFinal(line) !== null) {
        this.stats.readNoise++;
        this.readText(line, now);
        return;
      }
    }
    this.readNoiseLine(now);
  }

  /** A read line holding control bytes. */
  private readNoiseLine(now: number): void {
    if (this.urcContinuation !== null) this.endUrcContinuation(null, now);
    else if (!this.dataMode) this.stats.readNoise++;
    this.rBinary = true;
    this.rBinaryLeft = this.queue.length > 0 || this.dataMode ? Infinity : BINARY_READ_SEARCH;
  }

  /** A read line without control bytes. */
  private readText(raw: string, now: number): void {
    // trim() calls into the runtime; lines rarely have anything to trim (same result either way).
    const line = canTrim(raw.charCodeAt(0)) || canTrim(raw.charCodeAt(raw.length - 1)) ? raw.trim() : raw;
    if (line.length === 0) return;
    if (this.urcContinuation !== null) {
      this.endUrcContinuation(line, now);
      return;
    }
    if (this.dataMode) {
      this.dataModeLine(line, now);
      return;
    }
    this.line(line, now);
  }

  private line(line: string, now: number): void {
    if ((this.wTotal > 0 || this.wOverflow) && this.entryCmd === null) this.payloadAnswered();
    if (this.matchEcho(line, now)) return;
    const f = this.classifyFinal(line) ?? this.commandFinal(line);
    if (f !== null) {
      this.finalResult(f, line, now);
      return;
    }
    const p = this.firstPending();
    const lateAhead = this.queue[0]?.timedOut === true;
    const prefix = linePrefix(line);
    if (prefix !== null) {
      const late = lateAhead && this.timedOutAheadHas(prefix);
      if (p !== null && p.prefixes.includes(prefix)) {
        if (late) this.holdLine(line);
        else {
          // Only this command produces this prefix: it is being answered (rule 2).
          if (lateAhead) this.markAlive(p, now);
          this.addLine(p, line);
        }
        return;
      }
      const skippedTo = late || p === null ? null : this.answeredPast(p, prefix);
      if (skippedTo !== null) {
        this.markAlive(skippedTo, now, true);
        this.addLine(skippedTo, line);
        return;
      }
      if (late) {
        // A timed-out command asked for this prefix: more likely its late answer than a URC.
        this.holdLine(line);
        return;
      }
      this.urc(prefix, line, now);
      return;
    }
    if (isBareUrc(line)) {
      this.urc(line, line, now);
      return;
    }
    if (this.numericResults && line === '2') {
      // V.250 result code 2 after ATV0: RING.
      this.urc('RING', line, now);
      return;
    }
    if (isCommandPrefixChar(line.charCodeAt(0))) {
      // `^SYSSTART AIRPLANE MODE`: a known URC name followed by text instead of a colon.
      const spaced = spacedUrcName(line);
      if (spaced !== null) {
        this.urc(spaced, line, now);
        return;
      }
    }
    if (lateAhead) {
      this.holdLine(line);
      return;
    }
    if (p !== null) this.addLine(p, line);
    else this.urc(null, line, now);
  }

  private urc(nameKey: string | null, line: string, now: number): void {
    const name = urcName(nameKey);
    // +CMT / +CBM always carry a second line; +CDS only in PDU mode (`+CDS: <length>`).
    if (
      name === '+CMT' ||
      name === '+CBM' ||
      (name === '+CDS' && parseUint(line.slice(line.indexOf(':') + 1).trim()) !== null)
    ) {
      this.urcContinuation = { name, line: cut(line, this.maxText) };
      return;
    }
    this.stats.urcs++;
    this.emit('urc', { name, line: cut(line, this.maxText), data: null, at: now });
  }

  private endUrcContinuation(data: string | null, now: number): void {
    const u = this.urcContinuation;
    this.urcContinuation = null;
    if (u === null) return;
    this.stats.urcs++;
    this.emit('urc', { name: u.name, line: u.line, data: data === null ? null : cut(data, this.maxText), at: now });
  }

  private dataModeLine(line: string, now: number): void {
    const f = this.classifyFinal(line);
    if (f === null) return;
    if (f === F_NO_CARRIER || f === F_OK || f === F_ERROR) {
      this.leaveDataMode();
      if (f === F_NO_CARRIER) {
        this.stats.urcs++;
        this.emit('urc', { name: 'NO CARRIER', line, data: null, at: now });
      }
    }
  }

  private leaveDataMode(): void {
    this.dataMode = false;
    // Payload without CR may have filled the written buffer: start clean.
    this.clearWritten();
  }

  /**
   * The final results a few commands have instead of `OK`, for those commands only: `SEND OK` /
   * `SEND FAIL` of a socket send whose data followed its `> ` prompt (Quectel `+QISEND` /
   * `+QSSLSEND`, SIMCom `+CIPSEND`), `DATA ACCEPT:<n>,<len>` of SIMCom's quick send
   * (`AT+CIPQSEND=1`), SIMCom's `SHUT OK` (`+CIPSHUT`) and `[<n>, ]CLOSE OK` (`+CIPCLOSE`).
   */
  private commandFinal(line: string): FinalResult | null {
    const c0 = line.charCodeAt(0);
    if (c0 !== 0x53 /* S */ && c0 !== 0x44 /* D */ && c0 !== 0x43 /* C */ && !(c0 >= 0x30 && c0 <= 0x39)) return null;
    const p = this.firstPending();
    if (p === null) return null;
    switch (p.name) {
      case '+QISEND':
      case '+QSSLSEND':
      case '+CIPSEND':
        if (line === 'SEND OK') return F_OK;
        if (line === 'SEND FAIL') return vendorErrorFinal(line);
        return p.name === '+CIPSEND' && line.startsWith('DATA ACCEPT:') ? F_OK : null;
      case '+CIPSHUT':
        return line === 'SHUT OK' ? F_OK : null;
      case '+CIPCLOSE':
        return line === 'CLOSE OK' || (line.endsWith(', CLOSE OK') && line.length <= 14) ? F_OK : null;
    }
    return null;
  }

  private classifyFinal(line: string): FinalResult | null {
    switch (line) {
      case 'OK':
        return F_OK;
      case 'ERROR':
        return F_ERROR;
      case 'NO CARRIER':
        return F_NO_CARRIER;
      case 'BUSY':
        return F_BUSY;
      case 'NO ANSWER':
        return F_NO_ANSWER;
      case 'NO DIALTONE':
      case 'NO DIAL TONE':
        return F_NO_DIALTONE;
      case 'CONNECT':
        return F_CONNECT;
    }
    const c0 = line.charCodeAt(0);
    if (c0 === 0x2b /* + */ && line.length >= 11 && line.charCodeAt(4) === 0x20) {
      if (line.startsWith('+CME ERROR:')) return this.errorFinal('cme_error', line);
      if (line.startsWith('+CMS ERROR:')) return this.errorFinal('cms_error', line);
      if (isNumberedVendorError(line)) return vendorErrorFinal(line);
      return null;
    }
    if (c0 === 0x43 /* C */) {
      if (line.startsWith('CONNECT ')) return F_CONNECT;
      if (VENDOR_ERROR_FINALS.has(line)) return vendorErrorFinal(line);
    } else if (c0 === 0x4d /* M */ || c0 === 0x54 /* T */ || c0 === 0x4e /* N */) {
      if (VENDOR_ERROR_FINALS.has(line) || isNumberedVendorError(line)) return vendorErrorFinal(line);
    }
    if (this.numericResults && line.length === 1) return NUMERIC_FINALS[c0 - 0x30] ?? null;
    return null;
  }

  private errorFinal(result: AtResult, line: string): FinalResult {
    return { result, errorCode: cut(line.slice(11).trim(), MAX_ERROR_CODE_LENGTH) };
  }

  private matchEcho(line: string, now: number): boolean {
    for (const c of this.queue) {
      if (!c.echoed && c.echoKey === line) {
        c.echoed = true;
        this.stats.echoes++;
        if (!c.timedOut) this.markAlive(c, now);
        return true;
      }
    }
    return false;
  }

  /**
   * Rule 4 without echo: a prefixed line (never a URC name) that only a later pending command
   * produces, while every pending command ahead of it is silent: that command, else null.
   */
  private answeredPast(first: QueuedCommand, prefix: string): QueuedCommand | null {
    // `first` may have lines already, if the application took them for its whole answer (markAlive).
    if (first.prompted || (!isUnanswered(first) && !first.answeredBeforeNext) || AT_URC_NAMES.has(prefix)) return null;
    let ahead = true;
    for (const c of this.queue) {
      if (c.timedOut) continue;
      if (ahead) {
        if (c === first) ahead = false;
        continue;
      }
      if (c.prefixes.includes(prefix)) return c;
      if (!isUnanswered(c)) return null;
    }
    return null;
  }

  private firstPending(): QueuedCommand | null {
    for (const c of this.queue) if (!c.timedOut) return c;
    return null;
  }

  /** Whether a timed-out entry ahead of the first pending command could have produced `prefix`. */
  private timedOutAheadHas(prefix: string): boolean {
    for (const c of this.queue) {
      if (!c.timedOut) return false;
      if (c.prefixes.includes(prefix)) return true;
    }
    return false;
  }

  /**
   * Rule 2: `c` is being answered, so the timed-out entries ahead of it are finished, and so are
   * pending ones that never showed a sign of life (rule 4): the modem went past them.
   */
  private markAlive(c: QueuedCommand, now: number, answered = false): void {
    const wasAlive = c.alive;
    c.alive = true;
    const i = this.queue.indexOf(c);
    let skipped = false;
    let ended: QueuedCommand[] | null = null;
    for (let k = 0; k < i; k++) {
      const q = this.queue[k] as QueuedCommand;
      if (q.timedOut) continue;
      if (answered ? isUnanswered(q) : isSilent(q)) {
        this.stats.skipped++;
        this.timeOut(q, now);
        skipped = true;
      } else if (!q.prompted && q.answeredBeforeNext) (ended ??= []).push(q);
    }
    if (wasAlive && !skipped && ended === null) return;
    if (i > 0) {
      let dropped = false;
      const rest: QueuedCommand[] = [];
      for (let k = 0; k < this.queue.length; k++) {
        const q = this.queue[k] as QueuedCommand;
        if (k < i && q.timedOut) dropped = true;
        else rest.push(q);
      }
      if (dropped) {
        this.queue = rest;
        this.stats.lateLines += this.heldLines.length;
        this.heldLines = [];
      }
    }
    if (!wasAlive && this.kept !== null && this.kept.cmd === c) {
      // The kept final was the old command's late answer after all.
      this.stats.lateResults++;
      this.stats.lateLines += this.kept.lines.length;
      this.kept = null;
    }
    if (ended !== null) {
      // Answered, but with no final: the modem, serving one command at a time, is on `c` now.
      for (const q of ended) {
        this.stats.unterminated++;
        this.finish(q, F_OK, now);
      }
    }
  }

  private holdLine(line: string): void {
    if (this.heldLines.length < this.maxLines) this.heldLines.push(line);
    else this.stats.lateLines++;
  }

  /** The timed-out entries ahead are gone without answering: held lines go to the first pending command. */
  private releaseHeldLines(): void {
    if (this.heldLines.length === 0) return;
    const held = this.heldLines;
    this.heldLines = [];
    const p = this.firstPending();
    if (p === null) {
      this.stats.lateLines += held.length;
      return;
    }
    for (const l of held) this.addLine(p, l);
  }

  private addLine(c: QueuedCommand, line: string): void {
    if (
      c.response === null &&
      (c.name === '+CSIM' || c.name === '+CRSM' || c.name === '+CMGS' || c.name === '+CMSS') &&
      line.startsWith(c.name) &&
      line.charCodeAt(c.name.length) === 0x3a
    ) {
      c.response = line;
    }
    if (c.lines.length >= this.maxLines) {
      c.linesTruncated = true;
      return;
    }
    if (line.length > this.maxStoredLine) {
      c.linesTruncated = true;
      c.lines.push(line.slice(0, this.maxStoredLine));
    } else c.lines.push(line);
  }

  private finalResult(f: FinalResult, line: string, now: number): void {
    if (f === F_CONNECT) {
      const p = this.queue[0];
      if (p === undefined) {
        // Nothing asked for it: a connection the last command opened later, in transparent mode
        // (SIMCom `AT+CIPSTART` after `AT+CIPMODE=1` answers `OK`, then `CONNECT`). Payload follows.
        // Not `CONNECT OK` / `CONNECT FAIL` (the same command in normal mode): those are reports.
        if (line === 'CONNECT' || isDigit(line.charCodeAt(8))) this.dataMode = true;
        else this.urc(null, line, now);
        return;
      }
      if (p.timedOut || !(DIAL_COMMANDS.has(p.name) || TRANSPARENT_COMMANDS.has(p.name))) {
        // An intermediate line of a transparent-transfer command (`AT+QFUPL`: its `OK` ends it).
        if (p.timedOut) this.holdLine(line);
        else this.addLine(p, line);
        return;
      }
    }
    const head = this.queue[0];
    if (head === undefined) {
      if (f === F_NO_CARRIER) this.urc('NO CARRIER', 'NO CARRIER', now);
      else this.stats.strayFinals++;
      return;
    }
    if (head.timedOut) {
      // Rule 1: the oldest command timed out; this is its late answer, not the next command's.
      this.queue.shift();
      const held = this.heldLines;
      this.heldLines = [];
      const p = this.firstPending();
      if (p !== null) {
        // Rule 3: keep it aside in case the timed-out command never answers and this was p's.
        if (this.kept !== null) {
          this.stats.lateResults++;
          this.stats.lateLines += this.kept.lines.length;
        }
        this.kept = { cmd: p, final: f, at: now, lines: held };
      } else {
        this.stats.lateResults++;
        this.stats.lateLines += held.length;
      }
      this.updateDeadline();
      return;
    }
    if (this.kept !== null && this.kept.cmd === head) {
      // head got its own final: the kept one was the timed-out command's.
      this.stats.lateResults++;
      this.stats.lateLines += this.kept.lines.length;
      this.kept = null;
    }
    this.finish(head, f, now);
    if (f === F_CONNECT) this.dataMode = true;
  }

  /** Rule 3: the kept final (and the lines before it) are its command's answer. */
  private resolveKept(): void {
    const k = this.kept;
    this.kept = null;
    if (k === null || k.cmd.timedOut || !this.queue.includes(k.cmd)) return;
    this.stats.reattributedResults++;
    const c = k.cmd;
    const after = c.lines;
    c.lines = [];
    c.response = null;
    for (const l of k.lines) this.addLine(c, l);
    for (const l of after) this.addLine(c, l);
    this.finish(c, k.final, k.at);
  }

  /** Removes `c` from the queue and reports its end (domain event first). */
  private finish(c: QueuedCommand, f: FinalResult, at: number): void {
    const i = this.queue.indexOf(c);
    if (i >= 0) this.queue.splice(i, 1);
    if (this.entryCmd === c) this.closeEntry();
    if (this.promptCmd === c) this.promptCmd = null;
    this.emitEnd(c, c.entry === ENTRY_CANCELLED ? F_CANCELLED : f, at);
    this.updateDeadline();
  }

  private emitEnd(c: QueuedCommand, f: FinalResult, at: number): void {
    const durationMs = Math.max(0, at - c.startMs);
    const result = f.result;
    if (c.kind === 'set') {
      if (c.name === '+CSIM') this.emitCsim(c, result, durationMs, at);
      else if (c.name === '+CRSM') this.emitCrsm(c, result, durationMs, at);
    }
    if ((c.name === '+CMGS' || c.name === '+CMSS') && result === 'ok' && c.response !== null) {
      const mr = parseUint(argumentsAfter(c.response, ':')[0]);
      this.emit('smsSubmit', {
        id: c.id,
        name: c.name,
        mr: mr !== null && mr <= 255 ? mr : null,
        pduHex: c.pduHex,
        tpduLength: c.name === '+CMGS' ? parseUint(argumentsAfter(c.text, '=')[0]) : null,
        durationMs,
        at,
      });
    }
    const code = f.errorCode;
    this.emit('commandEnd', {
      id: c.id,
      name: c.name,
      kind: c.kind,
      result,
      errorCode: code,
      errorNumber: code === undefined ? undefined : errorNumber(code),
      startMs: c.startMs,
      endMs: at,
      durationMs,
      lines: c.lines.length === 0 ? EMPTY_LINES : c.lines,
      linesTruncated: c.linesTruncated,
      echoed: c.echoed,
    });
  }

  private emitCsim(c: QueuedCommand, result: AtResult, durationMs: number, at: number): void {
    const args = argumentsAfter(c.text, '=');
    const cmdLen = parseUint(args[0]);
    const commandHex = normalizeHex(args[1]);
    let malformed = cmdLen === null || commandHex === null;
    let mismatch = commandHex !== null && cmdLen !== null && cmdLen !== commandHex.length;
    let responseHex: string | null = null;
    if (c.response !== null) {
      const r = argumentsAfter(c.response, ':');
      const rLen = parseUint(r[0]);
      responseHex = normalizeHex(r[1]);
      if (rLen === null || responseHex === null) malformed = true;
      else if (rLen !== responseHex.length) mismatch = true;
    } else if (result === 'ok') malformed = true;
    this.emit('csim', {
      id: c.id,
      commandHex,
      responseHex,
      sw: responseHex !== null && responseHex.length >= 4 ? responseHex.slice(-4) : null,
      lengthMismatch: mismatch,
      malformed,
      result,
      durationMs,
      at,
    });
  }

  private emitCrsm(c: QueuedCommand, result: AtResult, durationMs: number, at: number): void {
    const a = argumentsAfter(c.text, '=');
    let sw1: number | null = null;
    let sw2: number | null = null;
    let responseHex: string | null = null;
    if (c.response !== null) {
      const r = argumentsAfter(c.response, ':');
      sw1 = parseUint(r[0]);
      sw2 = parseUint(r[1]);
      if (sw1 !== null && sw1 > 255) sw1 = null;
      if (sw2 !== null && sw2 > 255) sw2 = null;
      responseHex = normalizeHex(r[2]);
    }
    const sw =
      sw1 !== null && sw2 !== null ? ((sw1 << 8) | sw2).toString(16).toUpperCase().padStart(4, '0') : null;
    this.emit('crsm', {
      id: c.id,
      command: parseUint(a[0]),
      fileId: parseUint(a[1]),
      p1: parseUint(a[2]),
      p2: parseUint(a[3]),
      p3: parseUint(a[4]),
      dataHex: normalizeHex(a[5]),
      pathId: normalizeHex(a[6]),
      sw1,
      sw2,
      sw,
      responseHex,
      result,
      durationMs,
      at,
    });
  }

  // ---------------------------------------------------------------- plumbing

  private emit<K extends keyof AtListener>(kind: K, e: Parameters<NonNullable<AtListener[K]>>[0]): void {
    const fn = this.listener[kind] as ((e: unknown) => void) | undefined;
    if (fn === undefined) return;
    try {
      fn.call(this.listener, e);
    } catch {
      this.stats.listenerErrors++;
    }
  }

  private resetLines(): void {
    this.clearWritten();
    this.entryCmd = null;
    this.rLen = 0;
    this.rOverflow = false;
    this.rSkip = false;
    this.promptCmd = null;
    this.urcContinuation = null;
    this.dataMode = false;
    this.rBinary = false;
    this.rBinaryCr = false;
  }

  private internalError(): void {
    this.stats.internalErrors++;
    // Whatever went wrong, start from a clean, bounded state.
    this.resetLines();
    this.queue = [];
    this.heldLines = [];
    this.kept = null;
    this.nextDeadline = Infinity;
  }
}

function toBuffer(chunk: Uint8Array | string): Buffer | null {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  return null;
}
