/**
 * The structured logger in-process: the JSON line's fields, trace context from the active span,
 * per-component levels, immutable child context, exceptions, secrets, the pretty layout, and the
 * bridge to the OTel Logs SDK.
 */
import t from 'tap';
import fc from 'fast-check';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { setupLogRecords, setupHarness } from './helpers/otel-harness.js';
import { configureLogging, createLogger, formatPretty, levelFor, REDACTED } from '../src/logging/index.js';
import { parseConfig } from '../src/config.js';
import { runNode } from './helpers/child.js';

const h = setupHarness([]);
const logExporter = setupLogRecords(t, h);

let lines: string[] = [];
function capture(opts: Parameters<typeof configureLogging>[0] = {}): void {
  lines = [];
  logExporter.reset();
  configureLogging({ level: 'info', componentLevels: {}, format: 'json', ...opts, destination: { write: (s: string) => lines.push(s) } });
}
const records = (): Array<Record<string, unknown>> => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

t.test('one JSON object per line: timestamp, level, component, message and the fields', async (t) => {
  capture();
  const log = createLogger('tls');
  log.info('handshake done', { cipher_suite: 'TLS_PSK_WITH_AES_128_CBC_SHA256', duration_ms: 12 });
  t.equal(lines.length, 1);
  t.ok(lines[0]!.endsWith('\n') && !lines[0]!.slice(0, -1).includes('\n'), 'exactly one line');
  const r = records()[0]!;
  t.match(r['timestamp'], /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'ISO 8601');
  t.ok(Math.abs(Date.parse(r['timestamp'] as string) - Date.now()) < 5000);
  t.equal(r['level'], 'info');
  t.equal(r['component'], 'tls');
  t.equal(r['message'], 'handshake done');
  t.equal(r['cipher_suite'], 'TLS_PSK_WITH_AES_128_CBC_SHA256');
  t.equal(r['duration_ms'], 12);
  t.notOk('trace_id' in r, 'no trace fields outside a span');
  t.notOk('pid' in r || 'hostname' in r, 'no pino base fields');
});

t.test('pino-style call shapes all work', async (t) => {
  capture();
  const log = createLogger('app');
  log.info({ a: 1 }, 'fields first');
  log.warn('message only');
  log.error(new Error('bad thing'));
  log.error(new Error('with text'), 'context text');
  log.error('error as second argument', new Error('second'));
  log.error('error inside fields', { err: new Error('in fields'), port: '/dev/ttyUSB2' });
  const r = records();
  t.same(r.map((x) => x['message']), ['fields first', 'message only', 'bad thing', 'context text', 'error as second argument', 'error inside fields']);
  t.equal(r[0]!['a'], 1);
  t.equal((r[2]!['exception'] as { message: string }).message, 'bad thing');
  t.equal((r[3]!['exception'] as { message: string }).message, 'with text');
  t.equal((r[4]!['exception'] as { message: string }).message, 'second');
  t.equal((r[5]!['exception'] as { message: string }).message, 'in fields');
  t.notOk('err' in r[5]!, 'the error moved to exception');
  t.equal(r[5]!['port'], '/dev/ttyUSB2');
});

t.test('exception carries type, message, stack, code and cause', async (t) => {
  capture();
  const cause = Object.assign(new Error('ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  const err = new TypeError('query failed', { cause });
  createLogger('db').error(err, 'slow query failed');
  const ex = records()[0]!['exception'] as { type: string; message: string; stack: string; cause: { code: string; message: string } };
  t.equal(ex.type, 'TypeError');
  t.equal(ex.message, 'query failed');
  t.match(ex.stack, /TypeError: query failed\n\s+at /);
  t.match(ex.stack, /logging\.test\.ts/);
  t.equal(ex.cause.code, 'ECONNREFUSED');
});

t.test('inside an active span: trace_id, span_id and trace_flags of that span', async (t) => {
  capture();
  const log = createLogger('ota');
  let ids: { traceId: string; spanId: string } | undefined;
  trace.getTracer('test').startActiveSpan('ota.session', (span) => {
    ids = span.spanContext();
    log.info('session started');
    trace.getTracer('test').startActiveSpan('apdu.SELECT', (inner) => {
      log.debug('not at info');
      log.warn('inner');
      inner.end();
    });
    span.setStatus({ code: SpanStatusCode.OK });
    span.end();
  });
  log.info('after');
  const r = records();
  t.equal(r.length, 3);
  t.equal(r[0]!['trace_id'], ids!.traceId);
  t.equal(r[0]!['span_id'], ids!.spanId);
  t.equal(r[0]!['trace_flags'], '01');
  t.equal(r[1]!['trace_id'], ids!.traceId, 'same trace in the child span');
  t.not(r[1]!['span_id'], ids!.spanId, 'but the inner span id');
  const inner = h.finished().find((s) => s.name === 'apdu.SELECT');
  t.equal(r[1]!['span_id'], inner?.spanContext().spanId);
  t.notOk('trace_id' in r[2]!, 'none once the span is over');
});

t.test('per-component levels: default, exact component, dotted parent', async (t) => {
  const { config } = parseConfig({ CARDLINK_LOG_LEVEL: 'warn,tls=debug,modem=error,modem.at=info' });
  capture({ level: config.logLevel, componentLevels: config.componentLogLevels });
  const app = createLogger('app');
  const tls = createLogger('tls');
  const modem = createLogger('modem');
  const at = createLogger('modem.at');
  const urc = createLogger('modem.urc');
  const tlsHandshake = createLogger('tls.handshake');
  for (const [name, l] of Object.entries({ app, tls, modem, at, urc, tlsHandshake })) {
    l.debug(`${name} debug`);
    l.info(`${name} info`);
    l.warn(`${name} warn`);
    l.error(`${name} error`);
  }
  t.same(
    records().map((r) => r['message']),
    [
      'app warn',
      'app error',
      'tls debug',
      'tls info',
      'tls warn',
      'tls error',
      'modem error',
      'at info',
      'at warn',
      'at error',
      'urc error',
      'tlsHandshake debug',
      'tlsHandshake info',
      'tlsHandshake warn',
      'tlsHandshake error',
    ],
  );
  t.equal(tls.level, 'debug');
  t.equal(urc.level, 'error');
  t.ok(tls.isLevelEnabled('debug'));
  t.notOk(app.isLevelEnabled('info'));
  t.equal(levelFor('modem.at.raw'), 'info');
});

t.test('loggers created before a reconfiguration follow it', async (t) => {
  capture({ level: 'info' });
  const log = createLogger('late');
  log.debug('dropped');
  capture({ level: 'debug' });
  log.debug('kept');
  t.same(records().map((r) => r['message']), ['kept']);
  capture({ level: 'silent' });
  log.fatal('silent drops everything');
  t.equal(lines.length, 0);
});

t.test('child loggers: more context, the parent unchanged, the child context frozen', async (t) => {
  capture();
  const log = createLogger('adb');
  const ctx = { serial: 'R58M12345' };
  const child = log.child(ctx);
  ctx.serial = 'changed afterwards';
  const grandchild = child.child({ operation: 'shell' });
  log.info('parent');
  child.info('child');
  grandchild.info('grandchild', { serial: 'call field wins in the OTel attributes' });
  const r = records();
  t.notOk('serial' in r[0]!);
  t.equal(r[1]!['serial'], 'R58M12345', 'context copied at child creation');
  t.equal(r[2]!['operation'], 'shell');
  t.ok(Object.isFrozen(child.context));
  t.throws(() => {
    (child.context as Record<string, unknown>)['serial'] = 'x';
  });
  t.equal(child.component, 'adb');
});

t.test('reserved names in fields never overwrite the fixed fields', async (t) => {
  capture();
  createLogger('app').child({ component: 'spoofed', level: 'fatal' }).info('hello', { message: 'other', trace_id: 'fake', timestamp: 0 });
  const text = lines[0]!;
  const r = records()[0]!;
  t.equal(r['component'], 'app');
  t.equal(r['level'], 'info');
  t.equal(r['message'], 'hello');
  t.equal(r['_component'], 'spoofed');
  t.equal(r['_message'], 'other');
  t.equal(r['_trace_id'], 'fake');
  t.equal((text.match(/"component":/g) ?? []).length, 1, 'no duplicate keys');
  t.equal((text.match(/"level":/g) ?? []).length, 1);
});

t.test('field names of Object.prototype members are renamed, never break the line', async (t) => {
  capture();
  const log = createLogger('app');
  log.info('odd names', JSON.parse('{"valueOf": 1, "toString": "x", "hasOwnProperty": 2, "__proto__": {"polluted": true}, "deep": {"__proto__": {"y": 2}}}') as Record<string, unknown>);
  log.child(JSON.parse('{"constructor": 5}') as Record<string, unknown>).warn(new Map([['valueOf', 0n]]) as unknown as Record<string, unknown>);
  t.equal(lines.length, 2);
  const [a, b] = records();
  t.same(a, { ...a, _valueOf: 1, _toString: 'x', _hasOwnProperty: 2, ___proto__: { polluted: true } });
  t.same(JSON.parse(lines[0]!).deep, JSON.parse('{"__proto__": {"y": 2}}'));
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'no prototype touched');
  t.equal(b!['_constructor'], 5);
  t.equal(b!['_valueOf'], '0');
});

t.test('never secrets: key names, URL passwords, libpq passwords, AT PINs, raw bytes', async (t) => {
  capture();
  createLogger('db')
    .child({ password: 'ctx-pass-1' })
    .warn('connecting to postgres://lab:db-pass-2@db:5432/cardlink', {
      psk_key: '0102030405060708090A0B0C0D0E0F10',
      PSK: 'AABBCCDDEEFF',
      kic: '11223344',
      apiToken: 'tok-3',
      nested: { deeper: { client_secret: 'cs-4', fine: 'visible' } },
      dsn: "host=db user=lab password='db-pass-5' dbname=x",
      at: 'AT+CPIN="1234"',
      apdu: Buffer.from('80D8000000', 'hex'),
      psk_identity: 'card-0001',
    });
  const text = lines.join('');
  for (const secret of ['ctx-pass-1', 'db-pass-2', '0102030405060708090A0B0C0D0E0F10', 'AABBCCDDEEFF', '11223344', 'tok-3', 'cs-4', 'db-pass-5', '1234', '80d8']) {
    t.notOk(text.toLowerCase().includes(secret.toLowerCase()), `${secret} is not in the line`);
  }
  const r = records()[0]!;
  t.equal(r['psk_key'], REDACTED);
  t.equal(r['_message'], undefined);
  t.equal(r['message'], 'connecting to postgres://lab:***@db:5432/cardlink');
  t.equal((r['nested'] as { deeper: { fine: string } }).deeper.fine, 'visible');
  t.equal(r['apdu'], '[5 bytes]');
  t.equal(r['psk_identity'], 'card-0001', 'the identity is not a secret');
  const otel = logExporter.getFinishedLogRecords()[0]!;
  const otelText = JSON.stringify({ body: otel.body, attributes: otel.attributes });
  t.notOk(otelText.includes('db-pass-2') || otelText.includes('ctx-pass-1') || otelText.includes('0102030405'), 'nor in the OTel record');
});

t.test('a secret under a secret-named key never leaks, however deep (property)', async (t) => {
  capture();
  const log = createLogger('fuzz');
  const secretKey = fc.constantFrom('password', 'psk', 'pskKey', 'psk_hex', 'KIc', 'kid', 'Ki', 'OPc', 'api_token', 'clientSecret', 'authorization', 'pin', 'adm_key');
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom('a', 'b', 'session', 'card'), { maxLength: 3 }),
      secretKey,
      fc.stringMatching(/^[A-Za-z0-9]{12,24}$/),
      (path, key, secret) => {
        let fields: Record<string, unknown> = { [key]: secret };
        for (const p of path) fields = { [p]: fields };
        lines = [];
        log.warn('x', fields);
        logExporter.reset();
        return lines.length === 1 && !lines[0]!.includes(secret);
      },
    ),
    { numRuns: 300 },
  );
  t.pass('300 random placements');
});

t.test('the OTel bridge: same content, severity, trace context', async (t) => {
  capture();
  const log = createLogger('tls').child({ peer: '10.0.0.7' });
  let ids: { traceId: string; spanId: string } | undefined;
  trace.getTracer('test').startActiveSpan('tls.handshake', (span) => {
    ids = span.spanContext();
    log.warn('handshake failed', { reason: 'bad_psk' });
    span.end();
  });
  log.debug('below the level: not bridged either');
  log.error(new RangeError('boom'), 'with exception');
  const recs = logExporter.getFinishedLogRecords();
  t.equal(recs.length, 2);
  const [warn, err] = recs;
  t.equal(warn!.body, 'handshake failed');
  t.equal(warn!.severityText, 'WARN');
  t.equal(warn!.severityNumber, 13);
  t.same(warn!.attributes, { component: 'tls', peer: '10.0.0.7', reason: 'bad_psk' });
  t.equal(warn!.spanContext?.traceId, ids!.traceId);
  t.equal(warn!.spanContext?.spanId, ids!.spanId);
  t.equal(warn!.instrumentationScope.name, 'cardlink-otel');
  const line = records()[0]!;
  const [sec, nanos] = warn!.hrTime;
  t.equal(new Date(sec * 1000 + Math.floor(nanos / 1e6)).toISOString(), line['timestamp'], 'same instant as the JSON line');
  t.equal(err!.severityText, 'ERROR');
  t.equal(err!.attributes['exception.type'], 'RangeError');
  t.equal(err!.attributes['exception.message'], 'boom');
  t.match(String(err!.attributes['exception.stacktrace']), /RangeError: boom/);
});

t.test('pretty format: one readable line, fields, trace, indented stack', async (t) => {
  capture({ format: 'pretty' });
  const log = createLogger('modem');
  trace.getTracer('test').startActiveSpan('at +CMGS', (span) => {
    log.warn('no final result', { command: '+CMGS', timeout_ms: 5000, note: 'has spaces' });
    span.end();
  });
  log.error(new Error('port closed'), 'write failed');
  t.equal(lines.length, 2);
  t.match(lines[0], /^\d{2}:\d{2}:\d{2}\.\d{3} WARN  \[modem\] no final result command=\+CMGS timeout_ms=5000 note="has spaces" trace=[0-9a-f]{32}:[0-9a-f]{16}\n$/);
  t.match(lines[1], /^\d{2}:\d{2}:\d{2}\.\d{3} ERROR \[modem\] write failed\n {4}Error: port closed\n {8}at /);
  t.notOk(lines[0]!.includes('\x1b['), 'no colour on a non-terminal destination');
  t.match(formatPretty({ level: 'info', timestamp: '2025-01-02T03:04:05.678Z', component: 'x', message: 'm' }, { color: true }), /\x1b\[32mINFO \x1b\[0m/);
});

t.test('never throws, whatever is logged (property)', async (t) => {
  capture({ level: 'trace' });
  const log = createLogger('fuzz');
  const circular: Record<string, unknown> = { a: 1 };
  circular['self'] = circular;
  const throwing = {
    get boom(): never {
      throw new Error('getter');
    },
  };
  log.info('edge cases', { circular, throwing, big: 10n, sym: Symbol('s'), fn: () => 1, nan: Number.NaN, date: new Date(0), map: new Map([['k', 1]]) });
  log.child({ 'quote"name': 1, 'back\\slash': 2, 'ctl\u0001': 3 }).info('odd binding names');
  t.same(JSON.parse(lines[1]!), { ...JSON.parse(lines[1]!), quote_name: 1, back_slash: 2, ctl_: 3 }, 'binding names kept valid JSON');
  const r = records()[0]!;
  lines.length = 0;
  t.equal((r['circular'] as { self: unknown }).self, '[Circular]');
  t.equal(r['big'], '10');
  t.equal(r['nan'], 'NaN');
  t.equal(r['date'], '1970-01-01T00:00:00.000Z');
  fc.assert(
    fc.property(fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true }), fc.string(), (value, msg) => {
      const before = lines.length;
      log.info(msg, { value });
      log.warn(value as Record<string, unknown>, msg);
      log.child(typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : { value }).error(msg, value as Record<string, unknown>);
      for (const l of lines.slice(before)) JSON.parse(l);
      return lines.length === before + 3;
    }),
    { numRuns: 500 },
  );
});

t.test('a level check never loads pino; the first line written does (a fresh process, the built package)', async (t) => {
  const script = `
    import { createRequire } from 'node:module';
    import { createLogger } from 'cardlink-otel';
    const cache = createRequire(import.meta.url).cache;
    const pinoLoaded = () => Object.keys(cache).some((k) => k.includes('/node_modules/pino/'));
    const log = createLogger('tls');
    const checks = [log.isLevelEnabled('info'), log.isLevelEnabled('warn'), log.level];
    log.info('not written: tls is at warn by default');
    const before = pinoLoaded();
    log.warn('written');
    console.log(JSON.stringify({ checks, before, after: pinoLoaded() }));
  `;
  const child = runNode({ t, args: ['--input-type=module', '-e', script], env: { CARDLINK_LOG_LEVEL: undefined } });
  t.equal((await child.waitForExit()).code, 0, child.stderr());
  const out = child.stdout().trim().split('\n');
  t.match(JSON.parse(out[0]!), { component: 'tls', message: 'written', level: 'warn' });
  t.same(JSON.parse(out[1]!), { checks: [false, true, 'warn'], before: false, after: true });
});
