/** The `cardlink.*` keys of APDU spans, and the span they make (the same on every path). */
import { attr, type AttributeDoc, type SpanDoc } from './span-catalogue.js';

export const APDU_ATTR = {
  commandType: 'cardlink.apdu.command_type',
  cla: 'cardlink.apdu.cla',
  ins: 'cardlink.apdu.ins',
  p1: 'cardlink.apdu.p1',
  p2: 'cardlink.apdu.p2',
  command: 'cardlink.apdu.command',
  response: 'cardlink.apdu.response',
  sw: 'cardlink.apdu.sw',
  statusCategory: 'cardlink.apdu.status_category',
  executed: 'cardlink.apdu.executed',
  deviceType: 'cardlink.device.type',
} as const;

export const DEVICE_TYPE_ATTR: AttributeDoc = attr(APDU_ATTR.deviceType, 'phone, modem, simulator or unknown');

/** The attributes every APDU span may carry; a path adds its own (`extra`). */
export function apduSpanDoc(extra: readonly AttributeDoc[]): SpanDoc {
  return {
    name: 'apdu.<COMMAND_TYPE>',
    kind: 'CLIENT',
    brief: 'one C-APDU to its R-APDU; an error status unless the status word is a success',
    attributes: [
      attr(APDU_ATTR.commandType, 'the command type (`SELECT`, `GET_STATUS`, `UNKNOWN` ...)'),
      attr(APDU_ATTR.cla, 'CLA byte'),
      attr(APDU_ATTR.ins, 'INS byte'),
      attr(APDU_ATTR.p1, 'P1 byte'),
      attr(APDU_ATTR.p2, 'P2 byte'),
      DEVICE_TYPE_ATTR,
      attr(APDU_ATTR.command, 'the C-APDU in hex, only with APDU capture on (data of PUT KEY / STORE DATA redacted)'),
      attr(APDU_ATTR.response, 'the R-APDU in hex, only with APDU capture on (redacted for PUT KEY / STORE DATA)'),
      attr(APDU_ATTR.sw, 'the status word, four upper-case hex digits'),
      attr(APDU_ATTR.statusCategory, 'success, warning or error'),
      attr(APDU_ATTR.executed, '`false` when the card never answered it'),
      ...extra,
    ],
  };
}
