import t from 'tap';
import fc from 'fast-check';
import { bytesToHex } from '../instrumentations/shared/apdu.js';
import {
  ADMIN_PROTOCOL,
  SCP81_COMMAND_CONTENT_TYPE,
  SCP81_RESPONSE_CONTENT_TYPE,
  decodeCommandScript,
  decodeResponseScript,
  encodeCommandScript,
  encodeResponseScript,
  isScp81ContentType,
} from '../instrumentations/tls/scp81.js';
import {
  DEFAULT_MAX_BODY_CAPTURE,
  headerInHead,
  HttpMessageScanner,
  type HttpMessageHead,
  type HttpScannerMode,
  type HttpScannerOptions,
} from '../instrumentations/tls/http-stream.js';

const enc = new TextEncoder();
const ascii = (s: string): Uint8Array => enc.encode(s);
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

interface StartEvent {
  type: 'start';
  index: number;
  method: string;
  path: string;
  statusCode: number;
  httpMinor: number;
  framing: string;
  contentLength: number | null;
  headers: Record<string, string>;
}
interface EndEvent {
  type: 'end';
  index: number;
  bodyLength: number;
  body: string | null;
  truncated: boolean;
  complete: boolean;
  streamed: string;
}
interface GiveUpEvent {
  type: 'giveup';
  reason: string;
}
type Ev = StartEvent | EndEvent | GiveUpEvent;

function startEvent(h: HttpMessageHead): StartEvent {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(h.headers)) if (v !== undefined) headers[k] = v;
  return {
    type: 'start',
    index: h.index,
    method: h.method,
    path: h.path,
    statusCode: h.statusCode,
    httpMinor: h.httpMinor,
    framing: h.framing,
    contentLength: h.contentLength,
    headers,
  };
}

/** A scanner that records normalized events; `want(head)` decides body capture. */
function recorder(mode: HttpScannerMode, options: HttpScannerOptions = {}, want?: (h: HttpMessageHead) => boolean) {
  const events: Ev[] = [];
  let streamed: string[] = [];
  const scanner = new HttpMessageScanner(
    mode,
    {
      onMessageStart(head) {
        events.push(startEvent(head));
        streamed = [];
        return want === undefined ? undefined : want(head);
      },
      onBody(_head, bytes, offset, length) {
        streamed.push(bytesToHex(bytes, offset, length));
      },
      onMessageEnd(e) {
        events.push({
          type: 'end',
          index: e.head.index,
          bodyLength: e.bodyLength,
          body: e.body === null ? null : bytesToHex(e.body),
          truncated: e.truncated,
          complete: e.complete,
          streamed: streamed.join(''),
        });
      },
      onGiveUp(reason) {
        events.push({ type: 'giveup', reason });
      },
    },
    options,
  );
  return { scanner, events };
}

function starts(events: Ev[]): StartEvent[] {
  return events.filter((e): e is StartEvent => e.type === 'start');
}
function ends(events: Ev[]): EndEvent[] {
  return events.filter((e): e is EndEvent => e.type === 'end');
}

// ---- fixtures: a real-looking SCP81 exchange (GP Amendment B) ------------------------------

const SELECT_ISD = Uint8Array.from([0x00, 0xa4, 0x04, 0x00, 0x08, 0xa0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00]);
const GET_STATUS = Uint8Array.from([0x80, 0xf2, 0x80, 0x00, 0x02, 0x4f, 0x00, 0x00]);
const COMMAND_SCRIPT = encodeCommandScript([SELECT_ISD, GET_STATUS]);
const RESPONSE_SCRIPT = encodeResponseScript([Uint8Array.from([0x90, 0x00]), Uint8Array.from([0xe3, 0x02, 0x4f, 0x00, 0x90, 0x00])], 2);
const FROM = '//se-id/iccid/8949001234567890123;//aa-id/aid/A000000151/000000';

// Card -> server: the opening POST (no body), then a POST carrying the response script, chunked.
const FIRST_POST = ascii(
  'POST /server/admin HTTP/1.1\r\n' +
    'Host: 10.0.0.1:8443\r\n' +
    `X-Admin-Protocol: ${ADMIN_PROTOCOL}\r\n` +
    `X-Admin-From: ${FROM}\r\n` +
    'Content-Length: 0\r\n' +
    '\r\n',
);
function chunkedBody(body: Uint8Array, sizes: number[], ext = false): Uint8Array {
  const parts: Uint8Array[] = [];
  let o = 0;
  let k = 0;
  while (o < body.length) {
    const n = Math.min(sizes[k++ % sizes.length]!, body.length - o);
    parts.push(ascii(`${n.toString(16).toUpperCase()}${ext ? ';name="v"' : ''}\r\n`), body.subarray(o, o + n), ascii('\r\n'));
    o += n;
  }
  parts.push(ascii('0\r\n'));
  return concat(...parts);
}
const SECOND_POST = concat(
  ascii(
    'POST /server/admin?cmd=2 HTTP/1.1\r\n' +
      'Host: 10.0.0.1:8443\r\n' +
      `X-Admin-Protocol: ${ADMIN_PROTOCOL}\r\n` +
      `X-Admin-From: ${FROM}\r\n` +
      'X-Admin-Script-Status: ok\r\n' +
      `Content-Type: ${SCP81_RESPONSE_CONTENT_TYPE}\r\n` +
      'Transfer-Encoding: chunked\r\n' +
      '\r\n',
  ),
  chunkedBody(RESPONSE_SCRIPT, [5, 3], true),
  ascii('X-Trailer: yes\r\n\r\n'),
);

// Server -> card: the command script (Content-Length), the same chunked, then 204 to end the session.
const RESPONSE_200 = concat(
  ascii(
    'HTTP/1.1 200 OK\r\n' +
      `X-Admin-Protocol: ${ADMIN_PROTOCOL}\r\n` +
      'X-Admin-Next-URI: /server/admin?cmd=2\r\n' +
      'X-Admin-Targeted-Application: //aid/A000000151/000000\r\n' +
      `Content-Type: ${SCP81_COMMAND_CONTENT_TYPE}\r\n` +
      `Content-Length: ${COMMAND_SCRIPT.length}\r\n` +
      '\r\n',
  ),
  COMMAND_SCRIPT,
);
const RESPONSE_200_CHUNKED = concat(
  ascii(
    'HTTP/1.1 200 OK\r\n' +
      `X-Admin-Protocol: ${ADMIN_PROTOCOL}\r\n` +
      `Content-Type: ${SCP81_COMMAND_CONTENT_TYPE}\r\n` +
      'Transfer-Encoding: chunked\r\n' +
      '\r\n',
  ),
  chunkedBody(COMMAND_SCRIPT, [16]),
  ascii('\r\n'),
);
const RESPONSE_204 = ascii(`HTTP/1.1 204 No Content\r\nX-Admin-Protocol: ${ADMIN_PROTOCOL}\r\nConnection: close\r\n\r\n`);

t.test('card requests: opening POST and chunked POST with the response script', async (t) => {
  const { scanner, events } = recorder('request');
  scanner.push(FIRST_POST);
  scanner.push(SECOND_POST);
  t.equal(scanner.messageCount, 2);
  t.equal(scanner.state, 'head');
  t.same(events.map((e) => e.type), ['start', 'end', 'start', 'end']);
  const [s0, s1] = starts(events);
  t.same(s0, {
    type: 'start',
    index: 0,
    method: 'POST',
    path: '/server/admin',
    statusCode: 0,
    httpMinor: 1,
    framing: 'none',
    contentLength: 0,
    headers: { 'content-length': '0', 'x-admin-protocol': ADMIN_PROTOCOL, 'x-admin-from': FROM },
  });
  t.same(s1!.headers, {
    'content-type': SCP81_RESPONSE_CONTENT_TYPE,
    'transfer-encoding': 'chunked',
    'x-admin-protocol': ADMIN_PROTOCOL,
    'x-admin-from': FROM,
    'x-admin-script-status': 'ok',
  });
  t.equal(s1!.path, '/server/admin?cmd=2');
  t.equal(s1!.framing, 'chunked');
  t.equal(s1!.contentLength, null);
  const [e0, e1] = ends(events);
  t.match(e0, { index: 0, bodyLength: 0, body: '', truncated: false, complete: true });
  t.match(e1, { index: 1, bodyLength: RESPONSE_SCRIPT.length, body: bytesToHex(RESPONSE_SCRIPT), truncated: false, complete: true });
  t.equal(e1!.streamed, bytesToHex(RESPONSE_SCRIPT));
  // The captured body is the de-chunked response script
  const r = decodeResponseScript(Uint8Array.from(Buffer.from(e1!.body!, 'hex')));
  t.match(r, { format: 'definite', executed: 2, malformed: false, truncated: false });
  t.equal(r.rapdus.length, 2);
});

t.test('server responses: 200 with Content-Length, 200 chunked, 204, pipelined in one chunk', async (t) => {
  const { scanner, events } = recorder('response');
  scanner.push(concat(RESPONSE_200, RESPONSE_200_CHUNKED, RESPONSE_204));
  t.same(events.map((e) => e.type), ['start', 'end', 'start', 'end', 'start', 'end']);
  const [a, b, c] = starts(events);
  t.match(a, { statusCode: 200, framing: 'length', contentLength: COMMAND_SCRIPT.length, method: '', path: '' });
  t.same(a!.headers, {
    'content-type': SCP81_COMMAND_CONTENT_TYPE,
    'content-length': String(COMMAND_SCRIPT.length),
    'x-admin-protocol': ADMIN_PROTOCOL,
    'x-admin-next-uri': '/server/admin?cmd=2',
    'x-admin-targeted-application': '//aid/A000000151/000000',
  });
  t.ok(isScp81ContentType(a!.headers['content-type']));
  t.match(b, { statusCode: 200, framing: 'chunked' });
  t.match(c, { statusCode: 204, framing: 'none', headers: { connection: 'close' } });
  const [ea, eb, ec] = ends(events);
  for (const e of [ea, eb]) {
    t.equal(e!.body, bytesToHex(COMMAND_SCRIPT));
    t.equal(e!.complete, true);
    const s = decodeCommandScript(Uint8Array.from(Buffer.from(e!.body!, 'hex')));
    t.equal(s.apdus.length, 2);
  }
  t.match(ec, { bodyLength: 0, complete: true });
});

t.test('interim 1xx, 304 with Content-Length, and 101 upgrade', async (t) => {
  const { scanner, events } = recorder('response');
  scanner.push(ascii('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'));
  scanner.push(RESPONSE_200);
  t.same(
    starts(events).map((s) => [s.statusCode, s.framing]),
    [
      [100, 'none'],
      [304, 'none'],
      [200, 'length'],
    ],
  );
  t.equal(ends(events)[2]!.body, bytesToHex(COMMAND_SCRIPT), 'the 304 did not swallow the next message');

  const up = recorder('response');
  up.scanner.push(ascii('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello'));
  t.same(up.events.map((e) => e.type), ['start', 'end', 'giveup']);
  t.match(up.events[2], { reason: 'upgrade' });
  t.equal(up.scanner.gaveUp, true);
  t.equal(up.scanner.giveUpReason, 'upgrade');
});

t.test('read-until-close response bodies complete on end()', async (t) => {
  const { scanner, events } = recorder('response');
  scanner.push(ascii('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello '));
  scanner.push(ascii('world'));
  t.equal(ends(events).length, 0);
  t.equal(scanner.state, 'body');
  scanner.end();
  t.match(ends(events)[0], { bodyLength: 11, body: bytesToHex(ascii('hello world')), complete: true });
  t.match(starts(events)[0], { httpMinor: 0, framing: 'eof' });
  t.equal(scanner.state, 'closed');
  scanner.push(RESPONSE_200);
  t.equal(events.length, 2, 'nothing after close');
  // A non-chunked transfer coding on a response is also read until close
  const gz = recorder('response');
  gz.scanner.push(ascii('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabcdef'));
  gz.scanner.end();
  t.match(ends(gz.events)[0], { bodyLength: 6, complete: true });
});

t.test('end() in the middle of a message reports it incomplete', async (t) => {
  const { scanner, events } = recorder('response');
  scanner.push(RESPONSE_200.subarray(0, RESPONSE_200.length - 3));
  scanner.end();
  t.match(ends(events)[0], { bodyLength: COMMAND_SCRIPT.length - 3, complete: false });
  // mid-head: nothing was started, nothing to end
  const h = recorder('request');
  h.scanner.push(FIRST_POST.subarray(0, 20));
  h.scanner.end();
  t.same(h.events, []);
});

t.test('bodies that are not wanted are counted, not captured', async (t) => {
  const { scanner, events } = recorder('response', {}, (h) => isScp81ContentType(h.headers['content-type']));
  const html = ascii('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\n<p/>\n');
  scanner.push(concat(html, RESPONSE_200));
  const [a, b] = ends(events);
  t.match(a, { bodyLength: 5, body: null, truncated: false, streamed: '' });
  t.match(b, { body: bytesToHex(COMMAND_SCRIPT) });
  // maxBodyCapture 0 captures nothing
  const none = recorder('response', { maxBodyCapture: 0 });
  none.scanner.push(RESPONSE_200);
  t.match(ends(none.events)[0], { body: null, bodyLength: COMMAND_SCRIPT.length });
});

t.test('a 10 MB body is counted with bounded memory, and the stream stays in sync', async (t) => {
  const total = 10 * 1024 * 1024;
  const piece = new Uint8Array(64 * 1024).fill(0x41);
  for (const chunked of [false, true]) {
    let start: HttpMessageHead | null = null;
    let streamedBytes = 0;
    const endsSeen: Array<{ bodyLength: number; body: Uint8Array | null; truncated: boolean; complete: boolean }> = [];
    const scanner = new HttpMessageScanner('response', {
      onMessageStart(h) {
        start = h;
      },
      onBody(_h, _b, _o, n) {
        streamedBytes += n;
      },
      onMessageEnd(e) {
        endsSeen.push(e);
      },
    });
    scanner.push(ascii(`HTTP/1.1 200 OK\r\n${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${total}`}\r\n\r\n`));
    for (let sent = 0; sent < total; sent += piece.length) {
      if (chunked) scanner.push(ascii(`${piece.length.toString(16)}\r\n`));
      scanner.push(piece);
      if (chunked) scanner.push(ascii('\r\n'));
    }
    if (chunked) scanner.push(ascii('0\r\n\r\n'));
    scanner.push(RESPONSE_204);
    t.ok(start !== null);
    t.equal(endsSeen.length, 2, chunked ? 'chunked' : 'content-length');
    const big = endsSeen[0]!;
    t.equal(big.bodyLength, total);
    t.equal(big.truncated, true);
    t.equal(big.complete, true);
    t.equal(big.body!.length, DEFAULT_MAX_BODY_CAPTURE);
    t.ok(big.body!.buffer.byteLength <= DEFAULT_MAX_BODY_CAPTURE, 'capture buffer never grew past the bound');
    t.equal(streamedBytes, total);
    t.equal(endsSeen[1]!.bodyLength, 0);
  }
});

t.test('giving up: non-HTTP, oversized headers, bad framing', async (t) => {
  // A TLS record (the caller is looking at ciphertext) is rejected on its first bytes
  const tlsRec = recorder('response');
  tlsRec.scanner.push(Uint8Array.from([0x16, 0x03, 0x01, 0x00, 0x2a]));
  t.same(tlsRec.events, [{ type: 'giveup', reason: 'not-http' }]);
  const tlsReq = recorder('request');
  tlsReq.scanner.push(Uint8Array.from([0x16, 0x03, 0x01]));
  t.equal(tlsReq.scanner.giveUpReason, 'not-http');

  const cases: Array<[HttpScannerMode, string, string]> = [
    ['response', 'HTTP/2.0 200 OK\r\n\r\n', 'not-http'],
    ['response', 'HTTP/1.1 2000 OK\r\n\r\n', 'not-http'],
    ['response', 'HTTP/1.1 099 Low\r\n\r\n', 'not-http'],
    ['request', 'post /x HTTP/1.1\r\n\r\n', 'not-http'],
    ['request', 'POST /x HTTP/1.1 extra\r\n\r\n', 'not-http'],
    ['request', 'POST  HTTP/1.1\r\n\r\n', 'not-http'],
    ['request', 'POST /x HTTP/1.1\r\nno colon here\r\n\r\n', 'not-http'],
    ['request', 'POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n', 'bad-framing'],
    ['request', 'POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', 'bad-framing'],
    ['request', 'POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n', 'bad-framing'],
    ['response', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'bad-chunk'],
    ['response', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX', 'bad-chunk'],
    ['response', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000\r\n', 'bad-chunk'],
  ];
  for (const [mode, text, reason] of cases) {
    const r = recorder(mode);
    r.scanner.push(ascii(text));
    t.equal(r.scanner.giveUpReason, reason, JSON.stringify(text));
    t.equal(r.events[r.events.length - 1]!.type, 'giveup');
  }
  // A started message is ended (incomplete) before the give-up
  const bad = recorder('response');
  bad.scanner.push(ascii('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nq\r\n'));
  t.same(bad.events.map((e) => e.type), ['start', 'end', 'giveup']);
  t.match(ends(bad.events)[0], { complete: false, bodyLength: 3 });

  // Header section over 16 KiB, even when it arrives in small pieces
  const big = recorder('request');
  big.scanner.push(ascii('POST /x HTTP/1.1\r\n'));
  for (let i = 0; i < 400 && !big.scanner.gaveUp; i++) big.scanner.push(ascii(`X-Filler-${i}: ${'v'.repeat(40)}\r\n`));
  t.equal(big.scanner.giveUpReason, 'header-too-large');
  // One endless line without LF
  const line = recorder('response');
  line.scanner.push(ascii(`HTTP/1.1 200 ${'x'.repeat(20000)}`));
  t.equal(line.scanner.giveUpReason, 'header-too-large');
  // A smaller configured bound
  const small = recorder('response', { maxHeaderBytes: 64 });
  small.scanner.push(RESPONSE_200);
  t.equal(small.scanner.giveUpReason, 'header-too-large');

  // After giving up nothing else happens
  const n = bad.events.length;
  bad.scanner.push(RESPONSE_200);
  bad.scanner.end();
  t.equal(bad.events.length, n);
  t.equal(bad.scanner.state, 'gave-up');
});

t.test('tolerated variations', async (t) => {
  // blank lines before a request line, bare LF line endings, odd header spacing and case,
  // obsolete line folding, repeated headers, chunk extensions, trailers
  const { scanner, events } = recorder('request');
  scanner.push(
    ascii(
      '\r\n\nPOST /a HTTP/1.1\n' +
        'content-TYPE:   application/vnd.globalplatform.card-content-mgt-response;version=1.0   \n' +
        ' folded continuation\n' +
        'Connection: keep-alive\n' +
        'connection: TE\n' +
        'X-Admin-Resume: true\n' +
        'Transfer-Encoding: chunked\n' +
        '\n' +
        '4 ; a=b\r\nabcd\r\n0000;last\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n',
    ),
  );
  const [s] = starts(events);
  t.same(s!.headers, {
    'content-type': 'application/vnd.globalplatform.card-content-mgt-response;version=1.0',
    connection: 'keep-alive, TE',
    'x-admin-resume': 'true',
    'transfer-encoding': 'chunked',
  });
  t.match(ends(events)[0], { body: bytesToHex(ascii('abcd')), complete: true });
  // identical repeated Content-Length values are accepted
  const cl = recorder('request');
  cl.scanner.push(ascii('POST /b HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nxyz'));
  t.match(ends(cl.events)[0], { bodyLength: 3, complete: true });
  // chunked wins over Content-Length
  const both = recorder('response');
  both.scanner.push(ascii('HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n'));
  t.match(ends(both.events)[0], { bodyLength: 2, complete: true });
  t.match(starts(both.events)[0], { framing: 'chunked', contentLength: null });
  // offset/length arguments
  const sub = recorder('response');
  const padded = concat(ascii('JUNK'), RESPONSE_204, ascii('JUNK'));
  sub.scanner.push(padded, 4, RESPONSE_204.length);
  t.same(sub.events.map((e) => e.type), ['start', 'end']);
});

t.test('a throwing handler makes the scanner give up, never the caller', async (t) => {
  let calls = 0;
  const scanner = new HttpMessageScanner('response', {
    onMessageStart() {
      calls++;
      throw new Error('boom');
    },
    onGiveUp() {
      calls++;
    },
  });
  t.doesNotThrow(() => scanner.push(concat(RESPONSE_200, RESPONSE_204)));
  t.equal(scanner.giveUpReason, 'handler-error');
  t.equal(calls, 1);
  t.doesNotThrow(() => scanner.end());
});

// ---- properties --------------------------------------------------------------------------

interface MsgSpec {
  kind: 'length' | 'chunked' | 'none' | 'interim';
  body: Uint8Array;
  sizes: number[];
  ext: boolean;
  trailer: boolean;
}

const msgArb: fc.Arbitrary<MsgSpec> = fc.record({
  kind: fc.constantFrom<MsgSpec['kind']>('length', 'chunked', 'none', 'interim'),
  body: fc.uint8Array({ maxLength: 300, size: 'max' }),
  sizes: fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 4, size: 'max' }),
  ext: fc.boolean(),
  trailer: fc.boolean(),
});

function serialize(mode: HttpScannerMode, msgs: MsgSpec[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of msgs) {
    const start = mode === 'request' ? 'POST /server/admin HTTP/1.1\r\n' : m.kind === 'interim' ? 'HTTP/1.1 100 Continue\r\n' : m.kind === 'none' ? 'HTTP/1.1 204 No Content\r\n' : 'HTTP/1.1 200 OK\r\n';
    let head = `${start}X-Admin-Protocol: ${ADMIN_PROTOCOL}\r\nContent-Type: ${SCP81_COMMAND_CONTENT_TYPE}\r\n`;
    if (m.kind === 'length') head += `Content-Length: ${m.body.length}\r\n`;
    if (m.kind === 'chunked') head += 'Transfer-Encoding: chunked\r\n';
    parts.push(ascii(`${head}\r\n`));
    if (m.kind === 'length') parts.push(m.body);
    if (m.kind === 'chunked') parts.push(chunkedBody(m.body, m.sizes, m.ext), ascii(m.trailer ? 'T: 1\r\n\r\n' : '\r\n'));
  }
  return concat(...parts);
}

function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

t.test('property: any split of the same stream gives the same events', async (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom<HttpScannerMode>('request', 'response'),
      fc.array(msgArb, { minLength: 1, maxLength: 5, size: 'max' }),
      fc.array(fc.nat(), { maxLength: 40, size: 'max' }),
      fc.constantFrom(0, 17, 65536),
      fc.option(fc.uint8Array({ minLength: 1, maxLength: 20, size: 'max' })),
      (mode, msgs, cuts, maxBodyCapture, garbage) => {
        const stream = concat(serialize(mode, msgs), garbage ?? new Uint8Array(0));
        const whole = recorder(mode, { maxBodyCapture });
        whole.scanner.push(stream);
        whole.scanner.end();
        const split = recorder(mode, { maxBodyCapture });
        for (const piece of splitAt(stream, cuts)) split.scanner.push(piece);
        split.scanner.end();
        // Also byte by byte through offset/length on one buffer
        const bytewise = recorder(mode, { maxBodyCapture });
        for (let i = 0; i < stream.length; i++) bytewise.scanner.push(stream, i, 1);
        bytewise.scanner.end();
        const a = JSON.stringify(whole.events);
        if (a !== JSON.stringify(split.events) || a !== JSON.stringify(bytewise.events)) return false;
        // Without trailing garbage every message is seen complete, with its exact body
        if (garbage === null) {
          const e = ends(whole.events);
          if (e.length !== msgs.length) return false;
          return e.every((ev, i) => {
            const m = msgs[i]!;
            const body = m.kind === 'length' || m.kind === 'chunked' ? m.body : new Uint8Array(0);
            if (mode === 'response' && (m.kind === 'none' || m.kind === 'interim') && ev.bodyLength !== 0) return false;
            const want = bytesToHex(body.subarray(0, maxBodyCapture));
            const captured = maxBodyCapture === 0 ? ev.body === null : ev.body === want;
            return ev.complete && ev.bodyLength === body.length && captured && ev.truncated === (maxBodyCapture > 0 && body.length > maxBodyCapture);
          });
        }
        return true;
      },
    ),
    { numRuns: 300 },
  );
  t.pass('chunking independence holds');
});

t.test('property: random bytes never throw, alone or after a valid prefix', async (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom<HttpScannerMode>('request', 'response'),
      fc.boolean(),
      fc.array(fc.uint8Array({ maxLength: 200, size: 'max' }), { maxLength: 8, size: 'max' }),
      (mode, prefixed, chunks) => {
        const { scanner, events } = recorder(mode, { maxHeaderBytes: 512, maxBodyCapture: 64 });
        if (prefixed) scanner.push(mode === 'request' ? FIRST_POST : RESPONSE_200_CHUNKED.subarray(0, 90));
        for (const c of chunks) scanner.push(c);
        scanner.end();
        // starts and ends pair up; a give-up is last
        let open = 0;
        for (let i = 0; i < events.length; i++) {
          const e = events[i]!;
          if (e.type === 'start') open++;
          else if (e.type === 'end') open--;
          else if (i !== events.length - 1) return false;
          if (open < 0 || open > 1) return false;
        }
        return open === 0;
      },
    ),
    { numRuns: 1000 },
  );
  t.pass('random input holds');
});

t.test('headerInHead: a field of a head held as a string (a response head as Node stores it)', async (t) => {
  const head =
    'HTTP/1.1 200 OK\r\nX-Admin-Protocol: globalplatform-remote-admin/1.0\r\nContent-Type:  application/vnd.globalplatform.card-content-mgt;version=1.0 \r\nContent-Length: 12\r\n\r\n';
  const value = 'application/vnd.globalplatform.card-content-mgt;version=1.0';
  t.equal(headerInHead(head, 'content-type', '\r\nContent-Type:'), value, 'the usual spelling, trimmed');
  t.equal(headerInHead(head, 'content-type'), value, 'the same without the spelling hint');
  t.equal(headerInHead(head.replace('Content-Type', 'CONTENT-type'), 'content-type', '\r\nContent-Type:'), value, 'any case');
  t.equal(headerInHead(head, 'content-length'), '12');
  t.equal(headerInHead(head, 'x-admin-protocol'), 'globalplatform-remote-admin/1.0');
  t.equal(headerInHead(head, 'content-typ'), undefined, 'a prefix of a name is not the name');
  t.equal(headerInHead('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n', 'content-type', '\r\nContent-Type:'), undefined, 'absent');
  t.equal(headerInHead('HTTP/1.1 200 OK\nContent-Type: a/b', 'content-type'), 'a/b', 'bare LF, last line without an end');
  t.equal(headerInHead(`HTTP/1.1 200 OK\r\nContent-Type: ${'x'.repeat(5000)}\r\n\r\n`, 'content-type')?.length, 1024, 'values cut like the scanner cuts them');
  t.equal(headerInHead('HTTP/1.1 200 OK\r\n\r\n', 'content-type', '\r\nContent-Type:'), undefined);
});
