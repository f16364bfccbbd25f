import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { CardlinkConfig } from '../../src/config.js';
import { AdbInstrumentation } from './instrumentation.js';
import type { AdbInstrumentationConfig } from './types.js';

export { AdbInstrumentation } from './instrumentation.js';
export type { AdbInstrumentationConfig } from './types.js';
export { ADB_ATTR, ADB_CONFIG_DEFAULTS, DEVICE_STATE_EVENT } from './types.js';
export { DeviceStates, type DeviceStateChange, type ListingUpdate } from './device-states.js';
export { OutputCapture } from './output-capture.js';

/** What the registry loads for `adb` in CARDLINK_INSTRUMENTATIONS. */
export function createInstrumentations(config: CardlinkConfig): Instrumentation[] {
  const cfg: AdbInstrumentationConfig = {};
  if (config.adb.path !== undefined) cfg.adbPath = config.adb.path;
  if (config.adb.propagateTraceContext) cfg.propagateTraceContext = true;
  return [new AdbInstrumentation(cfg)];
}
