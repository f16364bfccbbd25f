/** The programmatic API (exported from the package root). */
export { CardlinkInputError } from './errors.js';
export { recordApdu, recordSessionEnd, recordTrigger, recordDeviceError } from './recorders.js';
export type { ApduInput, ApduResult, SessionEndInput, TriggerInput, DeviceErrorInput } from './recorders.js';
export { withSpan, traced, apduSpan, sessionSpan, injectContext, extractContext } from './spans.js';
export type { ApduSpanInput, SessionSpanInput } from './spans.js';
export { monitor } from './monitor.js';
export type { DeviceType, SessionStatus, SessionType } from './validate.js';
export { getTracer, getMeter } from './accessors.js';
