/** The programmatic API on the real SDK, in-process. */
import t from 'tap';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { setupHarness } from './helpers/otel-harness.js';
import {
  CardlinkInputError,
  apduSpan,
  extractContext,
  injectContext,
  monitor,
  recordApdu,
  recordDeviceError,
  recordSessionEnd,
  recordTrigger,
  sessionSpan,
  traced,
  withSpan,
} from '../src/api/index.js';
import { takeTrigger, clearTriggers } from '../src/triggers.js';

const h = setupHarness([]);
t.teardown(() => h.shutdown());

t.test('recordApdu classifies exactly like the automatic paths and records everything', async (t) => {
  const r = recordApdu({ command: '80F28000024F00', response: Buffer.from('E3054F03A000009000', 'hex'), deviceType: 'simulator', durationMs: 12 });
  t.same(r, { commandType: 'GET_STATUS', statusWord: '9000', statusCategory: 'success' });
  recordApdu({ command: Buffer.from('00A4040005A000000999', 'hex'), response: '6A82', durationMs: 3 });
  t.equal(await h.value('cardlink_apdu_commands_total', { command_type: 'GET_STATUS', device_type: 'simulator' }), 1);
  t.equal(await h.value('cardlink_apdu_commands_total', { command_type: 'SELECT', device_type: 'unknown' }), 1);
  t.equal(await h.value('cardlink_apdu_responses_total', { status_word: '6A82', status_category: 'error' }), 1);
  t.equal(await h.value('cardlink_apdu_bytes_total', { direction: 'sent' }), 7 + 10);
  t.equal(await h.value('cardlink_apdu_bytes_total', { direction: 'received' }), 9 + 2);
  const hist = await h.histogram('cardlink_apdu_duration_seconds', { command_type: 'GET_STATUS' });
  t.equal(hist.count, 1);
  t.ok(Math.abs(hist.sum - 0.012) < 1e-9);
  const spans = h.finished().filter((s) => s.name.startsWith('apdu.'));
  t.same(spans.map((s) => [s.name, s.attributes['cardlink.apdu.sw'], s.status.code]), [
    ['apdu.GET_STATUS', '9000', SpanStatusCode.UNSET],
    ['apdu.SELECT', '6A82', SpanStatusCode.ERROR],
  ]);
  t.equal(spans[0]?.kind, SpanKind.CLIENT);
  h.spans.reset();
});

/** Metric values without timestamps, to compare two collections. */
async function snapshot(): Promise<string> {
  return JSON.stringify(
    (await h.collect()).map((m) => [m.descriptor.name, m.dataPoints.map((p) => [p.attributes, p.value])]),
  );
}

t.test('every recorder rejects bad input with a typed error and records nothing', async (t) => {
  const before = await snapshot();
  const bad: Array<() => unknown> = [
    () => recordApdu({ command: '00A404', response: '9000', durationMs: 1 }), // 3 bytes
    () => recordApdu({ command: '00A4040', response: '9000', durationMs: 1 }), // odd hex
    () => recordApdu({ command: '00A40400', response: '90', durationMs: 1 }), // 1-byte response
    () => recordApdu({ command: '00A40400', response: '9000', durationMs: -1 }),
    () => recordApdu({ command: '00A40400', response: '9000', durationMs: 1, deviceType: 'toaster' as never }),
    () => recordSessionEnd({ status: 'exploded' as never, durationMs: 1 }),
    () => recordTrigger({ triggerType: 'pigeon' as never }),
    () => recordDeviceError({ deviceType: 'modem', errorType: 'has spaces and {braces}' }),
    () => monitor('', () => 1),
    () => withSpan('x', {}, 5 as never),
    () => withSpan(42 as never, {}, () => 1),
    () => withSpan('', {}, () => 1),
    () => withSpan('x', 'attrs' as never, () => 1),
  ];
  for (const f of bad) t.throws(f, CardlinkInputError);
  t.equal(await snapshot(), before, 'metrics unchanged');
  t.equal(h.finished().length, 0, 'no span');
  const e = (() => {
    try {
      recordApdu({ command: 'zz', durationMs: 1 });
    } catch (err) {
      return err as CardlinkInputError;
    }
    return undefined;
  })();
  t.equal(e?.code, 'CARDLINK_INVALID_INPUT');
  t.equal(e?.field, 'command');
  // The rejected value as it was: NaN is not `null`, a BigInt or a cycle does not throw a TypeError instead.
  const cycle: Record<string, unknown> = {};
  cycle['self'] = cycle;
  for (const [value, shown] of [
    [Number.NaN, 'got NaN'],
    [Infinity, 'got Infinity'],
    [10n, 'got 10n'],
    ['5', 'got "5"'],
    [cycle, 'got an object'],
  ] as const) {
    t.throws(() => recordApdu({ command: '00A40400', response: '9000', durationMs: value as never }), { name: 'CardlinkInputError', message: new RegExp(shown) });
  }
  t.throws(() => recordTrigger({ triggerType: 7n as never }), { name: 'CardlinkInputError', message: /got 7n/ });
});

t.test('session end, trigger and device error recorders', async (t) => {
  clearTriggers();
  recordSessionEnd({ status: 'timeout', sessionType: 'triggered', deviceType: 'modem', durationMs: 30_000 });
  recordTrigger({ deviceType: 'phone' });
  recordDeviceError({ deviceType: 'modem', errorType: 'reader_removed' });
  t.equal(await h.value('cardlink_sessions_total', { status: 'timeout', session_type: 'triggered', device_type: 'modem' }), 1);
  t.equal((await h.histogram('cardlink_session_duration_seconds', { status: 'timeout' })).count, 1);
  t.equal(await h.value('cardlink_triggers_sent_total', { trigger_type: 'sms' }), 1);
  t.equal(await h.value('cardlink_device_errors_total', { device_type: 'modem', error_type: 'reader_removed' }), 1);
  t.equal(takeTrigger(performance.timeOrigin + performance.now(), 60_000)?.deviceType, 'phone', 'the TLS side will see the trigger');
});

t.test('withSpan (sync, async, throwing) and the traced decorator', async (t) => {
  t.equal(withSpan('sync.op', { a: 1 }, () => 42), 42);
  t.equal(await withSpan('async.op', {}, async () => 'x'), 'x');
  t.throws(() => withSpan('sync.fail', {}, () => {
    throw new Error('boom');
  }), /boom/);
  await t.rejects(withSpan('async.fail', {}, async () => {
    throw new Error('later');
  }), /later/);
  class Provisioner {
    @traced()
    personalize(n: number): number {
      return n * 2;
    }
    @traced('provision.load')
    async load(): Promise<string> {
      return trace.getActiveSpan() ? 'in-span' : 'no-span';
    }
    @traced()
    static count(): number {
      return 3;
    }
  }
  const p = new Provisioner();
  t.equal(p.personalize(21), 42);
  t.equal(await p.load(), 'in-span');
  t.equal(Provisioner.count(), 3);
  t.throws(() => traced(''), CardlinkInputError, 'a bad name is refused where the decorator is applied, not at every call');
  const byName = new Map(h.finished().map((s) => [s.name, s]));
  t.equal(byName.get('sync.op')?.attributes['a'], 1);
  t.equal(byName.get('sync.fail')?.status.code, SpanStatusCode.ERROR);
  t.equal(byName.get('async.fail')?.events[0]?.name, 'exception');
  t.ok(byName.has('Provisioner.personalize'));
  t.ok(byName.has('Provisioner.count'), 'a static method: named after its class, not Function');
  t.ok(byName.has('provision.load'));
  h.spans.reset();
});

t.test('sessionSpan + apduSpan: the same span tree as the TLS path', async (t) => {
  const transport = async (capdu: string): Promise<string> => (capdu.startsWith('00A4') ? '9000' : '6D00');
  const out = await sessionSpan({ identity: 'reader-1', deviceType: 'simulator' }, async () => {
    const a = await apduSpan({ command: '00A4040008A000000151000000', deviceType: 'simulator' }, () => transport('00A4'));
    // No device type given: the session's.
    const b = await apduSpan({ command: '80500000088877665544332211' }, () => transport('8050'));
    recordApdu({ command: '80CA006600', response: '9000', durationMs: 1 });
    recordApdu({ command: '80CA006600', response: '9000', durationMs: 1, deviceType: 'modem' });
    return [a.statusWord, b.statusWord, b.commandType];
  });
  t.same(out, ['9000', '6D00', 'INITIALIZE_UPDATE']);
  t.equal(await h.value('cardlink_apdu_commands_total', { command_type: 'INITIALIZE_UPDATE', device_type: 'simulator' }), 1, "apduSpan: the session's device type");
  t.equal(await h.value('cardlink_apdu_commands_total', { command_type: 'GET_DATA', device_type: 'simulator' }), 1, "recordApdu: the session's device type");
  t.equal(await h.value('cardlink_apdu_commands_total', { command_type: 'GET_DATA', device_type: 'modem' }), 1, 'a device type given wins');
  t.equal(h.finished().find((s) => s.name === 'apdu.INITIALIZE_UPDATE')?.attributes['cardlink.device.type'], 'simulator');
  const spans = h.finished();
  const session = spans.find((s) => s.name === 'ota.session');
  t.equal(session?.kind, SpanKind.SERVER);
  t.equal(session?.attributes['cardlink.session.status'], 'completed');
  for (const s of spans.filter((x) => x.name.startsWith('apdu.'))) t.equal(s.parentSpanContext?.spanId, session?.spanContext().spanId);
  t.equal(await h.value('cardlink_sessions_total', { status: 'completed', session_type: 'polled', device_type: 'simulator' }), 1);
  t.equal(await h.value('cardlink_sessions_active'), 0);
  await t.rejects(sessionSpan({}, async () => {
    const e = new Error('card silent');
    e.name = 'TimeoutError';
    throw e;
  }));
  t.equal(await h.value('cardlink_sessions_total', { status: 'timeout', device_type: 'unknown' }), 1);
  h.spans.reset();
});

t.test('injectContext / extractContext carry one trace', async (t) => {
  const carrier: Record<string, string> = {};
  let traceId = '';
  withSpan('parent', {}, (span) => {
    traceId = span.spanContext().traceId;
    injectContext(carrier);
  });
  t.match(carrier['traceparent'], new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  const ctx = extractContext(carrier);
  context.with(ctx, () => withSpan('child-process-side', {}, () => undefined));
  const child = h.finished().find((s) => s.name === 'child-process-side');
  t.equal(child?.spanContext().traceId, traceId);
  h.spans.reset();
});

t.test('monitor: duration histogram, CPU and heap on the span, errors passed on', async (t) => {
  const v = monitor('profile.load', () => {
    let x = 0;
    for (let i = 0; i < 1e5; i++) x += i;
    return x;
  });
  t.equal(v, 4999950000);
  await t.rejects(monitor('profile.fail', async () => Promise.reject(new Error('nope'))), /nope/);
  t.equal((await h.histogram('cardlink_operation_duration_seconds', { operation: 'profile.load' })).count, 1);
  t.equal((await h.histogram('cardlink_operation_duration_seconds', { operation: 'profile.fail' })).count, 1);
  const span = h.finished().find((s) => s.name === 'profile.load');
  t.type(span?.attributes['cardlink.operation.cpu_ms'], 'number');
  t.type(span?.attributes['cardlink.operation.heap_delta_bytes'], 'number');
  t.equal(h.finished().find((s) => s.name === 'profile.fail')?.status.code, SpanStatusCode.ERROR);
});

t.test('apduSpan: whatever the card answered goes back to the application; no R-APDU is a command without a status word', async (t) => {
  for (const answer of ['', new Uint8Array(0), '90', Uint8Array.of(0x90)]) {
    const commands = await h.value('cardlink_apdu_commands_total');
    const responses = await h.value('cardlink_apdu_responses_total');
    const r = await apduSpan({ command: '00B0000010' }, async () => answer);
    t.equal(r.response, answer, 'the same answer object');
    t.equal(r.statusWord, undefined);
    t.equal(await h.value('cardlink_apdu_commands_total'), commands + 1, 'the command is counted');
    t.equal(await h.value('cardlink_apdu_responses_total'), responses, 'no status word');
  }
});

t.test('the calls an application awaits never throw synchronously: bad input rejects the promise', async (t) => {
  let apdu: Promise<unknown> | undefined;
  let session: Promise<unknown> | undefined;
  t.doesNotThrow(() => {
    apdu = apduSpan({ command: 'zz' }, () => '9000');
    session = sessionSpan({ deviceType: 'toaster' as never }, async () => 1);
  });
  await t.rejects(apdu!, CardlinkInputError);
  await t.rejects(session!, CardlinkInputError);
  // Not a function: a typed error, before anything is recorded (no failed session, no duration).
  const before = await snapshot();
  const spansBefore = h.finished().length;
  await t.rejects(sessionSpan({ deviceType: 'modem' }, null as never), { name: 'CardlinkInputError', message: /fn.*expected a function, got null/ });
  await t.rejects(apduSpan({ command: '00A4040000' }, 'x' as never), { name: 'CardlinkInputError', message: /send/ });
  t.throws(() => monitor('op1', 42 as never), { name: 'CardlinkInputError', message: /got 42/ });
  t.equal(await snapshot(), before, 'nothing recorded');
  t.equal(h.finished().length, spansBefore, 'no span');
  // monitor() is sync or async as its function is: an async one settles its promise, whatever it does.
  let monitored: Promise<unknown> | undefined;
  t.doesNotThrow(() => (monitored = monitor('profile.reject', () => Promise.reject(new Error('late')))));
  await t.rejects(monitored!, /late/);
});
