/** Every instrumentation's span table (its `spans.ts`), by instrumentation: docs/spans.md and the span-shape checks read this. */
import type { InstrumentationName } from './config.js';
import type { SpanDoc } from '../instrumentations/shared/span-catalogue.js';
import { TLS_SPANS } from '../instrumentations/tls/spans.js';
import { SERIALPORT_SPANS } from '../instrumentations/serialport/spans.js';
import { ADB_SPANS } from '../instrumentations/adb/spans.js';
import { PG_SPANS, SQLITE_SPANS } from '../instrumentations/db/spans.js';
import { TEST_RUNNER_SPANS } from './test-reporter/spans.js';
import { API_SPANS } from './api/span-docs.js';

export const SPAN_TABLES: ReadonlyArray<{ readonly instrumentation: InstrumentationName; readonly spans: readonly SpanDoc[] }> = [
  { instrumentation: 'tls', spans: TLS_SPANS },
  { instrumentation: 'serialport', spans: SERIALPORT_SPANS },
  { instrumentation: 'adb', spans: ADB_SPANS },
  { instrumentation: 'sqlite', spans: SQLITE_SPANS },
  { instrumentation: 'pg', spans: PG_SPANS },
];

/**
 * The spans of our other scopes, checked like the instrumentations': the test reporter's, and the
 * API's fixed-shape ones (`everySpan: false`: its `withSpan` / `@traced` spans are the caller's).
 */
export const OTHER_SPAN_TABLES: ReadonlyArray<{ readonly title: string; readonly scope: string; readonly everySpan: boolean; readonly spans: readonly SpanDoc[] }> = [
  { title: 'test reporter', scope: 'cardlink-otel/test-runner', everySpan: true, spans: TEST_RUNNER_SPANS },
  { title: 'API', scope: 'cardlink-otel/api', everySpan: false, spans: API_SPANS },
];
