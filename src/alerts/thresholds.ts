/**
 * Alert thresholds: every seed alert has a threshold, a look-back window, a `for` duration and a
 * severity, all overridable at export time (`cardlink-metrics alerts export FILE --set
 * HighAPDUErrorRate.threshold=0.1`). Validation is strict because a typo here silently disables an
 * alert in production: unknown alert or setting names, non-numbers, out-of-range ratios and
 * malformed durations are rejected with a message naming the setting.
 */

export const ALERT_NAMES = [
  'HighAPDUErrorRate',
  'SessionTimeoutSpike',
  'TLSHandshakeFailures',
  'DeviceDisconnected',
  'DatabaseConnectionFailure',
  'HighAPDULatency',
  'LongSessionDuration',
  'PSKMismatchBurst',
  'ModemCommandTimeouts',
  'TriggersUnanswered',
] as const;
export type AlertName = (typeof ALERT_NAMES)[number];

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface AlertSetting {
  /** The number the expression compares against (its meaning is in THRESHOLD_MEANINGS). */
  threshold: number;
  /** Range of the rate()/increase()/max_over_time() look-back, a Prometheus duration. */
  window: string;
  /** How long the condition must hold before the alert fires (`0s`: at once). */
  for: string;
  severity: Severity;
}

export type AlertThresholds = Record<AlertName, AlertSetting>;

/** What each threshold means, for help texts and the README. */
export const THRESHOLD_MEANINGS: Record<AlertName, string> = {
  HighAPDUErrorRate: 'ratio (0-1) of R-APDUs with an error status word',
  SessionTimeoutSpike: 'OTA sessions ended by timeout within the window (count)',
  TLSHandshakeFailures: 'ratio (0-1) of failed PSK-TLS handshakes',
  DeviceDisconnected: 'devices (phones or modems) lost compared with the maximum within the window (count)',
  DatabaseConnectionFailure: 'open database connections at or below which the process counts as disconnected',
  HighAPDULatency: 'p95 APDU round trip, seconds',
  LongSessionDuration: 'p95 OTA session duration, seconds',
  PSKMismatchBurst: 'handshakes failed for an unknown PSK identity or a wrong key within the window (count)',
  ModemCommandTimeouts: 'AT commands timed out within the window (count)',
  TriggersUnanswered: 'ratio (0-1) of session triggers that got no OTA session',
};

export const DEFAULT_THRESHOLDS: Readonly<AlertThresholds> = Object.freeze({
  HighAPDUErrorRate: { threshold: 0.05, window: '5m', for: '5m', severity: 'warning' },
  SessionTimeoutSpike: { threshold: 5, window: '10m', for: '0s', severity: 'warning' },
  TLSHandshakeFailures: { threshold: 0.25, window: '5m', for: '5m', severity: 'critical' },
  DeviceDisconnected: { threshold: 1, window: '15m', for: '2m', severity: 'warning' },
  DatabaseConnectionFailure: { threshold: 0, window: '15m', for: '1m', severity: 'critical' },
  HighAPDULatency: { threshold: 1, window: '5m', for: '5m', severity: 'warning' },
  LongSessionDuration: { threshold: 60, window: '15m', for: '10m', severity: 'warning' },
  PSKMismatchBurst: { threshold: 5, window: '5m', for: '0s', severity: 'warning' },
  ModemCommandTimeouts: { threshold: 3, window: '10m', for: '0s', severity: 'warning' },
  TriggersUnanswered: { threshold: 0.2, window: '15m', for: '5m', severity: 'warning' },
} satisfies AlertThresholds);

/** Thresholds that are ratios and must lie in [0, 1]. */
const RATIO_ALERTS: ReadonlySet<AlertName> = new Set<AlertName>(['HighAPDUErrorRate', 'TLSHandshakeFailures', 'TriggersUnanswered']);
/** Thresholds below which a rule is always true (DeviceDisconnected compares `>=`: 0 devices lost always holds). */
const MIN_THRESHOLDS: Partial<Record<AlertName, number>> = { DeviceDisconnected: 1 };

export class ThresholdError extends Error {
  override readonly name = 'ThresholdError';
}

/** Prometheus durations as rules accept them: `30s`, `5m`, `1h30m`, `0s` (units ms s m h d w y, descending). */
export function isPromDuration(s: string): boolean {
  if (s.length === 0 || s.length > 32) return false;
  const units = ['y', 'w', 'd', 'h', 'm', 's', 'ms'];
  let i = 0;
  let lastUnit = -1;
  while (i < s.length) {
    const start = i;
    while (i < s.length && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
    if (i === start) return false;
    const unit = s.startsWith('ms', i) ? 'ms' : s[i] ?? '';
    const u = units.indexOf(unit);
    if (u <= lastUnit) return false;
    lastUnit = u;
    i += unit.length;
  }
  return true;
}

/** A fresh, mutable copy of the defaults. */
export function defaultThresholds(): AlertThresholds {
  const out = {} as AlertThresholds;
  for (const name of ALERT_NAMES) out[name] = { ...DEFAULT_THRESHOLDS[name] };
  return out;
}

/**
 * Applies `Alert.setting=value` overrides (setting: threshold, window, for, severity) on top of the
 * defaults. Throws ThresholdError with a one-line message on the first bad override.
 */
export function resolveThresholds(overrides: readonly string[] = []): AlertThresholds {
  const t = defaultThresholds();
  for (const raw of overrides) {
    const eq = raw.indexOf('=');
    const key = eq > 0 ? raw.slice(0, eq).trim() : '';
    const value = eq > 0 ? raw.slice(eq + 1).trim() : '';
    const dot = key.indexOf('.');
    const alert = key.slice(0, dot) as AlertName;
    const setting = key.slice(dot + 1);
    if (eq <= 0 || dot <= 0 || value === '') {
      throw new ThresholdError(`threshold override ${JSON.stringify(raw)} is not Alert.setting=value (e.g. HighAPDUErrorRate.threshold=0.1)`);
    }
    if (!ALERT_NAMES.includes(alert)) {
      throw new ThresholdError(`unknown alert ${JSON.stringify(alert)} in ${JSON.stringify(raw)}; alerts are ${ALERT_NAMES.join(', ')}`);
    }
    const target = t[alert];
    switch (setting) {
      case 'threshold': {
        const n = /^[0-9]+(\.[0-9]+)?$/.test(value) ? Number(value) : Number.NaN;
        if (!Number.isFinite(n)) throw new ThresholdError(`${key}=${JSON.stringify(value)}: expected a non-negative number`);
        if (RATIO_ALERTS.has(alert) && n > 1) throw new ThresholdError(`${key}=${value}: expected a ratio from 0 to 1`);
        const min = MIN_THRESHOLDS[alert];
        if (min !== undefined && n < min) throw new ThresholdError(`${key}=${value}: at least ${min} (below it the rule is always true)`);
        target.threshold = n;
        break;
      }
      case 'window':
      case 'for':
        if (!isPromDuration(value)) throw new ThresholdError(`${key}=${JSON.stringify(value)}: expected a Prometheus duration such as 30s, 5m or 1h`);
        if (setting === 'window' && /^0+[a-z]+$/.test(value)) throw new ThresholdError(`${key}=${value}: the window must be longer than 0`);
        target[setting] = value;
        break;
      case 'severity':
        if (!SEVERITIES.includes(value as Severity)) throw new ThresholdError(`${key}=${JSON.stringify(value)}: expected one of ${SEVERITIES.join(', ')}`);
        target.severity = value as Severity;
        break;
      default:
        throw new ThresholdError(`unknown setting ${JSON.stringify(setting)} in ${JSON.stringify(raw)}; settings are threshold, window, for, severity`);
    }
  }
  return t;
}
