/** OTA Overview: are cards getting through their OTA sessions, how long do they take, what starts them. */
import { dashboard, percentiles, seriesBy, shareFields } from './grafana.js';
import { increaseOverRange, rate, sel, sumBy } from './promql.js';

const sessionsOverRange = (extra = ''): string => sumBy([], increaseOverRange('cardlink_sessions_total', extra));

export const otaOverview = dashboard({
  slug: 'ota-overview',
  title: 'CardLink / OTA Overview',
  description: 'SCP81 OTA sessions: activity, outcome, duration and triggers.',
  tags: ['ota'],
  items: [
    {
      kind: 'stat',
      title: 'Active sessions',
      description: 'OTA (SCP81) sessions in progress now.',
      queries: [{ expr: sumBy([], sel('cardlink_sessions_active')) }],
      decimals: 0,
    },
    {
      kind: 'stat',
      title: 'Session success rate',
      description: 'Sessions that completed (admin server answered 204) among all sessions that ended in the time range.',
      queries: [{ expr: `${sessionsOverRange('status="completed"')} / ${sessionsOverRange()}` }],
      ...shareFields(0.9, 0.98),
    },
    {
      kind: 'stat',
      title: 'Sessions ended',
      description: 'OTA sessions that ended in the time range, whatever their status.',
      queries: [{ expr: sessionsOverRange() }],
      decimals: 0,
    },
    {
      kind: 'stat',
      title: 'Open TLS connections',
      description: 'Secure PSK-TLS connections currently open on the admin server.',
      queries: [{ expr: sumBy([], sel('cardlink_tls_connections_active')) }],
      decimals: 0,
    },
    { row: 'Sessions' },
    {
      kind: 'timeseries',
      title: 'Sessions by status',
      description: 'Sessions ending per second: completed, failed (card hung up mid-script, HTTP error) or timeout.',
      queries: [seriesBy(['status'], rate('cardlink_sessions_total'))],
      unit: 'ops',
      stacked: true,
    },
    {
      kind: 'timeseries',
      title: 'Session duration',
      description: 'p50 and p95 of OTA session duration (first SCP81 POST to its end), from the histogram buckets.',
      queries: percentiles('cardlink_session_duration_seconds', [0.5, 0.95]),
      unit: 's',
    },
    {
      kind: 'timeseries',
      title: 'Sessions by type',
      description: 'How sessions started: triggered (after an SMS-PP trigger), polled, resumed.',
      queries: [seriesBy(['session_type'], rate('cardlink_sessions_total'))],
      unit: 'ops',
      stacked: true,
    },
    {
      kind: 'timeseries',
      title: 'Active sessions by device type',
      description: 'Sessions in progress, by the kind of device holding the card.',
      queries: [seriesBy(['device_type'], sel('cardlink_sessions_active'))],
      decimals: 0,
    },
    { row: 'Triggers' },
    {
      kind: 'timeseries',
      title: 'Triggers sent',
      description: 'Session triggers sent to cards per second: SMS-PP pushes and polls.',
      queries: [seriesBy(['trigger_type'], rate('cardlink_triggers_sent_total'))],
      unit: 'ops',
    },
    {
      kind: 'stat',
      title: 'Triggers sent in range',
      description: 'Triggers sent in the time range.',
      queries: [{ expr: sumBy([], increaseOverRange('cardlink_triggers_sent_total')) }],
      decimals: 0,
    },
    {
      kind: 'stat',
      title: 'Triggered sessions in range',
      description: 'Sessions that followed a trigger, in the time range (compare with triggers sent: the gap is cards that never called back).',
      queries: [{ expr: sessionsOverRange('session_type="triggered"') }],
      decimals: 0,
    },
    {
      kind: 'timeseries',
      title: 'Trigger to session',
      description:
        'p50 and p95 of the time from a trigger sent to the OTA session the card opened in answer: the SMS delivery, the card waking up, its BIP channel and the PSK-TLS handshake together.',
      queries: percentiles('cardlink_trigger_to_session_seconds', [0.5, 0.95]),
      unit: 's',
    },
    {
      kind: 'timeseries',
      title: 'Unanswered triggers',
      description:
        'Triggers per second that got no OTA session within the trigger window (CARDLINK_TRIGGER_WINDOW_S): the card never called back (no coverage, SMS not delivered, BIP or TLS failure on the card side).',
      queries: [seriesBy(['trigger_type'], rate('cardlink_trigger_outcomes_total', 'outcome="no_session"'))],
      unit: 'ops',
    },
    {
      kind: 'stat',
      title: 'Unanswered triggers in range',
      description: 'Triggers in the time range that got no OTA session within the trigger window.',
      queries: [{ expr: sumBy([], increaseOverRange('cardlink_trigger_outcomes_total', 'outcome="no_session"')) }],
      decimals: 0,
    },
    {
      kind: 'timeseries',
      title: 'BIP commands',
      description:
        "The cards' SIM Toolkit proactive commands per second, as modems (STK URCs) and phones (radio log) report them: OPEN CHANNEL, SEND DATA, RECEIVE DATA, CLOSE CHANNEL, GET CHANNEL STATUS, OTHER.",
      queries: [seriesBy(['command', 'device_type'], rate('cardlink_bip_commands_total'))],
      unit: 'ops',
      stacked: true,
    },
  ],
});
