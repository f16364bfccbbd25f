/** APDU Analysis: what the admin server asks the cards, what they answer, how fast. */
import { dashboard, percentiles, seriesBy } from './grafana.js';
import { increaseOverRange, quantile, rate, sumBy } from './promql.js';

const errorRate = (by: string[] = []): string =>
  `${sumBy(by, rate('cardlink_apdu_responses_total', 'status_category="error"'))} / ${sumBy(by, rate('cardlink_apdu_responses_total'))}`;

export const apduAnalysis = dashboard({
  slug: 'apdu-analysis',
  title: 'CardLink / APDU Analysis',
  description: 'C-APDUs by command type, R-APDUs by status word and category, APDU latency and error rate.',
  tags: ['apdu'],
  items: [
    {
      kind: 'stat',
      title: 'APDU error rate',
      description: 'Share of R-APDUs with an error status word (not 9000/61xx/91xx/92xx/9Fxx, not a 62xx/63xx warning).',
      queries: [{ expr: errorRate() }],
      unit: 'percentunit',
      thresholds: [
        [null, 'green'],
        [0.01, 'yellow'],
        [0.05, 'red'],
      ],
    },
    {
      kind: 'stat',
      title: 'C-APDUs in range',
      description: 'Commands sent to cards in the time range.',
      queries: [{ expr: sumBy([], increaseOverRange('cardlink_apdu_commands_total')) }],
      decimals: 0,
    },
    {
      kind: 'stat',
      title: 'APDU p95',
      description: '95th percentile of the APDU round trip (C-APDU sent to R-APDU received).',
      queries: [{ expr: quantile(0.95, 'cardlink_apdu_duration_seconds') }],
      unit: 's',
      thresholds: [
        [null, 'green'],
        [0.5, 'yellow'],
        [1, 'red'],
      ],
    },
    {
      kind: 'stat',
      title: 'APDU throughput',
      description: 'C-APDUs per second.',
      queries: [{ expr: sumBy([], rate('cardlink_apdu_commands_total')) }],
      unit: 'ops',
    },
    { row: 'Commands' },
    {
      kind: 'timeseries',
      title: 'Commands by type',
      description: 'C-APDUs per second by command type (from CLA/INS/P1).',
      queries: [seriesBy(['command_type'], rate('cardlink_apdu_commands_total'))],
      unit: 'ops',
      stacked: true,
    },
    {
      kind: 'timeseries',
      title: 'Commands by device type',
      description: 'C-APDUs per second by the device carrying them (admin server sessions, modem AT+CSIM, phones).',
      queries: [seriesBy(['device_type'], rate('cardlink_apdu_commands_total'))],
      unit: 'ops',
      stacked: true,
    },
    { row: 'Responses' },
    {
      kind: 'timeseries',
      title: 'Responses by category',
      description: 'R-APDUs per second: success, warning (62xx/63xx), error.',
      queries: [seriesBy(['status_category'], rate('cardlink_apdu_responses_total'))],
      unit: 'ops',
      stacked: true,
    },
    {
      kind: 'table',
      title: 'Responses by status word',
      description: 'R-APDUs in the time range by status word, most frequent first.',
      queries: [
        {
          expr: `sort_desc(${sumBy(['status_word', 'status_category'], increaseOverRange('cardlink_apdu_responses_total'))})`,
          instant: true,
        },
      ],
      decimals: 0,
    },
    {
      kind: 'timeseries',
      title: 'Error rate',
      description: 'Share of R-APDUs with an error status word over time.',
      queries: [{ expr: errorRate(), legend: 'error rate' }],
      unit: 'percentunit',
      min: 0,
    },
    {
      kind: 'timeseries',
      title: 'Top error status words',
      description: 'The five error status words seen most per second.',
      queries: [
        {
          expr: `topk(5, ${sumBy(['status_word'], rate('cardlink_apdu_responses_total', 'status_category="error"'))})`,
          legend: '{{status_word}}',
        },
      ],
      unit: 'ops',
    },
    { row: 'Latency' },
    {
      kind: 'timeseries',
      title: 'APDU latency',
      description: 'p50, p95 and p99 of the APDU round trip, from the histogram buckets.',
      queries: percentiles('cardlink_apdu_duration_seconds', [0.5, 0.95, 0.99]),
      unit: 's',
    },
    {
      kind: 'timeseries',
      title: 'p95 by command type',
      description: 'APDU round trip p95 per command type: INSTALL, LOAD and PUT KEY are expected to be slower.',
      queries: [{ expr: quantile(0.95, 'cardlink_apdu_duration_seconds', ['command_type']), legend: '{{command_type}}' }],
      unit: 's',
    },
    {
      kind: 'timeseries',
      title: 'APDU bytes',
      description: 'APDU bytes per second sent to cards and received from them.',
      queries: [seriesBy(['direction'], rate('cardlink_apdu_bytes_total'))],
      unit: 'Bps',
      width: 12,
    },
    {
      kind: 'timeseries',
      title: 'SCP81 body formats',
      description:
        'SCP81 bodies per second by direction and format (expanded TS 102 226 scripts or length-prefixed frames). Any unknown means a server or card speaks a framing that is not decoded: its APDUs are not counted.',
      queries: [seriesBy(['direction', 'format'], rate('cardlink_scp81_bodies_total'))],
      unit: 'ops',
      width: 12,
    },
  ],
});
