import t from 'tap';
import fc from 'fast-check';
import { bytesToHex, decodeCommandApdu, decodeResponseApdu, hexToBytes } from '../instrumentations/shared/apdu.js';
import {
  ADMIN_PROTOCOL,
  BER_INDEFINITE,
  BER_INVALID,
  BER_NEED_MORE,
  MAX_SCRIPT_APDUS,
  SCP81_COMMAND_CONTENT_TYPE,
  SCP81_RESPONSE_CONTENT_TYPE,
  berLengthSize,
  decodeCommandScript,
  decodeResponseScript,
  encodeCommandScript,
  encodeResponseScript,
  isScp81ContentType,
  readBerLength,
  scp81ContentKind,
  type ScriptItem,
} from '../instrumentations/tls/scp81.js';

function hex(s: string): Uint8Array {
  const b = hexToBytes(s);
  if (b === null) throw new Error(`bad test hex ${s}`);
  return b;
}

/** Field-by-field check; arrays compared exactly (t.match accepts longer arrays). */
function expectScript(tt: Pick<typeof t, 'same'>, actual: object, want: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(want)) tt.same((actual as Record<string, unknown>)[k], v, k);
}

function items(body: Uint8Array, list: ScriptItem[]): string[] {
  return list.map((i) => bytesToHex(body, i.offset, i.length));
}

// SELECT the ISD by AID (A000000151000000), then GET STATUS of the ISD.
const SELECT_ISD = '00A4040008A000000151000000';
const GET_STATUS = '80F28000024F0000';

t.test('BER lengths', async (t) => {
  t.equal(readBerLength(hex('05'), 0, 1), 5);
  t.equal(readBerLength(hex('7F'), 0, 1), 127);
  t.equal(readBerLength(hex('8180'), 0, 2), 128);
  t.equal(readBerLength(hex('820133'), 0, 3), 0x133);
  t.equal(readBerLength(hex('83010000'), 0, 4), 0x10000);
  t.equal(readBerLength(hex('80'), 0, 1), BER_INDEFINITE);
  t.equal(readBerLength(hex('8401000000'), 0, 5), BER_INVALID);
  t.equal(readBerLength(hex('FF'), 0, 1), BER_INVALID);
  t.equal(readBerLength(hex('8201'), 0, 2), BER_NEED_MORE);
  t.equal(readBerLength(hex('820133'), 0, 2), BER_NEED_MORE, 'end bound is respected');
  t.equal(readBerLength(hex(''), 0, 0), BER_NEED_MORE);
  t.same([0x05, 0x80, 0x81, 0x82, 0x83, 0x84].map(berLengthSize), [1, 1, 2, 3, 4, 0]);
});

t.test('definite command script (AA) with two C-APDUs', async (t) => {
  // AA 19 | 22 0D <SELECT> | 22 08 <GET STATUS>
  const body = hex(`AA19 220D${SELECT_ISD} 2208${GET_STATUS}`);
  const s = decodeCommandScript(body);
  t.match(s, { format: 'definite', truncated: false, malformed: false, capped: false });
  t.same(items(body, s.apdus), [SELECT_ISD, GET_STATUS]);
  t.same(s.apdus[0], { offset: 4, length: 13 });
  // The positions decode in place
  const a0 = decodeCommandApdu(body, s.apdus[0]!.offset, s.apdus[0]!.length)!;
  const a1 = decodeCommandApdu(body, s.apdus[1]!.offset, s.apdus[1]!.length)!;
  t.equal(a0.commandType, 'SELECT');
  t.equal(bytesToHex(body, a0.dataOffset, a0.dataLength), 'A000000151000000');
  t.equal(a1.commandType, 'GET_STATUS');
  // The encoder produces exactly this layout
  t.equal(bytesToHex(encodeCommandScript([hex(SELECT_ISD), hex(GET_STATUS)])), bytesToHex(body));
});

t.test('indefinite command script (AE 80 ... 00 00)', async (t) => {
  const body = hex(`AE80 220D${SELECT_ISD} 2208${GET_STATUS} 0000`);
  const s = decodeCommandScript(body);
  t.match(s, { format: 'indefinite', truncated: false, malformed: false });
  t.same(items(body, s.apdus), [SELECT_ISD, GET_STATUS]);
  t.equal(bytesToHex(encodeCommandScript([hex(SELECT_ISD), hex(GET_STATUS)], true)), bytesToHex(body));
  // The single-APDU form a RAM server commonly sends
  t.same(items(hex('AE80220580E29000000000'), decodeCommandScript(hex('AE80220580E29000000000')).apdus), ['80E2900000']);
});

t.test('immediate action, error action and script chaining TLVs are skipped', async (t) => {
  // AA 17 | 81 01 10 | 22 0D <SELECT> | 82 00 | 83 01 01
  const body = hex(`AA17 810110 220D${SELECT_ISD} 8200 830101`);
  const s = decodeCommandScript(body);
  t.match(s, { format: 'definite', truncated: false, malformed: false });
  t.same(items(body, s.apdus), [SELECT_ISD]);
  // A multi-byte tag (BF 20) is skipped too
  const body2 = hex(`AE80 BF2001FF 220D${SELECT_ISD} 0000`);
  t.same(items(body2, decodeCommandScript(body2).apdus), [SELECT_ISD]);
});

t.test('multi-byte BER lengths (0x81, 0x82)', async (t) => {
  // STORE DATA with 200 data bytes: APDU 205 (CD) bytes -> 22 81 CD; template 208 (D0) -> AA 81 D0
  const data200 = '5A'.repeat(200);
  const apdu205 = `80E29000C8${data200}`;
  const body = hex(`AA81D0 2281CD${apdu205}`);
  const s = decodeCommandScript(body);
  t.match(s, { format: 'definite', truncated: false, malformed: false });
  t.same(items(body, s.apdus), [apdu205]);
  t.equal(bytesToHex(encodeCommandScript([hex(apdu205)])), bytesToHex(body));

  // Extended-length STORE DATA with 300 data bytes: APDU 307 (0133) -> 22 82 01 33; template 311 (0137)
  const apdu307 = `80E2900000012C${'A5'.repeat(300)}`;
  const body2 = hex(`AA820137 22820133${apdu307}`);
  const s2 = decodeCommandScript(body2);
  t.match(s2, { format: 'definite', truncated: false, malformed: false });
  t.same(items(body2, s2.apdus), [apdu307]);
  t.match(decodeCommandApdu(body2, s2.apdus[0]!.offset, s2.apdus[0]!.length), { extended: true, lc: 300, case: 3, commandType: 'STORE_DATA' });
  t.equal(bytesToHex(encodeCommandScript([hex(apdu307)])), bytesToHex(body2));
});

t.test('truncated command scripts never report an APDU past the end', async (t) => {
  // declared 0x19 bytes, body cut inside the second APDU
  const cut = hex(`AA19 220D${SELECT_ISD} 2208 80F280`);
  const s = decodeCommandScript(cut);
  t.match(s, { format: 'definite', truncated: true });
  t.same(items(cut, s.apdus), [SELECT_ISD]);
  // indefinite without end-of-contents
  expectScript(t, decodeCommandScript(hex(`AE80 220D${SELECT_ISD}`)), { format: 'indefinite', truncated: true, apdus: [{ offset: 4, length: 13 }] });
  t.match(decodeCommandScript(hex(`AE80 220D${SELECT_ISD} 00`)), { truncated: true });
  // the length field itself is cut off
  expectScript(t, decodeCommandScript(hex('AA82')), { truncated: true, apdus: [] });
  expectScript(t, decodeCommandScript(hex('AA05 2281')), { truncated: true, apdus: [] });
  expectScript(t, decodeCommandScript(hex('AA')), { format: 'definite', truncated: true, apdus: [] });
});

t.test('malformed and foreign bodies', async (t) => {
  expectScript(t, decodeCommandScript(new Uint8Array(0)), { format: 'unknown', malformed: true, apdus: [] });
  expectScript(t, decodeCommandScript(hex('3082010A')), { format: 'unknown', malformed: true, apdus: [] });
  t.match(decodeCommandScript(new TextEncoder().encode('<html>')), { format: 'unknown', malformed: true });
  // a response script is not a command script
  t.match(decodeCommandScript(hex('AB03800100')), { format: 'unknown', malformed: true });
  // 0x84 length forms are rejected
  expectScript(t, decodeCommandScript(hex('AA8400000005 2203000000')), { malformed: true, apdus: [] });
  expectScript(t, decodeCommandScript(hex(`AA13 228400000003 000000`)), { malformed: true, apdus: [] });
  // trailing bytes after a definite template: APDUs kept, script flagged
  const trailing = hex(`AA0F 220D${SELECT_ISD} FFFF`);
  expectScript(t, decodeCommandScript(trailing), { malformed: true, truncated: false, apdus: [{ offset: 4, length: 13 }] });
  // trailing bytes after end-of-contents
  expectScript(t, decodeCommandScript(hex(`AE80 220D${SELECT_ISD} 0000 AA`)), { malformed: true, apdus: [{ offset: 4, length: 13 }] });
  // tag/length-form mismatch is tolerated but flagged
  const mismatch = hex(`AA80 220D${SELECT_ISD} 0000`);
  expectScript(t, decodeCommandScript(mismatch), { format: 'definite', malformed: true, truncated: false, apdus: [{ offset: 4, length: 13 }] });
  t.match(decodeCommandScript(null as unknown as Uint8Array), { format: 'unknown', malformed: true });
});

t.test('the APDU bound', async (t) => {
  const many = Array.from({ length: MAX_SCRIPT_APDUS + 1 }, (_, i) => new Uint8Array([0x00, 0xb0, i >> 8, i & 0xff, 0x01]));
  const body = encodeCommandScript(many);
  const s = decodeCommandScript(body);
  t.equal(MAX_SCRIPT_APDUS, 1024);
  t.equal(s.apdus.length, MAX_SCRIPT_APDUS);
  t.equal(s.capped, true);
  t.equal(s.truncated, false);
  const exact = decodeCommandScript(encodeCommandScript(many.slice(0, MAX_SCRIPT_APDUS), true));
  t.match(exact, { capped: false, truncated: false, malformed: false });
  t.equal(exact.apdus.length, MAX_SCRIPT_APDUS);
});

t.test('definite response script (AB): executed count and R-APDUs', async (t) => {
  // AB 12 | 80 01 02 | 23 02 9000 | 23 09 E3 05 4F 03 A00000 9000
  const body = hex('AB12 800102 23029000 2309E3054F03A000009000');
  const r = decodeResponseScript(body);
  t.match(r, { format: 'definite', executed: 2, badFormat: null, truncated: false, malformed: false, capped: false });
  t.same(items(body, r.rapdus), ['9000', 'E3054F03A000009000']);
  const last = decodeResponseApdu(body, r.rapdus[1]!.offset, r.rapdus[1]!.length)!;
  t.same(last, { sw: 0x9000, sw1: 0x90, sw2: 0x00, dataLength: 7 });
  t.equal(bytesToHex(encodeResponseScript([hex('9000'), hex('E3054F03A000009000')], 2)), bytesToHex(body));
});

t.test('indefinite response script (AF 80 ... 00 00)', async (t) => {
  const body = hex('AF80 800101 23026A82 0000');
  const r = decodeResponseScript(body);
  t.match(r, { format: 'indefinite', executed: 1, truncated: false, malformed: false });
  t.same(items(body, r.rapdus), ['6A82']);
  t.equal(bytesToHex(encodeResponseScript([hex('6A82')], 1, true)), bytesToHex(body));
});

t.test('bad format TLV and odd executed counts', async (t) => {
  // Card could not parse the command script: nothing executed, error type 01 (unknown tag)
  expectScript(t, decodeResponseScript(hex('AB06 800100 900101')), { executed: 0, badFormat: 1, rapdus: [], malformed: false });
  // no 80 TLV at all
  expectScript(t, decodeResponseScript(hex('AB04 23029000')), { executed: null, rapdus: [{ offset: 4, length: 2 }] });
  // 2-byte count (encoder uses the minimal big-endian form)
  t.match(decodeResponseScript(hex('AB04 80020100')), { executed: 256 });
  t.equal(bytesToHex(encodeResponseScript([], 256)), 'AB0480020100');
  // empty count is malformed
  t.match(decodeResponseScript(hex('AB02 8000')), { executed: null, malformed: true });
  // truncated response
  expectScript(t, decodeResponseScript(hex('AB12 800102 2302')), { executed: 2, truncated: true, rapdus: [] });
  // a command script is not a response script
  expectScript(t, decodeResponseScript(hex(`AA0F 220D${SELECT_ISD}`)), { format: 'unknown', malformed: true, rapdus: [] });
  t.throws(() => encodeResponseScript([], -1), RangeError);
});

t.test('content types and admin protocol', async (t) => {
  t.equal(SCP81_COMMAND_CONTENT_TYPE, 'application/vnd.globalplatform.card-content-mgt;version=1.0');
  t.equal(SCP81_RESPONSE_CONTENT_TYPE, 'application/vnd.globalplatform.card-content-mgt-response;version=1.0');
  t.equal(ADMIN_PROTOCOL, 'globalplatform-remote-admin/1.0');
  t.equal(scp81ContentKind(SCP81_COMMAND_CONTENT_TYPE), 'command');
  t.equal(scp81ContentKind(SCP81_RESPONSE_CONTENT_TYPE), 'response');
  t.equal(scp81ContentKind('  Application/VND.GlobalPlatform.Card-Content-Mgt ; version=1.0'), 'command');
  t.equal(scp81ContentKind('application/vnd.globalplatform.card-content-mgt-response'), 'response');
  t.equal(scp81ContentKind('application/vnd.globalplatform.card-content-mgt-responsex'), null);
  t.equal(scp81ContentKind('text/html; charset=utf-8'), null);
  t.equal(scp81ContentKind(undefined), null);
  t.equal(scp81ContentKind(['application/vnd.globalplatform.card-content-mgt']), null);
  t.ok(isScp81ContentType('application/vnd.globalplatform.card-content-mgt;version=1.0'));
  t.notOk(isScp81ContentType(''));
});

const apduArb = fc.uint8Array({ minLength: 4, maxLength: 300, size: 'max' });

t.test('property: encode -> decode round-trips', async (t) => {
  fc.assert(
    fc.property(fc.array(apduArb, { maxLength: 12, size: 'max' }), fc.boolean(), (apdus, indefinite) => {
      const body = encodeCommandScript(apdus, indefinite);
      const s = decodeCommandScript(body);
      if (s.truncated || s.malformed || s.capped) return false;
      if (s.format !== (indefinite ? 'indefinite' : 'definite')) return false;
      const got = items(body, s.apdus);
      return got.length === apdus.length && got.every((h, i) => h === bytesToHex(apdus[i]!));
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 2, maxLength: 300, size: 'max' }), { maxLength: 12, size: 'max' }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.boolean(),
      (rapdus, executed, indefinite) => {
        const body = encodeResponseScript(rapdus, executed, indefinite);
        const r = decodeResponseScript(body);
        if (r.truncated || r.malformed || r.executed !== executed) return false;
        const got = items(body, r.rapdus);
        return got.length === rapdus.length && got.every((h, i) => h === bytesToHex(rapdus[i]!));
      },
    ),
    { numRuns: 500 },
  );
  t.pass('round-trips hold');
});

t.test('property: any cut of a valid script is truncated and stays in bounds', async (t) => {
  fc.assert(
    fc.property(fc.array(apduArb, { minLength: 1, maxLength: 6, size: 'max' }), fc.boolean(), fc.nat(), (apdus, indefinite, n) => {
      const full = encodeCommandScript(apdus, indefinite);
      const cut = full.subarray(0, n % full.length);
      const s = decodeCommandScript(cut);
      if (cut.length > 0 && !s.truncated) return false;
      return s.apdus.every((a) => a.offset >= 0 && a.length >= 0 && a.offset + a.length <= cut.length);
    }),
    { numRuns: 1000 },
  );
  t.pass('cuts hold');
});

t.test('property: random bytes never throw and never point past the buffer', async (t) => {
  const body = fc.oneof(
    fc.uint8Array({ maxLength: 200, size: 'max' }),
    // bytes that start like a script, to get past the template tag
    fc.tuple(fc.constantFrom(0xaa, 0xae, 0xab, 0xaf), fc.uint8Array({ maxLength: 200, size: 'max' })).map(([tag, rest]) => new Uint8Array([tag, ...rest])),
    fc
      .tuple(fc.constantFrom(0xaa, 0xab), fc.array(fc.tuple(fc.constantFrom(0x22, 0x23, 0x80, 0x81, 0x90), fc.uint8Array({ maxLength: 20, size: 'max' })), { maxLength: 8, size: 'max' }))
      .map(([tag, tlvs]) => {
        const inner = tlvs.flatMap(([tg, v]) => [tg, v.length, ...v]);
        return new Uint8Array([tag, 0x81, inner.length & 0xff, ...inner]);
      }),
  );
  fc.assert(
    fc.property(body, (b) => {
      const c = decodeCommandScript(b);
      const r = decodeResponseScript(b);
      const inBounds = (l: ScriptItem[]) => l.every((a) => a.offset >= 0 && a.length >= 0 && a.offset + a.length <= b.length);
      return (
        inBounds(c.apdus) &&
        inBounds(r.rapdus) &&
        ['definite', 'indefinite', 'unknown'].includes(c.format) &&
        ['definite', 'indefinite', 'unknown'].includes(r.format) &&
        c.apdus.length <= MAX_SCRIPT_APDUS &&
        (r.executed === null || r.executed >= 0)
      );
    }),
    { numRuns: 2000 },
  );
  t.pass('random input holds');
});
