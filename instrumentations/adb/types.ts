import type { InstrumentationConfig } from '@opentelemetry/instrumentation';

/** Public configuration of the `adb` instrumentation. */
export interface AdbInstrumentationConfig extends InstrumentationConfig {
  /**
   * An adb whose base name is not `adb` (a wrapper script, a vendored copy): the exact path the
   * application passes to `child_process`. Runs whose executable's base name is `adb` (or
   * `adb.exe`) are recognised anyway. `register` sets it from `CARDLINK_ADB_PATH`.
   */
  adbPath?: string;
  /**
   * Put the adb span's context into the child's environment as `TRACEPARENT` (and `TRACESTATE`),
   * so a wrapper script that understands W3C trace context can continue the trace. Opt-in
   * (default false): it is the one thing that changes what the child receives, and only for adb.
   * `register` sets it from `CARDLINK_ADB_PROPAGATE_TRACE_CONTEXT`.
   */
  propagateTraceContext?: boolean;
  /**
   * Most bytes of `adb devices` stdout read to count phones (default 65 536). A longer listing is
   * not judged: the connected-phones gauge keeps its last value rather than under-count.
   */
  maxDevicesOutputBytes?: number;
  /**
   * Bytes of stderr kept per run to classify failures (default 4 096: the first 3 KiB and the
   * last 1 KiB, where adb writes its verdict). Never exported, only classified.
   */
  maxStderrBytes?: number;
  /**
   * After an adb process exits, how long to wait for its stdio to close (so the last stderr bytes
   * are read) before the span is ended anyway, e.g. when the application never reads a pipe
   * (default 2 000 ms). The span's end time is the exit either way.
   */
  closeGraceMs?: number;
}

/** Defaults of the numeric options above. */
export const ADB_CONFIG_DEFAULTS = Object.freeze({
  maxDevicesOutputBytes: 64 * 1024,
  maxStderrBytes: 4096,
  closeGraceMs: 2000,
});

export { ADB_ATTR, DEVICE_STATE_EVENT } from './spans.js';
