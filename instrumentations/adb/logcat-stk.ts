/**
 * SIM Toolkit proactive commands in an Android phone's radio log (`adb logcat -b radio`), the
 * lines CardLink's phone controller reads its BIP events from. Two forms:
 *
 * - RILJ's unsolicited-response line with the command's bytes:
 *   `... D RILJ    : [UNSL]< UNSOL_STK_PROACTIVE_COMMAND D0...` (RIL.java unsljLogRet; fully decoded);
 * - CatService's line naming the command it handles: `... D CAT     : CatService: OPEN_CHANNEL`
 *   (CatLog.d of the command type's name; the type only).
 * A phone that logs both logs the RILJ line first: a CatService line naming the command the RILJ
 * line before it carried is the same command, not another one.
 *
 * Pure (no I/O, no OpenTelemetry). LogcatStkScanner takes the output in any chunking and looks only
 * for the two markers with a native search per chunk, so a busy radio log costs a search, not a
 * parse per line; lines are bounded (longer ones are skipped).
 */
import { decodeStkHex, stkCommandTypeOf, stkMessageOfType, type StkMessage } from '../shared/stk.js';

const UNSOL = 'UNSOL_STK_PROACTIVE_COMMAND';
const CAT = 'CatService: ';
const UNSOL_BYTES = Buffer.from(UNSOL, 'latin1');
const CAT_BYTES = Buffer.from(CAT, 'latin1');
/** Longest line decoded (a proactive command is at most 514 hex digits, plus the logcat header). */
export const MAX_LOGCAT_LINE = 2048;
const NL = 0x0a;

/** What one radio-log line says: a proactive command (with `fromBytes`: decoded from its bytes), or null. */
export function stkFromLogcatLine(line: string): { message: StkMessage; fromBytes: boolean } | null {
  if (typeof line !== 'string' || line.length > MAX_LOGCAT_LINE) return null;
  let i = line.indexOf(UNSOL);
  if (i >= 0) {
    i += UNSOL.length;
    while (i < line.length && (line.charCodeAt(i) === 0x20 || line.charCodeAt(i) === 0x09)) i++;
    let j = i;
    while (j < line.length && line.charCodeAt(j) > 0x20) j++;
    const m = decodeStkHex(line.slice(i, j));
    return m !== null && m.kind === 'proactive' ? { message: m, fromBytes: true } : null;
  }
  i = line.indexOf(CAT);
  if (i < 0) return null;
  i += CAT.length;
  let j = i;
  // An upper-case enum name (`OPEN_CHANNEL`), the whole rest of the line.
  while (j < line.length) {
    const c = line.charCodeAt(j);
    if (!((c >= 0x41 && c <= 0x5a) || c === 0x5f)) break;
    j++;
  }
  if (j === i || line.slice(j).trim().length > 0) return null;
  const type = stkCommandTypeOf(line.slice(i, j));
  const m = type === undefined ? null : stkMessageOfType(type);
  return m === null ? null : { message: m, fromBytes: false };
}

/** Finds proactive commands in logcat output pushed in any chunking; `found` is called for each. */
export class LogcatStkScanner {
  /** The start of a line the previous chunk ended in (only kept while it is short enough to matter). */
  private carry: Buffer | null = null;
  /** Type of the last command read from bytes, until a CatService line names it (see the module notes). */
  private lastFromBytes = -1;
  /** Proactive commands found (tests, diagnostics). */
  found = 0;

  constructor(private readonly onCommand: (m: StkMessage) => void) {}

  /** One chunk of output (Buffer, other Uint8Array or string); anything else is ignored. */
  add(chunk: unknown): void {
    let buf: Buffer;
    if (Buffer.isBuffer(chunk)) buf = chunk;
    else if (chunk instanceof Uint8Array) buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    else if (typeof chunk === 'string') buf = Buffer.from(chunk, 'latin1');
    else return;
    if (buf.length === 0) return;
    let from = 0;
    const carry = this.carry;
    if (carry !== null) {
      // A marker (or its start) the last chunk ended in: finish its line first.
      this.carry = null;
      const nl = buf.indexOf(NL);
      const end = nl < 0 ? buf.length : nl;
      if (carry.length + end <= MAX_LOGCAT_LINE) {
        const joined = Buffer.concat([carry, buf.subarray(0, end)]);
        if (nl < 0) {
          this.carry = joined;
          return;
        }
        this.line(joined.toString('latin1'));
      }
      if (nl < 0) return;
      from = nl + 1;
    }
    for (;;) {
      const u = buf.indexOf(UNSOL_BYTES, from);
      const c = buf.indexOf(CAT_BYTES, from);
      const hit = u < 0 ? c : c < 0 ? u : Math.min(u, c);
      if (hit < 0) break;
      // What the line says comes after its marker: the header before it is not needed.
      const nl = buf.indexOf(NL, hit);
      if (nl < 0) {
        if (buf.length - hit <= MAX_LOGCAT_LINE) this.carry = Buffer.from(buf.subarray(hit));
        return;
      }
      if (nl - hit <= MAX_LOGCAT_LINE) this.line(buf.toString('latin1', hit, nl));
      from = nl + 1;
    }
    // The chunk may end in the first bytes of a marker.
    const k = Math.max(partialMarker(buf, from, UNSOL_BYTES), partialMarker(buf, from, CAT_BYTES));
    if (k > 0) this.carry = Buffer.from(buf.subarray(buf.length - k));
  }

  private line(text: string): void {
    const r = stkFromLogcatLine(text.endsWith('\r') ? text.slice(0, -1) : text);
    if (r === null) return;
    const type = r.message.typeCode as number;
    if (r.fromBytes) this.lastFromBytes = type;
    else if (this.lastFromBytes === type) {
      this.lastFromBytes = -1;
      return;
    }
    this.found++;
    this.onCommand(r.message);
  }
}

/** Length of the longest end of `buf[from..]` that is a proper start of `marker` (0: none). */
function partialMarker(buf: Buffer, from: number, marker: Buffer): number {
  const max = Math.min(marker.length - 1, buf.length - from);
  for (let k = max; k > 0; k--) {
    const at = buf.length - k;
    let same = true;
    for (let q = 0; q < k; q++) {
      if (buf[at + q] !== marker[q]) {
        same = false;
        break;
      }
    }
    if (same) return k;
  }
  return 0;
}
