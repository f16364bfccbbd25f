/** The `serialport` instrumentation's spans and its `cardlink.*` attribute keys (docs/spans.md is generated from here). */
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import { attr, type SpanDoc } from '../shared/span-catalogue.js';
import { APDU_ATTR, apduSpanDoc, DEVICE_TYPE_ATTR } from '../shared/apdu-spans.js';
import { bipChannelSpanDoc } from '../shared/bip-spans.js';

export const MODEM_ATTR = {
  command: 'cardlink.at.command',
  kind: 'cardlink.at.command.kind',
  commandLine: 'cardlink.at.command_line',
  result: 'cardlink.at.result',
  errorCode: 'cardlink.at.error_code',
  echoed: 'cardlink.at.echoed',
  lineCount: 'cardlink.at.line_count',
  lengthMismatch: 'cardlink.at.length_mismatch',
  port: 'cardlink.modem.port',
  deviceType: APDU_ATTR.deviceType,
  urc: 'cardlink.at.urc',
  simFileId: 'cardlink.sim.file_id',
  mr: 'cardlink.sms.message_reference',
  pduLength: 'cardlink.sms.pdu_length',
  triggerType: 'cardlink.trigger.type',
} as const;

const COMMAND = attr(MODEM_ATTR.command, 'the AT command by name, without arguments (`+CSIM`, `+CPIN`, `E`)');
const PORT = attr(MODEM_ATTR.port, 'the path the port was opened with');
const RESULT = attr(MODEM_ATTR.result, 'the final result (`ok`, `error`, `cme_error`, `timeout`, `closed` ...)');

export const SERIALPORT_SPANS: readonly SpanDoc[] = [
  {
    name: 'at <command>',
    kind: 'CLIENT',
    brief: 'an AT command line written to its final result',
    attributes: [
      COMMAND,
      attr(MODEM_ATTR.kind, 'exec, read, set or test'),
      PORT,
      DEVICE_TYPE_ATTR,
      attr(MODEM_ATTR.commandLine, 'the line with its arguments, only with `captureAtArguments` (never for PIN commands)'),
      RESULT,
      attr(MODEM_ATTR.echoed, 'whether the modem echoed the line'),
      attr(MODEM_ATTR.lineCount, 'response lines before the final result'),
      attr(MODEM_ATTR.errorCode, 'the `+CME ERROR` / `+CMS ERROR` code or vendor error text'),
      attr(ATTR_ERROR_TYPE, 'the final result of a failed command'),
    ],
    events: [
      { name: 'at.urc', brief: 'an unsolicited result code while the command was pending', attributes: [attr(MODEM_ATTR.urc, 'its bounded name')] },
      { name: 'at.prompt', brief: 'the `> ` prompt of `+CMGS`', attributes: [] },
    ],
  },
  apduSpanDoc([
    attr(MODEM_ATTR.command, '`+CRSM` on APDUs the modem built from `AT+CRSM`'),
    attr(MODEM_ATTR.simFileId, 'the elementary file of an `AT+CRSM` command (four hex digits)'),
    attr(MODEM_ATTR.lengthMismatch, 'the `+CSIM` length did not match its hex'),
  ]),
  {
    name: 'sms.trigger',
    kind: 'PRODUCER',
    brief: '`AT+CMGS` / `AT+CMSS` to `+CMGS: <mr>`; the OTA session that follows links to it',
    attributes: [
      attr(MODEM_ATTR.triggerType, '`sms`'),
      DEVICE_TYPE_ATTR,
      PORT,
      COMMAND,
      attr(MODEM_ATTR.pduLength, 'the TPDU length `AT+CMGS=<length>` gave (PDU mode only)'),
      attr(MODEM_ATTR.mr, "the network's message reference"),
      RESULT,
      attr(ATTR_ERROR_TYPE, 'the final result of a failed submission'),
    ],
  },
  bipChannelSpanDoc(PORT),
];
