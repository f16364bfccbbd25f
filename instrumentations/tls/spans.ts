/** The `tls` instrumentation's spans and its `cardlink.*` attribute keys (docs/spans.md is generated from here). */
import {
  ATTR_ERROR_TYPE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_TRANSPORT,
  ATTR_SERVER_PORT,
} from '@opentelemetry/semantic-conventions';
import { ATTR_TLS_CIPHER, ATTR_TLS_PROTOCOL_NAME, ATTR_TLS_PROTOCOL_VERSION } from './semconv.js';
import { attr, type SpanDoc } from '../shared/span-catalogue.js';
import { apduSpanDoc, DEVICE_TYPE_ATTR } from '../shared/apdu-spans.js';

export const TLS_ATTR = {
  pskIdentity: 'cardlink.psk.identity',
  sessionType: 'cardlink.session.type',
  sessionStatus: 'cardlink.session.status',
  sessionEndReason: 'cardlink.session.end_reason',
  apduCount: 'cardlink.apdu.count',
  apduErrorCount: 'cardlink.apdu.error_count',
  apduNotExecuted: 'cardlink.apdu.not_executed',
  scp81Format: 'cardlink.scp81.format',
  scp81LastExecuted: 'cardlink.scp81.last_executed',
  scp81ScriptStatus: 'cardlink.scp81.script_status',
  scp81Input: 'cardlink.scp81.input',
  linkType: 'cardlink.link.type',
} as const;

const PSK_IDENTITY = attr(TLS_ATTR.pskIdentity, 'the PSK identity the card presented (never the key)');
const PEER_ADDRESS = attr(ATTR_NETWORK_PEER_ADDRESS, "the card's address");
const PEER_PORT = attr(ATTR_NETWORK_PEER_PORT, "the card's port");
const VERSION = attr(ATTR_TLS_PROTOCOL_VERSION, 'negotiated protocol version (`1.2`, `1.3`)');
const CIPHER = attr(ATTR_TLS_CIPHER, 'IANA name of the negotiated suite');

export const TLS_SPANS: readonly SpanDoc[] = [
  {
    name: 'tls.handshake',
    kind: 'SERVER',
    brief: 'TCP accept to secure connection or failed handshake',
    attributes: [
      attr(ATTR_NETWORK_TRANSPORT, '`tcp`'),
      PEER_ADDRESS,
      PEER_PORT,
      attr(ATTR_SERVER_PORT, "the server's port"),
      attr(ATTR_TLS_PROTOCOL_NAME, '`tls`'),
      VERSION,
      CIPHER,
      PSK_IDENTITY,
      attr(ATTR_ERROR_TYPE, 'the failure reason of a failed handshake (`bad_psk`, `unknown_identity`, `timeout` ...)'),
    ],
  },
  {
    name: 'ota.session',
    kind: 'SERVER',
    brief: 'first SCP81 POST to its end (204, close, timeout); parent of the APDU spans',
    attributes: [
      attr(TLS_ATTR.sessionType, 'triggered, polled or resumed'),
      DEVICE_TYPE_ATTR,
      PEER_ADDRESS,
      PEER_PORT,
      PSK_IDENTITY,
      VERSION,
      CIPHER,
      attr(TLS_ATTR.sessionStatus, 'completed, failed or timeout'),
      attr(TLS_ATTR.sessionEndReason, 'why it ended (`connection_closed` ...)'),
      attr(TLS_ATTR.apduCount, 'C-APDUs sent'),
      attr(TLS_ATTR.apduErrorCount, 'R-APDUs with an error status'),
      attr(TLS_ATTR.apduNotExecuted, 'C-APDUs the card did not execute'),
      attr(TLS_ATTR.scp81Format, 'the body format of the session (`expanded_definite`, `length_prefixed`, `mixed`, `unknown`, `none` ...)'),
      attr(TLS_ATTR.scp81LastExecuted, 'index of the last command the card reports executed'),
      attr(TLS_ATTR.scp81ScriptStatus, 'the last `X-Admin-Script-Status`'),
      attr(ATTR_ERROR_TYPE, 'why a failed session failed'),
    ],
    events: [
      { name: 'scp81.script_status', brief: 'an `X-Admin-Script-Status` header', attributes: [attr(TLS_ATTR.scp81ScriptStatus, 'its value')] },
      { name: 'scp81.undecodable', brief: 'a body that fits no SCP81 format', attributes: [attr(TLS_ATTR.scp81Input, 'what could not be decoded: `command_script`, `response_script` or `bad_apdu`')] },
    ],
    links: [
      { to: 'sms.trigger', attributes: [attr(TLS_ATTR.linkType, '`trigger`: the SMS trigger the session answered')] },
      {
        to: "another instrumentation's HTTP SERVER span of the first POST (the session then starts its own trace)",
        attributes: [attr(TLS_ATTR.linkType, '`http_request`')],
      },
    ],
  },
  apduSpanDoc([]),
];
