/**
 * SCP81 body formats decided per body: TS 102 226 expanded scripts (definite, indefinite, tags with
 * the comprehension-required bit) and CardLink's length-prefixed frames; conservative detection;
 * the session tracker fed every format in one session, whole and split at every byte boundary.
 */
import t from 'tap';
import fc from 'fast-check';
import { bytesToHex, COMMAND_TYPES, hexToBytes } from '../instrumentations/shared/apdu.js';
import {
  BODY_FORMATS,
  MAX_SCRIPT_APDUS,
  SCP81_COMMAND_CONTENT_TYPE,
  SCP81_RESPONSE_CONTENT_TYPE,
  ADMIN_PROTOCOL,
  decodeCommandScript,
  decodeResponseScript,
  encodeCommandScript,
  encodeLengthPrefixed,
  encodeResponseScript,
  isLengthPrefixed,
  isPlausibleCommandApdu,
  scp81ContentKind,
  walkCommandBody,
  walkResponseBody,
  type BodyFormat,
} from '../instrumentations/tls/scp81.js';
import { HttpMessageScanner } from '../instrumentations/tls/http-stream.js';
import { APDU_FIELDS, APDU_SW, APDU_TYPE, OtaSessionTracker, type ScriptApdus, type SessionSink } from '../instrumentations/tls/ota-session.js';

function hex(s: string): Uint8Array {
  const b = hexToBytes(s);
  if (b === null) throw new Error(`bad test hex ${s}`);
  return b;
}

function commandApdus(body: Uint8Array): { format: BodyFormat; apdus: string[] } {
  const apdus: string[] = [];
  const shape = walkCommandBody(body, (o, n) => apdus.push(bytesToHex(body, o, n)));
  return { format: shape.format, apdus };
}

function responseApdus(body: Uint8Array): { format: BodyFormat; apdus: string[]; executed: number | null } {
  const apdus: string[] = [];
  const shape = walkResponseBody(body, (o, n) => apdus.push(bytesToHex(body, o, n)));
  return { format: shape.format, apdus, executed: shape.executed };
}

// The first commands of the public CardLink's demo session (server/http_handler.py DEMO_COMMANDS).
const SELECT_ISD = '00A4040000';
const GET_CARD_DATA = '80CA006600';
const GET_CM_AID = '80CA004F00';

t.test('CardLink frames: one APDU per body as CardLink sends it, and several per body', async (t) => {
  t.same(commandApdus(hex(`0005${SELECT_ISD}`)), { format: 'length_prefixed', apdus: [SELECT_ISD] });
  t.same(commandApdus(hex(`0005${GET_CARD_DATA}0005${GET_CM_AID}`)), { format: 'length_prefixed', apdus: [GET_CARD_DATA, GET_CM_AID] });
  t.same(responseApdus(hex('00029000')), { format: 'length_prefixed', apdus: ['9000'], executed: null });
  t.same(responseApdus(hex('0004AABB6A82').subarray(0, 5)), { format: 'unknown', apdus: [], executed: null }, 'a frame cut short');
  t.same(responseApdus(hex('0004AABB6A8200026D00')), { format: 'length_prefixed', apdus: ['AABB6A82', '6D00'], executed: null });
  // Extended-length C-APDUs: 3E (00 Lc Lc data) and 4E (... Le Le), and 2E (00 Le Le).
  t.same(commandApdus(hex('000A80E20000000003AABBCC')).format, 'length_prefixed');
  t.same(commandApdus(hex('000C80E20000000003AABBCC0000')).format, 'length_prefixed');
  t.same(commandApdus(hex('000780CA00FE000100')).format, 'length_prefixed');
});

t.test('conservative: a body is frames only when it parses exactly into plausible APDUs', async (t) => {
  const unknown = (s: string, why: string) => t.same(commandApdus(hex(s)), { format: 'unknown', apdus: [] }, why);
  unknown('0005' + SELECT_ISD + '00', 'a trailing byte');
  unknown('0005' + SELECT_ISD + '0000', 'an empty frame');
  unknown('0006' + '00A4040001', 'a frame longer than the body');
  unknown('0007' + '00A40400023F', 'Lc 02 with one data byte');
  unknown('0009' + '00A40400023F000000', 'Lc 02, data, Le and one more');
  unknown('0005' + '0060000000', 'INS 6x is not an instruction');
  unknown('0005' + '0090000000', 'INS 9x is not an instruction');
  unknown('0005' + 'FFA4040000', 'CLA FF (PPS)');
  unknown('0003' + '00A404', 'fewer than 4 bytes');
  unknown('3C68746D6C3E', 'an HTML page');
  unknown('7B226170647573223A5B5D7D', 'JSON');
  t.same(responseApdus(hex('00021234')).format, 'unknown', 'an R-APDU must end in a status word');
  t.same(responseApdus(hex('00026000')).format, 'unknown', 'SW1 60 is no status');
  t.same(responseApdus(hex('0001' + '90')).format, 'unknown', 'one byte is no R-APDU');
  t.same(commandApdus(new Uint8Array(0)), { format: 'unknown', apdus: [] });
});

t.test('expanded scripts keep their formats; the comprehension-required bit is understood', async (t) => {
  t.same(commandApdus(encodeCommandScript([hex(SELECT_ISD)])), { format: 'expanded_definite', apdus: [SELECT_ISD] });
  t.same(commandApdus(encodeCommandScript([hex(SELECT_ISD)], true)), { format: 'expanded_indefinite', apdus: [SELECT_ISD] });
  // C-APDU tag A2 (22 with the CR bit), R-APDU tag A3: TS 101 220 7.1.1 COMPREHENSION-TLV tags.
  t.same(commandApdus(hex(`AA07A205${SELECT_ISD}`)), { format: 'expanded_definite', apdus: [SELECT_ISD] });
  t.same(commandApdus(hex(`AE80A205${SELECT_ISD}2205${GET_CARD_DATA}0000`)), {
    format: 'expanded_indefinite',
    apdus: [SELECT_ISD, GET_CARD_DATA],
  });
  t.same(decodeCommandScript(hex(`AA07A205${SELECT_ISD}`)).apdus.length, 1, 'decodeCommandScript too');
  t.same(responseApdus(hex('AB07800101A3029000')), { format: 'expanded_definite', apdus: ['9000'], executed: 1 });
  t.same(decodeResponseScript(hex('AF80800101A30290000000')).rapdus.length, 1);
  // A malformed script still hands over what it holds before the fault, but fits no format.
  t.same(commandApdus(hex(`AA07220680CA006600`)), { format: 'unknown', apdus: [] }, 'an APDU cut short');
  t.same(commandApdus(hex(`AA07220580CA006600FF`)), { format: 'unknown', apdus: ['80CA006600'] }, 'a trailing byte');
  // The indefinite tags AC / AD appear in one library's TS 101 220 table, in no server or card: not decoded.
  t.same(commandApdus(hex(`AC80220580CA0066000000`)).format, 'unknown');
});

/** Independent reading of an ISO 7816-3 command: which total lengths the header and Lc allow. */
function referenceCaseLengths(apdu: Uint8Array): number[] {
  if (apdu.length < 5) return [4];
  const b4 = apdu[4]!;
  if (b4 !== 0) return [5, 5 + b4, 6 + b4];
  if (apdu.length < 7) return [5];
  const lc = apdu[5]! * 256 + apdu[6]!;
  return lc === 0 ? [5, 7] : [5, 7, 7 + lc, 9 + lc];
}

function referenceFrames(body: Uint8Array, command: boolean): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < body.length) {
    if (body.length - pos < 2) return null;
    const n = body[pos]! * 256 + body[pos + 1]!;
    const apdu = body.subarray(pos + 2, pos + 2 + n);
    if (n === 0 || apdu.length !== n) return null;
    if (command) {
      const ins = apdu[1] ?? 0;
      if (n < 4 || apdu[0] === 0xff || ins >> 4 === 6 || ins >> 4 === 9 || !referenceCaseLengths(apdu).includes(n)) return null;
    } else {
      const sw1 = apdu[n - 2] ?? 0;
      if (n < 2 || !(sw1 >> 4 === 9 || (sw1 >> 4 === 6 && sw1 !== 0x60))) return null;
    }
    out.push(apdu);
    pos += 2 + n;
  }
  return out.length > 0 ? out : null;
}

const capduArb = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 0xfe }), fc.integer({ min: 0, max: 0x5f }), fc.uint8Array({ minLength: 2, maxLength: 2 })).map(([c, i, p]) => new Uint8Array([c, i, ...p])).map((h) => new Uint8Array([...h, 0x00])),
  fc
    .tuple(fc.integer({ min: 0, max: 0xfe }), fc.constantFrom(0xa4, 0xca, 0xe2, 0xd8, 0xe6, 0xf2), fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.boolean())
    .map(([c, i, data, le]) => new Uint8Array([c, i, 0, 0, data.length, ...data, ...(le ? [0] : [])])),
);
const rapduArb = fc
  .tuple(fc.uint8Array({ maxLength: 40 }), fc.constantFrom(0x90, 0x61, 0x6a, 0x69, 0x91, 0x63))
  .map(([data, sw1]) => new Uint8Array([...data, sw1, 0x00]));

t.test('property: frames of plausible APDUs are found exactly, in order', async (t) => {
  fc.assert(
    fc.property(fc.array(capduArb, { minLength: 1, maxLength: 8 }), fc.array(rapduArb, { minLength: 1, maxLength: 8 }), (c, r) => {
      const cb = encodeLengthPrefixed(c);
      const rb = encodeLengthPrefixed(r);
      const cc = commandApdus(cb);
      const rr = responseApdus(rb);
      return (
        cc.format === 'length_prefixed' &&
        cc.apdus.join() === c.map((a) => bytesToHex(a)).join() &&
        rr.format === 'length_prefixed' &&
        rr.apdus.join() === r.map((a) => bytesToHex(a)).join()
      );
    }),
    { numRuns: 1000 },
  );
  t.pass('round trips hold');
});

t.test('property: no APDU is invented from bytes that are not a valid frame sequence', async (t) => {
  const body = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    // bytes that start like a frame: a small length, then anything
    fc.tuple(fc.integer({ min: 1, max: 40 }), fc.uint8Array({ maxLength: 60 })).map(([n, rest]) => new Uint8Array([0, n, ...rest])),
    // valid frames with one byte changed somewhere
    fc.tuple(fc.array(capduArb, { minLength: 1, maxLength: 4 }), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([c, i, v]) => {
      const b = encodeLengthPrefixed(c);
      b[i % b.length] = v;
      return b;
    }),
  );
  fc.assert(
    fc.property(body, (b) => {
      for (const command of [true, false]) {
        const got = command ? commandApdus(b) : responseApdus(b);
        if (!BODY_FORMATS.includes(got.format)) return false;
        if (got.format !== 'length_prefixed') continue;
        const ref = referenceFrames(b, command);
        if (ref === null || ref.map((a) => bytesToHex(a)).join() !== got.apdus.join()) return false;
      }
      return true;
    }),
    { numRuns: 5000 },
  );
  t.pass('every length-prefixed reading matches an independent frame reading');
});

t.test('isPlausibleCommandApdu agrees with the ISO case lengths on random APDUs', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 4, maxLength: 80 }), (a) => {
      const ins = a[1]!;
      const validHeader = a[0] !== 0xff && ins >> 4 !== 6 && ins >> 4 !== 9;
      return isPlausibleCommandApdu(a, 0, a.length) === (validHeader && referenceCaseLengths(a).includes(a.length));
    }),
    { numRuns: 5000 },
  );
  t.pass('agrees');
});

t.test('the APDU bound holds for frames too', async (t) => {
  const body = encodeLengthPrefixed(Array.from({ length: MAX_SCRIPT_APDUS + 5 }, () => hex(SELECT_ISD)));
  let n = 0;
  const shape = walkCommandBody(body, () => n++);
  t.equal(n, MAX_SCRIPT_APDUS);
  t.equal(shape.capped, true);
  t.equal(isLengthPrefixed(body, true), true);
});

// --- the session tracker over the HTTP scanners: every format in one session ---------------------

type Step = { format: 'definite' | 'indefinite' | 'length_prefixed'; apdus: Uint8Array[] };

/** A card's answers: 9000 for SELECT, 6A82 for anything else with data, else data + 9000. */
function cardAnswer(c: Uint8Array): Uint8Array {
  if (c[1] === 0xa4) return hex('9000');
  if (c.length > 5) return hex('6A82');
  return hex('9F65019000');
}

function commandBody(s: Step): Uint8Array {
  return s.format === 'length_prefixed' ? encodeLengthPrefixed(s.apdus) : encodeCommandScript(s.apdus, s.format === 'indefinite');
}

function responseBody(s: Step): Uint8Array {
  const r = s.apdus.map(cardAnswer);
  return s.format === 'length_prefixed' ? encodeLengthPrefixed(r) : encodeResponseScript(r, r.length, s.format === 'indefinite');
}

function latin1(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, 'latin1'));
}

function cat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

function chunkedBody(b: Uint8Array): Uint8Array {
  if (b.length === 0) return latin1('0\r\n\r\n');
  const half = b.length >> 1 || 1;
  return cat(latin1(`${half.toString(16)}\r\n`), b.subarray(0, half), latin1(`\r\n${(b.length - half).toString(16)}\r\n`), b.subarray(half), latin1('\r\n0\r\n\r\n'));
}

function request(body: Uint8Array, chunked: boolean): Uint8Array {
  const head = `POST /admin HTTP/1.1\r\nHost: 127.0.0.1:4443\r\nX-Admin-Protocol: ${ADMIN_PROTOCOL}\r\nContent-Type: ${SCP81_RESPONSE_CONTENT_TYPE}\r\n${body.length > 0 ? 'X-Admin-Script-Status: ok\r\n' : ''}`;
  if (chunked && body.length > 0) return cat(latin1(`${head}Transfer-Encoding: chunked\r\n\r\n`), chunkedBody(body));
  return cat(latin1(`${head}Content-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n`), body);
}

function response(body: Uint8Array | null, chunked: boolean): Uint8Array {
  if (body === null) return latin1(`HTTP/1.1 204 No Content\r\nX-Admin-Protocol: ${ADMIN_PROTOCOL}\r\nConnection: close\r\n\r\n`);
  const head = `HTTP/1.1 200 OK\r\nContent-Type: ${SCP81_COMMAND_CONTENT_TYPE}\r\nX-Admin-Protocol: ${ADMIN_PROTOCOL}\r\n`;
  if (chunked) return cat(latin1(`${head}Transfer-Encoding: chunked\r\n\r\n`), chunkedBody(body));
  return cat(latin1(`${head}Content-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n`), body);
}

/** The wire of one session: [request, response] per exchange, the last response a 204. */
function sessionWire(steps: Step[], chunked: boolean): Array<[Uint8Array, Uint8Array]> {
  const out: Array<[Uint8Array, Uint8Array]> = [];
  let prev: Step | undefined;
  for (const s of [...steps, undefined]) {
    out.push([request(prev === undefined ? new Uint8Array(0) : responseBody(prev), chunked), response(s === undefined ? null : commandBody(s), chunked)]);
    prev = s;
  }
  return out;
}

/** What the tracker tells its sink, as comparable strings. */
function recordingSink(events: string[]): SessionSink {
  const apdus = (s: ScriptApdus) =>
    Array.from({ length: s.count }, (_, i) => {
      const sw = s.apdus[i * APDU_FIELDS + APDU_SW]!;
      return `${COMMAND_TYPES[s.apdus[i * APDU_FIELDS + APDU_TYPE]!]}=${sw < 0 ? '-' : sw.toString(16)}`;
    }).join(',');
  return {
    sessionStart: () => events.push('start'),
    bodyDecoded: (d, f) => events.push(`${d}:${f}`),
    scriptSent: (_at, s) => events.push(`sent ${s.count}`),
    scriptAnswered: (_s, _a, s) => events.push(`answered ${apdus(s)}`),
    scriptUnanswered: (_s, _a, s) => events.push(`unanswered ${apdus(s)}`),
    scriptStatus: (v) => events.push(`status ${v}`),
    sessionEnd: (_at, status, reason) => events.push(`end ${status} ${reason}`),
    unknown: (k) => events.push(`unknown ${k}`),
  };
}

/** Feed a session's wire to a tracker through two scanners, each message cut into the given pieces. */
function track(wire: Array<[Uint8Array, Uint8Array]>, cut: (msg: Uint8Array) => Uint8Array[]): string[] {
  const events: string[] = [];
  const tracker = new OtaSessionTracker(recordingSink(events));
  const requests = new HttpMessageScanner('request', {
    onMessageStart: (h) =>
      tracker.request(
        {
          adminProtocol: h.headers['x-admin-protocol'],
          responseScript: scp81ContentKind(h.headers['content-type']) === 'response',
          resume: h.headers['x-admin-resume'],
          scriptStatus: h.headers['x-admin-script-status'],
        },
        0,
      ),
    onMessageEnd: (e) => {
      if (e.body !== null && e.complete && !e.truncated) tracker.requestBody(e.body, 0);
    },
  });
  const responses = new HttpMessageScanner('response', {
    onMessageStart: (h) => tracker.response({ statusCode: h.statusCode, contentType: h.headers['content-type'] }, 0),
    onMessageEnd: (e) => {
      if (e.body !== null && e.complete && !e.truncated) tracker.responseBody(e.body, 0);
    },
  });
  for (const [req, res] of wire) {
    for (const p of cut(req)) requests.push(p);
    for (const p of cut(res)) responses.push(p);
  }
  tracker.close(0, false);
  return events;
}

const MIXED: Step[] = [
  { format: 'length_prefixed', apdus: [hex(SELECT_ISD)] },
  { format: 'definite', apdus: [hex('80F28000024F0000'), hex(GET_CARD_DATA)] },
  { format: 'length_prefixed', apdus: [hex(GET_CARD_DATA), hex(GET_CM_AID)] },
  { format: 'indefinite', apdus: [hex('00A4040008A000000151000000')] },
  { format: 'length_prefixed', apdus: [hex('80D8018117' + '018010' + 'DEADBEEFCAFEBABE0011223344556677' + '03A1B2C3')] },
];

t.test('every format in one session: the same events whole and split at every byte boundary', async (t) => {
  for (const chunked of [false, true]) {
    const wire = sessionWire(MIXED, chunked);
    const whole = track(wire, (m) => [m]);
    t.same(
      whole,
      [
        'start',
        'sent:length_prefixed',
        'sent 1',
        'received:length_prefixed',
        'answered SELECT=9000',
        'sent:expanded_definite',
        'sent 2',
        'received:expanded_definite',
        'answered GET_STATUS=6a82,GET_DATA=9000',
        'sent:length_prefixed',
        'sent 2',
        'received:length_prefixed',
        'answered GET_DATA=9000,GET_DATA=9000',
        'sent:expanded_indefinite',
        'sent 1',
        'received:expanded_indefinite',
        'answered SELECT=9000',
        'sent:length_prefixed',
        'sent 1',
        'received:length_prefixed',
        'answered PUT_KEY=6a82',
        'end completed no_content',
      ],
      `whole messages, chunked=${chunked}`,
    );
    for (let i = 0; i < wire.length; i++) {
      for (const side of [0, 1] as const) {
        const msg = wire[i]![side];
        for (let k = 1; k < msg.length; k++) {
          const got = track(wire, (m) => (m === msg ? [m.subarray(0, k), m.subarray(k)] : [m]));
          if (got.join('|') !== whole.join('|')) {
            t.fail(`exchange ${i} ${side === 0 ? 'request' : 'response'} split at ${k} (chunked=${chunked})`);
            return;
          }
        }
      }
    }
    const oneByte = track(wire, (m) => Array.from(m, (b) => Uint8Array.of(b)));
    t.same(oneByte, whole, `one byte at a time, chunked=${chunked}`);
  }
});

t.test('a body in no known format is counted as unknown and nothing is invented', async (t) => {
  const wire = sessionWire([{ format: 'length_prefixed', apdus: [hex(SELECT_ISD)] }], false);
  // The server sends a JSON command list instead of a script or frames.
  wire[1]![1] = response(latin1('{"apdus":["00A4040000"]}'), false);
  const events = track(wire, (m) => [m]);
  t.same(events.slice(0, 4), ['start', 'sent:length_prefixed', 'sent 1', 'received:length_prefixed']);
  t.ok(events.includes('sent:unknown'));
  t.ok(events.includes('unknown command_script'));
  t.notOk(events.some((e) => e.startsWith('answered') && e !== 'answered SELECT=9000'), 'no APDU from the JSON body');
});
