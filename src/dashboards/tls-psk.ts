/** TLS & PSK: can cards establish their PSK-TLS sessions, and why not. */
import { dashboard, percentiles, seriesBy } from './grafana.js';
import { increaseOverRange, rate, sel, sumBy } from './promql.js';

const handshakesOverRange = (extra = ''): string => sumBy([], increaseOverRange('cardlink_tls_handshakes_total', extra));

export const tlsPsk = dashboard({
  slug: 'tls-psk',
  title: 'CardLink / TLS & PSK',
  description: 'PSK-TLS handshakes on the admin server: results, failure reasons, latency, cipher suites, connections.',
  tags: ['tls'],
  items: [
    {
      kind: 'stat',
      title: 'Handshake failure rate',
      description: 'Failed handshakes among all handshakes in the time range.',
      queries: [{ expr: `${handshakesOverRange('result="failed"')} / ${handshakesOverRange()}` }],
      unit: 'percentunit',
      thresholds: [
        [null, 'green'],
        [0.05, 'yellow'],
        [0.25, 'red'],
      ],
    },
    {
      kind: 'stat',
      title: 'Handshakes in range',
      description: 'PSK-TLS handshakes (successful or not) in the time range.',
      queries: [{ expr: handshakesOverRange() }],
      decimals: 0,
    },
    {
      kind: 'stat',
      title: 'PSK mismatches in range',
      description: 'Handshakes failed for an unknown PSK identity or a wrong key in the time range.',
      queries: [{ expr: handshakesOverRange('failure_reason=~"unknown_identity|bad_psk"') }],
      decimals: 0,
      thresholds: [
        [null, 'green'],
        [1, 'yellow'],
        [5, 'red'],
      ],
    },
    {
      kind: 'stat',
      title: 'Open connections',
      description: 'Secure TLS connections currently open on the admin server.',
      queries: [{ expr: sumBy([], sel('cardlink_tls_connections_active')) }],
      decimals: 0,
    },
    { row: 'Handshakes' },
    {
      kind: 'timeseries',
      title: 'Handshakes by result',
      description: 'Handshakes per second, successful and failed.',
      queries: [seriesBy(['result'], rate('cardlink_tls_handshakes_total'))],
      unit: 'ops',
      stacked: true,
    },
    {
      kind: 'timeseries',
      title: 'Failures by reason',
      description: 'Failed handshakes per second by reason: unknown_identity, bad_psk, protocol_version, no_shared_cipher, timeout, client_abort, other.',
      queries: [seriesBy(['failure_reason'], rate('cardlink_tls_handshakes_total', 'result="failed"'))],
      unit: 'ops',
      stacked: true,
    },
    {
      kind: 'timeseries',
      title: 'Handshake latency',
      description: 'p50 and p95 of the handshake duration (TCP accept to secure or failed), by result.',
      queries: percentiles('cardlink_tls_handshake_duration_seconds', [0.5, 0.95], ['result']),
      unit: 's',
    },
    {
      kind: 'timeseries',
      title: 'PSK mismatches',
      description: 'Handshakes per second failed for an unknown identity (key store lacks the card) or a wrong key (key versions differ).',
      queries: [seriesBy(['failure_reason'], rate('cardlink_tls_handshakes_total', 'failure_reason=~"unknown_identity|bad_psk"'))],
      unit: 'ops',
    },
    { row: 'Connections and ciphers' },
    {
      kind: 'timeseries',
      title: 'Open connections',
      description: 'Secure TLS connections open on the admin server.',
      queries: [seriesBy(['instance'], sel('cardlink_tls_connections_active'))],
      decimals: 0,
    },
    {
      kind: 'piechart',
      title: 'Cipher suites',
      description: 'Successful handshakes in the time range by negotiated cipher suite (IANA name).',
      queries: [{ ...seriesBy(['cipher_suite'], increaseOverRange('cardlink_tls_handshakes_total', 'result="success"')), instant: true }],
      decimals: 0,
    },
  ],
});
