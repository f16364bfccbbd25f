/**
 * The trigger hand-over (src/triggers.ts) on its own: which trigger a channel and a session take,
 * and the outcome and latency counted for each trigger (the end-to-end chain is test/ota-chain.test.ts).
 */
import t from 'tap';
import type { SpanContext } from '@opentelemetry/api';
import { setupHarness } from './helpers/otel-harness.js';
import { nowMs } from '../src/clock.js';
import {
  claimTrigger,
  clearTriggers,
  noteChannelOpened,
  noteTriggerSent,
  peekChain,
  setTriggerWindowMs,
  sweepTriggers,
  takeChain,
  type RecordedTrigger,
} from '../src/triggers.js';

const h = setupHarness([]);
t.teardown(() => h.shutdown());

const ctx = (n: number): SpanContext => ({ traceId: n.toString(16).padStart(32, '0'), spanId: n.toString(16).padStart(16, '0'), traceFlags: 1 });
const trigger = (atMs: number, deviceKey: string | undefined, n: number): RecordedTrigger => ({
  atMs,
  deviceType: deviceKey?.startsWith('adb') ? 'phone' : 'modem',
  triggerType: 'sms',
  spanContext: ctx(n),
  deviceKey,
});
const outcomes = async () => ({
  session: await h.value('cardlink_trigger_outcomes_total', { trigger_type: 'sms', outcome: 'session' }),
  none: await h.value('cardlink_trigger_outcomes_total', { trigger_type: 'sms', outcome: 'no_session' }),
});

t.beforeEach(() => {
  clearTriggers();
  setTriggerWindowMs(60_000);
});

t.test('an OPEN CHANNEL claims the trigger sent through its own device; the session takes both', async (t) => {
  const before = await outcomes();
  // Real times: the hand-over's own timer counts unanswered triggers against the clock.
  const T0 = nowMs();
  noteTriggerSent(trigger(T0, '/dev/ttyUSB2', 1));
  noteTriggerSent(trigger(T0 + 10, '/dev/ttyUSB3', 2));
  const claimed = claimTrigger('/dev/ttyUSB3', T0 + 500);
  t.equal(claimed?.spanContext?.spanId, ctx(2).spanId, 'not the older trigger of the other modem');
  noteChannelOpened({ atMs: T0 + 500, deviceType: 'modem', deviceKey: '/dev/ttyUSB3', spanContext: ctx(9) }, claimed);
  t.equal(peekChain(T0 + 600)?.spanId, ctx(9).spanId, 'a handshake now joins the channel');
  const chain = takeChain(T0 + 2010);
  t.equal(chain.trigger?.spanContext?.spanId, ctx(2).spanId);
  t.equal(chain.parent?.spanId, ctx(9).spanId, 'the session is a child of the channel');
  t.equal(chain.deviceType, 'modem');
  const after = await outcomes();
  t.equal(after.session - before.session, 1);
  const latency = await h.histogram('cardlink_trigger_to_session_seconds', { trigger_type: 'sms' });
  t.ok(latency.count >= 1 && latency.sum >= 2, 'the latency counts from the trigger sent (2 s)');
  // The other modem's trigger: its card never answers.
  sweepTriggers(T0 + 60_001);
  t.equal((await outcomes()).none - after.none, 1, 'no_session once the window is over');
});

t.test("a polled session on a device that reports channels does not take that device's trigger", async (t) => {
  const T0 = nowMs();
  noteChannelOpened({ atMs: T0, deviceType: 'modem', deviceKey: '/dev/ttyUSB2', spanContext: ctx(1) });
  t.equal(takeChain(T0 + 1).parent?.spanId, ctx(1).spanId);
  noteTriggerSent(trigger(T0 + 100, '/dev/ttyUSB2', 2));
  t.equal(peekChain(T0 + 150), undefined, "a handshake without a channel does not join that modem's trigger");
  noteTriggerSent(trigger(T0 + 200, undefined, 3));
  const polled = takeChain(T0 + 300);
  t.equal(polled.trigger?.spanContext?.spanId, ctx(3).spanId, 'the trigger of a device without channels (FIFO)');
  t.equal(polled.parent?.spanId, ctx(3).spanId, 'in the trace of that trigger');
  t.equal(takeChain(T0 + 400).trigger, undefined, 'the modem trigger waits for its channel');
});

t.test('bounded: a flood of triggers counts the overflow as unanswered, a trigger is taken once', async (t) => {
  const before = await outcomes();
  const T0 = nowMs();
  for (let i = 0; i < 300; i++) noteTriggerSent(trigger(T0 + i, undefined, i + 1));
  t.equal((await outcomes()).none - before.none, 44, '256 remembered, the 44 oldest are unanswered');
  let taken = 0;
  while (takeChain(T0 + 400).trigger !== undefined) taken++;
  t.equal(taken, 256);
});
