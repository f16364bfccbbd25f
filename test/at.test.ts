import t from 'tap';
import fc from 'fast-check';
import {
  AtDecoder,
  normalizeHex,
  splitAtArguments,
  type AtCommandEndEvent,
  type AtCsimEvent,
  type AtCrsmEvent,
  type AtDecoderOptions,
  type AtListener,
  type AtSmsSubmitEvent,
  type AtUrcEvent,
} from '../instrumentations/serialport/at.js';
import {
  errorNumber,
  isNumberedVendorError,
  linePrefix,
  parseAtCommandLine,
  spacedUrcName,
  urcName,
} from '../instrumentations/serialport/at-names.js';

/** One step of a recorded exchange: bytes written by the app, bytes read by it, or time passing. */
type Step = readonly ['w' | 'r', string | Uint8Array, number] | readonly ['tick', number];
type Ev = [string, Record<string, unknown>];

function recorder(): { events: Ev[]; listener: AtListener } {
  const events: Ev[] = [];
  const rec =
    (kind: string) =>
    (e: object): void => {
      events.push([kind, { ...e }]);
    };
  return {
    events,
    listener: {
      commandStart: rec('commandStart'),
      commandEnd: rec('commandEnd'),
      urc: rec('urc'),
      csim: rec('csim'),
      crsm: rec('crsm'),
      smsSubmit: rec('smsSubmit'),
      prompt: rec('prompt'),
    },
  };
}

/** Gives a step's time as `clock(time)` (a function the decoder may not call) instead of the number. */
function feed(d: AtDecoder, s: Step, clock?: (ms: number) => () => number): void {
  if (s[0] === 'tick') d.tick(s[1]);
  else if (s[0] === 'w') d.written(s[1], clock === undefined ? s[2] : clock(s[2]));
  else d.read(s[1], clock === undefined ? s[2] : clock(s[2]));
}

function decode(
  steps: readonly Step[],
  options?: AtDecoderOptions,
  clock?: (ms: number) => () => number,
): { events: Ev[]; d: AtDecoder } {
  const { events, listener } = recorder();
  const d = new AtDecoder(listener, options);
  for (const s of steps) feed(d, s, clock);
  return { events, d };
}

const of = <T>(events: Ev[], kind: string): T[] => events.filter((e) => e[0] === kind).map((e) => e[1] as T);
const ends = (events: Ev[]): AtCommandEndEvent[] => of<AtCommandEndEvent>(events, 'commandEnd');
const urcs = (events: Ev[]): AtUrcEvent[] => of<AtUrcEvent>(events, 'urc');
const kinds = (events: Ev[]): string[] => events.map((e) => e[0]);

t.test('command names are bounded and argument-free', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['AT+CSIM=14,"00A40004023F00"', '+CSIM', 'set'],
    ['AT+CPIN?', '+CPIN', 'read'],
    ['AT+COPS=?', '+COPS', 'test'],
    ['ATE0', 'E', 'exec'],
    ['ATI', 'I', 'exec'],
    ['AT', 'AT', 'exec'],
    ['AT&F', '&F', 'exec'],
    ['at&f0', '&F', 'exec'],
    ['AT^SYSINFO', '^SYSINFO', 'exec'],
    ['AT$QCPWRDN', '$QCPWRDN', 'exec'],
    ['AT#SIMDET?', '#SIMDET', 'read'],
    ['at+cgsn', '+CGSN', 'exec'],
    ['ATS0=1', 'S0', 'set'],
    ['ATS7?', 'S7', 'read'],
    ['ATD*99#', 'D', 'exec'],
    ['ATD+4912345;', 'D', 'exec'],
    ['AT+CMGS=23', '+CMGS', 'set'],
    ['AT+', 'other', 'exec'],
    ['AT+ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'other', 'exec'],
    ['AT\u00e9', 'other', 'exec'],
    ['AT1', 'other', 'exec'],
    ['A/', 'other', 'exec'],
    ['hello', 'other', 'exec'],
    ['', 'other', 'exec'],
  ];
  for (const [text, name, kind] of cases) {
    const info = parseAtCommandLine(text);
    t.equal(info.name, name, `${JSON.stringify(text)} name`);
    t.equal(info.kind, kind, `${JSON.stringify(text)} kind`);
  }
  t.same(parseAtCommandLine('AT+CMEE=1;+CREG?').names, ['+CMEE', '+CREG']);
  t.same(parseAtCommandLine('AT+COPS=0,0,"A;B";+CSQ').names, ['+COPS', '+CSQ'], 'a ; inside quotes does not split');
  t.same(parseAtCommandLine('ATE0V1').names, ['E', 'V']);
  t.equal(parseAtCommandLine('ATE0V1').echo, false);
  t.equal(parseAtCommandLine('ATE0V1').verbose, true);
  t.equal(parseAtCommandLine('ATV0').verbose, false);
  t.equal(parseAtCommandLine('ATZ').echo, true);
  t.equal(parseAtCommandLine('AT+CSQ').echo, undefined);
  fc.assert(
    fc.property(fc.string({ maxLength: 64 }), (s) => {
      const n = parseAtCommandLine('AT' + s).name;
      return n === 'other' || n === 'AT' || /^([+^$#%*@!][A-Z0-9_./-]{1,15}|&[A-Z]|S\d{1,3}|[A-Z])$/.test(n);
    }),
    { numRuns: 500 },
  );
});

t.test('small helpers', async (t) => {
  t.equal(linePrefix('+CSIM: 4,"6120"'), '+CSIM');
  t.equal(linePrefix('^SYSSTART'), '^SYSSTART');
  t.equal(linePrefix('+CSIM 4'), null);
  t.equal(urcName('+PACSP0'), '+PACSP');
  t.equal(urcName('+PACSP'), '+PACSP');
  t.equal(urcName('+CMTI12'), '+CMTI');
  t.equal(urcName('+12'), 'other');
  t.equal(urcName(null), 'other');
  t.equal(spacedUrcName('^SYSSTART AIRPLANE MODE'), '^SYSSTART');
  t.equal(spacedUrcName('+CSQ 20,99'), null, 'not a known URC name');
  t.equal(spacedUrcName('^SYSSTART'), null, 'no text after it: linePrefix says so');
  t.ok(isNumberedVendorError('MODEM ERROR: 5'));
  t.ok(isNumberedVendorError('+EXT ERROR: 3'));
  t.notOk(isNumberedVendorError('MODEM ERROR: 5a'));
  t.notOk(isNumberedVendorError('MODEM ERROR: '));
  t.equal(linePrefix('OK'), null);
  t.same(splitAtArguments('14,"00A4, 0004"'), ['14', '00A4, 0004']);
  t.same(splitAtArguments(' 144, 0 ,"0809"'), ['144', '0', '0809']);
  t.equal(normalizeHex('00a4'), '00A4');
  t.equal(normalizeHex('00A'), null);
  t.equal(normalizeHex('0G'), null);
  t.equal(errorNumber('10'), 10);
  t.equal(errorNumber('SIM not inserted'), 10);
  t.equal(errorNumber('Something odd'), undefined);
});

t.test('echo on: the echo is skipped, the final closes the command', async (t) => {
  const { events, d } = decode([
    ['w', 'AT\r', 0],
    ['r', 'AT\r\r\nOK\r\n', 12],
  ]);
  t.same(kinds(events), ['commandStart', 'commandEnd']);
  const [e] = ends(events);
  t.match(e, { name: 'AT', result: 'ok', durationMs: 12, echoed: true, lines: [] });
  t.equal(d.stats.echoes, 1);
  t.equal(d.stats.urcs, 0);
  t.equal(d.pendingCount, 0);
});

t.test('echo off: prefix-less answer lines belong to the pending command', async (t) => {
  const { events } = decode([
    ['w', 'ATI\r', 0],
    ['r', '\r\nQuectel\r\nEC25\r\nRevision: EC25EFAR06A03M4G\r\n\r\nOK\r\n', 30],
    ['w', 'AT+CIMI\r', 40],
    ['r', '\r\n001010123456789\r\n\r\nOK\r\n', 50],
  ]);
  const [ati, cimi] = ends(events);
  t.match(ati, { name: 'I', result: 'ok', echoed: false, lines: ['Quectel', 'EC25', 'Revision: EC25EFAR06A03M4G'] });
  t.match(cimi, { name: '+CIMI', result: 'ok', lines: ['001010123456789'], durationMs: 10 });
  t.equal(urcs(events).length, 0);
});

t.test('ATE0 switches echo off mid-stream', async (t) => {
  const { events } = decode([
    ['w', 'ATE0\r', 0],
    ['r', 'ATE0\r\r\nOK\r\n', 5],
    ['w', 'AT+CGSN\r', 10],
    ['r', '\r\n867584030123456\r\n\r\nOK\r\n', 20],
    ['w', 'AT+CGSN\r', 30],
    ['r', '\r\n867584030123456\r\n\r\nOK\r\n', 40],
  ]);
  const e = ends(events);
  t.equal(e.length, 3);
  t.match(e[0], { name: 'E', result: 'ok', echoed: true });
  t.match(e[1], { name: '+CGSN', result: 'ok', echoed: false, lines: ['867584030123456'] });
  t.match(e[2], { name: '+CGSN', result: 'ok', echoed: false, lines: ['867584030123456'] });
});

t.test('lone CR, lone LF and CR LF all split lines; empty lines ignored', async (t) => {
  const { events } = decode([
    ['w', 'AT+CSQ\r', 0],
    ['r', 'AT+CSQ\r+CSQ: 20,99\n\n\r\rOK\r', 5],
    ['w', 'AT\r', 6],
    ['r', '\nOK\n', 7],
  ]);
  const e = ends(events);
  t.match(e[0], { name: '+CSQ', result: 'ok', echoed: true, lines: ['+CSQ: 20,99'] });
  t.match(e[1], { name: 'AT', result: 'ok' });
});

t.test('several commands in one written chunk close in order', async (t) => {
  const { events } = decode([
    ['w', 'AT\rATI\rAT+CSQ\r', 0],
    ['r', 'AT\r\r\nOK\r\nATI\r\r\nQuectel\r\n\r\nOK\r\nAT+CSQ\r\r\n+CSQ: 31,99\r\n\r\nERROR\r\n', 9],
  ]);
  const e = ends(events);
  t.same(
    e.map((x) => [x.name, x.result, x.lines]),
    [
      ['AT', 'ok', []],
      ['I', 'ok', ['Quectel']],
      ['+CSQ', 'error', ['+CSQ: 31,99']],
    ],
  );
});

t.test('URCs interleaved between an echo and its final result', async (t) => {
  const { events, d } = decode([
    ['w', 'AT+CSQ\r', 0],
    ['r', 'AT+CSQ\r\r\n+CMTI: "SM",3\r\n\r\n+CSQ: 20,99\r\n\r\nRING\r\n\r\n+QIND: SMS DONE\r\n\r\nOK\r\n', 7],
  ]);
  t.same(
    urcs(events).map((u) => [u.name, u.line]),
    [
      ['+CMTI', '+CMTI: "SM",3'],
      ['RING', 'RING'],
      ['+QIND', '+QIND: SMS DONE'],
    ],
  );
  t.match(ends(events)[0], { name: '+CSQ', result: 'ok', lines: ['+CSQ: 20,99'] });
  t.equal(d.stats.urcs, 3);
});

t.test('answer lines are trimmed of spaces, TABs and NBSP; one- and two-byte lines are text', async (t) => {
  const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
  const { events, d } = decode([
    ['r', latin1('\r\n RING\xa0\r\n\xa0\r\n\t\r\n\xe9\r\nZ\r\n'), 0],
    ['w', 'AT\r', 1],
    ['r', latin1('\r\n\xa0OK\t\r\n'), 2],
    ['w', 'ATI\r', 3],
    ['r', latin1('\r\nQ\r\n\xff\xfe\r\nOK\r\n'), 4],
  ]);
  t.same(
    urcs(events).map((u) => [u.name, u.line]),
    [
      ['RING', 'RING'],
      ['other', '\xe9'],
      ['other', 'Z'],
    ],
    'blank lines skipped',
  );
  t.same(
    ends(events).map((e) => [e.name, e.result, e.lines]),
    [
      ['AT', 'ok', []],
      ['I', 'ok', ['Q', '\xff\xfe']],
    ],
  );
  t.equal(d.stats.readNoise, 0);
});

t.test('+CPIN answers its command when asked, is a URC otherwise; unknown URCs are `other`', async (t) => {
  const { events } = decode([
    ['r', '\r\n+CPIN: NOT READY\r\n', 0],
    ['w', 'AT+CPIN?\r', 10],
    ['r', '\r\n+CPIN: READY\r\n\r\nOK\r\n', 15],
    ['w', 'AT+CSQ\r', 20],
    ['r', '\r\n+CPIN: READY\r\n\r\n+XYZURC: 1\r\n\r\n+CSQ: 9,99\r\n\r\nOK\r\n', 25],
    ['r', '\r\nsomething unsolicited\r\n', 30],
  ]);
  t.same(
    urcs(events).map((u) => u.name),
    ['+CPIN', '+CPIN', 'other', 'other'],
  );
  const e = ends(events);
  t.match(e[0], { name: '+CPIN', lines: ['+CPIN: READY'] });
  t.match(e[1], { name: '+CSQ', lines: ['+CSQ: 9,99'] });
});

t.test('+CMT is a two-line URC consumed whole while a command is pending', async (t) => {
  const pdu = '07919471000010F0040B919471234567F800001230211223344004D4F29C0E';
  const { events } = decode([
    ['w', 'AT+CREG?\r', 0],
    ['r', 'AT+CREG?\r\r\n+CMT: ,29\r\n' + pdu + '\r\n\r\n+CREG: 0,1\r\n\r\nOK\r\n', 10],
    ['r', '\r\n+CDS: 25\r\n0791947100001' + '0F006' + '\r\n', 20],
    ['r', '\r\n+CDS: 6,12,"+491234",145,"23/02/11,12:00:00+04","23/02/11,12:00:05+04",0\r\n', 30],
  ]);
  const u = urcs(events);
  t.equal(u.length, 3);
  t.match(u[0], { name: '+CMT', line: '+CMT: ,29', data: pdu, at: 10 });
  t.match(u[1], { name: '+CDS', data: '07919471000010F006' });
  t.match(u[2], { name: '+CDS', data: null }, 'text-mode +CDS is one line');
  t.match(ends(events)[0], { name: '+CREG', result: 'ok', lines: ['+CREG: 0,1'] }, 'the PDU is not an answer line');
});

t.test('+CSIM exchange reports both APDUs as hex', async (t) => {
  const { events } = decode([
    ['w', 'AT+CSIM=14,"00A40004023F00"\r', 100],
    ['r', 'AT+CSIM=14,"00A40004023F00"\r\r\n+CSIM: 4,"6120"\r\n\r\nOK\r\n', 130],
    ['w', 'AT+CSIM=10,"00c0000020"\r', 140],
    ['r', '\r\n+CSIM: 64,"621E8202782183023F00A509800171830400018D08C60C90016083010183010A9000"\r\n\r\nOK\r\n', 150],
    ['w', 'AT+CSIM=12,"00A40004023F00"\r', 160],
    ['r', '\r\n+CSIM: 4,"6A82"\r\n\r\nOK\r\n', 170],
    ['w', 'AT+CSIM=14,"00A4000402ZZ00"\r', 180],
    ['r', '\r\n+CME ERROR: 50\r\n', 190],
  ]);
  const c = of<AtCsimEvent>(events, 'csim');
  t.equal(c.length, 4);
  t.match(c[0], {
    commandHex: '00A40004023F00',
    responseHex: '6120',
    sw: '6120',
    lengthMismatch: false,
    malformed: false,
    result: 'ok',
    durationMs: 30,
  });
  t.match(c[1], { commandHex: '00C0000020', sw: '9000', lengthMismatch: true, malformed: false }, 'answer length 64 for 68 digits');
  t.match(c[2], { commandHex: '00A40004023F00', responseHex: '6A82', lengthMismatch: true }, 'length 12 for 14 digits');
  t.match(c[3], { commandHex: null, responseHex: null, sw: null, malformed: true, result: 'cme_error' });
  t.same(
    kinds(events).slice(0, 3),
    ['commandStart', 'csim', 'commandEnd'],
    'the domain event comes before commandEnd',
  );
});

t.test('+CRSM READ BINARY of EF IMSI with decimal status words', async (t) => {
  const { events } = decode([
    ['w', 'AT+CRSM=176,28423,0,0,9\r', 0],
    ['r', '\r\n+CRSM: 144,0,"080910101032547698"\r\n\r\nOK\r\n', 25],
    ['w', 'AT+CRSM=178,28476,1,4,176\r', 30],
    ['r', '\r\n+CRSM: 106,130\r\n\r\nOK\r\n', 40],
    ['w', 'AT+CRSM=214,28539,0,0,3,"FFFFFF","3F007FFF"\r', 50],
    ['r', '\r\n+CRSM: 105,130\r\n\r\nOK\r\n', 60],
  ]);
  const c = of<AtCrsmEvent>(events, 'crsm');
  t.match(c[0], {
    command: 176,
    fileId: 0x6f07,
    p1: 0,
    p2: 0,
    p3: 9,
    dataHex: null,
    sw1: 144,
    sw2: 0,
    sw: '9000',
    responseHex: '080910101032547698',
    durationMs: 25,
  });
  t.match(c[1], { command: 178, fileId: 0x6f3c, p1: 1, p2: 4, p3: 176, sw: '6A82', responseHex: null });
  t.match(c[2], { command: 214, dataHex: 'FFFFFF', pathId: '3F007FFF', sw: '6982' });
});

const PDU = '0011000B919471234567F80000AA05C8329BFD06';

t.test('+CMGS: prompt without line end, body, Ctrl-Z, message reference', async (t) => {
  const { events, d } = decode([
    ['w', 'AT+CMGS=19\r', 0],
    ['r', 'AT+CMGS=19\r\r\n> ', 20],
    ['w', PDU + '\x1a', 30],
    ['r', PDU + '\x1a\r\n+CMGS: 12\r\n\r\nOK\r\n', 900],
  ]);
  t.same(kinds(events), ['commandStart', 'prompt', 'smsSubmit', 'commandEnd']);
  t.match(of(events, 'prompt')[0], { id: 1, at: 20 });
  t.match(of<AtSmsSubmitEvent>(events, 'smsSubmit')[0], {
    id: 1,
    name: '+CMGS',
    mr: 12,
    pduHex: PDU,
    tpduLength: 19, // as AT+CMGS gave it, not the 40 characters written
    durationMs: 900,
  });
  t.match(ends(events)[0], { name: '+CMGS', result: 'ok', lines: ['+CMGS: 12'] });
  t.equal(d.stats.writtenNoise, 0, 'the body is not taken for a command line');
  t.equal(d.stats.urcs, 0);
});

t.test('+CMGS cancelled with ESC ends as cancelled without a trigger', async (t) => {
  const { events } = decode([
    ['w', 'AT+CMGS=19\r', 0],
    ['r', '\r\n> ', 20],
    ['w', PDU.slice(0, 10) + '\x1b', 30],
    ['r', '\r\nOK\r\n', 40],
    ['w', 'AT\r', 50],
    ['r', '\r\nOK\r\n', 55],
  ]);
  t.same(kinds(events), ['commandStart', 'prompt', 'commandEnd', 'commandStart', 'commandEnd']);
  t.match(ends(events)[0], { name: '+CMGS', result: 'cancelled', durationMs: 40 });
  t.match(ends(events)[1], { name: 'AT', result: 'ok' });
});

t.test('+CMGS failures: +CMS ERROR after the body, ERROR before the prompt', async (t) => {
  const { events, d } = decode([
    ['w', 'AT+CMGS=19\r', 0],
    ['r', '\r\n> ', 10],
    ['w', PDU + '\x1a', 20],
    ['r', '\r\n+CMS ERROR: 500\r\n', 30],
    ['w', 'AT+CMGS=19\r', 40],
    ['r', '\r\n+CMS ERROR: 304\r\n', 45],
    // the app writes its body anyway: the Ctrl-Z leftovers must not hide the next command
    ['w', PDU + '\x1aAT+CSQ\r', 50],
    ['r', '\r\n+CSQ: 1,2\r\n\r\nOK\r\n', 60],
  ]);
  t.equal(of(events, 'smsSubmit').length, 0);
  const e = ends(events);
  t.match(e[0], { result: 'cms_error', errorCode: '500', errorNumber: 500 });
  t.match(e[1], { result: 'cms_error', errorCode: '304' });
  t.match(e[2], { name: '+CSQ', result: 'ok' });
  t.equal(d.stats.writtenNoise, 1);
});

t.test('+CME ERROR numeric and verbose, +CMS ERROR', async (t) => {
  const { events } = decode([
    ['w', 'AT+CPIN?\r', 0],
    ['r', '\r\n+CME ERROR: 10\r\n', 5],
    ['w', 'AT+CPIN?\r', 10],
    ['r', '\r\n+CME ERROR: SIM not inserted\r\n', 15],
    ['w', 'AT+CMGR=1\r', 20],
    ['r', '\r\n+CMS ERROR: 321\r\n', 25],
  ]);
  const e = ends(events);
  t.match(e[0], { result: 'cme_error', errorCode: '10', errorNumber: 10 });
  t.match(e[1], { result: 'cme_error', errorCode: 'SIM not inserted', errorNumber: 10 });
  t.match(e[2], { result: 'cms_error', errorCode: '321', errorNumber: 321 });
});

t.test('vendor error finals end their command as `error` at once, never as a timeout', async (t) => {
  const finals = ['COMMAND NOT SUPPORT', 'TOO MANY PARAMETERS', 'NA', 'MODEM ERROR: 5', 'MODEM ERROR:12', '+EXT ERROR: 3'];
  const steps: Step[] = [];
  finals.forEach((f, i) => {
    steps.push(['w', 'AT^FOO\r', i * 10], ['r', `\r\n${f}\r\n`, i * 10 + 3]);
  });
  // Timeouts would show only after the deadline: tick far past it.
  steps.push(['tick', 60_000]);
  const { events, d } = decode(steps);
  const e = ends(events);
  t.same(
    e.map((x) => [x.result, x.errorCode, x.errorNumber, x.durationMs]),
    finals.map((f) => ['error', f, undefined, 3]),
  );
  t.equal(d.pendingCount, 0);
  t.equal(d.stats.strayFinals, 0);
});

t.test('a socket send: `> `, a payload without terminator, SEND OK ends it; the next command is its own (Zephyr quectel-bg9x)', async (t) => {
  const { events, d } = decode([
    ['w', 'AT+QISEND=0,5\r', 0],
    ['r', 'AT+QISEND=0,5\r\r\n> ', 3],
    ['w', 'hello', 5],
    ['r', '\r\nSEND OK\r\n', 9],
    ['w', 'AT+CSQ\r', 20],
    ['r', 'AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n', 24],
    ['w', 'AT+QISEND=0,5\r', 30],
    ['r', 'AT+QISEND=0,5\r\r\n> ', 33],
    ['w', 'hello', 35],
    ['r', '\r\nSEND FAIL\r\n', 39],
    ['tick', 60_000],
  ]);
  t.same(
    ends(events).map((e) => [e.name, e.result, e.durationMs]),
    [
      ['+QISEND', 'ok', 9],
      ['+CSQ', 'ok', 4],
      ['+QISEND', 'error', 9],
    ],
  );
  t.same(urcs(events), [], 'no answer line taken for a URC');
  t.equal(d.stats.strayFinals, 0);
  // SEND OK for another command is no final result of it.
  const other = decode([['w', 'AT+CSQ\r', 0], ['r', '\r\nSEND OK\r\n\r\n+CSQ: 1,1\r\n\r\nOK\r\n', 3]]);
  t.same(ends(other.events).map((e) => [e.name, e.result]), [['+CSQ', 'ok']]);
});

t.test('+CUSATE: the envelope answer +CUSATER is its answer line, not a URC (27.007 12.2.5, ofono atmodem stk.c)', async (t) => {
  const { events } = decode([
    ['w', 'AT+CUSATE=D30E820283810E0400000000\r', 0],
    ['r', '\r\n+CUSATER: "9000"\r\n\r\nOK\r\n', 4],
  ]);
  t.same(urcs(events), []);
  t.match(ends(events)[0], { name: '+CUSATE', result: 'ok', lines: ['+CUSATER: "9000"'] });
});

t.test('a final result with a stray control byte on its line still ends its command (not a timeout)', async (t) => {
  const finals: Array<[string, string, string | undefined]> = [
    ['+CME ERROR: incorrect password\x1b', 'cme_error', 'incorrect password'],
    ['\x00OK', 'ok', undefined],
    ['ERROR\x07', 'error', undefined],
    ['+CMS ERROR: 3\x0021', 'cms_error', '321'],
  ];
  const steps: Step[] = [];
  finals.forEach(([f], i) => steps.push(['w', 'AT+CPIN="1234"\r', i * 10], ['r', `\r\n${f}\r\n`, i * 10 + 4]));
  steps.push(['w', 'AT+CSQ\r', 100], ['r', '\r\n+CSQ: 20,99\r\n\r\nOK\r\n', 105], ['tick', 60_000]);
  const { events, d } = decode(steps);
  t.same(
    ends(events).map((e) => [e.name, e.result, e.errorCode, e.durationMs]),
    [...finals.map(([, r, code]) => ['+CPIN', r, code, 4]), ['+CSQ', 'ok', undefined, 5]],
    'each command its own result, the next one unshifted',
  );
  t.equal(d.stats.readNoise, finals.length, 'each line still counted as noise');
  // Nothing pending: such a line is noise, never a stray result.
  const idle = decode([['r', '\r\nOK\x1b\r\n', 0]]);
  t.same(ends(idle.events), []);
  t.equal(idle.d.stats.strayFinals, 0);
  t.equal(idle.d.stats.readNoise, 1);
});

t.test('look-alikes of vendor finals stay information lines (ModemManager: `MODEM ERROR: apple` is none)', async (t) => {
  const { events } = decode([
    ['w', 'AT^FOO\r', 0],
    ['r', '\r\nMODEM ERROR: apple\r\n\r\nMODEM ERROR:\r\n\r\nNAME\r\n\r\nCOMMAND NOT SUPPORTED YET\r\n\r\nOK\r\n', 4],
  ]);
  t.match(ends(events), [{ result: 'ok', lines: ['MODEM ERROR: apple', 'MODEM ERROR:', 'NAME', 'COMMAND NOT SUPPORTED YET'] }]);
});

t.test('URC names: a digit glued on, text instead of a colon, readiness and STK indications', async (t) => {
  const { events } = decode([
    ['r', '\r\n+PACSP0\r\n\r\n+PACSP1\r\n\r\n+PBREADY\r\n\r\nSMS DONE\r\n', 0],
    ['w', 'AT+CFUN=1\r', 5],
    // While a command is pending: a suffixed URC is not one of its information lines.
    ['r', 'AT+CFUN=1\r\r\n^SYSSTART AIRPLANE MODE\r\n\r\n^SYSSTART\r\n\r\n+CUSATP: "D01A8103014003"\r\n\r\nOK\r\n', 9],
    ['r', '\r\n+QSTK: "D0"\r\n\r\n+STKPCI: 0,"D0"\r\n\r\n^STIN: 40,0,0\r\n\r\n#STN: 40\r\n\r\n+CUSATEND\r\n', 20],
    // Unknown names stay `other`; a known name glued to letters is no known name.
    ['r', '\r\n+PACSPX\r\n\r\n+FOO1\r\n\r\n^SYSSTARTX MODE\r\n', 30],
  ]);
  t.same(
    urcs(events).map((u) => u.name),
    ['+PACSP', '+PACSP', '+PBREADY', 'SMS DONE', '^SYSSTART', '^SYSSTART', '+CUSATP', '+QSTK', '+STKPCI', '^STIN', '#STN', '+CUSATEND', 'other', 'other', 'other'],
  );
  t.match(ends(events), [{ name: '+CFUN', result: 'ok', lines: [] }]);
  t.equal(urcs(events)[4]?.line, '^SYSSTART AIRPLANE MODE');
});

t.test('CardLink writes CR LF with echo on: every command answered, the LF is no noise', async (t) => {
  const { events, d } = decode([
    ['w', 'AT\r\n', 0],
    ['r', 'AT\r\r\nOK\r\n', 5],
    ['w', 'AT+QSTK=1\r\n', 10],
    ['r', 'AT+QSTK=1\r\r\nOK\r\n', 15],
    ['w', 'AT+STKTR=1\r\n', 20],
    ['r', 'AT+STKTR=1\r\r\nCOMMAND NOT SUPPORT\r\n', 25],
    ['w', 'AT+CSIM=10,"80F2000000"\r\nAT+CPIN?\r\n', 30],
    ['r', 'AT+CSIM=10,"80F2000000"\r\r\n+CSIM: 4,"9000"\r\n\r\nOK\r\nAT+CPIN?\r\r\n+CPIN: READY\r\n\r\nOK\r\n', 40],
    ['r', '\r\n+QSTK: "D0198103014003"\r\n', 50],
  ]);
  t.same(
    ends(events).map((e) => [e.name, e.result, e.echoed, e.lines]),
    [
      ['AT', 'ok', true, []],
      ['+QSTK', 'ok', true, []],
      ['+STKTR', 'error', true, []],
      ['+CSIM', 'ok', true, ['+CSIM: 4,"9000"']],
      ['+CPIN', 'ok', true, ['+CPIN: READY']],
    ],
  );
  t.same(urcs(events).map((u) => u.name), ['+QSTK']);
  t.equal(d.stats.writtenNoise, 0);
  t.equal(d.stats.echoes, 5);
});

t.test('other finals: NO CARRIER, BUSY, NO ANSWER, NO DIALTONE, numeric results after ATV0', async (t) => {
  const { events } = decode([
    ['w', 'ATD+4912345;\r', 0],
    ['r', '\r\nBUSY\r\n', 1],
    ['w', 'ATD+4912345;\r', 2],
    ['r', '\r\nNO ANSWER\r\n', 3],
    ['w', 'ATD+4912345;\r', 4],
    ['r', '\r\nNO DIALTONE\r\n', 5],
    ['w', 'ATD+4912345;\r', 6],
    ['r', '\r\nNO CARRIER\r\n', 7],
    ['w', 'ATV0\r', 8],
    ['r', '0\r', 9],
    ['w', 'AT+FOO\r', 10],
    ['r', '4\r', 11],
    ['w', 'ATV1\r', 12],
    ['r', '\r\nOK\r\n', 13],
    ['w', 'AT+CGSN\r', 14],
    ['r', '\r\n0\r\n\r\nOK\r\n', 15],
  ]);
  t.same(
    ends(events).map((e) => e.result),
    ['busy', 'no_answer', 'no_dialtone', 'no_carrier', 'ok', 'error', 'ok', 'ok'],
  );
  t.same(ends(events)[7]?.lines, ['0'], 'a digit is an answer line again after ATV1');
});

t.test('CONNECT ends a dial and enters data mode; other commands keep waiting', async (t) => {
  const ppp = Buffer.from([0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21, 0x01, 0x00, 0x7e, 0x7d, 0x2d]);
  const { events, d } = decode([
    ['w', 'ATD*99#\r', 0],
    ['r', '\r\nCONNECT 150000000\r\n', 100],
    ['w', ppp, 110],
    ['r', ppp, 120],
    ['w', ppp, 130],
    ['r', Buffer.concat([ppp, Buffer.from('\r\n'), ppp, Buffer.from('\r\nNO CARRIER\r\n')]), 140],
    ['w', 'AT+QFUPL="a.bin",3\r', 150],
    ['r', '\r\nCONNECT\r\n', 160],
    ['w', Buffer.from([1, 2, 13]), 170],
    ['r', '\r\n+QFUPL: 3,606\r\n\r\nOK\r\n', 180],
  ]);
  const e = ends(events);
  t.match(e[0], { name: 'D', result: 'connect', durationMs: 100 });
  t.match(e[1], { name: '+QFUPL', result: 'ok', lines: ['CONNECT', '+QFUPL: 3,606'] });
  t.same(
    urcs(events).map((u) => u.name),
    ['NO CARRIER'],
  );
  t.equal(d.stats.readNoise, 0, 'payload in data mode is not noise');
  t.equal(d.stats.writtenNoise, 1, 'only the raw upload after a non-dial CONNECT counts');
});

t.test('a timeout ends the command at its deadline; the late final does not attach to the next command', async (t) => {
  const { events, d } = decode([
    ['w', 'AT+COPS?\r', 0],
    ['tick', 4999],
    ['tick', 5300],
    ['w', 'AT+CSQ\r', 6000],
    ['r', '\r\n+COPS: 0,0,"Test",7\r\n\r\nOK\r\n', 6100],
    ['r', '\r\n+CSQ: 20,99\r\n\r\nOK\r\n', 6200],
  ]);
  const e = ends(events);
  t.equal(e.length, 2);
  t.match(e[0], { name: '+COPS', result: 'timeout', durationMs: 5000, endMs: 5000 });
  t.match(e[1], { name: '+CSQ', result: 'ok', durationMs: 200, lines: ['+CSQ: 20,99'] });
  t.equal(d.stats.lateResults, 1);
  t.equal(urcs(events).length, 0, 'the late +COPS line is not a URC');
});

t.test('late final with echo on: confirmed by the next command echo', async (t) => {
  const { events, d } = decode([
    ['w', 'AT+CGSN\r', 0],
    ['r', 'AT+CGSN\r', 1],
    ['tick', 6000],
    ['w', 'AT\r', 7000],
    ['r', '\r\n867584030123456\r\n\r\nOK\r\n', 7010],
    ['r', 'AT\r\r\nERROR\r\n', 7020],
  ]);
  const e = ends(events);
  t.match(e[0], { name: '+CGSN', result: 'timeout' });
  t.match(e[1], { name: 'AT', result: 'error', lines: [], durationMs: 20 });
  t.equal(d.stats.lateResults, 1);
  t.equal(d.stats.lateLines, 1);
});

t.test('a timed-out command that never answers does not steal the next answer (echo off)', async (t) => {
  // The next command writes another command: the kept final was its answer.
  const a = decode([
    ['w', 'AT+CSQ\r', 0],
    ['tick', 5000],
    ['w', 'AT+CGSN\r', 6000],
    ['r', '\r\n867584030123456\r\n\r\nOK\r\n', 6050],
    ['w', 'AT+CIMI\r', 6100],
    ['r', '\r\n001010123456789\r\n\r\nOK\r\n', 6150],
  ]);
  t.same(
    ends(a.events).map((e) => [e.name, e.result, e.lines, e.endMs]),
    [
      ['+CSQ', 'timeout', [], 5000],
      ['+CGSN', 'ok', ['867584030123456'], 6050],
      ['+CIMI', 'ok', ['001010123456789'], 6150],
    ],
  );
  t.equal(a.d.stats.reattributedResults, 1);
  t.equal(a.d.stats.lateResults, 0);
  // No further command: the deadline resolves it, with the time the answer came.
  const b = decode([
    ['w', 'AT+CSQ\r', 0],
    ['tick', 5000],
    ['w', 'AT+CGSN\r', 6000],
    ['r', '\r\n867584030123456\r\n\r\nOK\r\n', 6050],
    ['tick', 20000],
  ]);
  t.same(
    ends(b.events).map((e) => [e.name, e.result, e.durationMs]),
    [
      ['+CSQ', 'timeout', 5000],
      ['+CGSN', 'ok', 50],
    ],
  );
});

t.test('a command the application gave up on (its own shorter timeout) ends when the next one is written', async (t) => {
  // Echo off: the silent +CGSN is abandoned at 2000 ms; the next answer belongs to AT, not to it.
  const off = decode([
    ['w', 'AT+CGSN\r', 0],
    ['w', 'AT\r', 2000],
    ['r', '\r\nOK\r\n', 2010],
    ['w', 'AT+CSQ\r', 2100],
    ['r', '\r\n+CSQ: 20,99\r\n\r\nOK\r\n', 2110],
  ]);
  t.same(
    ends(off.events).map((e) => [e.name, e.result, e.durationMs]),
    [
      ['+CGSN', 'timeout', 2000],
      ['AT', 'ok', 10],
      ['+CSQ', 'ok', 10],
    ],
  );
  // Echo on: the echo of AT proves the modem is past +CGSN.
  const on = decode([
    ['w', 'AT+CGSN\r', 0],
    ['r', 'AT+CGSN\r', 1],
    ['w', 'AT\r', 2000],
    ['r', 'AT\r\r\nOK\r\n', 2010],
  ]);
  t.same(
    ends(on.events).map((e) => [e.name, e.result, e.endMs]),
    [
      ['+CGSN', 'timeout', 2000],
      ['AT', 'ok', 2010],
    ],
  );
  // Pipelined commands (written within abandonAfterMs) are not given up.
  const piped = decode([
    ['w', 'AT+CGSN\r', 0],
    ['w', 'AT\r', 500],
    ['r', '\r\n867584030123456\r\n\r\nOK\r\n\r\nOK\r\n', 600],
  ]);
  t.same(
    ends(piped.events).map((e) => [e.name, e.result, e.lines]),
    [
      ['+CGSN', 'ok', ['867584030123456']],
      ['AT', 'ok', []],
    ],
  );
  const disabled = decode(
    [
      ['w', 'AT+CGSN\r', 0],
      ['w', 'AT\r', 2000],
    ],
    { abandonAfterMs: Infinity },
  );
  t.equal(disabled.d.pendingCount, 2);
});

t.test('a prefixed answer only the new command can produce proves the old one is done', async (t) => {
  const { events } = decode([
    ['w', 'AT+CSQ\r', 0],
    ['tick', 5000],
    ['w', 'AT+CPIN?\r', 6000],
    ['r', '\r\n+CPIN: READY\r\n\r\nOK\r\n', 6010],
  ]);
  t.match(ends(events)[1], { name: '+CPIN', result: 'ok', lines: ['+CPIN: READY'], endMs: 6010 });
});

t.test('the late window closes: an old timed-out command no longer swallows finals', async (t) => {
  const { events, d } = decode(
    [
      ['w', 'AT+CSQ\r', 0],
      ['tick', 5000],
      ['tick', 7000],
      ['w', 'AT\r', 8000],
      ['r', '\r\nOK\r\n', 8010],
    ],
    { lateAnswerWindowMs: 2000 },
  );
  t.match(ends(events)[1], { name: 'AT', result: 'ok', endMs: 8010 });
  t.equal(d.queuedCount, 0);
  t.equal(d.stats.lateResults, 0);
});

t.test('timeouts are per command and configurable', async (t) => {
  const { events } = decode(
    [
      ['w', 'AT+COPS=?\r', 0],
      ['w', 'AT+CSIM=10,"00C0000020"\r', 0],
      ['w', 'AT+CPIN?\r', 0],
      ['w', 'ATI\r', 0],
      ['w', 'AT+CMGS=19\r', 0], // last: what follows would be its message body
      ['tick', 100_000],
    ],
    { commandTimeoutsMs: { '+CSIM': 2000, '+CPIN?': 3000 }, defaultTimeoutMs: 4000 },
  );
  t.same(
    ends(events).map((e) => [e.name, e.durationMs]),
    [
      ['+CSIM', 2000],
      ['+CPIN', 3000],
      ['I', 4000],
      ['+COPS', 60000],
      ['+CMGS', 60000],
    ],
    'timeouts are reported in deadline order',
  );
});

t.test('stray finals, noise and overflow are counted, never decoded', async (t) => {
  const noise = Buffer.from([0x00, 0xff, 0x13, 0x80, 0x0d, 0x41, 0x54, 0x01, 0x0d, 0x7e, 0x0a]);
  const { events, d } = decode([
    ['r', '\r\nOK\r\n', 0],
    ['w', noise, 1],
    ['w', 'hello world\r', 2],
    ['r', noise, 3],
  ]);
  t.equal(of(events, 'commandStart').length, 0, 'binary written data creates no command');
  t.equal(d.stats.strayFinals, 1);
  t.equal(d.stats.writtenNoise, 3);
  t.ok(d.stats.readNoise >= 1);
});

t.test('1 MB without a line end stays bounded, and the next line decodes', async (t) => {
  const mb = Buffer.alloc(1 << 20, 0x41);
  const { events, d } = decode([
    ['w', 'AT\r', 0],
    ['r', mb, 1],
    ['r', mb, 2],
  ]);
  t.ok(d.bufferedBytes <= 4096, `buffered ${d.bufferedBytes}`);
  t.equal(d.stats.readOverflow, 1, 'one overflowing line counted once');
  d.read('\r\nOK\r\n', 3);
  t.match(ends(events)[0], { name: 'AT', result: 'ok' });
  d.written(mb, 4);
  d.written(mb, 5);
  t.ok(d.bufferedBytes <= 4096);
  t.equal(d.stats.writtenOverflow, 1);
  d.written('\rAT+CSQ\r', 6);
  t.equal(d.pendingCount, 1, 'the overflowing written line is skipped, the next one decodes');
});

/** Deterministic binary payload (xorshift32): a CR or LF about every 128 bytes, as in any binary data. */
function binary(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** `b` with a control byte (NUL) just before every line end in `ends` that closes a non-empty line, and at its end. */
function noiseOnly(b: Buffer, ends: readonly number[]): Buffer {
  const out = Buffer.concat([b, Buffer.from([0x00, 13, 10])]);
  for (let i = 1; i < out.length; i++) {
    if (ends.includes(out[i] as number) && !ends.includes(out[i - 1] as number)) out[i - 1] = 0x00;
  }
  return out;
}

/** Non-empty lines ended by one of `ends` (what the decoder counts as noise when each holds a control byte). */
function countLines(b: Buffer, ends: readonly number[]): number {
  let n = 0;
  let len = 0;
  for (const c of b) {
    if (!ends.includes(c)) len++;
    else if (len > 0) {
      n++;
      len = 0;
    }
  }
  return n;
}

/**
 * What `stats.readNoise` counts, byte by byte: runs of binary, each a non-empty line holding a
 * control byte and everything after it up to the next CR LF (the CR may be that line's own end).
 */
function countBinaryRuns(b: Buffer): number {
  let runs = 0;
  let skipping = false;
  let len = 0;
  let control = false;
  for (let k = 0; k < b.length; k++) {
    const c = b[k] as number;
    if (skipping) {
      if (c === 10 && b[k - 1] === 13) skipping = false;
      continue;
    }
    if (c === 13 || c === 10) {
      if (len > 0 && control) {
        runs++;
        skipping = true;
      }
      len = 0;
      control = false;
    } else {
      len++;
      if ((c < 0x20 && c !== 9) || c === 0x7f) control = true;
    }
  }
  return runs;
}

/**
 * Whether a written chunk holds a binary line: a CR-ended part (the first possibly the end of a
 * line begun before) whose last control byte is one no command holds (not TAB, LF, Ctrl-Z, ESC).
 */
function hasBinaryLine(b: Buffer): boolean {
  let last = -1;
  for (const c of b) {
    if (c === 13) {
      if (last >= 0 && last !== 10 && last !== 0x1a && last !== 0x1b) return true;
      last = -1;
    } else if ((c < 0x20 && c !== 9) || c === 0x7f) last = c;
  }
  return false;
}

/** One step's bytes in chunks of `size`. */
function chunks(dir: 'w' | 'r', bytes: Buffer, size: number, at: number): Step[] {
  const out: Step[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push([dir, bytes.subarray(i, i + size), at]);
  return out;
}

t.test('binary read payload: counted as runs of noise in any chunking, then the answer decodes', async (t) => {
  const bin = noiseOnly(binary(64 * 1024, 7), [13, 10]);
  const lines = countLines(bin, [13, 10]);
  t.ok(lines > 300, `${lines} binary lines`);
  const runs = countBinaryRuns(bin);
  t.ok(runs >= 1 && runs < lines / 10, `${runs} runs of binary (up to a CR LF each), not one count per line`);
  // The answer right behind the payload, in the same chunk or split anywhere.
  const stream = Buffer.concat([bin, Buffer.from('\r\n+CSQ: 20,99\r\n\r\nOK\r\n')]);
  for (const size of [stream.length, 4096, 1000, 3, 1]) {
    const { events, d } = decode([['w', 'AT+CSQ\r', 0], ...chunks('r', stream, size, 5)]);
    t.match(ends(events), [{ name: '+CSQ', result: 'ok', lines: ['+CSQ: 20,99'], durationMs: 5 }], `chunks of ${size}`);
    t.equal(ends(events).length, 1);
    t.equal(urcs(events).length, 0, 'no binary line taken for a URC');
    t.equal(d.stats.readNoise, runs, `every run of binary is noise once (chunks of ${size})`);
    t.equal(d.stats.readOverflow, 0);
    t.equal(d.bufferedBytes, 0);
  }
});

t.test('binary written payload: a command in a write of its own after it starts, in any chunking of the payload', async (t) => {
  const bin = noiseOnly(binary(64 * 1024, 11), [13]); // ends NUL CR LF
  const lines = countLines(bin, [13]);
  t.ok(lines > 150, `${lines} binary lines`);
  for (const size of [bin.length, 4096, 1000, 3, 1]) {
    const { events, d } = decode([...chunks('w', bin, size, 0), ['w', 'AT+CSQ\r', 1], ['r', '\r\nOK\r\n', 5]]);
    t.same(
      of<{ text: string }>(events, 'commandStart').map((e) => e.text),
      ['AT+CSQ'],
      `only the command starts (chunks of ${size})`,
    );
    t.match(ends(events), [{ name: '+CSQ', result: 'ok' }]);
    const writes = Math.ceil(bin.length / size);
    if (size <= 64) t.equal(d.stats.writtenNoise, lines, `short writes: every binary line is noise (chunks of ${size})`);
    else {
      // One per write from its first binary line on (a write may hold no line end at all).
      t.ok(d.stats.writtenNoise >= writes / 2 && d.stats.writtenNoise <= writes, `${d.stats.writtenNoise} noise for ${writes} writes of ${size}`);
    }
    if (size === bin.length) t.equal(d.stats.writtenNoise, 1, 'one write: one noise');
    t.equal(d.stats.writtenOverflow, 0);
  }
  // Payload that stops mid-line, after a control byte: the next write begins a new line, and its
  // command starts. Written a byte at a time, the line goes on, and the command is part of it.
  const open = Buffer.concat([bin.subarray(0, -3), Buffer.from([0x01, 0x41])]);
  for (const [size, started] of [
    [open.length, ['AT+CSQ']],
    [4000, ['AT+CSQ']],
    [1, []],
  ] as const) {
    const { events } = decode([...chunks('w', open, size, 0), ['w', 'AT+CSQ\r', 1]]);
    t.same(
      of<{ text: string }>(events, 'commandStart').map((e) => e.text),
      started,
      `payload without a line end, in chunks of ${size}`,
    );
  }
});

t.test('binary write: the rest of a write from its first binary line is payload; lines before it are classified', async (t) => {
  const bin = noiseOnly(binary(4096, 19), [13]);
  const w = (s: string) => Buffer.from(s, 'latin1');
  const parts = [w('ATE0\r'), bin, w('AT+CSQ\r'), bin, w('AT\rATI\r')];
  const started = (steps: Step[]) => of<{ text: string }>(decode(steps).events, 'commandStart').map((e) => e.text);
  const one = decode([['w', Buffer.concat(parts), 0]]);
  t.same(
    of<{ text: string }>(one.events, 'commandStart').map((e) => e.text),
    ['ATE0'],
    'one write: the command before the payload; those after it in the same write are payload',
  );
  t.equal(one.d.stats.writtenNoise, 1, 'one noise for the payload');
  // Payload after a command line, ending mid-line after a control byte: the next write begins a new line.
  t.same(
    started([['w', Buffer.concat([w('ATE0\r'), bin, w('\x01A')]), 0], ['w', 'AT+CSQ\r', 1]]),
    ['ATE0', 'AT+CSQ'],
    'the command in the write after the payload',
  );
  t.same(started(parts.map((b): Step => ['w', b, 0])), ['ATE0', 'AT+CSQ', 'AT', 'ATI'], 'written separately, every command is seen');
  t.same(started(chunks('w', Buffer.concat(parts), 1, 0)), ['ATE0', 'AT+CSQ', 'AT', 'ATI'], 'byte by byte, too');
  // A line whose last control byte is a Ctrl-Z or ESC is not binary: the command after it starts.
  const esc = decode([['w', Buffer.concat([w('some text\r'.repeat(8)), w('\x01\x1bAT+CMEE=1\r'), bin]), 0]]);
  t.same(of<{ text: string }>(esc.events, 'commandStart').map((e) => e.text), ['AT+CMEE=1'], 'the command after an ESC');
});

t.test('random binary (some lines without a control byte) decodes to the same events in one chunk, 4 KB chunks and byte by byte', async (t) => {
  const bin = binary(32 * 1024, 3);
  const run = (size: number) =>
    decode([
      ...chunks('r', bin, size, 0),
      ['w', 'AT+CSQ\r', 1],
      ...chunks('w', bin, size, 2),
      ['w', '\rAT+CSQ\r', 3],
      ['r', '\r\n+CSQ: 20,99\r\n\r\nOK\r\n\r\nOK\r\n', 4],
    ]);
  const whole = run(bin.length);
  t.ok(whole.d.stats.readNoise >= 1 && whole.d.stats.readNoise < 10, 'read: a few runs of binary, each up to a CR LF');
  t.same(
    ends(whole.events).map((e) => [e.name, e.result]),
    [
      ['+CSQ', 'ok'],
      ['+CSQ', 'ok'],
    ],
  );
  const { writtenNoise, ...rest } = whole.d.stats;
  t.ok(writtenNoise >= 1 && writtenNoise < 10, `written: a write of payload, a few noise (${writtenNoise})`);
  for (const size of [4096, 1]) {
    const split = run(size);
    t.same(split.events, whole.events, `same events in chunks of ${size}`);
    const { writtenNoise: n, ...others } = split.d.stats;
    t.same(others, rest, `same counters but writtenNoise in chunks of ${size}`);
    if (size === 1) t.ok(n > 100, `byte by byte: every line counted (${n})`);
  }
});

t.test('binary read with nothing that could answer: searched for its CR LF over 64 KiB, in any chunking', async (t) => {
  const r = (x: string) => Buffer.from(x, 'latin1');
  // A noise line ends at the LF at index 1, where the run starts; its CR LF's CR at 2 + fill.
  const stream = (fill: number) => Buffer.concat([r('\x00\n'), Buffer.alloc(fill, 0), r('\r\nRING\r\n')]);
  const ringsIn = (steps: Step[]) => urcs(decode(steps).events).filter((u) => u.name === 'RING').length;
  for (const [fill, rings] of [
    [65534, 1],
    [65535, 0],
  ] as const) {
    const b = stream(fill);
    const cr = 2 + fill;
    for (const size of [b.length, 4096, 1000, 7]) {
      t.equal(ringsIn(chunks('r', b, size, 0)), rings, `CR at ${cr}, chunks of ${size}`);
    }
    for (const cut of [cr - 1, cr, cr + 1, cr + 2]) {
      t.equal(ringsIn([['r', b.subarray(0, cut), 0], ['r', b.subarray(cut), 0]]), rings, `CR at ${cr}, split at ${cut}`);
    }
  }
  // Past the bound, the run lasts until a command is written; its answer and what follows decode.
  const { events, d } = decode([
    ...chunks('r', stream(100_000), 4096, 0),
    ['w', 'AT\r', 1],
    ['r', '\r\nOK\r\n\r\nRING\r\n', 2],
  ]);
  t.same(urcs(events).map((u) => u.name), ['RING'], 'only the RING after the command');
  t.match(ends(events), [{ name: 'AT', result: 'ok' }]);
  t.equal(d.stats.readNoise, 1);
});

t.test('binary read with a command queued or in data mode: searched for its CR LF however long', async (t) => {
  const bin = Buffer.concat([Buffer.from('\x00\n', 'latin1'), Buffer.alloc(200_000, 0)]);
  const pending = decode([['w', 'AT+QFDWL="f"\r', 0], ...chunks('r', bin, 4096, 1), ['r', '\r\nOK\r\n', 2]]);
  t.match(ends(pending.events), [{ name: '+QFDWL', result: 'ok', durationMs: 2 }], 'the answer after 200 KB of binary');
  const data = decode([
    ['w', 'ATD*99#\r', 0],
    ['r', '\r\nCONNECT\r\n', 1],
    ...chunks('r', bin, 4096, 2),
    ['r', '\r\nNO CARRIER\r\n', 3],
  ]);
  t.same(urcs(data.events).map((u) => u.name), ['NO CARRIER'], 'NO CARRIER after 200 KB of data-mode payload');
});

t.test('binary read: AT lines framed by CR LF after binary decode in any chunking (URC, answer, NO CARRIER)', async (t) => {
  const bin = noiseOnly(binary(16 * 1024, 5), [13, 10]);
  const r = (s: string) => Buffer.from(s, 'latin1');
  const run = (size: number) =>
    decode([
      ['w', 'AT+CSQ\r', 0],
      ...chunks('r', Buffer.concat([bin, r('\r\n+CMTI: "SM",3\r\n'), bin, r('\r\n+CSQ: 20,99\r\n\r\nOK\r\n')]), size, 1),
      ['w', 'ATD*99#\r', 2],
      ...chunks('r', Buffer.concat([r('\r\nCONNECT\r\n'), bin, r('\r\nNO CARRIER\r\n')]), size, 3),
      ['w', 'AT\r', 4],
      ...chunks('r', Buffer.concat([bin, r('\r\nOK\r\n')]), size, 5),
    ]);
  const whole = run(1 << 20);
  t.same(
    urcs(whole.events).map((u) => [u.name, u.line]),
    [
      ['+CMTI', '+CMTI: "SM",3'],
      ['NO CARRIER', 'NO CARRIER'],
    ],
    'the URC after binary and NO CARRIER after the data-mode payload',
  );
  t.same(
    ends(whole.events).map((e) => [e.name, e.result, e.lines]),
    [
      ['+CSQ', 'ok', ['+CSQ: 20,99']],
      ['D', 'connect', []],
      ['AT', 'ok', []],
    ],
  );
  t.equal(whole.d.stats.readNoise, 3 * countBinaryRuns(bin), 'three runs of binary; the data-mode payload is not noise');
  for (const size of [4096, 7, 2, 1]) {
    const split = run(size);
    t.same(split.events, whole.events, `same events in chunks of ${size}`);
    t.same(split.d.stats, whole.d.stats, `same counters in chunks of ${size}`);
  }
});

t.test('binary read: a written command line reads lines one by one again (its echo is recognised)', async (t) => {
  // The noise line ends with a lone LF: no CR LF follows before the echo.
  const { events } = decode([
    ['r', 'x\x00\x01y\n', 0],
    ['w', 'AT+CSQ\r', 1],
    ['r', 'AT+CSQ\r\r\n+CSQ: 1,2\r\n\r\nOK\r\n', 2],
  ]);
  t.match(ends(events), [{ name: '+CSQ', result: 'ok', echoed: true, lines: ['+CSQ: 1,2'] }]);
});

t.test('binary read: text between a noise line and the next CR LF is not seen (the documented price)', async (t) => {
  const { events, d } = decode([['r', 'x\x00\nRING\n\r\nRING\r\n', 0]]);
  t.equal(urcs(events).length, 1, 'only the RING after the CR LF');
  t.equal(d.stats.readNoise, 1);
});

/** Written lines the last control byte decides: [line without its CR, command text or null, writtenNoise]. */
const WRITTEN_LINES: ReadonlyArray<readonly [string, string | null, number]> = [
  ['garbage\x1bAT+CSQ', 'AT+CSQ', 1],
  ['\x00\x1a  AT+CMEE=1', 'AT+CMEE=1', 1],
  ['\nAT+CGSN', 'AT+CGSN', 0],
  ['\x1aA/\nAT+CSQ', 'AT+CSQ', 1],
  ['+++AT', 'AT', 0],
  ['\t AT+CSQ\t', 'AT+CSQ\t', 0],
  ['AT+CSQ\n', null, 1],
  ['AT\x01+CSQ', null, 1],
  ['AT+CSQ\x1b', null, 1],
  ['\x7fAT', null, 1],
  ['\x1b\n', null, 1],
  ['x\nAT', null, 1],
  [' \t\n ', null, 0],
  ['\x80\xffAT', null, 1],
  ['\x01\x1bAT+CSQ', 'AT+CSQ', 1],
  ['\x01\x02\x1a\nAT+CSQ', 'AT+CSQ', 1],
  ['\x1b\x01\nAT+CSQ', null, 1],
  ['  \nAT+CSQ', 'AT+CSQ', 0],
  ['AT+C\x01SQ', null, 1],
  ['\x01', null, 1],
  ['x\x01\n ', null, 1],
  // What comes right before a leading LF: whitespace, `A/`, `+++` or a Ctrl-Z / ESC, else noise.
  ['+++\nAT', 'AT', 0],
  ['\t\n\nAT+CSQ', 'AT+CSQ', 0],
  ['A/\nAT', 'AT', 0],
  ['\x1b\nAT', 'AT', 1],
  ['++\nAT', null, 1],
  ['B/\nAT', null, 1],
  ['\x01+\nAT', null, 1],
];

t.test('written lines: the last control byte decides; Ctrl-Z / ESC leftovers, leading LF, A/ and +++', async (t) => {
  for (const [line, text, noise] of WRITTEN_LINES) {
    const bytes = Buffer.from(`${line}\r`, 'latin1');
    // Whole, byte by byte, and split once anywhere: the first part is kept (or only its end after a
    // control byte), the second classified where it lies or after it.
    const splits: Array<[string, Step[]]> = [
      ['in one chunk', chunks('w', bytes, bytes.length, 0)],
      ['byte by byte', chunks('w', bytes, 1, 0)],
    ];
    for (let cut = 1; cut < bytes.length; cut++) {
      splits.push([`split at ${cut}`, [['w', bytes.subarray(0, cut), 0], ['w', bytes.subarray(cut), 0]]]);
    }
    for (const [how, steps] of splits) {
      const { events, d } = decode(steps);
      const label = `${JSON.stringify(line)} ${how}`;
      t.same(
        of<{ text: string }>(events, 'commandStart').map((e) => e.text),
        text === null ? [] : [text],
        label,
      );
      t.equal(d.stats.writtenNoise, noise, `${label}: noise`);
    }
  }
});

t.test('a clock instead of the time: read only when the time is needed, the same events as with the time given', async (t) => {
  const bin = noiseOnly(binary(64 * 1024, 13), [13, 10]);
  const wbin = noiseOnly(binary(16 * 1024, 17), [13]);
  const bin48 = noiseOnly(binary(48 * 1024, 13), [13, 10]);
  const steps: Step[] = [
    ['w', 'AT+CSQ\r', 0],
    ...chunks('r', bin.subarray(0, 8192), 4096, 1), // while AT+CSQ is pending
    ['r', '\r\n+CSQ: 20,99\r\n\r\nOK\r\n', 2],
    ...chunks('r', bin48, 4096, 3), // nothing pending (a run under 64 KiB: searched for its CR LF)
    ...chunks('w', wbin, 4096, 4), // nothing pending
    ['r', '\r\nRING\r\n', 4],
    ['w', wbin.subarray(0, 4000), 5],
    ['w', '\rAT\rATI\r', 5], // two commands, one time
    ...chunks('r', bin.subarray(0, 4096), 4096, 6000), // their deadlines passed: timed out at 5005
    ...chunks('w', wbin, 4096, 6001), // a late window still open: the time is read
  ];
  const given = decode(steps);
  const calls = { w: 0, r: 0 };
  const { events, listener } = recorder();
  const clocked = new AtDecoder(listener);
  for (const s of steps) {
    if (s[0] === 'tick') continue;
    const [dir, bytes, ms] = s;
    const clock = (): number => (calls[dir]++, ms);
    if (dir === 'w') clocked.written(bytes, clock);
    else clocked.read(bytes, clock);
  }
  t.same(events, given.events, 'same events');
  t.same(clocked.stats, given.d.stats, 'same counters');
  t.match(ends(given.events), [
    { name: '+CSQ', result: 'ok' },
    { name: 'AT', result: 'timeout', startMs: 5, endMs: 5005 },
    { name: 'I', result: 'timeout', startMs: 5, endMs: 5005 },
  ]);
  t.equal(urcs(given.events).length, 1, 'the RING after the binary');
  // Without a CR LF in a chunk of binary and nothing pending, the clock is not read.
  const free = chunks('r', bin48, 4096, 3).filter((s) => Buffer.from(s[1] as Uint8Array).indexOf('\r\n') < 0).length;
  t.ok(free > 10, `${free} chunks of binary read without a CR LF`);
  const reads = steps.filter((s) => s[0] === 'r').length;
  t.ok(calls.r <= reads - free + 1, `the clock read ${calls.r} times for ${reads} reads`);
  t.ok(calls.r >= 4, 'read while a command is pending, for text and for a deadline');
  // Written: once for AT+CSQ, once for the chunk with AT and ATI, once per chunk while a deadline is pending.
  t.equal(calls.w, 1 + 1 + chunks('w', wbin, 4096, 0).length, `the clock read ${calls.w} times for ${steps.filter((s) => s[0] === 'w').length} writes`);
});

t.test('written lines inside a large write (classified in a loop of their own) decode as byte by byte', async (t) => {
  // Every line of WRITTEN_LINES in a write of its own after lines of text (noise, never binary),
  // more than the short-search bound before the write's end (empty lines: after a binary line the
  // rest of a write is payload, and empty lines are skipped either way), then a message body
  // started and ended in the same write.
  const filler = Buffer.from('some text\r'.repeat(8), 'latin1');
  const empty = Buffer.from('\r'.repeat(80), 'latin1');
  const writes = WRITTEN_LINES.map(([line]) => Buffer.concat([filler, Buffer.from(`${line}\r`, 'latin1'), empty]));
  writes.push(Buffer.concat([filler, Buffer.from('AT+CMGS=2\rbody\x1aAT+CSQ\r', 'latin1'), filler]));
  const whole = decode(writes.map((w): Step => ['w', w, 0]));
  const bytewise = decode(writes.flatMap((w) => chunks('w', w, 1, 0)));
  t.same(
    of<{ text: string }>(whole.events, 'commandStart').map((e) => e.text),
    [...WRITTEN_LINES.flatMap(([, text]) => (text === null ? [] : [text])), 'AT+CMGS=2', 'AT+CSQ'],
    'the command lines; the body after AT+CMGS=2 (up to a Ctrl-Z / ESC) is not taken for lines',
  );
  t.same(whole.events, bytewise.events, 'same events as byte by byte');
  t.same(whole.d.stats, bytewise.d.stats, 'same counters as byte by byte');
  t.ok(whole.d.stats.writtenNoise > 8 * writes.length, `${whole.d.stats.writtenNoise} noise lines`);
});

t.test('a `> ` prompt followed by more than a line of body echo is the prompt in any chunking, never overflow', async (t) => {
  const opts = { maxLineLength: 64 };
  const echo = Buffer.concat([Buffer.from('\r\n> '), Buffer.alloc(100, 0x30), Buffer.from([0x1a])]);
  for (const [label, before] of [
    ['prompt after the command', [['w', 'AT+CMGS=50\r', 0]]],
    ['`> ` read before the command was written', [['r', '\r\n> ', 0], ['w', 'AT+CMGS=50\r', 0]]],
  ] as Array<[string, Step[]]>) {
    const rest = label.startsWith('prompt') ? echo : echo.subarray(4);
    const whole = decode([...before, ['r', rest, 1]], opts);
    t.same(kinds(whole.events), ['commandStart', 'prompt'], `${label}: one chunk`);
    t.equal(whole.d.stats.readOverflow, 0, label);
    for (let cut = 1; cut < rest.length; cut++) {
      const split = decode([...before, ['r', rest.subarray(0, cut), 1], ['r', rest.subarray(cut), 1]], opts);
      t.same(split.events, whole.events, `${label}: split at ${cut}`);
      t.same(split.d.stats, whole.d.stats, `${label}: split at ${cut}, counters`);
    }
  }
});

t.test('a line longer than the bound is overflow, never noise or text, in one chunk or split', async (t) => {
  const long = 'X'.repeat(100);
  const opts = { maxLineLength: 64, maxWrittenLineLength: 64 };
  const read = Buffer.from(`\r\n${long}\x00\r\n${long}\r\n${'Y'.repeat(64)}\r\n+CMT: ,24\r\n${long}\r\n`, 'latin1');
  const written = Buffer.from(`AT+${long}\rAT+${'C'.repeat(61)}\r`, 'latin1');
  for (const size of [read.length, 7, 1]) {
    const { events, d } = decode([...chunks('r', read, size, 0), ...chunks('w', written, size, 1)], opts);
    const label = `chunks of ${size}`;
    t.equal(d.stats.readOverflow, 3, `${label}: three long read lines`);
    t.equal(d.stats.readNoise, 0, label);
    t.same(
      urcs(events).map((u) => [u.name, u.data]),
      [
        ['other', null],
        ['+CMT', null],
      ],
      `${label}: a line of exactly the bound is text; a long line ends +CMT without data`,
    );
    t.equal(urcs(events)[0]?.line, 'Y'.repeat(64));
    t.equal(d.stats.writtenOverflow, 1, label);
    t.same(
      of<{ text: string }>(events, 'commandStart').map((e) => e.text.length),
      [64],
      `${label}: a command of exactly the bound starts`,
    );
  }
});

t.test('the pending queue is bounded: oldest commands end as overflow', async (t) => {
  const steps: Step[] = [];
  for (let i = 0; i < 40; i++) steps.push(['w', `AT+CSQ\r`, i]);
  const { events, d } = decode(steps, { maxPending: 32 });
  t.equal(d.queuedCount, 32);
  t.equal(ends(events).length, 8);
  t.ok(ends(events).every((e) => e.result === 'overflow'));
  t.equal(d.stats.queueOverflow, 8);
});

t.test('stored lines are bounded per command', async (t) => {
  let answer = '';
  for (let i = 0; i < 40; i++) answer += `+CMGL: ${i},1,,24\r\n${'A'.repeat(400)}\r\n`;
  const { events } = decode([
    ['w', 'AT+CMGL=4\r', 0],
    ['r', answer + '\r\nOK\r\n', 1],
  ]);
  const [e] = ends(events);
  t.equal(e?.lines.length, 16);
  t.equal(e?.linesTruncated, true);
  t.ok(e?.lines.every((l) => l.length <= 256));
});

t.test('a throwing listener is counted and decoding goes on', async (t) => {
  let n = 0;
  const d = new AtDecoder({
    commandStart() {
      throw new Error('boom');
    },
    commandEnd() {
      n++;
    },
  });
  d.written('AT\r', 0);
  d.read('\r\nOK\r\n', 1);
  t.equal(n, 1);
  t.equal(d.stats.listenerErrors, 1);
});

t.test('every prefix-less URC is a URC while a command is pending, a longer or other line is its answer', async (t) => {
  const bare = ['RING', 'RDY', 'POWERED DOWN', 'NORMAL POWER DOWN', 'Call Ready', 'SMS Ready', 'PB DONE'];
  const lines = [...bare, 'NORMAL POWER DOWN!', 'Ready', 'RINGS'];
  const { events } = decode([
    ['w', 'ATI\r', 0],
    ['r', `${lines.map((l) => `\r\n${l}\r\n`).join('')}\r\nOK\r\n`, 1],
  ]);
  t.same(urcs(events).map((u) => u.name), bare);
  t.same(ends(events)[0]?.lines, ['NORMAL POWER DOWN!', 'Ready', 'RINGS']);
});

t.test('close() ends pending commands as closed', async (t) => {
  const { events, d } = decode([['w', 'AT+CSQ\r', 0]]);
  d.close(10);
  t.match(ends(events)[0], { result: 'closed', durationMs: 10 });
  t.equal(d.pendingCount, 0);
});

// ------------------------------------------------------------------ properties

/** A transcript touching most paths: echo, URCs, two-line URC, prompt, CSIM, CRSM, errors, timeout. */
const TRANSCRIPT: Step[] = [
  ['r', '\r\nRDY\r\n', 0],
  ['w', 'ATE1\r', 10],
  ['r', 'ATE1\r\r\nOK\r\n', 12],
  ['w', 'AT+CSIM=14,"00A40004023F00"\r', 20],
  ['r', 'AT+CSIM=14,"00A40004023F00"\r\r\n+CMTI: "SM",3\r\n\r\n+CSIM: 4,"6120"\r\n\r\nOK\r\n', 30],
  ['w', 'AT+CRSM=176,28423,0,0,9\r', 40],
  ['r', 'AT+CRSM=176,28423,0,0,9\r\r\n+CMT: ,24\r\n07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07\r\n', 45],
  ['r', '\r\n+CRSM: 144,0,"080910101032547698"\r\n\r\nOK\r\n', 50],
  ['w', 'AT+CMGS=19\r', 60],
  ['r', 'AT+CMGS=19\r\r\n> ', 65],
  ['w', PDU + '\x1a', 70],
  ['r', PDU + '\x1a\r\n+CMGS: 7\r\n\r\nOK\r\n', 80],
  ['w', 'AT+CMGS=19\r', 90],
  ['r', 'AT+CMGS=19\r\r\n> ', 95],
  ['w', '0011\x1b', 100],
  ['r', '0011\x1b\r\nOK\r\n', 105],
  ['w', 'AT+CPIN?\r', 110],
  ['r', 'AT+CPIN?\r\r\n+CME ERROR: SIM not inserted\r\n', 115],
  ['w', 'AT+COPS?\r', 120],
  ['tick', 6000],
  ['w', 'AT+CGSN\r', 6100],
  ['r', '\r\n+COPS: 0,0,"x",7\r\n\r\nOK\r\nAT+CGSN\r\r\n867584030123456\r\n\r\nOK\r\n', 6200],
  ['w', Buffer.from([0, 1, 2, 0xff, 13]), 6300],
  ['r', Buffer.from([0, 1, 2, 0xff, 13, 10]), 6310],
  ['w', 'ATD*99#\r', 6400],
  ['r', 'ATD*99#\r\r\nCONNECT\r\n', 6410],
  ['r', Buffer.from([0x7e, 1, 2, 0x7e, 13, 10]), 6420],
  ['r', '\r\nNO CARRIER\r\n', 6430],
  ['w', 'AT\r', 6500],
  ['r', '\r\nOK\r\n', 6510],
];

/** Splits each step's bytes at the given cut points (keeping order and timestamps). */
function rechunk(steps: readonly Step[], cuts: number[][]): Step[] {
  const out: Step[] = [];
  steps.forEach((s, i) => {
    if (s[0] === 'tick') {
      out.push(s);
      return;
    }
    const buf = typeof s[1] === 'string' ? Buffer.from(s[1], 'latin1') : Buffer.from(s[1]);
    const points = [...new Set((cuts[i] ?? []).map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
    let from = 0;
    for (const p of [...points, buf.length]) {
      if (p > from) out.push([s[0], buf.subarray(from, p), s[2]]);
      from = Math.max(from, p);
    }
  });
  return out;
}

t.test('the reference transcript decodes as expected', async (t) => {
  const { events, d } = decode(TRANSCRIPT);
  t.same(
    ends(events).map((e) => [e.name, e.result]),
    [
      ['E', 'ok'],
      ['+CSIM', 'ok'],
      ['+CRSM', 'ok'],
      ['+CMGS', 'ok'],
      ['+CMGS', 'cancelled'],
      ['+CPIN', 'cme_error'],
      ['+COPS', 'timeout'],
      ['+CGSN', 'ok'],
      ['D', 'connect'],
      ['AT', 'ok'],
    ],
  );
  t.same(
    urcs(events).map((u) => u.name),
    ['RDY', '+CMTI', '+CMT', 'NO CARRIER'],
  );
  t.equal(of(events, 'prompt').length, 2);
  t.equal(of(events, 'smsSubmit').length, 1);
  t.equal(d.stats.lateResults, 1);
  t.equal(d.pendingCount, 0);
});

t.test('property: any chunking of a transcript decodes to the same events', async (t) => {
  const reference = JSON.stringify(decode(TRANSCRIPT).events);
  fc.assert(
    fc.property(
      fc.array(fc.array(fc.nat({ max: 300 }), { maxLength: 12 }), {
        minLength: TRANSCRIPT.length,
        maxLength: TRANSCRIPT.length,
      }),
      (cuts) => JSON.stringify(decode(rechunk(TRANSCRIPT, cuts)).events) === reference,
    ),
    { numRuns: 300 },
  );
  // Byte by byte, the extreme chunking.
  const bytewise = rechunk(
    TRANSCRIPT,
    TRANSCRIPT.map((s) => (s[0] === 'tick' ? [] : Array.from({ length: 300 }, (_, i) => i))),
  );
  t.equal(JSON.stringify(decode(bytewise).events), reference);
});

t.test('property: random input never throws and stays bounded', async (t) => {
  const alphabet = ['AT', '\r', '\n', 'OK', 'ERROR', '> ', '+CMGS', '\x1a', '\x1b', '+CMT: ,2', 'AT+CMGS=2', '"', ','];
  const token = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.constantFrom(...alphabet).map((s) => Buffer.from(s, 'latin1')),
  );
  const step = fc.tuple(fc.constantFrom<'w' | 'r' | 'tick'>('w', 'r', 'r', 'tick'), token, fc.nat({ max: 20000 }));
  fc.assert(
    fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
      const d = new AtDecoder(
        { commandEnd: () => undefined, urc: () => undefined },
        { maxLineLength: 128, maxWrittenLineLength: 128, maxPending: 4 },
      );
      let now = 0;
      for (const [dir, bytes, dt] of steps) {
        now += dt;
        if (dir === 'tick') d.tick(now);
        else if (dir === 'w') d.written(bytes, now);
        else d.read(bytes, now);
      }
      return d.stats.internalErrors === 0 && d.bufferedBytes <= 256 && d.queuedCount <= 4;
    }),
    { numRuns: 1500 },
  );
  const d = new AtDecoder();
  t.doesNotThrow(() => {
    d.written(undefined as unknown as string, NaN);
    d.read(null as unknown as string, Infinity);
    d.tick(Number.NaN);
  });
});

t.test('property: random AT-ish transcripts decode the same in any chunking', async (t) => {
  const written = ['AT\r', 'ATI\r', 'AT+CSQ\r', 'AT+CMGS=19\r', PDU, '\x1a', '\x1b', 'AT+CSIM=4,"0070"\r', '\r', 'A/', 'x'];
  const read = [
    '\r\nOK\r\n',
    '\r\nERROR\r\n',
    'AT\r',
    'AT+CSQ\r',
    '\r\n> ',
    '>',
    ' ',
    '\r\n+CSQ: 1,2\r\n',
    '\r\n+CMT: ,2\r\n',
    '0011\r\n',
    '\r\n+CMGS: 3\r\n',
    '\r\n+CSIM: 4,"9000"\r\n',
    'Quectel\r\n',
    '\r\nRING\r\n',
    '\r\nCONNECT\r\n',
    '\x00\x7e',
  ];
  const stepArb = fc.oneof(
    fc.tuple(fc.constant<'w'>('w'), fc.array(fc.constantFrom(...written), { minLength: 1, maxLength: 3 })),
    fc.tuple(fc.constant<'r'>('r'), fc.array(fc.constantFrom(...read), { minLength: 1, maxLength: 4 })),
    fc.tuple(fc.constant<'tick'>('tick'), fc.constant([] as string[])),
  );
  fc.assert(
    fc.property(
      fc.array(fc.tuple(stepArb, fc.nat({ max: 3000 }), fc.array(fc.nat({ max: 200 }), { maxLength: 6 })), {
        maxLength: 30,
      }),
      (raw) => {
        let now = 0;
        const steps: Step[] = [];
        const cuts: number[][] = [];
        for (const [[dir, parts], dt, c] of raw) {
          now += dt;
          steps.push(dir === 'tick' ? ['tick', now] : [dir, parts.join(''), now]);
          cuts.push(c);
        }
        const whole = decode(steps, { defaultTimeoutMs: 2000, maxPending: 6 });
        const split = decode(rechunk(steps, cuts), { defaultTimeoutMs: 2000, maxPending: 6 });
        return (
          JSON.stringify(whole.events) === JSON.stringify(split.events) &&
          JSON.stringify(whole.d.stats) === JSON.stringify(split.d.stats)
        );
      },
    ),
    { numRuns: 700 },
  );
  t.pass('chunking independent');
});

t.test('property: binary payload mixed with AT traffic decodes the same in any chunking', async (t) => {
  // Lines classified where they lie in a chunk and lines assembled across chunks must agree.
  const text = ['AT+CSQ\r', 'AT+CMGS=2\r', 'ATD*99#\r', '\x1a', '\x1b', '\n', '\r\n> '];
  text.push('\r\nOK\r\n', '\r\n+CSQ: 1,2\r\n', '\r\n+CMT: ,2\r\n', '\r\nCONNECT\r\n');
  // Bytes biased towards line ends and control bytes, so short lines of every kind occur.
  const byte = fc.oneof(fc.constantFrom(13, 10, 0, 0x1a, 0x1b, 0x7f, 9, 0x20, 0x41, 0x54), fc.nat({ max: 255 }));
  const token = fc.oneof(
    // Never empty: rechunk drops empty steps, and an empty step still lets time pass.
    fc.array(byte, { minLength: 1, maxLength: 200 }).map((b) => Buffer.from(b)),
    // Uniform bytes: lines longer than the bound (a CR or LF every 128 bytes), binary runs.
    fc.uint8Array({ minLength: 1, maxLength: 300, size: 'large' }).map((b) => Buffer.from(b)),
    fc.constantFrom(...text).map((s) => Buffer.from(s, 'latin1')),
  );
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.constantFrom<'w' | 'r'>('w', 'r'),
          fc.array(token, { minLength: 1, maxLength: 4 }),
          fc.array(fc.nat({ max: 400 }), { maxLength: 6 }),
        ),
        { maxLength: 20 },
      ),
      (raw) => {
        const steps: Step[] = raw.map(([dir, parts], i) => [dir, Buffer.concat(parts), i * 10]);
        const options = { maxLineLength: 64, maxWrittenLineLength: 64, defaultTimeoutMs: 50 };
        const whole = decode(steps, options);
        // Split, and given a clock instead of the time: the same events. A write holding a binary
        // line stays whole: how it is split decides what of it is payload (see "Binary write").
        const cuts = raw.map(([dir, parts, c]) => (dir === 'w' && hasBinaryLine(Buffer.concat(parts)) ? [] : c));
        const split = decode(rechunk(steps, cuts), options, (ms) => () => ms);
        return (
          JSON.stringify(whole.events) === JSON.stringify(split.events) &&
          JSON.stringify(whole.d.stats) === JSON.stringify(split.d.stats)
        );
      },
    ),
    { numRuns: 700 },
  );
  t.pass('chunking independent');
});

t.test('data phases written without a terminator: the payload is dropped once the modem answers, a command being written is kept', async (t) => {
  // A URC while the application is still writing a command line: that partial line is kept.
  const partial = decode([
    ['w', 'AT+C', 0],
    ['r', '\r\n+CREG: 1\r\n', 5],
    ['w', 'SQ\r', 10],
    ['r', '\r\n+CSQ: 20,99\r\n\r\nOK\r\n', 20],
  ]);
  t.same(ends(partial.events).map((e) => [e.name, e.result]), [['+CSQ', 'ok']]);
  t.same(urcs(partial.events).map((u) => u.name), ['+CREG']);
  // Payload after a prompt: dropped at the modem's next line, whatever it is, and not counted as noise.
  const payload = decode([
    ['w', 'AT+USOWR=0,5\r', 0],
    ['r', '\r\n@', 5],
    ['w', 'hel', 10],
    ['w', 'lo', 11],
    ['r', '\r\n+USOWR: 0,5\r\n\r\nOK\r\n', 20],
    ['w', 'AT+USORD=0,5\r', 30],
    ['r', '\r\n+USORD: 0,5,"x"\r\n\r\nOK\r\n', 40],
  ]);
  t.same(ends(payload.events).map((e) => [e.name, e.result]), [['+USOWR', 'ok'], ['+USORD', 'ok']]);
  t.equal(payload.d.stats.writtenNoise, 0);
  // `+++` inside a written line: the command starts after the last one (the payload before it is noise).
  const escaped = decode([
    ['w', 'passthrough data+++', 0],
    ['w', 'AT+CIPMODE=0\r', 1500],
    ['r', '\r\nOK\r\n', 1510],
  ]);
  t.same(of<{ text: string }>(escaped.events, 'commandStart').map((e) => e.text), ['AT+CIPMODE=0']);
  t.same(ends(escaped.events).map((e) => [e.name, e.result]), [['+CIPMODE', 'ok']]);
  t.equal(escaped.d.stats.writtenNoise, 1);
});

t.test('command-specific finals end only their own commands; an answered command with no final ends when the modem moves on', async (t) => {
  const shut = decode([
    ['w', 'AT+CSQ\r', 0],
    ['r', '\r\nSHUT OK\r\n\r\nCLOSE OK\r\n\r\nDATA ACCEPT:0,5\r\n\r\nOK\r\n', 10],
  ]);
  t.same(ends(shut.events).map((e) => [e.name, e.result, e.lines]), [['+CSQ', 'ok', ['SHUT OK', 'CLOSE OK', 'DATA ACCEPT:0,5']]], "another command's final is a line here");
  const mux = decode([
    ['w', 'AT+CIPCLOSE=1\r', 0],
    ['r', '\r\n1, CLOSE OK\r\n', 10],
  ]);
  t.same(ends(mux.events).map((e) => [e.name, e.result, e.durationMs]), [['+CIPCLOSE', 'ok', 10]], 'with several connections: <n>, CLOSE OK');
  // Wavecom's AT+CPIN?: a line, no final; the next command's prefix shows the modem is past it.
  const cpin = decode([
    ['w', 'AT+CPIN?\r', 0],
    ['r', '\r\n+CPIN: READY\r\n', 30],
    ['w', 'AT+CSQ\r', 50],
    ['r', '\r\n+CSQ: 20,99\r\n\r\nOK\r\n', 80],
  ]);
  t.same(
    ends(cpin.events).map((e) => [e.name, e.result, e.lines, e.endMs]),
    [
      ['+CPIN', 'ok', ['+CPIN: READY'], 80],
      ['+CSQ', 'ok', ['+CSQ: 20,99'], 80],
    ],
  );
  t.equal(cpin.d.stats.unterminated, 1);
  t.equal(cpin.d.stats.skipped, 0);
  // A URC name is no such sign: the command keeps waiting for its final.
  const urc = decode([
    ['w', 'AT+COPS?\r', 0],
    ['r', '\r\n+COPS: 0,0,"x"\r\n\r\n+CREG: 1\r\n\r\nOK\r\n', 10],
  ]);
  t.same(ends(urc.events).map((e) => [e.name, e.result]), [['+COPS', 'ok']]);
  t.equal(urc.d.stats.unterminated, 0);
});

t.test('the rules for data phases stay out of the way of real traffic', async (t) => {
  // SIMCom in normal mode (Adafruit_FONA TCPconnect): OK, then CONNECT OK as a report: no data mode.
  const connectOk = decode([
    ['w', 'AT+CIPSTART="TCP","192.0.2.1","80"\r', 0],
    ['r', '\r\nOK\r\n', 50],
    ['r', '\r\nCONNECT OK\r\n', 900],
    ['r', '\r\n+CMTI: "SM",1\r\n', 1000],
    ['r', '\r\nCONNECT FAIL\r\n\r\n+STKPCI: 0,"D0"\r\n', 1100],
  ]);
  t.same(urcs(connectOk.events).map((u) => u.name), ['other', '+CMTI', 'other', '+STKPCI'], 'everything after CONNECT OK is decoded');
  // `+++AT...` inside transparent payload: the modem is in data mode, it is payload.
  const payload = decode([
    ['w', 'AT+QIOPEN=1,0,"TCP","192.0.2.1",80,0,2\r', 0],
    ['r', '\r\nCONNECT\r\n', 100],
    ['w', 'GET /search?q=+++ATH0 HTTP/1.1\r\nHost: x\r\n\r\n', 200],
    ['r', 'HTTP/1.1 200 OK\r\n\r\nOK\r\n', 300],
  ]);
  t.same(of<{ name: string }>(payload.events, 'commandStart').map((e) => e.name), ['+QIOPEN'], 'no command made of payload');
  // A command written after an ESC (what an SMS sender writes first to clear a pending `> `), in
  // pieces, with a URC between them.
  const pieces = decode([
    ['w', '\x1bAT+CMGF', 0],
    ['r', '\r\n+CMTI: "SM",2\r\n', 10],
    ['w', '=0\r', 20],
    ['r', '\r\nOK\r\n', 30],
  ]);
  t.same(ends(pieces.events).map((e) => [e.name, e.result]), [['+CMGF', 'ok']]);
  // Two commands written together, the first answered with a line carrying the second's prefix
  // (SIMCom's ATI lists +GCAP): the first is not ended by it (the line stays a URC, as it was).
  const pipelined = decode([
    ['w', 'ATI\rAT+GCAP\r', 0],
    ['r', '\r\nManufacturer: SIMCOM INCORPORATED\r\nModel: SIMCOM_SIM7600E\r\n+GCAP: +CGSM\r\n\r\nOK\r\n', 20],
    ['r', '\r\n+GCAP: +CGSM,+DS,+ES\r\n\r\nOK\r\n', 40],
  ]);
  t.same(
    ends(pipelined.events).map((e) => [e.name, e.result, e.lines.length]),
    [
      ['I', 'ok', 2],
      ['+GCAP', 'ok', 1],
    ],
  );
  t.equal(pipelined.d.stats.unterminated, 0);
});

t.test('ATV0: result code 2 is RING, also while a command waits for its answer', async (t) => {
  const { events } = decode([
    ['w', 'ATV0\r', 0],
    ['r', '\r\n0\r', 10],
    ['r', '2\r', 20],
    ['w', 'AT+CSQ\r', 30],
    ['r', '2\r+CSQ: 20,99\r\n0\r', 40],
  ]);
  t.same(urcs(events).map((u) => u.name), ['RING', 'RING']);
  t.same(ends(events).map((e) => [e.name, e.result, e.lines]), [['V', 'ok', []], ['+CSQ', 'ok', ['+CSQ: 20,99']]]);
});

t.test('CONNECT of a transparent-mode socket command, or with nothing pending, switches to data mode', async (t) => {
  const qiopen = decode([
    ['w', 'AT+QIOPEN=1,0,"TCP","192.0.2.1",80,0,2\r', 0],
    ['r', '\r\nCONNECT\r\n', 100],
    ['r', 'payload\r\nRING\r\n+CMTI: "SM",1\r\n', 200],
    ['w', '+++', 1500],
    ['r', '\r\nOK\r\n', 2600],
    ['w', 'AT+QICLOSE=0\r', 2700],
    ['r', '\r\nOK\r\n', 2710],
  ]);
  t.same(ends(qiopen.events).map((e) => [e.name, e.result]), [['+QIOPEN', 'connect'], ['+QICLOSE', 'ok']]);
  t.same(urcs(qiopen.events), [], 'the payload is not decoded');
  // SIMCom with AT+CIPMODE=1: OK, then CONNECT once the connection is up.
  const cipstart = decode([
    ['w', 'AT+CIPSTART="TCP","192.0.2.1","80"\r', 0],
    ['r', '\r\nOK\r\n', 50],
    ['r', '\r\nCONNECT\r\n', 900],
    ['r', 'RING\r\n', 1000],
    ['w', '+++', 3000],
    ['r', '\r\nOK\r\n', 4000],
  ]);
  t.same(ends(cipstart.events).map((e) => [e.name, e.result]), [['+CIPSTART', 'ok']]);
  t.same(urcs(cipstart.events), [], 'no URC: neither the CONNECT nor the payload');
  t.equal(cipstart.d.stats.strayFinals, 0, "+++'s OK ends the data mode");
  // AT+QFUPL's CONNECT stays an intermediate line: its OK ends it.
  const qfupl = decode([
    ['w', 'AT+QFUPL="UFS:a",3\r', 0],
    ['r', '\r\nCONNECT\r\n', 10],
    ['w', 'abc', 20],
    ['r', '\r\n+QFUPL: 3,61\r\n\r\nOK\r\n', 30],
  ]);
  t.same(ends(qfupl.events).map((e) => [e.name, e.result, e.lines]), [['+QFUPL', 'ok', ['CONNECT', '+QFUPL: 3,61']]]);
});

t.test('rule 4: a command the app gave up on within abandonAfterMs, skipped by the modem, does not shift the next answers', async (t) => {
  // Echo on: the modem never echoed +SILENT, then echoes and answers +CSQ.
  const on = decode([
    ['w', 'AT+SILENT\r', 0],
    ['w', 'AT+CSQ\r', 300],
    ['r', 'AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n', 313],
    ['w', 'AT+CSQ\r', 1500],
    ['r', 'AT+CSQ\r\r\n+CSQ: 21,99\r\n\r\nOK\r\n', 1510],
  ]);
  t.same(
    ends(on.events).map((e) => [e.name, e.result, e.lines, e.endMs]),
    [
      ['+SILENT', 'timeout', [], 313],
      ['+CSQ', 'ok', ['+CSQ: 20,99'], 313],
      ['+CSQ', 'ok', ['+CSQ: 21,99'], 1510],
    ],
  );
  t.equal(on.d.stats.skipped, 1);
  // Echo off: the answer's prefix is the second command's only.
  const csim = (apdu: string) => `AT+CSIM=${apdu.length},"${apdu}"\r`;
  const off = decode([
    ['w', 'AT+QSIMSTAT?\r', 0],
    ['w', csim('00A40004023F00'), 300],
    ['r', '\r\n+CSIM: 4,"6A82"\r\n\r\nOK\r\n', 320],
    ['w', csim('80F2000000'), 400],
    ['r', '\r\n+CSIM: 4,"9000"\r\n\r\nOK\r\n', 420],
  ]);
  t.same(
    ends(off.events).map((e) => [e.name, e.result, e.lines]),
    [
      ['+QSIMSTAT', 'timeout', []],
      ['+CSIM', 'ok', ['+CSIM: 4,"6A82"']],
      ['+CSIM', 'ok', ['+CSIM: 4,"9000"']],
    ],
  );
  t.same(
    of<{ sw: string }>(off.events, 'csim').map((c) => c.sw),
    ['6A82', '9000'],
    'each status word with its own APDU',
  );
  t.equal(urcs(off.events).length, 0, 'the +CSIM line is no URC');
  // Echo on, the skipped command echoed but never answered: the next one's own line tells.
  const echoed = decode([
    ['w', 'AT+QSIMSTAT?\r', 0],
    ['r', 'AT+QSIMSTAT?\r', 5],
    ['w', csim('00A40004023F00'), 300],
    ['r', `${csim('00A40004023F00')}\r\n+CSIM: 4,"6A82"\r\n\r\nOK\r\n`, 320],
  ]);
  t.same(
    ends(echoed.events).map((e) => [e.name, e.result]),
    [
      ['+QSIMSTAT', 'timeout'],
      ['+CSIM', 'ok'],
    ],
  );
  // The next command's `> ` prompt: the SMS goes out as a trigger, on its own command.
  const sms = decode([
    ['w', 'AT+CGSN\r', 0],
    ['w', 'AT+CMGS=19\r', 800],
    ['r', '\r\n> ', 820],
    ['w', PDU + '\x1a', 830],
    ['r', '\r\n+CMGS: 1\r\n\r\nOK\r\n', 1500],
  ]);
  t.same(
    ends(sms.events).map((e) => [e.name, e.result, e.endMs]),
    [
      ['+CGSN', 'timeout', 820],
      ['+CMGS', 'ok', 1500],
    ],
  );
  t.equal(of(sms.events, 'smsSubmit').length, 1, 'the SMS is reported sent');
});

t.test('rule 4 is not applied on weaker evidence', async (t) => {
  // Pipelined, echo on: the first command echoed (alive) before the second's echo: answered in order.
  const piped = decode([
    ['w', 'AT+CGSN\rAT+CSQ\r', 0],
    ['r', 'AT+CGSN\r\r\nAT+CSQ\r\r\n867584030123456\r\n\r\nOK\r\n', 20],
    ['r', '\r\n+CSQ: 20,99\r\n\r\nOK\r\n', 40],
  ]);
  t.same(
    ends(piped.events).map((e) => [e.name, e.result, e.lines]),
    [
      ['+CGSN', 'ok', ['867584030123456']],
      ['+CSQ', 'ok', ['+CSQ: 20,99']],
    ],
  );
  // Echo off: a line whose prefix is also a URC name (+CREG) is no evidence that the modem moved on.
  const urc = decode([
    ['w', 'AT+COPS?\r', 0],
    ['w', 'AT+CREG?\r', 100],
    ['r', '\r\n+CREG: 1,"00C3","0010A5C1",7\r\n', 150],
    ['r', '\r\n+COPS: 0,0,"Operator",7\r\n\r\nOK\r\n', 200],
    ['r', '\r\n+CREG: 0,1\r\n\r\nOK\r\n', 250],
  ]);
  t.same(
    ends(urc.events).map((e) => [e.name, e.result]),
    [
      ['+COPS', 'ok'],
      ['+CREG', 'ok'],
    ],
  );
  t.equal(urc.d.stats.skipped, 0);
});
