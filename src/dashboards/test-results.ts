/** Test Results: what the CardLink test runner reports, by suite. */
import { dashboard, seriesBy, shareFields } from './grafana.js';
import { increaseOverRange, quantile, rate, sumBy } from './promql.js';

const testsOverRange = (by: string[], extra = ''): string => sumBy(by, increaseOverRange('cardlink_tests_total', extra));
/** Passed tests among those that ran (skipped ones excluded), in the time range. */
const passRate = (by: string[]): string => `${testsOverRange(by, 'status="passed"')} / ${testsOverRange(by, 'status!="skipped"')}`;
/** Overall and per suite alike: red under 90 %, green from 99 %. */
const passRateFields = shareFields(0.9, 0.99);

export const testResults = dashboard({
  slug: 'test-results',
  title: 'CardLink / Test Results',
  description: 'Test runner results: pass rate, outcomes, durations, most-failing suites.',
  tags: ['tests'],
  items: [
    {
      kind: 'stat',
      title: 'Pass rate',
      description: 'Passed tests among tests that ran (skipped ones excluded) in the time range.',
      queries: [{ expr: passRate([]) }],
      ...passRateFields,
    },
    {
      kind: 'stat',
      title: 'Tests in range',
      description: 'Tests reported in the time range, whatever their status.',
      queries: [{ expr: testsOverRange([]) }],
      decimals: 0,
    },
    {
      kind: 'stat',
      title: 'Failed or errored',
      description: 'Tests that failed or errored in the time range.',
      queries: [{ expr: testsOverRange([], 'status=~"failed|error"') }],
      decimals: 0,
      thresholds: [
        [null, 'green'],
        [1, 'red'],
      ],
    },
    {
      kind: 'stat',
      title: 'Skipped',
      description: 'Tests skipped in the time range.',
      queries: [{ expr: testsOverRange([], 'status="skipped"') }],
      decimals: 0,
    },
    { row: 'Outcomes' },
    {
      kind: 'timeseries',
      title: 'Tests by status',
      description: 'Tests per second by status: passed, failed, skipped, error.',
      queries: [seriesBy(['status'], rate('cardlink_tests_total'))],
      unit: 'ops',
      stacked: true,
    },
    {
      kind: 'table',
      title: 'Most-failing suites',
      description: 'The ten suites with the most failed or errored tests in the time range.',
      queries: [{ expr: `topk(10, ${testsOverRange(['suite_name'], 'status=~"failed|error"')} > 0)`, instant: true }],
      decimals: 0,
    },
    {
      kind: 'bargauge',
      title: 'Pass rate by suite',
      description: 'Per suite: passed among tests that ran, in the time range.',
      queries: [{ expr: passRate(['suite_name']), legend: '{{suite_name}}', instant: true }],
      ...passRateFields,
      width: 24,
    },
    { row: 'Durations' },
    {
      kind: 'timeseries',
      title: 'Test duration p95 by suite',
      description: 'p95 test duration per suite, from the histogram buckets.',
      queries: [{ expr: quantile(0.95, 'cardlink_test_duration_seconds', ['suite_name']), legend: '{{suite_name}}' }],
      unit: 's',
    },
    {
      kind: 'timeseries',
      title: 'Average test duration by suite',
      description: 'Mean test duration per suite (sum of durations over count).',
      queries: [
        {
          expr: `${sumBy(['suite_name'], rate('cardlink_test_duration_seconds_sum'))} / ${sumBy(['suite_name'], rate('cardlink_test_duration_seconds_count'))}`,
          legend: '{{suite_name}}',
        },
      ],
      unit: 's',
    },
  ],
});
