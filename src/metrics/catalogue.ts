/**
 * The metric catalogue: the one source of truth for every CardLink instrument.
 *
 * The Prometheus names are a public contract (docs/architecture.md, "The metric catalogue"). OTel names are chosen so that
 * the standard OTLP->Prometheus translation (dots to underscores, unit suffix, `_total` on monotonic
 * counters) gives exactly the same Prometheus name as our pull endpoint: one set of dashboards and
 * alert rules serves both paths. Dashboards, alert rules and docs/metrics.md are generated from this.
 */

import { BODY_FORMATS } from '../../instrumentations/tls/scp81.js';
import { BIP_COMMANDS } from '../../instrumentations/shared/stk.js';

export type InstrumentKind =
  | 'counter'
  | 'histogram'
  | 'updowncounter'
  | 'observable_counter'
  | 'observable_gauge';

export interface MetricDefinition {
  /** Key used in code: `instruments.apduCommands`. */
  readonly key: string;
  /** OTel instrument name (dotted). */
  readonly name: string;
  /** UCUM unit as the OTel instrument carries it. */
  readonly unit: string;
  readonly kind: InstrumentKind;
  readonly description: string;
  /** Prometheus name served on /metrics (and produced by an OTLP->Prometheus translation). */
  readonly prometheusName: string;
  /** `counter`, `gauge` or `histogram`: the `# TYPE` on /metrics. */
  readonly prometheusType: 'counter' | 'gauge' | 'histogram';
  /** Attribute keys, which are the Prometheus label names. */
  readonly labels: readonly string[];
  /** Bounded value domains, where the catalogue fixes them (documentation and validation). */
  readonly labelValues?: Readonly<Record<string, readonly string[]>>;
  readonly buckets?: readonly number[];
  /** Distinct attribute sets kept before the SDK folds new ones into its overflow series. */
  readonly cardinalityLimit: number;
}

/** The one list of device types: labels, span attributes, the API's and the session hook's types. */
export const DEVICE_TYPES = ['phone', 'modem', 'simulator', 'unknown'] as const;
export type DeviceType = (typeof DEVICE_TYPES)[number];
export const STATUS_CATEGORIES = ['success', 'warning', 'error'] as const;
export const TLS_FAILURE_REASONS = [
  'none',
  'unknown_identity',
  'bad_psk',
  'protocol_version',
  'no_shared_cipher',
  'timeout',
  'client_abort',
  'other',
] as const;
export const SESSION_STATUSES = ['completed', 'failed', 'timeout'] as const;
export const SESSION_TYPES = ['triggered', 'polled', 'resumed'] as const;
export const TEST_STATUSES = ['passed', 'failed', 'skipped', 'error'] as const;
export const MEMORY_TYPES = ['rss', 'vms', 'heap_used'] as const;
export const TRIGGER_TYPES = ['sms', 'poll'] as const;
export const TRIGGER_OUTCOMES = ['session', 'no_session'] as const;

export const METRICS = [
  {
    key: 'apduCommands',
    name: 'cardlink.apdu.commands',
    unit: '{command}',
    kind: 'counter',
    description: 'C-APDUs sent to cards, by command type (from CLA/INS/P1) and device type.',
    prometheusName: 'cardlink_apdu_commands_total',
    prometheusType: 'counter',
    labels: ['command_type', 'device_type'],
    labelValues: { device_type: DEVICE_TYPES },
    cardinalityLimit: 400,
  },
  {
    key: 'apduResponses',
    name: 'cardlink.apdu.responses',
    unit: '{response}',
    kind: 'counter',
    description: 'R-APDUs received from cards, by status word and its category.',
    prometheusName: 'cardlink_apdu_responses_total',
    prometheusType: 'counter',
    labels: ['status_word', 'status_category'],
    labelValues: { status_category: STATUS_CATEGORIES },
    cardinalityLimit: 1000,
  },
  {
    key: 'apduDuration',
    name: 'cardlink.apdu.duration',
    unit: 's',
    kind: 'histogram',
    description: 'Time from a C-APDU (or script) sent to its R-APDU received.',
    prometheusName: 'cardlink_apdu_duration_seconds',
    prometheusType: 'histogram',
    labels: ['command_type'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    cardinalityLimit: 100,
  },
  {
    key: 'apduBytes',
    name: 'cardlink.apdu.bytes',
    unit: 'By',
    kind: 'counter',
    description: 'APDU bytes exchanged with cards (C-APDUs sent, R-APDUs received).',
    prometheusName: 'cardlink_apdu_bytes_total',
    prometheusType: 'counter',
    labels: ['direction'],
    labelValues: { direction: ['sent', 'received'] },
    cardinalityLimit: 10,
  },
  {
    key: 'scp81Bodies',
    name: 'cardlink.scp81.bodies',
    unit: '{body}',
    kind: 'counter',
    description:
      "SCP81 HTTP bodies by direction (sent: the admin server's, received: the card's) and the format they were decoded in; unknown: a body that fits no known format, or is past the 64 KiB capture bound.",
    prometheusName: 'cardlink_scp81_bodies_total',
    prometheusType: 'counter',
    labels: ['direction', 'format'],
    labelValues: { direction: ['sent', 'received'], format: BODY_FORMATS },
    cardinalityLimit: 20,
  },
  {
    key: 'tlsHandshakes',
    name: 'cardlink.tls.handshakes',
    unit: '{handshake}',
    kind: 'counter',
    description: 'PSK-TLS handshakes on the admin server, by result, IANA cipher suite and failure reason.',
    prometheusName: 'cardlink_tls_handshakes_total',
    prometheusType: 'counter',
    labels: ['result', 'cipher_suite', 'failure_reason'],
    labelValues: { result: ['success', 'failed'], failure_reason: TLS_FAILURE_REASONS },
    cardinalityLimit: 200,
  },
  {
    key: 'tlsHandshakeDuration',
    name: 'cardlink.tls.handshake.duration',
    unit: 's',
    kind: 'histogram',
    description: 'Time from TCP accept to a secure connection or a failed handshake.',
    prometheusName: 'cardlink_tls_handshake_duration_seconds',
    prometheusType: 'histogram',
    labels: ['result'],
    labelValues: { result: ['success', 'failed'] },
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    cardinalityLimit: 10,
  },
  {
    key: 'tlsConnectionsActive',
    name: 'cardlink.tls.connections.active',
    unit: '{connection}',
    kind: 'updowncounter',
    description: 'Secure TLS connections currently open on the admin server.',
    prometheusName: 'cardlink_tls_connections_active',
    prometheusType: 'gauge',
    labels: [],
    cardinalityLimit: 10,
  },
  {
    key: 'sessionsActive',
    name: 'cardlink.sessions.active',
    unit: '{session}',
    kind: 'updowncounter',
    description: 'OTA (SCP81) sessions in progress.',
    prometheusName: 'cardlink_sessions_active',
    prometheusType: 'gauge',
    labels: ['device_type'],
    labelValues: { device_type: DEVICE_TYPES },
    cardinalityLimit: 10,
  },
  {
    key: 'sessions',
    name: 'cardlink.sessions',
    unit: '{session}',
    kind: 'counter',
    description: 'OTA (SCP81) sessions ended, by status, how they started and device type.',
    prometheusName: 'cardlink_sessions_total',
    prometheusType: 'counter',
    labels: ['status', 'session_type', 'device_type'],
    labelValues: { status: SESSION_STATUSES, session_type: SESSION_TYPES, device_type: DEVICE_TYPES },
    cardinalityLimit: 100,
  },
  {
    key: 'sessionDuration',
    name: 'cardlink.session.duration',
    unit: 's',
    kind: 'histogram',
    description: 'OTA session duration from the first SCP81 POST to its end.',
    prometheusName: 'cardlink_session_duration_seconds',
    prometheusType: 'histogram',
    labels: ['status'],
    labelValues: { status: SESSION_STATUSES },
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    cardinalityLimit: 10,
  },
  {
    key: 'triggersSent',
    name: 'cardlink.triggers.sent',
    unit: '{trigger}',
    kind: 'counter',
    description: 'Session triggers sent to cards (SMS-PP push or poll).',
    prometheusName: 'cardlink_triggers_sent_total',
    prometheusType: 'counter',
    labels: ['trigger_type'],
    labelValues: { trigger_type: TRIGGER_TYPES },
    cardinalityLimit: 10,
  },
  {
    key: 'devicesConnected',
    name: 'cardlink.devices.connected',
    unit: '{device}',
    kind: 'updowncounter',
    description: 'Devices connected: phones in state "device" per adb, open modem serial ports.',
    prometheusName: 'cardlink_devices_connected',
    prometheusType: 'gauge',
    labels: ['device_type'],
    labelValues: { device_type: DEVICE_TYPES },
    cardinalityLimit: 10,
  },
  {
    key: 'deviceErrors',
    name: 'cardlink.device.errors',
    unit: '{error}',
    kind: 'counter',
    description: 'Errors reported by phones (adb) and modems (AT), by bounded error type.',
    prometheusName: 'cardlink_device_errors_total',
    prometheusType: 'counter',
    labels: ['device_type', 'error_type'],
    labelValues: { device_type: DEVICE_TYPES },
    cardinalityLimit: 100,
  },
  {
    key: 'atCommandDuration',
    name: 'cardlink.at.command.duration',
    unit: 's',
    kind: 'histogram',
    description: 'AT command round trip: command written to final result.',
    prometheusName: 'cardlink_at_command_duration_seconds',
    prometheusType: 'histogram',
    labels: ['command'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    cardinalityLimit: 200,
  },
  {
    key: 'adbOperationDuration',
    name: 'cardlink.adb.operation.duration',
    unit: 's',
    kind: 'histogram',
    description: 'adb process duration from spawn to exit, by subcommand.',
    prometheusName: 'cardlink_adb_operation_duration_seconds',
    prometheusType: 'histogram',
    labels: ['operation'],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    cardinalityLimit: 50,
  },
  {
    key: 'tests',
    name: 'cardlink.tests',
    unit: '{test}',
    kind: 'counter',
    description: 'Tests run by the CardLink test runner, by suite and status.',
    prometheusName: 'cardlink_tests_total',
    prometheusType: 'counter',
    labels: ['suite_name', 'status'],
    labelValues: { status: TEST_STATUSES },
    cardinalityLimit: 2000,
  },
  {
    key: 'testDuration',
    name: 'cardlink.test.duration',
    unit: 's',
    kind: 'histogram',
    description: 'Test duration, by suite.',
    prometheusName: 'cardlink_test_duration_seconds',
    prometheusType: 'histogram',
    labels: ['suite_name'],
    buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 300],
    cardinalityLimit: 500,
  },
  {
    key: 'processCpu',
    name: 'cardlink.process.cpu',
    unit: 's',
    kind: 'observable_counter',
    description: 'CPU time (user + system) consumed by this process.',
    prometheusName: 'cardlink_process_cpu_seconds_total',
    prometheusType: 'counter',
    labels: [],
    cardinalityLimit: 10,
  },
  {
    key: 'processMemory',
    name: 'cardlink.process.memory',
    unit: 'By',
    kind: 'observable_gauge',
    description: 'Process memory: resident set, virtual size (from /proc where available), V8 heap used.',
    prometheusName: 'cardlink_process_memory_bytes',
    prometheusType: 'gauge',
    labels: ['type'],
    labelValues: { type: MEMORY_TYPES },
    cardinalityLimit: 10,
  },
  {
    key: 'processOpenFds',
    name: 'cardlink.process.open_fds',
    unit: '{fd}',
    kind: 'observable_gauge',
    description: 'Open file descriptors of this process.',
    prometheusName: 'cardlink_process_open_fds',
    prometheusType: 'gauge',
    labels: [],
    cardinalityLimit: 10,
  },
  {
    key: 'dbConnectionsActive',
    name: 'cardlink.db.connections.active',
    unit: '{connection}',
    kind: 'updowncounter',
    description: 'Open database connections: better-sqlite3 databases plus pg clients (pooled included).',
    prometheusName: 'cardlink_db_connections_active',
    prometheusType: 'gauge',
    labels: [],
    cardinalityLimit: 10,
  },
  {
    key: 'dbQueryDuration',
    name: 'cardlink.db.query.duration',
    unit: 's',
    kind: 'histogram',
    description: 'Database query duration, by first SQL keyword.',
    prometheusName: 'cardlink_db_query_duration_seconds',
    prometheusType: 'histogram',
    labels: ['query_type'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5],
    cardinalityLimit: 20,
  },
  {
    key: 'uptime',
    name: 'cardlink.uptime',
    unit: 's',
    kind: 'observable_gauge',
    description: 'Seconds since this process started.',
    prometheusName: 'cardlink_uptime_seconds',
    prometheusType: 'gauge',
    labels: [],
    cardinalityLimit: 10,
  },
  {
    key: 'buildInfo',
    name: 'cardlink.build_info',
    unit: '{info}',
    kind: 'observable_gauge',
    description: 'Always 1; labels carry the cardlink-otel version, Node.js version and platform.',
    prometheusName: 'cardlink_build_info',
    prometheusType: 'gauge',
    labels: ['version', 'node_version', 'platform'],
    cardinalityLimit: 10,
  },
  {
    key: 'operationDuration',
    name: 'cardlink.operation.duration',
    unit: 's',
    kind: 'histogram',
    description: 'Duration of operations timed in code with monitor(), by bounded operation name.',
    prometheusName: 'cardlink_operation_duration_seconds',
    prometheusType: 'histogram',
    labels: ['operation'],
    buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 60],
    cardinalityLimit: 200,
  },
  {
    key: 'triggerToSession',
    name: 'cardlink.trigger_to_session',
    unit: 's',
    kind: 'histogram',
    description: 'Time from a session trigger sent (SMS-PP push) to the OTA session the card opened in answer.',
    prometheusName: 'cardlink_trigger_to_session_seconds',
    prometheusType: 'histogram',
    labels: ['trigger_type'],
    labelValues: { trigger_type: TRIGGER_TYPES },
    buckets: [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120],
    cardinalityLimit: 10,
  },
  {
    key: 'triggerOutcomes',
    name: 'cardlink.trigger.outcomes',
    unit: '{trigger}',
    kind: 'counter',
    description:
      'Session triggers by what followed: session (a card opened an OTA session within the trigger window, CARDLINK_TRIGGER_WINDOW_S) or no_session (none did).',
    prometheusName: 'cardlink_trigger_outcomes_total',
    prometheusType: 'counter',
    labels: ['trigger_type', 'outcome'],
    labelValues: { trigger_type: TRIGGER_TYPES, outcome: TRIGGER_OUTCOMES },
    cardinalityLimit: 10,
  },
  {
    key: 'bipCommands',
    name: 'cardlink.bip.commands',
    unit: '{command}',
    kind: 'counter',
    description:
      'SIM Toolkit proactive commands of the cards, seen in modem URCs and phone radio logs: the BIP commands by name, every other one OTHER.',
    prometheusName: 'cardlink_bip_commands_total',
    prometheusType: 'counter',
    labels: ['command', 'device_type'],
    labelValues: { command: BIP_COMMANDS, device_type: DEVICE_TYPES },
    cardinalityLimit: 50,
  },
] as const satisfies readonly MetricDefinition[];

export type MetricKey = (typeof METRICS)[number]['key'];

export const METRICS_BY_NAME: ReadonlyMap<string, MetricDefinition> = new Map(METRICS.map((m) => [m.name, m]));

/** The meter (instrumentation scope) every CardLink instrument lives on: one scope, one Prometheus family per name. */
export const METER_NAME = 'cardlink-otel';

/**
 * Prometheus unit word for the `# UNIT` line, consistent with the name suffix; empty for
 * dimensionless units (annotations such as `{session}`).
 */
export function prometheusUnit(unit: string): string {
  if (unit === 's') return 'seconds';
  if (unit === 'By') return 'bytes';
  return '';
}
