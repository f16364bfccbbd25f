import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { CardlinkConfig } from '../../src/config.js';
import { AdbInstrumentation } from './instrumentation.js';
import type { AdbInstrumentationConfig } from './types.js';

export { AdbInstrumentation } from './instrumentation.js';
export type { AdbInstrumentationConfig } from './types.js';
export { ADB_ATTR, ADB_CONFIG_DEFAULTS, DEVICE_STATE_EVENT } from './types.js';
export { DeviceStates, type DeviceStateChange, type ListingUpdate } from './device-states.js';
export { OutputCapture } from './output-capture.js';

/**
 * The instrumentation(s) the registry loads for the name `adb`. Besides the SDK configuration it
 * reads `CARDLINK_ADB_PATH` (an adb not called `adb`) and `CARDLINK_ADB_PROPAGATE_TRACE_CONTEXT`
 * (`true`: TRACEPARENT in adb's environment); a bad boolean is ignored (default false).
 */
export function createInstrumentations(
  _config: CardlinkConfig,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Instrumentation[] {
  const cfg: AdbInstrumentationConfig = {};
  const path = env['CARDLINK_ADB_PATH']?.trim();
  if (path !== undefined && path !== '') cfg.adbPath = path;
  const propagate = env['CARDLINK_ADB_PROPAGATE_TRACE_CONTEXT']?.trim().toLowerCase();
  if (propagate === 'true' || propagate === '1' || propagate === 'yes' || propagate === 'on') cfg.propagateTraceContext = true;
  return [new AdbInstrumentation(cfg)];
}
