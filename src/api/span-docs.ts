/**
 * The spans of the API with a fixed shape (scope `cardlink-otel/api`): docs/spans.md is generated
 * from here. `withSpan` and `@traced` spans carry the names and attributes their caller gives.
 */
import { apduSpanDoc } from '../../instrumentations/shared/apdu-spans.js';
import { attr, EXCEPTION_EVENT, type SpanDoc } from '../../instrumentations/shared/span-catalogue.js';

export const API_SPANS: readonly SpanDoc[] = [
  {
    name: 'ota.session',
    kind: 'SERVER',
    brief: '`sessionSpan`: an OTA session run by the application; its `apduSpan` / `recordApdu` APDUs are its children',
    events: [EXCEPTION_EVENT],
    attributes: [
      attr('cardlink.session.type', '`triggered`, `polled` or `resumed`'),
      attr('cardlink.device.type', 'phone, modem, simulator or unknown'),
      attr('cardlink.psk.identity', 'the identity given (at most 128 characters)'),
      attr('cardlink.session.status', '`completed`, `failed` or `timeout`'),
    ],
  },
  apduSpanDoc([]),
  {
    name: '<cardlink.operation>',
    kind: 'INTERNAL',
    brief: '`monitor(name, fn)`: one run of `fn`, with its CPU time and heap growth',
    events: [EXCEPTION_EVENT],
    attributes: [
      attr('cardlink.operation', 'the name given'),
      attr('cardlink.operation.cpu_ms', 'process CPU time (user + system) while it ran, ms'),
      attr('cardlink.operation.heap_delta_bytes', 'V8 heap used after less before'),
    ],
  },
];
