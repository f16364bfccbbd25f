import type { InstrumentationConfig } from '@opentelemetry/instrumentation';

import type { DeviceType, SESSION_TYPES } from '../../src/metrics/catalogue.js';

export type { DeviceType };
export type SessionType = (typeof SESSION_TYPES)[number];

export interface SessionHookInfo {
  /** The PSK identity the card presented (never the key). */
  readonly identity: string | undefined;
  readonly peerAddress: string | undefined;
  /** What the instrumentation decided before the hook: the hook may override either. */
  readonly deviceType: DeviceType;
  readonly sessionType: SessionType;
}

/** Public configuration of the `tls` instrumentation. */
export interface TlsInstrumentationConfig extends InstrumentationConfig {
  /**
   * Decide device and session type of an OTA session, e.g. from a map of PSK identities to device
   * types. Called once per session; a throwing hook is ignored (reported once).
   */
  sessionHook?: (info: SessionHookInfo) => { deviceType?: DeviceType; sessionType?: SessionType } | undefined;
  /** A session that starts within this many ms of a recorded SMS trigger is `triggered` (default: CARDLINK_TRIGGER_WINDOW_S, 60 s). */
  triggerWindowMs?: number;
  /** Put C-APDU / R-APDU payloads on spans (default false; PUT KEY / STORE DATA data never). */
  captureApduData?: boolean;
  /** Device type of a session when nothing better is known (default `unknown`, or the trigger's device). */
  defaultDeviceType?: DeviceType;
  /**
   * 0 (the default): SCP81 traffic is decoded and recorded as it happens. A positive value, without
   * a trace exporter: the data path only journals what it saw, and the traffic of all connections
   * is decoded and recorded in batches at most this many ms later (metrics are still complete
   * whenever they are collected; session-end log lines come up to this late). Under load batches
   * save no server CPU, for script sessions or for one APDU per HTTP exchange as the public
   * CardLink sends them (bench/tls-session's last row). With a trace exporter, recording is always
   * inline.
   */
  recordingDelayMs?: number;
}

/** recordingDelayMs when not given (also CARDLINK_TLS_RECORDING_DELAY_MS's default). */
export const DEFAULT_RECORDING_DELAY_MS = 0;
