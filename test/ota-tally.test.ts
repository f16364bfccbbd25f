/**
 * A session's APDU metrics are added up in its tally and handed to the instruments together: a
 * collection never reads less than was counted (mid-session included), nothing is counted twice,
 * and the bounded logs hand over when full instead of dropping or growing.
 */
import t from 'tap';
import { metrics } from '@opentelemetry/api';
import { instrumentsFor } from '../src/metrics/instruments.js';
import { formatIndex, releaseTally, SCRIPT_CODE, SENT, takeTally } from '../instrumentations/tls/ota-tally.js';
import { COMMAND_TYPE_CODE, COMMAND_TYPES } from '../instrumentations/shared/apdu.js';
import { setupHarness } from './helpers/otel-harness.js';

const h = setupHarness([]);
const instruments = instrumentsFor(metrics.getMeterProvider());
const owner = { instruments: () => instruments };
const SELECT = { command_type: 'SELECT', device_type: 'modem' };
const SW9000 = { status_word: '9000', status_category: 'success' };
const SW6A82 = { status_word: '6A82', status_category: 'error' };

t.test('what a tally holds is read by the next collection, without a flush, and only once', async (t) => {
  const before = { select: await h.value('cardlink_apdu_commands_total', SELECT), ok: await h.value('cardlink_apdu_responses_total', SW9000), err: await h.value('cardlink_apdu_responses_total', SW6A82), sent: await h.value('cardlink_apdu_bytes_total', { direction: 'sent' }), bodies: await h.value('cardlink_scp81_bodies_total', { direction: 'sent', format: 'length_prefixed' }), durations: (await h.histogram('cardlink_apdu_duration_seconds', { command_type: 'SELECT' })).count };
  const tally = takeTally(owner, 'modem');
  for (let i = 0; i < 3; i++) tally.command(COMMAND_TYPE_CODE.SELECT);
  t.equal(tally.response(0x9000), 'success', 'the category of 9000');
  t.equal(tally.response(0x6a82), 'error', 'the category of 6A82');
  tally.response(0x9000);
  tally.bytes(SENT, 15);
  tally.bytes(SENT, 0);
  tally.body(SENT, formatIndex('length_prefixed'));
  tally.duration(COMMAND_TYPE_CODE.SELECT, 0.002);
  tally.duration(COMMAND_TYPE_CODE.SELECT, 0.004);
  t.equal(await h.value('cardlink_apdu_commands_total', SELECT), before.select + 3, 'commands, mid-session');
  t.equal(await h.value('cardlink_apdu_responses_total', SW9000), before.ok + 2, '9000 twice');
  t.equal(await h.value('cardlink_apdu_responses_total', SW6A82), before.err + 1, '6A82 once');
  t.equal(await h.value('cardlink_apdu_bytes_total', { direction: 'sent' }), before.sent + 15, 'bytes');
  t.equal(await h.value('cardlink_scp81_bodies_total', { direction: 'sent', format: 'length_prefixed' }), before.bodies + 1, 'body');
  const d = await h.histogram('cardlink_apdu_duration_seconds', { command_type: 'SELECT' });
  t.equal(d.count, before.durations + 2, 'durations');
  // Read again, and after more: never counted twice.
  t.equal(await h.value('cardlink_apdu_commands_total', SELECT), before.select + 3, 'a second collection adds nothing');
  tally.command(COMMAND_TYPE_CODE.SELECT);
  releaseTally(tally);
  t.equal(await h.value('cardlink_apdu_commands_total', SELECT), before.select + 4, 'the rest handed over at the end');
  t.equal((await h.histogram('cardlink_apdu_duration_seconds', { command_type: 'SELECT' })).count, before.durations + 2, 'durations once');
});

t.test('a tally taken again counts with its new session device type', async (t) => {
  const a = takeTally(owner, 'phone');
  a.command(COMMAND_TYPE_CODE.GET_DATA);
  releaseTally(a);
  const b = takeTally(owner, 'unknown');
  b.command(COMMAND_TYPE_CODE.GET_DATA);
  b.command(COMMAND_TYPE_CODE.GET_DATA);
  releaseTally(b);
  t.equal(await h.value('cardlink_apdu_commands_total', { command_type: 'GET_DATA', device_type: 'phone' }), 1);
  t.equal(await h.value('cardlink_apdu_commands_total', { command_type: 'GET_DATA', device_type: 'unknown' }), 2);
});

t.test('full logs hand over and go on: every command type, status word and duration is counted', async (t) => {
  const before = new Map<string, number>();
  for (const type of COMMAND_TYPES) before.set(type, await h.value('cardlink_apdu_commands_total', { command_type: type, device_type: 'phone' }));
  const sws = Array.from({ length: 150 }, (_, i) => 0x6100 + i);
  const tally = takeTally(owner, 'phone');
  for (let round = 0; round < 3; round++) {
    for (let code = 0; code < COMMAND_TYPES.length; code++) tally.command(code);
    for (const sw of sws) tally.response(sw);
  }
  for (let i = 0; i < 200; i++) tally.duration(COMMAND_TYPE_CODE.GET_STATUS, i / 1000);
  tally.duration(SCRIPT_CODE, 0.5);
  for (const type of COMMAND_TYPES) t.equal(await h.value('cardlink_apdu_commands_total', { command_type: type, device_type: 'phone' }), before.get(type)! + 3, type);
  for (const sw of sws) t.equal(await h.value('cardlink_apdu_responses_total', { status_word: sw.toString(16).toUpperCase() }), 3, sw.toString(16));
  const d = await h.histogram('cardlink_apdu_duration_seconds', { command_type: 'GET_STATUS' });
  t.equal(d.count, 200, 'every duration');
  t.equal(Math.round(d.sum * 1000), (199 * 200) / 2, 'with its value');
  t.equal((await h.histogram('cardlink_apdu_duration_seconds', { command_type: 'SCRIPT' })).count, 1, 'a script timed as SCRIPT');
  releaseTally(tally);
});
