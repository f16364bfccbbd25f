export { TlsInstrumentation } from './instrumentation.js';
export type { TlsInstrumentationConfig, DeviceType, SessionType, SessionHookInfo } from './types.js';
export { OtaSessionTracker } from './ota-session.js';
export { classifyHandshakeError } from './handshake-failure.js';
