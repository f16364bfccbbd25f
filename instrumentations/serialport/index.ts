/**
 * The `serialport` instrumentation (IoT modems over AT commands) and its pure AT decoder.
 */
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { CardlinkConfig } from '../../src/config.js';
import { SerialportInstrumentation } from './instrumentation.js';

export { SerialportInstrumentation } from './instrumentation.js';
export type { SerialportPortDiagnostics } from './instrumentation.js';
export type { SerialportInstrumentationConfig } from './types.js';
export { AtDecoder, atCommandName, parseAtCommandLine, AT_RESULTS } from './at.js';

/** What the registry loads for `serialport` in CARDLINK_INSTRUMENTATIONS. */
export function createInstrumentations(config: CardlinkConfig): Instrumentation[] {
  return [new SerialportInstrumentation({ captureApduData: config.captureApduData })];
}
