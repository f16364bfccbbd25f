/** Device Status: the phones (adb) and modems (AT) that carry the cards under test. */
import { dashboard, seriesBy } from './grafana.js';
import { increaseOverRange, quantile, rate, sel, sumBy } from './promql.js';

export const deviceStatus = dashboard({
  slug: 'device-status',
  title: 'CardLink / Device Status',
  description: 'Phones and modems connected, device errors, AT command and adb operation latency.',
  tags: ['devices'],
  items: [
    {
      kind: 'stat',
      title: 'Phones connected',
      description: 'Android phones in state "device" per `adb devices`.',
      queries: [{ expr: sumBy([], sel('cardlink_devices_connected', 'device_type="phone"')) }],
      decimals: 0,
    },
    {
      kind: 'stat',
      title: 'Modems connected',
      description: 'Modem serial ports open.',
      queries: [{ expr: sumBy([], sel('cardlink_devices_connected', 'device_type="modem"')) }],
      decimals: 0,
    },
    {
      kind: 'stat',
      title: 'Device errors in range',
      description: 'Errors reported by phones and modems in the time range.',
      queries: [{ expr: sumBy([], increaseOverRange('cardlink_device_errors_total')) }],
      decimals: 0,
      thresholds: [
        [null, 'green'],
        [1, 'yellow'],
        [10, 'red'],
      ],
    },
    {
      kind: 'stat',
      title: 'Modem timeouts in range',
      description: 'AT commands that got no final result in time, in the time range.',
      queries: [{ expr: sumBy([], increaseOverRange('cardlink_device_errors_total', 'device_type="modem",error_type="timeout"')) }],
      decimals: 0,
      thresholds: [
        [null, 'green'],
        [1, 'yellow'],
        [3, 'red'],
      ],
    },
    { row: 'Devices' },
    {
      kind: 'timeseries',
      title: 'Devices connected',
      description: 'Connected phones and modems over time: a drop is a disconnect.',
      queries: [seriesBy(['device_type'], sel('cardlink_devices_connected'))],
      decimals: 0,
    },
    {
      kind: 'timeseries',
      title: 'Device errors',
      description: 'Device errors per second by device type and error type.',
      queries: [seriesBy(['device_type', 'error_type'], rate('cardlink_device_errors_total'))],
      unit: 'ops',
      stacked: true,
    },
    {
      kind: 'table',
      title: 'Top device errors',
      description: 'The ten most frequent device errors in the time range.',
      queries: [
        {
          expr: `topk(10, ${sumBy(['device_type', 'error_type'], increaseOverRange('cardlink_device_errors_total'))} > 0)`,
          instant: true,
        },
      ],
      decimals: 0,
      width: 24,
    },
    { row: 'Modems (AT)' },
    {
      kind: 'timeseries',
      title: 'AT command latency p95',
      description: 'p95 of the AT command round trip (command written to final result) by command.',
      queries: [{ expr: quantile(0.95, 'cardlink_at_command_duration_seconds', ['command']), legend: '{{command}}' }],
      unit: 's',
    },
    {
      kind: 'timeseries',
      title: 'AT commands',
      description: 'AT commands answered per second, by command.',
      queries: [seriesBy(['command'], rate('cardlink_at_command_duration_seconds_count'))],
      unit: 'ops',
      stacked: true,
    },
    { row: 'Phones (adb)' },
    {
      kind: 'timeseries',
      title: 'adb operation latency p95',
      description: 'p95 of adb process duration (spawn to exit) by subcommand.',
      queries: [{ expr: quantile(0.95, 'cardlink_adb_operation_duration_seconds', ['operation']), legend: '{{operation}}' }],
      unit: 's',
    },
    {
      kind: 'timeseries',
      title: 'adb operations',
      description: 'adb processes per second, by subcommand.',
      queries: [seriesBy(['operation'], rate('cardlink_adb_operation_duration_seconds_count'))],
      unit: 'ops',
      stacked: true,
    },
  ],
});
