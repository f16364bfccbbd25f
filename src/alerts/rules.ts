/**
 * The Prometheus alert rules of cardlink-otel, built from the metric catalogue's names and the
 * thresholds (src/alerts/thresholds.ts). `deploy/prometheus/alerts.yml` is this with the defaults
 * (a test fails when it drifts); `cardlink-metrics alerts export FILE --set ...` writes other values.
 *
 * Every expression aggregates `by (instance, job)`: one alert per CardLink process, whichever path
 * its metrics took (a Prometheus scrape or an OTLP->Prometheus translation give the same names).
 */
import { toYaml, type YamlValue } from './yaml.js';
import { ALERT_NAMES, defaultThresholds, THRESHOLD_MEANINGS, type AlertName, type AlertThresholds } from './thresholds.js';
import { increaseInWindow } from '../dashboards/promql.js';

export interface AlertRule {
  alert: AlertName;
  expr: string;
  /** Omitted when the alert fires on the first evaluation that matches. */
  for?: string;
  labels: { severity: string; component: string };
  annotations: { summary: string; description: string; runbook: string };
}

export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

/** The rule group name in the exported file. */
export const RULE_GROUP_NAME = 'cardlink';

const percent = (ratio: number): string => `${Number((ratio * 100).toFixed(4))}%`;
const isZeroDuration = (d: string): boolean => /^(0+[a-z]+)+$/.test(d);

function rule(
  t: AlertThresholds,
  alert: AlertName,
  component: string,
  expr: string,
  annotations: AlertRule['annotations'],
): AlertRule {
  const s = t[alert];
  const r: AlertRule = { alert, expr, labels: { severity: s.severity, component }, annotations };
  if (!isZeroDuration(s.for)) r.for = s.for;
  return r;
}

/** The seed rule set for the given thresholds (defaults when omitted). */
export function alertRules(t: AlertThresholds = defaultThresholds()): RuleGroup[] {
  const apduErr = t.HighAPDUErrorRate;
  const timeouts = t.SessionTimeoutSpike;
  const tls = t.TLSHandshakeFailures;
  const dev = t.DeviceDisconnected;
  const db = t.DatabaseConnectionFailure;
  const lat = t.HighAPDULatency;
  const dur = t.LongSessionDuration;
  const psk = t.PSKMismatchBurst;
  const modem = t.ModemCommandTimeouts;
  const unanswered = t.TriggersUnanswered;
  const devices = 'cardlink_devices_connected{device_type=~"phone|modem"}';

  const rules: AlertRule[] = [
    rule(
      t,
      'HighAPDUErrorRate',
      'apdu',
      [
        `sum by (instance, job) (rate(cardlink_apdu_responses_total{status_category="error"}[${apduErr.window}]))`,
        `  / sum by (instance, job) (rate(cardlink_apdu_responses_total[${apduErr.window}]))`,
        `  > ${apduErr.threshold}`,
      ].join('\n'),
      {
        summary: `APDU error rate above ${percent(apduErr.threshold)} on {{ $labels.instance }}`,
        description: `{{ $value | humanizePercentage }} of the R-APDUs received in the last ${apduErr.window} carried an error status word (anything but 9000, 61xx, 91xx, 92xx, 9Fxx and the 62xx/63xx warnings).`,
        runbook:
          'APDU Analysis dashboard, "Responses by status word": one dominant status word names the cause (6A82 application or file not found: wrong AID in the script; 6982 security status not satisfied: keys or secure channel; 6D00 instruction not supported: wrong card profile). Errors on every card point at the script or the server, errors on one ICCID (span attribute cardlink.psk.identity on ota.session) at that card.',
      },
    ),
    rule(
      t,
      'SessionTimeoutSpike',
      'session',
      `sum by (instance, job) (${increaseInWindow('cardlink_sessions_total{status="timeout"}', timeouts.window)}) > ${timeouts.threshold}`,
      {
        summary: `OTA sessions timing out on {{ $labels.instance }}`,
        description: `{{ $value | humanize }} OTA sessions ended by timeout in the last ${timeouts.window} (threshold ${timeouts.threshold}).`,
        runbook:
          'Cards opened a PSK-TLS session and then stopped answering. Check the card side first (phone or modem still connected, radio coverage of the test SIMs, BIP channel kept open), then the admin server idle timeout. The ota.session spans with cardlink.session.status=timeout show after which APDU the card went silent.',
      },
    ),
    rule(
      t,
      'TLSHandshakeFailures',
      'tls',
      [
        `sum by (instance, job) (rate(cardlink_tls_handshakes_total{result="failed"}[${tls.window}]))`,
        `  / sum by (instance, job) (rate(cardlink_tls_handshakes_total[${tls.window}]))`,
        `  > ${tls.threshold}`,
      ].join('\n'),
      {
        summary: `PSK-TLS handshakes failing on {{ $labels.instance }}`,
        description: `{{ $value | humanizePercentage }} of the PSK-TLS handshakes failed in the last ${tls.window} (threshold ${percent(tls.threshold)}).`,
        runbook:
          'TLS & PSK dashboard, "Failures by reason": unknown_identity or bad_psk mean the key store and the card personalisation disagree (see PSKMismatchBurst); protocol_version or no_shared_cipher mean the card TLS profile (TLS 1.2, PSK-AES128-CBC-SHA256) no longer matches the server cipher list, typically after a configuration change; timeout or client_abort point at the network or at the card dropping its BIP channel. The tls.handshake spans carry the PSK identity.',
      },
    ),
    rule(
      t,
      'DeviceDisconnected',
      'device',
      // Aggregated to the alert's own labels: labels a path adds (otel_scope_*) never split or leak into it.
      [
        `max by (instance, job, device_type) (max_over_time(${devices}[${dev.window}]))`,
        `  - max by (instance, job, device_type) (${devices})`,
        `  >= ${dev.threshold}`,
      ].join('\n'),
      {
        summary: `{{ $labels.device_type }} disconnected from {{ $labels.instance }}`,
        description: `{{ $value }} {{ $labels.device_type }} device(s) fewer connected than at the maximum of the last ${dev.window}.`,
        runbook:
          'Phones: run `adb devices` on the test host (offline or unauthorized: re-plug the USB cable, check the hub power, accept the RSA prompt, restart the adb server). Modems: the serial port vanished, usually a USB re-enumeration (dmesg shows the ttyUSB change); device errors with error_type=disconnected on the Device Status dashboard mark the moment. The alert clears once the count is back or the window has passed.',
      },
    ),
    rule(
      t,
      'DatabaseConnectionFailure',
      'database',
      [
        `max by (instance, job) (cardlink_db_connections_active) <= ${db.threshold}`,
        'and',
        `max by (instance, job) (max_over_time(cardlink_db_connections_active[${db.window}])) > ${db.threshold}`,
      ].join('\n'),
      {
        summary: `Database connections lost on {{ $labels.instance }}`,
        description: `The process held more than ${db.threshold} open database connection(s) within the last ${db.window} and now holds {{ $value }}.`,
        runbook:
          'The pool lost its connections or the database went away: check that PostgreSQL is up and reachable from the host (pg_isready), its max_connections and the server log; for SQLite, that the database file and its directory are still there and writable. Applications that close their database between uses on purpose should raise the threshold or drop this rule.',
      },
    ),
    rule(
      t,
      'HighAPDULatency',
      'apdu',
      `histogram_quantile(0.95, sum by (instance, job, le) (rate(cardlink_apdu_duration_seconds_bucket[${lat.window}]))) > ${lat.threshold}`,
      {
        summary: `APDU latency p95 above ${lat.threshold}s on {{ $labels.instance }}`,
        description: `The 95th percentile of the APDU round trip over the last ${lat.window} is {{ $value | humanizeDuration }} (threshold ${lat.threshold}s).`,
        runbook:
          'APDU Analysis dashboard, "p95 by command type": slow INSTALL, LOAD or PUT KEY scripts are expected to be slower than SELECT or GET STATUS. If every command type is slow, the transport is (SMS-PP or BIP over a weak radio link, an overloaded modem, a slow admin server); compare with AT command latency on the Device Status dashboard.',
      },
    ),
    rule(
      t,
      'LongSessionDuration',
      'session',
      `histogram_quantile(0.95, sum by (instance, job, le) (rate(cardlink_session_duration_seconds_bucket[${dur.window}]))) > ${dur.threshold}`,
      {
        summary: `OTA sessions p95 above ${dur.threshold}s on {{ $labels.instance }}`,
        description: `The 95th percentile of OTA session duration over the last ${dur.window} is {{ $value | humanizeDuration }} (threshold ${dur.threshold}s).`,
        runbook:
          'Long sessions tie up cards and admin server sockets. Compare with APDU latency (slow cards or transport) and with the number of scripts per session (a larger campaign script set is legitimate). Traces of long ota.session spans show where the time goes between APDU spans.',
      },
    ),
    rule(
      t,
      'PSKMismatchBurst',
      'tls',
      `sum by (instance, job) (${increaseInWindow('cardlink_tls_handshakes_total{result="failed",failure_reason=~"unknown_identity|bad_psk"}', psk.window)}) > ${psk.threshold}`,
      {
        summary: `PSK identity or key mismatches on {{ $labels.instance }}`,
        description: `{{ $value | humanize }} PSK-TLS handshakes failed for an unknown PSK identity or a wrong key in the last ${psk.window} (threshold ${psk.threshold}).`,
        runbook:
          'Cards present identities or keys the admin server does not have: a new card batch not yet imported into the key store, a key rotation done on one side only, or the wrong key version. The tls.handshake spans carry cardlink.psk.identity: check those identities in the key store. A burst from many identities right after a deployment points at the key store itself.',
      },
    ),
    rule(
      t,
      'ModemCommandTimeouts',
      'device',
      `sum by (instance, job) (${increaseInWindow('cardlink_device_errors_total{device_type="modem",error_type="timeout"}', modem.window)}) > ${modem.threshold}`,
      {
        summary: `Modem AT commands timing out on {{ $labels.instance }}`,
        description: `{{ $value | humanize }} AT commands got no final result in time in the last ${modem.window} (threshold ${modem.threshold}).`,
        runbook:
          'The modem stopped answering: check that it is still attached (lsusb, dmesg), that nothing else holds its serial port, and its registration (AT+CREG?, AT+CSQ). The "at <command>" spans with cardlink.at.result=timeout show which commands hang; +CMGS timeouts usually mean no network, +CSIM timeouts a card that stopped responding.',
      },
    ),
    rule(
      t,
      'TriggersUnanswered',
      'session',
      [
        `sum by (instance, job) (${increaseInWindow('cardlink_trigger_outcomes_total{outcome="no_session"}', unanswered.window)})`,
        `  / sum by (instance, job) (${increaseInWindow('cardlink_trigger_outcomes_total', unanswered.window)})`,
        `  > ${unanswered.threshold}`,
      ].join('\n'),
      {
        summary: `Session triggers unanswered on {{ $labels.instance }}`,
        description: `{{ $value | humanizePercentage }} of the session triggers in the last ${unanswered.window} got no OTA session within the trigger window (threshold ${percent(unanswered.threshold)}).`,
        runbook:
          'The SMS went out but the card never called back. The trace of an unanswered sms.trigger shows how far it got: no bip.channel span means the card never opened its BIP channel (SMS not delivered, no coverage, the card applet not triggered: check the modem or phone radio log), a bip.channel with an error or without a tls.handshake child means the card could not reach the admin server (APN, address and port on the span, firewall), a failed tls.handshake points at the keys (see PSKMismatchBurst). The trigger log line "trigger got no OTA session" carries the trace id.',
      },
    ),
  ];
  return [{ name: RULE_GROUP_NAME, rules }];
}

/** Every alert rule expression, by alert name (for tests that evaluate them). */
export function alertExpressions(t?: AlertThresholds): Array<{ alert: AlertName; expr: string }> {
  return alertRules(t).flatMap((g) => g.rules.map((r) => ({ alert: r.alert, expr: r.expr })));
}

/** The rule file as YAML. */
export function renderAlertRules(t: AlertThresholds = defaultThresholds()): string {
  const groups = alertRules(t);
  const header = [
    'Prometheus alert rules for cardlink-otel.',
    'Generated from src/alerts/rules.ts (metric names from src/metrics/catalogue.ts); do not edit by hand.',
    'Regenerate with `npm run gen`, or with other thresholds:',
    '  cardlink-metrics alerts export alerts.yml --set HighAPDUErrorRate.threshold=0.1 --set HighAPDUErrorRate.for=10m',
    '',
    'Thresholds in this file:',
    ...ALERT_NAMES.map((a) => {
      const s = t[a];
      return `  ${a}: threshold ${s.threshold} (${THRESHOLD_MEANINGS[a]}), window ${s.window}, for ${s.for}, ${s.severity}`;
    }),
  ];
  const doc: { [key: string]: YamlValue } = {
    groups: groups.map((g) => ({
      name: g.name,
      rules: g.rules.map((r) => ({
        alert: r.alert,
        expr: r.expr,
        for: r.for,
        labels: r.labels,
        annotations: r.annotations,
      })),
    })),
  };
  return toYaml(doc, header);
}
