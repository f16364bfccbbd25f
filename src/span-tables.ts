/** Every instrumentation's span table (its `spans.ts`), by instrumentation: docs/spans.md and the span-shape checks read this. */
import type { InstrumentationName } from './config.js';
import type { SpanDoc } from '../instrumentations/shared/span-catalogue.js';
import { TLS_SPANS } from '../instrumentations/tls/spans.js';
import { SERIALPORT_SPANS } from '../instrumentations/serialport/spans.js';
import { ADB_SPANS } from '../instrumentations/adb/spans.js';
import { PG_SPANS, SQLITE_SPANS } from '../instrumentations/db/spans.js';

export const SPAN_TABLES: ReadonlyArray<{ readonly instrumentation: InstrumentationName; readonly spans: readonly SpanDoc[] }> = [
  { instrumentation: 'tls', spans: TLS_SPANS },
  { instrumentation: 'serialport', spans: SERIALPORT_SPANS },
  { instrumentation: 'adb', spans: ADB_SPANS },
  { instrumentation: 'sqlite', spans: SQLITE_SPANS },
  { instrumentation: 'pg', spans: PG_SPANS },
];
