/** The `cardlink.stk.*` / `cardlink.bip.*` keys of the card's BIP channel, and the `bip.channel` span (modems and phones alike). */
import { ATTR_ERROR_TYPE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import { attr, type AttributeDoc, type SpanDoc } from './span-catalogue.js';
import { DEVICE_TYPE_ATTR } from './apdu-spans.js';
import { BIP_TRANSPORTS } from './stk.js';

export const BIP_ATTR = {
  command: 'cardlink.stk.command',
  result: 'cardlink.stk.result',
  source: 'cardlink.stk.source',
  channelId: 'cardlink.bip.channel_id',
  transport: 'cardlink.bip.transport',
  bearer: 'cardlink.bip.bearer',
  bufferSize: 'cardlink.bip.buffer_size',
  accessName: 'cardlink.bip.network_access_name',
  bytes: 'cardlink.bip.bytes',
  closed: 'cardlink.bip.closed',
} as const;

export const BIP_SPAN_NAME = 'bip.channel';

export const BIP_EVENTS = {
  OPEN_CHANNEL: 'bip.open_channel',
  CLOSE_CHANNEL: 'bip.close_channel',
  SEND_DATA: 'bip.send_data',
  RECEIVE_DATA: 'bip.receive_data',
  GET_CHANNEL_STATUS: 'bip.get_channel_status',
  OTHER: 'stk.proactive_command',
  terminalResponse: 'stk.terminal_response',
} as const;

const BYTES = attr(BIP_ATTR.bytes, 'the channel data bytes or length the command carries');

/** The `bip.channel` span as an instrumentation records it; `device` names the device (its port or serial). */
export function bipChannelSpanDoc(device: AttributeDoc): SpanDoc {
  return {
    name: BIP_SPAN_NAME,
    kind: 'CLIENT',
    brief: "the card's BIP channel, OPEN CHANNEL to CLOSE CHANNEL, in the trace of the trigger it answers; the TLS handshake and OTA session that follow are its children",
    attributes: [
      device,
      DEVICE_TYPE_ATTR,
      attr(BIP_ATTR.source, 'where the commands were read (`+CUSATP`, `+QSTK`, `logcat` ...)'),
      attr(ATTR_SERVER_ADDRESS, 'the address the card dials'),
      attr(ATTR_SERVER_PORT, 'the port the card dials'),
      attr(BIP_ATTR.transport, `the transport the card asks for (TS 102 223 8.59): ${BIP_TRANSPORTS.map((v) => `\`${v}\``).join(', ')}`),
      attr(BIP_ATTR.bearer, 'the bearer of the channel'),
      attr(BIP_ATTR.bufferSize, 'the buffer size the card asks for'),
      attr(BIP_ATTR.accessName, 'the network access name (APN)'),
      attr(BIP_ATTR.channelId, 'the channel the terminal opened'),
      attr(BIP_ATTR.closed, '`true` at CLOSE CHANNEL, `false` when the channel was abandoned'),
      attr(ATTR_ERROR_TYPE, '`stk_result_<XX>` when the terminal could not open the channel'),
    ],
    events: [
      { name: BIP_EVENTS.OPEN_CHANNEL, brief: 'OPEN CHANNEL', attributes: [] },
      { name: BIP_EVENTS.CLOSE_CHANNEL, brief: 'CLOSE CHANNEL', attributes: [] },
      { name: BIP_EVENTS.SEND_DATA, brief: 'SEND DATA', attributes: [BYTES] },
      { name: BIP_EVENTS.RECEIVE_DATA, brief: 'RECEIVE DATA', attributes: [BYTES] },
      { name: BIP_EVENTS.GET_CHANNEL_STATUS, brief: 'GET CHANNEL STATUS', attributes: [BYTES] },
      { name: BIP_EVENTS.OTHER, brief: 'another proactive command while the channel is open', attributes: [attr(BIP_ATTR.command, 'the command type')] },
      {
        name: BIP_EVENTS.terminalResponse,
        brief: "the application's terminal response",
        attributes: [attr(BIP_ATTR.command, 'the command it answers'), attr(BIP_ATTR.result, 'the general result, two hex digits')],
      },
    ],
  };
}
