/**
 * The STK decoders on byte vectors and under fast-check: the proactive-command decoder
 * (instrumentations/shared/stk.ts), the AT dialects (serialport/stk-urc.ts) and the radio-log
 * scanner (adb/logcat-stk.ts). The vectors from public sources are in test/real-world/stk.ts.
 */
import t from 'tap';
import fc from 'fast-check';
import { BIP_COMMANDS, decodeStk, decodeStkHex, MAX_STK_BYTES, stkMessageOfType, type StkMessage } from '../instrumentations/shared/stk.js';
import { stkFromCommand, stkFromUrc } from '../instrumentations/serialport/stk-urc.js';
import { LogcatStkScanner, stkFromLogcatLine } from '../instrumentations/adb/logcat-stk.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();
// ofono unit/test-stkutil.c open_channel_211 (see test/fixtures/real-world/stk/commands.json).
const OPEN_CHANNEL = 'D036810301400182028182350702030403041F02390205780D08F4557365724C6F670D08F4557365725077643C0301AD9C3E052101010101';
const CLOSE_CHANNEL = 'D009810301410082028121';

/** A BER/COMPREHENSION-TLV length in the shortest or a longer allowed form. */
function lengthBytes(n: number, form: number): number[] {
  if (form === 0 && n < 0x80) return [n];
  if (form <= 1 && n < 0x100) return [0x81, n];
  return [0x82, n >> 8, n & 0xff];
}

t.test('an OPEN CHANNEL: command, devices, bearer, buffer, transport and the address the card dials', async (t) => {
  const m = decodeStkHex(OPEN_CHANNEL) as StkMessage;
  t.match(m, {
    kind: 'proactive',
    command: 'OPEN_CHANNEL',
    bipCommand: 'OPEN_CHANNEL',
    typeCode: 0x40,
    commandNumber: 1,
    qualifier: 1,
    sourceDevice: 0x81,
    destinationDevice: 0x82,
    bearer: 'gprs',
    bufferSize: 1400,
    transport: 'udp_client_remote',
    port: 44444,
    address: '1.1.1.1',
    addressType: 'ipv4',
    malformed: false,
  });
  t.notOk(JSON.stringify(m).includes('UserPwd'), 'the password text string is never decoded');
  t.same(decodeStkHex(`"${OPEN_CHANNEL.toLowerCase()}"`), m, 'quoted and lower-case hex');
});

t.test('IPv6 destinations, a dynamic address, an APN with odd bytes', async (t) => {
  const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01];
  const body = [0x81, 3, 1, 0x40, 1, 0x82, 2, 0x81, 0x82, 0x3c, 3, 2, 0x1f, 0x90, 0x3e, 17, 0x57, ...v6];
  const m = decodeStk(Uint8Array.from([0xd0, body.length, ...body])) as StkMessage;
  t.equal(m.address, '2001:db8:0:0:0:0:0:1');
  t.equal(m.port, 8080);
  t.equal(m.transport, 'tcp_client_remote');
  const dyn = [0x81, 3, 1, 0x40, 1, 0x3c, 3, 2, 0, 80, 0x3e, 0, 0x47, 3, 2, 0x41, 0x0a];
  const d = decodeStk(Uint8Array.from([0xd0, dyn.length, ...dyn])) as StkMessage;
  t.equal(d.addressType, 'dynamic');
  t.equal(d.address, null);
  t.equal(d.networkAccessName, null, 'a control byte in the APN: not reported');
});

t.test('not STK: null; cut or padded input: what is there, marked malformed', async (t) => {
  t.equal(decodeStkHex(''), null);
  t.equal(decodeStkHex('D0'), null);
  t.equal(decodeStkHex('9000'), null);
  t.equal(decodeStkHex('D00X'), null);
  t.equal(decodeStkHex('D03'), null, 'odd length');
  const cut = decodeStkHex(OPEN_CHANNEL.slice(0, 60)) as StkMessage;
  t.equal(cut.command, 'OPEN_CHANNEL', 'the command details come first and survive a cut line');
  t.equal(cut.malformed, true);
  t.equal(cut.address, null);
  const padded = decodeStkHex(CLOSE_CHANNEL + 'FFFF') as StkMessage;
  t.equal(padded.command, 'CLOSE_CHANNEL');
  t.equal(padded.malformed, true, 'bytes after the template');
  t.equal(decodeStk(Uint8Array.from([0xd0, 3, 0x05, 1, 0x41])), null, 'no command details: nothing to report');
});

t.test('property: a built proactive command decodes to its parts, with or without the CR bit, in any length form', async (t) => {
  fc.assert(
    fc.property(
      fc.record({
        number: fc.integer({ min: 0, max: 255 }),
        type: fc.constantFrom(0x40, 0x41, 0x42, 0x43, 0x44, 0x21, 0x13, 0x05),
        qualifier: fc.integer({ min: 0, max: 255 }),
        cr: fc.boolean(),
        threeByteTag: fc.boolean(),
        lengthForm: fc.integer({ min: 0, max: 2 }),
        port: fc.integer({ min: 0, max: 65535 }),
        ip: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }),
        buffer: fc.integer({ min: 0, max: 65535 }),
        filler: fc.uint8Array({ maxLength: 120 }),
      }),
      (c) => {
        const tlv = (tag: number, value: number[]): number[] => {
          const head = c.threeByteTag && tag > 1 ? [0x7f, c.cr ? 0x80 : 0, tag] : [c.cr ? tag | 0x80 : tag];
          return [...head, ...lengthBytes(value.length, c.lengthForm), ...value];
        };
        const body = [
          ...tlv(0x01, [c.number, c.type, c.qualifier]),
          ...tlv(0x02, [0x81, 0x82]),
          ...tlv(0x05, [...c.filler]), // alpha identifier: skipped whatever it holds
          ...tlv(0x39, [c.buffer >> 8, c.buffer & 0xff]),
          ...tlv(0x3c, [0x02, c.port >> 8, c.port & 0xff]),
          ...tlv(0x3e, [0x21, ...c.ip]),
        ];
        const m = decodeStk(Uint8Array.from([0xd0, ...lengthBytes(body.length, c.lengthForm), ...body]));
        return (
          m !== null &&
          m.typeCode === c.type &&
          m.commandNumber === c.number &&
          m.qualifier === c.qualifier &&
          m.bufferSize === c.buffer &&
          m.port === c.port &&
          m.address === c.ip.join('.') &&
          m.malformed === false &&
          (BIP_COMMANDS as readonly string[]).includes(m.bipCommand)
        );
      },
    ),
    { numRuns: 400 },
  );
  t.pass('400 built commands decoded to their parts');
});

t.test('fuzz: any bytes, any text: no throw, bounded strings, labels from the fixed set', async (t) => {
  const check = (m: StkMessage | null): boolean =>
    m === null ||
    ((BIP_COMMANDS as readonly string[]).includes(m.bipCommand) &&
      m.command.length <= 32 &&
      (m.address === null || m.address.length <= 39) &&
      (m.networkAccessName === null || m.networkAccessName.length <= 100));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 1500 }), fc.boolean(), (b, asTemplate) => {
      const bytes = asTemplate && b.length > 2 ? Uint8Array.from([0xd0, ...b]) : b;
      return check(decodeStk(bytes)) && check(decodeStkHex(hex(bytes)));
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 600, unit: 'binary' }), (s) => {
      const name = ['+CUSATP', '+QSTK', '#STN', '+KSTC'][s.length % 4] as string;
      return (
        check(decodeStkHex(s)) &&
        check(stkFromUrc(name, `${name}: ${s}`)) &&
        check(stkFromCommand('+CUSATT', `AT+CUSATT=${s}`)) &&
        check(stkFromLogcatLine(`D RILJ : [UNSL]< UNSOL_STK_PROACTIVE_COMMAND ${s}`)?.message ?? null) &&
        check(stkFromLogcatLine(`D CAT : CatService: ${s}`)?.message ?? null)
      );
    }),
    { numRuns: 2000 },
  );
  const big = new Uint8Array(MAX_STK_BYTES * 4).fill(0x01);
  big[0] = 0xd0;
  t.doesNotThrow(() => decodeStk(big), 'longer than the bound: looked at up to the bound only');
});

t.test('the radio log: any chunking finds the same commands; a CatService line repeating the RILJ one is not counted twice', async (t) => {
  const lines = [
    '--------- beginning of radio',
    `01-15 12:00:00.001  1234  1290 D RILJ    : [UNSL]< UNSOL_STK_PROACTIVE_COMMAND ${OPEN_CHANNEL}`,
    '01-15 12:00:00.010  1234  1290 D CAT     : CatService: OPEN_CHANNEL',
    '01-15 12:00:00.500  1234  1290 D RILJ    : [0042]> SETUP_DATA_CALL',
    '01-15 12:00:03.000  1234  1290 D CAT     : CatService: SEND_DATA',
    `01-15 12:00:05.000  1234  1290 D RILJ    : [UNSL]< UNSOL_STK_PROACTIVE_COMMAND ${CLOSE_CHANNEL}`,
    '01-15 12:00:05.010  1234  1290 D CAT     : CatService: CLOSE_CHANNEL',
  ];
  const text = Buffer.from(lines.join('\n') + '\n', 'latin1');
  const want = ['OPEN_CHANNEL', 'SEND_DATA', 'CLOSE_CHANNEL'];
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: text.length - 1 }), { maxLength: 12 }), (cuts) => {
      const at = [...new Set(cuts)].sort((a, b) => a - b);
      const got: string[] = [];
      const s = new LogcatStkScanner((m) => got.push(m.command));
      let prev = 0;
      for (const c of [...at, text.length]) {
        s.add(text.subarray(prev, c));
        prev = c;
      }
      return JSON.stringify(got) === JSON.stringify(want);
    }),
    { numRuns: 500 },
  );
  const s = new LogcatStkScanner(() => undefined);
  s.add(Buffer.alloc(1 << 20, 0x41));
  s.add('\n');
  t.equal(s.found, 0, 'a megabyte without a marker finds nothing');
  t.equal(stkMessageOfType(0x99), null, 'an undefined type is not a command');
});
