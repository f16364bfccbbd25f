/**
 * SCP81 (GlobalPlatform Card Specification Amendment B, "RAM over HTTP") script decoding.
 *
 * The admin server's HTTP response body is a Command Scripting template and the card's next POST
 * body a Response Scripting template, in the expanded remote format of ETSI TS 102 226 5.2
 * (tags from ETSI TS 101 220 tables 7.18-7.20):
 *
 *   command script   AA <len> { TLV }           definite length
 *                    AE 80    { TLV } 00 00     indefinite length (end-of-contents)
 *     22 C-APDU TLV, 81 immediate action, 82 error action, 83 script chaining (skipped)
 *   response script  AB <len> { TLV }  /  AF 80 { TLV } 00 00
 *     80 number of executed C-APDUs, 23 R-APDU (data + SW1 SW2), 90 bad format (1-byte error type:
 *     01 unknown tag, 02 wrong length, 03 length not found), 81/83 responses (skipped)
 *
 * The C-APDU and R-APDU objects are COMPREHENSION-TLVs (TS 101 220 7.1.1): their tag may carry the
 * comprehension-required bit (bit 8), so A2 is a C-APDU like 22 and A3 an R-APDU like 23.
 *
 * Besides these scripts, servers and cards built on the public CardLink frame each APDU as
 * `[length: 2 bytes big-endian][APDU]`, one or more frames per body, with no template at all
 * (`walkCommandBody` / `walkResponseBody` tell the formats apart per body, see there).
 *
 * Pure: no OpenTelemetry, no I/O; any bytes in, never throws, never reports a range that reaches
 * past the buffer. The decoders return positions (offset, length) into the body so the caller can
 * run `decodeCommandApdu` / `decodeResponseApdu` on them without copying.
 *
 * Bounds: at most MAX_SCRIPT_APDUS (1024) C-APDUs / R-APDUs per script (`capped` is set when more
 * follow); BER lengths of up to 3 length bytes (0x83, 16 MiB) - 0x84 and longer forms are
 * rejected as malformed, lengths that reach past the buffer mark the script `truncated`.
 */

export const SCP81_COMMAND_CONTENT_TYPE = 'application/vnd.globalplatform.card-content-mgt;version=1.0';
export const SCP81_RESPONSE_CONTENT_TYPE = 'application/vnd.globalplatform.card-content-mgt-response;version=1.0';
/** Value of the `X-Admin-Protocol` header (Amendment B 3.4). */
export const ADMIN_PROTOCOL = 'globalplatform-remote-admin/1.0';

/** Upper bound on the APDUs reported per script. */
export const MAX_SCRIPT_APDUS = 1024;

export const TAG_COMMAND_SCRIPT_DEFINITE = 0xaa;
export const TAG_COMMAND_SCRIPT_INDEFINITE = 0xae;
export const TAG_RESPONSE_SCRIPT_DEFINITE = 0xab;
export const TAG_RESPONSE_SCRIPT_INDEFINITE = 0xaf;
export const TAG_C_APDU = 0x22;
export const TAG_R_APDU = 0x23;
/** The comprehension-required bit of a COMPREHENSION-TLV tag. */
export const TAG_CR_BIT = 0x80;
export const TAG_EXECUTED_COUNT = 0x80;
export const TAG_BAD_FORMAT = 0x90;

/** `readBerLength` results that are not lengths. */
export const BER_NEED_MORE = -1;
export const BER_INVALID = -2;
export const BER_INDEFINITE = -3;

/**
 * Number of bytes the BER length field starting with `first` occupies (1 to 4), or 0 when the
 * form is not supported (0x84 and longer, or the reserved 0xFF).
 */
export function berLengthSize(first: number): number {
  if (first < 0x80) return 1;
  if (first === 0x80) return 1; // indefinite form
  if (first <= 0x83) return 1 + (first & 0x7f);
  return 0;
}

/**
 * Read a BER length at `pos` without reading at or past `end`. Returns the length (>= 0), or
 * BER_NEED_MORE when the field itself is cut off, BER_INVALID for 0x84+ forms, BER_INDEFINITE
 * for 0x80. Allocation-free: use `berLengthSize` for the field width.
 */
export function readBerLength(bytes: Uint8Array, pos: number, end: number): number {
  if (pos >= end) return BER_NEED_MORE;
  const first = bytes[pos]!;
  if (first < 0x80) return first;
  if (first === 0x80) return BER_INDEFINITE;
  const n = first & 0x7f;
  if (n > 3) return BER_INVALID;
  if (pos + n >= end) return BER_NEED_MORE;
  let v = 0;
  for (let i = 1; i <= n; i++) v = (v << 8) | bytes[pos + i]!;
  return v;
}

/** Width of the BER tag starting at `pos` (multi-byte tags per X.690 8.1.2.4), 0 when cut off. */
function tagSize(bytes: Uint8Array, pos: number, end: number): number {
  if (pos >= end) return 0;
  if ((bytes[pos]! & 0x1f) !== 0x1f) return 1;
  let i = pos + 1;
  // Subsequent bytes have bit 8 set until the last one; four bytes are plenty for any real tag.
  while (i < end && i - pos < 5) {
    if ((bytes[i]! & 0x80) === 0) return i - pos + 1;
    i++;
  }
  return 0;
}

export type ScriptFormat = 'definite' | 'indefinite' | 'unknown';

/** Position of one TLV value inside the decoded body. */
export interface ScriptItem {
  offset: number;
  length: number;
}

export interface CommandScript {
  /** From the template tag: AA definite, AE indefinite; `unknown` when the body is not a command script. */
  format: ScriptFormat;
  /** Each C-APDU's value (offset, length) in the body; every range lies inside the body. */
  apdus: ScriptItem[];
  /** The body ended before the script did (a length past the end, no end-of-contents). */
  truncated: boolean;
  /** Not a well-formed script (unknown template, bad length form, tag/length-form mismatch, trailing bytes). */
  malformed: boolean;
  /** More than MAX_SCRIPT_APDUS APDUs: the rest were not reported. */
  capped: boolean;
}

export interface ResponseScript {
  /** From the template tag: AB definite, AF indefinite; `unknown` when the body is not a response script. */
  format: ScriptFormat;
  /** Value of the `80` TLV (number of executed commands), null when absent. */
  executed: number | null;
  /** Each R-APDU's value (data + SW1 SW2) in the body. */
  rapdus: ScriptItem[];
  /** Error type of a `90` bad-format TLV (01 unknown tag, 02 wrong length, 03 length not found), null when absent. */
  badFormat: number | null;
  truncated: boolean;
  malformed: boolean;
  capped: boolean;
}

/** Shared walk over a scripting template; the callback receives each inner TLV. */
type WalkResult = ScriptShape;

type ItemVisitor = (tag: number, offset: number, length: number) => boolean;

/**
 * Walk the template whose definite/indefinite tags are given. `visit` returns false to stop
 * (the APDU bound); ranges handed to it always lie inside the body.
 */
function walkTemplate(
  body: Uint8Array,
  definiteTag: number,
  indefiniteTag: number,
  visit: ItemVisitor,
): WalkResult {
  const r: WalkResult = { format: 'unknown', truncated: false, malformed: false, capped: false };
  if (!(body instanceof Uint8Array) || body.length === 0) {
    r.malformed = true;
    return r;
  }
  const total = body.length;
  const tag = body[0]!;
  if (tag === definiteTag) r.format = 'definite';
  else if (tag === indefiniteTag) r.format = 'indefinite';
  else {
    r.malformed = true;
    return r;
  }
  const outerLen = readBerLength(body, 1, total);
  if (outerLen === BER_NEED_MORE) {
    r.truncated = true;
    return r;
  }
  if (outerLen === BER_INVALID) {
    r.malformed = true;
    return r;
  }
  let pos = 1 + berLengthSize(body[1]!);
  let end: number;
  const indefinite = outerLen === BER_INDEFINITE;
  // Tolerate a template whose length form does not match its tag, but say so.
  if (indefinite !== (r.format === 'indefinite')) r.malformed = true;
  if (indefinite) end = total;
  else {
    end = pos + outerLen;
    if (end > total) {
      r.truncated = true;
      end = total;
    } else if (end < total) r.malformed = true; // trailing bytes after the template
  }
  let count = 0;
  while (pos < end) {
    if (indefinite && body[pos] === 0x00) {
      // End-of-contents must be 00 00; anything after it is trailing garbage.
      if (pos + 1 >= end) {
        r.truncated = true;
        return r;
      }
      if (body[pos + 1] !== 0x00) r.malformed = true;
      else if (pos + 2 < total) r.malformed = true;
      return r;
    }
    const ts = tagSize(body, pos, end);
    if (ts === 0) {
      r.truncated = true;
      return r;
    }
    const itemTag = ts === 1 ? body[pos]! : -1; // multi-byte tags are never ours: skip them
    const lpos = pos + ts;
    const len = readBerLength(body, lpos, end);
    if (len === BER_NEED_MORE) {
      r.truncated = true;
      return r;
    }
    if (len < 0) {
      r.malformed = true; // 0x84+ or an indefinite inner length
      return r;
    }
    const vpos = lpos + berLengthSize(body[lpos]!);
    if (vpos + len > end) {
      r.truncated = true;
      return r;
    }
    if ((itemTag & 0x7f) === TAG_C_APDU || (itemTag & 0x7f) === TAG_R_APDU) {
      if (count >= MAX_SCRIPT_APDUS) {
        r.capped = true;
        return r;
      }
      count++;
    }
    if (!visit(itemTag, vpos, len)) return r;
    pos = vpos + len;
  }
  // A definite template ends exactly at `end`; an indefinite one needs its end-of-contents.
  if (indefinite) r.truncated = true;
  return r;
}

/** What a walk over a script found besides its APDUs (the fields of CommandScript / ResponseScript). */
export interface ScriptShape {
  format: ScriptFormat;
  truncated: boolean;
  malformed: boolean;
  capped: boolean;
}

export interface ResponseScriptShape extends ScriptShape {
  executed: number | null;
  badFormat: number | null;
}

/** Receives each APDU's value (offset, length) in the body, in order. */
export type ApduVisitor = (offset: number, length: number) => void;

/**
 * Walk a Command Scripting template (AA / AE), handing each C-APDU's position to `visit`: no
 * object per APDU, for callers that only count (decodeCommandScript collects them).
 */
export function walkCommandScript(body: Uint8Array, visit: ApduVisitor): ScriptShape {
  return walkTemplate(body, TAG_COMMAND_SCRIPT_DEFINITE, TAG_COMMAND_SCRIPT_INDEFINITE, (tag, offset, length) => {
    if ((tag & 0x7f) === TAG_C_APDU) visit(offset, length);
    return true;
  });
}

/** Walk a Response Scripting template (AB / AF), handing each R-APDU's position to `visit` (see walkCommandScript). */
export function walkResponseScript(body: Uint8Array, visit: ApduVisitor): ResponseScriptShape {
  let executed: number | null = null;
  let badFormat: number | null = null;
  let countMalformed = false;
  const w = walkTemplate(body, TAG_RESPONSE_SCRIPT_DEFINITE, TAG_RESPONSE_SCRIPT_INDEFINITE, (tag, offset, length) => {
    if ((tag & 0x7f) === TAG_R_APDU) visit(offset, length);
    else if (tag === TAG_EXECUTED_COUNT) {
      // One byte per the spec; accept up to 4 (big-endian) so large scripts still count.
      if (length >= 1 && length <= 4) {
        let v = 0;
        for (let i = 0; i < length; i++) v = v * 256 + body[offset + i]!;
        executed = v;
      } else countMalformed = true;
    } else if (tag === TAG_BAD_FORMAT) badFormat = length >= 1 ? body[offset]! : 0;
    return true;
  });
  return {
    format: w.format,
    executed,
    badFormat,
    truncated: w.truncated,
    malformed: w.malformed || countMalformed,
    capped: w.capped,
  };
}

/** Decode a Command Scripting template (AA / AE) into C-APDU positions. */
export function decodeCommandScript(body: Uint8Array): CommandScript {
  const apdus: ScriptItem[] = [];
  const w = walkCommandScript(body, (offset, length) => apdus.push({ offset, length }));
  return { format: w.format, apdus, truncated: w.truncated, malformed: w.malformed, capped: w.capped };
}

/** Decode a Response Scripting template (AB / AF) into the executed count and R-APDU positions. */
export function decodeResponseScript(body: Uint8Array): ResponseScript {
  const rapdus: ScriptItem[] = [];
  const w = walkResponseScript(body, (offset, length) => rapdus.push({ offset, length }));
  return {
    format: w.format,
    executed: w.executed,
    rapdus,
    badFormat: w.badFormat,
    truncated: w.truncated,
    malformed: w.malformed,
    capped: w.capped,
  };
}

/**
 * How one SCP81 body was framed: a TS 102 226 expanded script with a definite (AA / AB) or
 * indefinite (AE / AF) length, CardLink's length-prefixed frames, or none of them.
 */
export const BODY_FORMATS = ['expanded_definite', 'expanded_indefinite', 'length_prefixed', 'unknown'] as const;
export type BodyFormat = (typeof BODY_FORMATS)[number];

export interface BodyShape {
  /** `unknown` unless the body is exactly one of the known formats (a malformed script is unknown too). */
  format: BodyFormat;
  /** More than MAX_SCRIPT_APDUS APDUs: the rest were not reported. */
  capped: boolean;
}

export interface ResponseBodyShape extends BodyShape {
  /** The `80` executed-commands count of an expanded response script, null otherwise. */
  executed: number | null;
  /** The `90` bad-format error type of an expanded response script, null otherwise. */
  badFormat: number | null;
}

/**
 * A C-APDU whose length is exactly that of one ISO 7816-3 case (1, 2S/2E, 3S/3E, 4S/4E) for the
 * Lc it carries, with a valid INS (ISO 7816-3 forbids 6x and 9x) and CLA other than FF.
 */
export function isPlausibleCommandApdu(b: Uint8Array, o: number, n: number): boolean {
  if (n < 4) return false;
  const ins = b[o + 1]!;
  if (b[o]! === 0xff || (ins & 0xf0) === 0x60 || (ins & 0xf0) === 0x90) return false;
  if (n <= 5) return true;
  const b4 = b[o + 4]!;
  if (b4 !== 0) return n === 5 + b4 || n === 6 + b4;
  if (n === 7) return true; // 2E: 00 Le Le
  const lc = (b[o + 5]! << 8) | b[o + 6]!;
  return lc !== 0 && (n === 7 + lc || n === 9 + lc);
}

/** An R-APDU ending in a status word: SW1 61-6F or 90-9F (ISO 7816-4 5.1.3). */
export function isPlausibleResponseApdu(b: Uint8Array, o: number, n: number): boolean {
  if (n < 2) return false;
  const sw1 = b[o + n - 2]!;
  return (sw1 >= 0x61 && sw1 <= 0x6f) || (sw1 >= 0x90 && sw1 <= 0x9f);
}

/**
 * Whether `body` is, end to end, a sequence of `[len16][APDU]` frames each holding a plausible
 * APDU (no empty frame, no trailing byte). Fails on the first frame for anything else, so a
 * script or a foreign body costs a couple of reads.
 */
export function isLengthPrefixed(body: Uint8Array, command: boolean): boolean {
  const total = body.length;
  if (total < 2) return false;
  let pos = 0;
  while (pos < total) {
    if (pos + 2 > total) return false;
    const n = (body[pos]! << 8) | body[pos + 1]!;
    const o = pos + 2;
    if (n === 0 || o + n > total) return false;
    if (!(command ? isPlausibleCommandApdu(body, o, n) : isPlausibleResponseApdu(body, o, n))) return false;
    pos = o + n;
  }
  return true;
}

/** Hands each frame of a body that `isLengthPrefixed` accepted to `visit`; true when capped. */
function visitFrames(body: Uint8Array, visit: ApduVisitor): boolean {
  let pos = 0;
  let count = 0;
  while (pos < body.length) {
    if (count === MAX_SCRIPT_APDUS) return true;
    const n = (body[pos]! << 8) | body[pos + 1]!;
    visit(pos + 2, n);
    count++;
    pos += 2 + n;
  }
  return false;
}

function expandedFormat(w: ScriptShape): BodyFormat {
  if (w.malformed || w.truncated) return 'unknown';
  return w.format === 'definite' ? 'expanded_definite' : w.format === 'indefinite' ? 'expanded_indefinite' : 'unknown';
}

/**
 * Decide how a server's response body is framed and hand each C-APDU to `visit`. A body that
 * opens with a command template tag is read as a script, unless it is exactly a frame sequence
 * (only possible past 43 KB); a malformed script still hands over the C-APDUs it holds before the
 * fault, but is `unknown`. Any other body is taken as frames only when it parses exactly into
 * plausible C-APDUs, and otherwise hands over nothing.
 */
export function walkCommandBody(body: Uint8Array, visit: ApduVisitor): BodyShape {
  if (!(body instanceof Uint8Array) || body.length === 0) return { format: 'unknown', capped: false };
  const t = body[0]!;
  if ((t === TAG_COMMAND_SCRIPT_DEFINITE || t === TAG_COMMAND_SCRIPT_INDEFINITE) && !isLengthPrefixed(body, true)) {
    const w = walkCommandScript(body, visit);
    return { format: expandedFormat(w), capped: w.capped };
  }
  if (!isLengthPrefixed(body, true)) return { format: 'unknown', capped: false };
  return { format: 'length_prefixed', capped: visitFrames(body, visit) };
}

/** The card's side of `walkCommandBody`: response scripts (AB / AF) or frames of plausible R-APDUs. */
export function walkResponseBody(body: Uint8Array, visit: ApduVisitor): ResponseBodyShape {
  if (!(body instanceof Uint8Array) || body.length === 0) return { format: 'unknown', capped: false, executed: null, badFormat: null };
  const t = body[0]!;
  if ((t === TAG_RESPONSE_SCRIPT_DEFINITE || t === TAG_RESPONSE_SCRIPT_INDEFINITE) && !isLengthPrefixed(body, false)) {
    const w = walkResponseScript(body, visit);
    return { format: expandedFormat(w), capped: w.capped, executed: w.executed, badFormat: w.badFormat };
  }
  if (!isLengthPrefixed(body, false)) return { format: 'unknown', capped: false, executed: null, badFormat: null };
  return { format: 'length_prefixed', capped: visitFrames(body, visit), executed: null, badFormat: null };
}

/** Frame APDUs as CardLink does: `[len16][APDU]` each, in one body. For fixtures and tests. */
export function encodeLengthPrefixed(apdus: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const a of apdus) {
    if (a.length > 0xffff) throw new RangeError(`frame too long: ${a.length}`);
    total += 2 + a.length;
  }
  const out = new Uint8Array(total);
  let p = 0;
  for (const a of apdus) {
    out[p] = a.length >> 8;
    out[p + 1] = a.length & 0xff;
    out.set(a, p + 2);
    p += 2 + a.length;
  }
  return out;
}

/** Bytes of a definite BER length; RangeError beyond the 3-byte form (16 MiB - 1). */
function encodeLength(n: number): number[] {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffff) throw new RangeError(`BER length out of range: ${n}`);
  if (n < 0x80) return [n];
  if (n <= 0xff) return [0x81, n];
  if (n <= 0xffff) return [0x82, n >> 8, n & 0xff];
  return [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
}

function encodeTemplate(tag: number, indefiniteTag: number, items: Uint8Array[], indefinite: boolean): Uint8Array {
  let inner = 0;
  for (const it of items) inner += it.length;
  const head = indefinite ? [indefiniteTag, 0x80] : [tag, ...encodeLength(inner)];
  const out = new Uint8Array(head.length + inner + (indefinite ? 2 : 0));
  out.set(head, 0);
  let p = head.length;
  for (const it of items) {
    out.set(it, p);
    p += it.length;
  }
  // The trailing 00 00 end-of-contents is already zero in a fresh Uint8Array.
  return out;
}

function tlv(tag: number, value: Uint8Array): Uint8Array {
  const l = encodeLength(value.length);
  const out = new Uint8Array(1 + l.length + value.length);
  out[0] = tag;
  out.set(l, 1);
  out.set(value, 1 + l.length);
  return out;
}

/**
 * Build a Command Scripting template (AA definite by default, AE 80 ... 00 00 when `indefinite`)
 * holding one `22` TLV per C-APDU. For fixtures and tests; throws RangeError past 16 MiB.
 */
export function encodeCommandScript(apdus: Uint8Array[], indefinite = false): Uint8Array {
  return encodeTemplate(
    TAG_COMMAND_SCRIPT_DEFINITE,
    TAG_COMMAND_SCRIPT_INDEFINITE,
    apdus.map((a) => tlv(TAG_C_APDU, a)),
    indefinite,
  );
}

/**
 * Build a Response Scripting template (AB definite by default, AF 80 ... 00 00 when `indefinite`):
 * the `80` executed-count TLV (minimal big-endian, at least one byte) then one `23` TLV per
 * R-APDU (data + SW1 SW2). For fixtures and tests; throws RangeError on a bad count or past 16 MiB.
 */
export function encodeResponseScript(rapdus: Uint8Array[], executed: number, indefinite = false): Uint8Array {
  if (!Number.isInteger(executed) || executed < 0 || executed > 0xffffffff) {
    throw new RangeError(`executed count out of range: ${executed}`);
  }
  const countBytes: number[] = [];
  let v = executed;
  do {
    countBytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  const items = [tlv(TAG_EXECUTED_COUNT, Uint8Array.from(countBytes)), ...rapdus.map((r) => tlv(TAG_R_APDU, r))];
  return encodeTemplate(TAG_RESPONSE_SCRIPT_DEFINITE, TAG_RESPONSE_SCRIPT_INDEFINITE, items, indefinite);
}

const COMMAND_MEDIA = 'application/vnd.globalplatform.card-content-mgt';
const RESPONSE_MEDIA = 'application/vnd.globalplatform.card-content-mgt-response';
const COMMAND_TYPE_V1 = `${COMMAND_MEDIA};version=1.0`;
const RESPONSE_TYPE_V1 = `${RESPONSE_MEDIA};version=1.0`;

/**
 * Which SCP81 script a Content-Type value announces: `command`, `response`, or null. The media
 * type is compared case-insensitively with surrounding whitespace ignored; parameters (such as
 * `version=1.0`) are not checked, so `Application/Vnd.GlobalPlatform.Card-Content-Mgt ; version=1.0`
 * matches. Non-string values (an absent header) give null.
 */
export function scp81ContentKind(value: unknown): 'command' | 'response' | null {
  if (typeof value !== 'string') return null;
  // The forms nearly every sender writes: one native comparison each, far cheaper than comparing
  // character by character.
  if (value === RESPONSE_TYPE_V1) return 'response';
  if (value === COMMAND_TYPE_V1) return 'command';
  // Media type = text before ';', trimmed, compared whole (lower-cased only if it differs).
  let end = value.indexOf(';');
  if (end < 0) end = value.length;
  let start = 0;
  while (start < end && isSpace(value.charCodeAt(start))) start++;
  while (end > start && isSpace(value.charCodeAt(end - 1))) end--;
  const len = end - start;
  if (len !== COMMAND_MEDIA.length && len !== RESPONSE_MEDIA.length) return null;
  let media = value.slice(start, end);
  if (media !== COMMAND_MEDIA && media !== RESPONSE_MEDIA) media = media.toLowerCase();
  return media === COMMAND_MEDIA ? 'command' : media === RESPONSE_MEDIA ? 'response' : null;
}

/** True for either SCP81 content type (see `scp81ContentKind`). */
export function isScp81ContentType(value: unknown): boolean {
  return scp81ContentKind(value) !== null;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}
