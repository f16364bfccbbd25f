import t from 'tap';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  COMMAND_TYPES,
  bytesToHex,
  commandType,
  decodeCommandApdu,
  decodeResponseApdu,
  describeStatusWord,
  hexToBytes,
  isSensitiveCommand,
  statusCategory,
  statusWordHex,
} from '../instrumentations/shared/apdu.js';

function hex(s: string): Uint8Array {
  const b = hexToBytes(s);
  if (b === null) throw new Error(`bad test hex ${s}`);
  return b;
}

const DOMAIN = new Set<string>(COMMAND_TYPES);

t.test('COMMAND_TYPES is a bounded, duplicate-free domain ending with UNKNOWN', async (t) => {
  t.equal(new Set(COMMAND_TYPES).size, COMMAND_TYPES.length);
  t.equal(COMMAND_TYPES[COMMAND_TYPES.length - 1], 'UNKNOWN');
  for (const name of COMMAND_TYPES) t.match(name, /^[A-Z][A-Z_]*$/);
});

t.test('every name is reachable and nothing outside the domain is produced', async (t) => {
  const seen = new Set<string>();
  for (let cla = 0; cla < 256; cla++) {
    for (let ins = 0; ins < 256; ins++) {
      for (const p1 of [0x00, 0x01, 0x02, 0x04, 0x10, 0x20, 0x40, 0x80, 0xff]) {
        const name = commandType(cla, ins, p1);
        if (!DOMAIN.has(name)) t.fail(`out of domain: ${name}`);
        seen.add(name);
      }
    }
  }
  t.same([...seen].sort(), [...COMMAND_TYPES].sort());
});

t.test('INS names from ISO 7816-4, ETSI TS 102 221 and GlobalPlatform', async (t) => {
  const cases: Array<[number, number, number, string]> = [
    [0x00, 0xa4, 0x04, 'SELECT'],
    [0x00, 0xc0, 0x00, 'GET_RESPONSE'],
    [0x00, 0xb0, 0x00, 'READ_BINARY'],
    [0x00, 0xd6, 0x00, 'UPDATE_BINARY'],
    [0x00, 0xb2, 0x01, 'READ_RECORD'],
    [0x00, 0xdc, 0x01, 'UPDATE_RECORD'],
    [0x00, 0xa2, 0x01, 'SEARCH_RECORD'],
    [0x00, 0x20, 0x00, 'VERIFY'],
    [0x00, 0x24, 0x00, 'CHANGE_PIN'],
    [0x00, 0x26, 0x00, 'DISABLE_PIN'],
    [0x00, 0x28, 0x00, 'ENABLE_PIN'],
    [0x00, 0x2c, 0x00, 'UNBLOCK_PIN'],
    [0x00, 0x32, 0x00, 'INCREASE'],
    [0x80, 0xc2, 0x00, 'ENVELOPE'],
    [0x80, 0x12, 0x00, 'FETCH'],
    [0x80, 0x10, 0x00, 'TERMINAL_PROFILE'],
    [0x80, 0x14, 0x00, 'TERMINAL_RESPONSE'],
    [0x00, 0x70, 0x00, 'MANAGE_CHANNEL'],
    [0x80, 0xca, 0x00, 'GET_DATA'],
    [0x80, 0xcb, 0x00, 'GET_DATA'],
    [0x80, 0xf0, 0x40, 'SET_STATUS'],
    [0x80, 0xe4, 0x00, 'DELETE'],
    [0x80, 0xd8, 0x01, 'PUT_KEY'],
    [0x80, 0xe2, 0x90, 'STORE_DATA'],
    [0x00, 0xe2, 0x00, 'STORE_DATA'], // ISO APPEND RECORD is deliberately named (and redacted) as STORE DATA
    [0x80, 0x50, 0x00, 'INITIALIZE_UPDATE'],
    [0x84, 0x82, 0x33, 'EXTERNAL_AUTHENTICATE'],
    [0x00, 0x84, 0x00, 'GET_CHALLENGE'],
    [0x00, 0x04, 0x00, 'DEACTIVATE_FILE'],
    [0x00, 0x44, 0x00, 'ACTIVATE_FILE'],
    [0x00, 0xe0, 0x00, 'CREATE_FILE'],
    [0x80, 0xd4, 0x00, 'RESIZE_FILE'],
    [0x00, 0xfe, 0x00, 'TERMINATE_CARD_USAGE'],
    [0x00, 0x73, 0x00, 'MANAGE_SECURE_CHANNEL'],
    [0x80, 0xaa, 0x00, 'TERMINAL_CAPABILITY'],
    [0x00, 0x01, 0x00, 'UNKNOWN'],
    [0x00, 0xff, 0x00, 'UNKNOWN'],
  ];
  for (const [cla, ins, p1, want] of cases) t.equal(commandType(cla, ins, p1), want, `${cla.toString(16)} ${ins.toString(16)} ${p1}`);
});

t.test('colliding instructions are resolved with CLA and P1', async (t) => {
  // F2: UICC STATUS (CLA 80, P1 00/01/02) vs GP GET STATUS (GP class, P1 80/40/20/10)
  t.equal(commandType(0x80, 0xf2, 0x00), 'STATUS');
  t.equal(commandType(0x80, 0xf2, 0x01), 'STATUS');
  t.equal(commandType(0x80, 0xf2, 0x02), 'STATUS');
  t.equal(commandType(0xa0, 0xf2, 0x00), 'STATUS'); // GSM 11.11 class
  for (const p1 of [0x80, 0x40, 0x20, 0x10]) {
    t.equal(commandType(0x80, 0xf2, p1), 'GET_STATUS');
    t.equal(commandType(0x84, 0xf2, p1), 'GET_STATUS'); // secure messaging
    t.equal(commandType(0xc1, 0xf2, p1), 'GET_STATUS'); // further logical channel
    t.equal(commandType(0xe0, 0xf2, p1), 'GET_STATUS');
    t.equal(commandType(0x00, 0xf2, p1), 'STATUS'); // not a GP class
    t.equal(commandType(0xa0, 0xf2, p1), 'STATUS');
  }
  // E6 / E8: GP INSTALL / LOAD vs TS 102 222 TERMINATE DF / EF
  t.equal(commandType(0x80, 0xe6, 0x0c), 'INSTALL');
  t.equal(commandType(0x84, 0xe6, 0x02), 'INSTALL');
  t.equal(commandType(0xe3, 0xe6, 0x0c), 'INSTALL');
  t.equal(commandType(0x00, 0xe6, 0x00), 'TERMINATE_DF');
  t.equal(commandType(0x80, 0xe8, 0x80), 'LOAD');
  t.equal(commandType(0x00, 0xe8, 0x00), 'TERMINATE_EF');
  // 88: USIM AUTHENTICATE vs GP INTERNAL AUTHENTICATE
  t.equal(commandType(0x00, 0x88, 0x00), 'AUTHENTICATE');
  t.equal(commandType(0xa0, 0x88, 0x00), 'AUTHENTICATE'); // RUN GSM ALGORITHM
  t.equal(commandType(0x01, 0x89, 0x00), 'AUTHENTICATE');
  t.equal(commandType(0x80, 0x88, 0x00), 'INTERNAL_AUTHENTICATE');
  // Out-of-range inputs are masked, never thrown on
  t.equal(commandType(0x180, 0x1a4, 0x104), 'SELECT');
  t.equal(commandType(Number.NaN, Number.NaN, Number.NaN), 'UNKNOWN');
});

t.test('sensitive commands', async (t) => {
  t.ok(isSensitiveCommand('PUT_KEY'));
  t.ok(isSensitiveCommand('STORE_DATA'));
  // Their data is a PIN or a PUK (ISO 7816-4 VERIFY 20, CHANGE REFERENCE DATA 24, DISABLE 26 / ENABLE 28 VERIFICATION REQUIREMENT, RESET RETRY COUNTER 2C).
  for (const [ins, type] of [[0x20, 'VERIFY'], [0x24, 'CHANGE_PIN'], [0x26, 'DISABLE_PIN'], [0x28, 'ENABLE_PIN'], [0x2c, 'UNBLOCK_PIN']] as const) {
    t.equal(commandType(0x00, ins, 0x00), type);
    t.ok(isSensitiveCommand(type), type);
  }
  t.notOk(isSensitiveCommand('SELECT'));
  t.notOk(isSensitiveCommand('UNKNOWN'));
  t.notOk(isSensitiveCommand('put_key'));
});

t.test('SELECT by AID, case 3 and case 4 short', async (t) => {
  const c3 = decodeCommandApdu(hex('00A4040007A0000000871002'));
  t.match(c3, {
    cla: 0x00,
    ins: 0xa4,
    p1: 0x04,
    p2: 0x00,
    lc: 7,
    le: null,
    dataOffset: 5,
    dataLength: 7,
    commandType: 'SELECT',
    case: 3,
    extended: false,
    wellFormed: true,
  });
  const bytes = hex('00A4040007A0000000871002');
  t.equal(bytesToHex(bytes, c3!.dataOffset, c3!.dataLength), 'A0000000871002');

  const c4 = decodeCommandApdu(hex('00A4040C07A000000087100200'));
  t.match(c4, { p2: 0x0c, lc: 7, le: 256, dataLength: 7, case: 4, wellFormed: true });
});

t.test('GP GET STATUS, INSTALL, PUT KEY, STORE DATA', async (t) => {
  // GET STATUS, P1 80 (issuer security domain), P2 00, data: tag 4F length 0 (any AID)
  t.match(decodeCommandApdu(hex('80F28000024F00')), {
    commandType: 'GET_STATUS',
    case: 3,
    lc: 2,
    dataLength: 2,
    wellFormed: true,
  });
  t.match(decodeCommandApdu(hex('80F24002024F0000')), { commandType: 'GET_STATUS', case: 4, le: 256 });
  // UICC STATUS, P1 00 P2 0C (no data returned): case 1
  t.match(decodeCommandApdu(hex('80F2000C')), { commandType: 'STATUS', case: 1, le: null, lc: 0 });

  // INSTALL [for install and make selectable]: load file AID, module AID, application AID,
  // privileges (1 byte), install parameters (C9 00), token (empty), then Le.
  const install = hex(
    '80E60C0020' +
      '07A0000001510000' +
      '08A000000151000001' +
      '08A000000151000001' +
      '0100' +
      '02C900' +
      '00' +
      '00',
  );
  t.match(decodeCommandApdu(install), { commandType: 'INSTALL', p1: 0x0c, lc: 32, dataLength: 32, case: 4, le: 256, wellFormed: true });

  // PUT KEY: new KVN 01, AES key component (88, 16 bytes), 3-byte KCV
  const putKey = hex('80D8018117' + '01' + '8810' + '404142434445464748494A4B4C4D4E4F' + '03' + '504D8E' + '00');
  const pk = decodeCommandApdu(putKey)!;
  t.match(pk, { commandType: 'PUT_KEY', lc: 0x17, dataLength: 0x17, case: 4, wellFormed: true });
  t.ok(isSensitiveCommand(pk.commandType));

  const store = decodeCommandApdu(hex('80E2900003AABBCC'))!;
  t.match(store, { commandType: 'STORE_DATA', case: 3 });
  t.ok(isSensitiveCommand(store.commandType));
});

t.test('case 1 and case 2 short', async (t) => {
  t.match(decodeCommandApdu(hex('00B0000010')), { commandType: 'READ_BINARY', case: 2, le: 16, lc: 0, dataLength: 0 });
  t.match(decodeCommandApdu(hex('00C0000000')), { commandType: 'GET_RESPONSE', case: 2, le: 256 });
  t.match(decodeCommandApdu(hex('0070000001')), { commandType: 'MANAGE_CHANNEL', case: 2, le: 1 });
  t.match(decodeCommandApdu(hex('00708001')), { commandType: 'MANAGE_CHANNEL', case: 1, p1: 0x80, p2: 0x01, le: null });
});

t.test('extended lengths (ISO 7816-3 12.1.3)', async (t) => {
  // case 2E: 00 + 2-byte Le
  t.match(decodeCommandApdu(hex('00B00000000100')), { case: 2, extended: true, le: 256, dataOffset: 7 });
  t.match(decodeCommandApdu(hex('00B00000000000')), { case: 2, extended: true, le: 65536 });

  // case 3E / 4E with 261 data bytes (Lc 00 01 05)
  const data = new Uint8Array(261).map((_, i) => i & 0xff);
  const c3e = new Uint8Array([0x00, 0xd6, 0x00, 0x00, 0x00, 0x01, 0x05, ...data]);
  t.match(decodeCommandApdu(c3e), { case: 3, extended: true, lc: 261, dataOffset: 7, dataLength: 261, le: null, wellFormed: true });
  const c4e = new Uint8Array([...c3e, 0x00, 0x00]);
  t.match(decodeCommandApdu(c4e), { case: 4, extended: true, lc: 261, dataLength: 261, le: 65536, wellFormed: true });
  const c4e2 = new Uint8Array([...c3e, 0x01, 0x00]);
  t.match(decodeCommandApdu(c4e2), { case: 4, le: 256 });
});

t.test('inconsistent lengths are clamped, never thrown', async (t) => {
  // Lc 7 with only 2 data bytes
  t.match(decodeCommandApdu(hex('00A4040007A000')), { case: 3, lc: 7, dataLength: 2, wellFormed: false });
  // trailing bytes after Le
  t.match(decodeCommandApdu(hex('00A4040002A0000000FF')), { case: 4, lc: 2, dataLength: 2, le: 256, wellFormed: false });
  // extended Lc past the end
  t.match(decodeCommandApdu(hex('00D6000000FFFF0102')), { case: 3, extended: true, lc: 0xffff, dataLength: 2, wellFormed: false });
  // extended Lc of zero
  t.match(decodeCommandApdu(hex('00D60000000000AA')), { extended: true, wellFormed: false });
  // "00 xx"
  t.match(decodeCommandApdu(hex('00B000000010')), { wellFormed: false });
  t.equal(decodeCommandApdu(hex('00A404')), null);
  t.equal(decodeCommandApdu(new Uint8Array(0)), null);
  t.equal(decodeCommandApdu(null as unknown as Uint8Array), null);
});

t.test('offset and length select a slice without copying', async (t) => {
  const buf = hex('FFFF' + '00A4040002 3F00' + 'EEEE');
  const c = decodeCommandApdu(buf, 2, 7)!;
  t.match(c, { commandType: 'SELECT', lc: 2, dataOffset: 7, dataLength: 2, case: 3, wellFormed: true });
  t.equal(bytesToHex(buf, c.dataOffset, c.dataLength), '3F00');
  // out-of-range offset/length are clamped
  t.equal(decodeCommandApdu(buf, 100, 5), null);
  t.match(decodeCommandApdu(buf, -3, 1000), { cla: 0xff, ins: 0xff });
});

t.test('response APDUs', async (t) => {
  t.same(decodeResponseApdu(hex('9000')), { sw: 0x9000, sw1: 0x90, sw2: 0x00, dataLength: 0 });
  t.same(decodeResponseApdu(hex('6F0A8205422100269000')), { sw: 0x9000, sw1: 0x90, sw2: 0x00, dataLength: 8 });
  t.same(decodeResponseApdu(hex('6A82')), { sw: 0x6a82, sw1: 0x6a, sw2: 0x82, dataLength: 0 });
  t.same(decodeResponseApdu(hex('AA6A82BB'), 1, 2), { sw: 0x6a82, sw1: 0x6a, sw2: 0x82, dataLength: 0 });
  t.equal(decodeResponseApdu(hex('90')), null);
  t.equal(decodeResponseApdu(new Uint8Array(0)), null);
});

t.test('status word hex, category and description', async (t) => {
  t.equal(statusWordHex(0x9000), '9000');
  t.equal(statusWordHex(0x6a82), '6A82');
  t.equal(statusWordHex(0x6a82), '6A82'); // cached path
  t.equal(statusWordHex(0x0001), '0001');
  t.equal(statusWordHex(0x1ffff), 'FFFF');
  t.equal(statusWordHex(Number.NaN), '0000');

  const cat: Array<[number, string]> = [
    [0x9000, 'success'],
    [0x6110, 'success'],
    [0x9110, 'success'],
    [0x9200, 'success'],
    [0x9f22, 'success'],
    [0x6282, 'warning'],
    [0x63c2, 'warning'],
    [0x9001, 'error'],
    [0x6a82, 'error'],
    [0x6d00, 'error'],
    [0x0000, 'error'],
  ];
  for (const [sw, want] of cat) t.equal(statusCategory(sw), want, statusWordHex(sw));

  t.equal(describeStatusWord(0x9000), 'normal ending');
  t.equal(describeStatusWord(0x6a82), 'file or application not found');
  t.equal(describeStatusWord(0x6985), 'conditions of use not satisfied');
  t.equal(describeStatusWord(0x6982), 'security status not satisfied');
  t.equal(describeStatusWord(0x6a86), 'incorrect parameters P1-P2');
  t.equal(describeStatusWord(0x6a88), 'referenced data not found');
  t.equal(describeStatusWord(0x6d00), 'instruction code not supported or invalid');
  t.equal(describeStatusWord(0x6e00), 'class not supported');
  t.match(describeStatusWord(0x6110), /more response data/);
  t.match(describeStatusWord(0x6c10), /wrong Le/);
  t.match(describeStatusWord(0x9f0a), /GET RESPONSE/);
  t.match(describeStatusWord(0x9110), /proactive command pending/);
  t.equal(describeStatusWord(0x63c2), 'verification failed, 2 retries left');
  t.equal(describeStatusWord(0x63c1), 'verification failed, 1 retry left');
  t.equal(describeStatusWord(0x1234), 'unknown status word');
});

t.test('hex helpers', async (t) => {
  t.same(hexToBytes('00a4 04\t00\n'), new Uint8Array([0x00, 0xa4, 0x04, 0x00]));
  t.same(hexToBytes(''), new Uint8Array(0));
  t.equal(hexToBytes('abc'), null);
  t.equal(hexToBytes('zz'), null);
  t.equal(hexToBytes('0x00'), null);
  t.equal(hexToBytes(7 as unknown as string), null);
  t.equal(bytesToHex(new Uint8Array([0x00, 0xab, 0xff])), '00ABFF');
  t.equal(bytesToHex(new Uint8Array([1, 2, 3]), 1), '0203');
  t.equal(bytesToHex(new Uint8Array([1, 2, 3]), 1, 1), '02');
  t.equal(bytesToHex(new Uint8Array([1, 2, 3]), 5, 1), '');
});

t.test('property: decoders never throw and stay inside their domains', async (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300, size: 'max' }),
      fc.option(fc.integer({ min: -5, max: 310 })),
      fc.option(fc.integer({ min: -5, max: 310 })),
      (bytes, off, len) => {
        const o = off ?? undefined;
        const l = len ?? undefined;
        const c = decodeCommandApdu(bytes, o, l);
        if (c !== null) {
          if (!DOMAIN.has(c.commandType)) return false;
          if (![1, 2, 3, 4].includes(c.case)) return false;
          if (c.dataOffset < 0 || c.dataLength < 0 || c.dataOffset + c.dataLength > bytes.length) return false;
          if (c.dataLength > c.lc && c.lc !== 0) return false;
          if (c.le !== null && (c.le < 1 || c.le > 65536)) return false;
        }
        const r = decodeResponseApdu(bytes, o, l);
        if (r !== null) {
          if (r.sw !== ((r.sw1 << 8) | r.sw2) || r.dataLength < 0) return false;
          if (!/^[0-9A-F]{4}$/.test(statusWordHex(r.sw))) return false;
          if (!['success', 'warning', 'error'].includes(statusCategory(r.sw))) return false;
          if (describeStatusWord(r.sw).length === 0) return false;
        }
        return true;
      },
    ),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64, size: 'max' }), (bytes) => {
      const back = hexToBytes(bytesToHex(bytes));
      return back !== null && Buffer.from(back).equals(Buffer.from(bytes));
    }),
    { numRuns: 500 },
  );
  t.pass('properties hold');
});

t.test('well-formed APDUs round-trip through the case decoder', async (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      fc.uint8Array({ maxLength: 300, size: 'max' }),
      fc.option(fc.integer({ min: 1, max: 65536 })),
      (header, data, ne) => {
        const le = ne ?? null;
        const extended = data.length > 255 || (le !== null && le > 256);
        const parts: number[] = [...header];
        if (data.length > 0) {
          if (extended) parts.push(0x00, data.length >> 8, data.length & 0xff);
          else parts.push(data.length);
          parts.push(...data);
        }
        if (le !== null) {
          if (extended) {
            if (data.length === 0) parts.push(0x00);
            const v = le === 65536 ? 0 : le;
            parts.push(v >> 8, v & 0xff);
          } else parts.push(le === 256 ? 0 : le);
        }
        const c = decodeCommandApdu(new Uint8Array(parts))!;
        const wantCase = data.length === 0 ? (le === null ? 1 : 2) : le === null ? 3 : 4;
        return (
          c.case === wantCase &&
          c.lc === data.length &&
          c.dataLength === data.length &&
          c.le === le &&
          c.wellFormed &&
          (data.length === 0 && le === null ? true : c.extended === extended)
        );
      },
    ),
    { numRuns: 1000 },
  );
  t.pass('round-trip holds');
});

// Independent oracle: Wireshark's gsm_sim dissector (ETSI TS 102 221 / ISO names). Only the
// interindustry and GSM classes are compared: tshark does not know the GlobalPlatform commands.
const tsharkVersion = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
t.test('INS names agree with tshark gsm_sim', { skip: tsharkVersion.status !== 0 ? 'tshark not installed' : false }, async (t) => {
  const alias: Record<string, string> = {
    'VERIFY CHV': 'VERIFY',
    'CHANGE CHV': 'CHANGE_PIN',
    'DISABLE CHV': 'DISABLE_PIN',
    'ENABLE CHV': 'ENABLE_PIN',
    'UNBLOCK CHV': 'UNBLOCK_PIN',
    'INVALIDATE / REHABILITATE': 'DEACTIVATE_FILE',
    'REHABILITATE / ACTIVATE': 'ACTIVATE_FILE',
    'RUN GSM ALGORITHM / AUTHENTICATE': 'AUTHENTICATE',
    'DELETE FILE': 'DELETE',
    'RETRIEVE DATA': 'GET_DATA',
    'SET DATA': 'PUT_DATA',
  };
  const classes = [0x00, 0xa0];
  // pcap (LINKTYPE_RAW) of UDP/4729 GSMTAP v2 type SIM frames, one "CLA INS 00 00 00 90 00" each
  const frames: Buffer[] = [];
  for (const cla of classes) {
    for (let ins = 0; ins < 256; ins++) {
      const payload = Buffer.concat([Buffer.from([2, 4, 4, 0]), Buffer.alloc(12), Buffer.from([cla, ins, 0, 0, 0, 0x90, 0])]);
      const udp = Buffer.alloc(8);
      udp.writeUInt16BE(4729, 0);
      udp.writeUInt16BE(4729, 2);
      udp.writeUInt16BE(8 + payload.length, 4);
      const ip = Buffer.alloc(20);
      ip[0] = 0x45;
      ip.writeUInt16BE(20 + 8 + payload.length, 2);
      ip[8] = 64;
      ip[9] = 17;
      ip.set([127, 0, 0, 1], 12);
      ip.set([127, 0, 0, 1], 16);
      const pkt = Buffer.concat([ip, udp, payload]);
      const rec = Buffer.alloc(16);
      rec.writeUInt32LE(frames.length, 0);
      rec.writeUInt32LE(pkt.length, 8);
      rec.writeUInt32LE(pkt.length, 12);
      frames.push(rec, pkt);
    }
  }
  const global = Buffer.alloc(24);
  global.writeUInt32LE(0xa1b2c3d4, 0);
  global.writeUInt16LE(2, 4);
  global.writeUInt16LE(4, 6);
  global.writeUInt32LE(65535, 16);
  global.writeUInt32LE(101, 20);
  const dir = mkdtempSync(join(tmpdir(), 'apdu-tshark-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'apdus.pcap');
  writeFileSync(file, Buffer.concat([global, ...frames]));
  const out = spawnSync('tshark', ['-r', file, '-V'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  t.equal(out.status, 0, 'tshark ran');
  const names = [...out.stdout.matchAll(/Instruction: (.+) \(0x([0-9a-f]{2})\)/g)];
  t.equal(names.length, classes.length * 256, 'one instruction per frame');
  let compared = 0;
  names.forEach((m, i) => {
    const tsharkName = m[1]!;
    const ins = Number.parseInt(m[2]!, 16);
    const cla = classes[Math.floor(i / 256)]!;
    if (tsharkName === 'Unknown') return;
    const want = alias[tsharkName] ?? tsharkName.replaceAll(' ', '_');
    t.equal(commandType(cla, ins, 0), want, `CLA ${cla.toString(16)} INS ${ins.toString(16)} (${tsharkName})`);
    compared++;
  });
  t.ok(compared >= 60, `compared ${compared} named instructions`);
});
