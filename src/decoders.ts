/**
 * The pure decoders as a library, for tools and tests: the same code the instrumentations run.
 *
 *   decodeApdu('00A4040007A0000000871002').commandType          // 'SELECT'
 *   statusCategory(0x6A82)                                       // 'error'
 *   decodeScp81Script(body).apdus                                // C-APDU positions in an SCP81 body
 *   parseAtLine('+CME ERROR: 10')                                // { kind: 'final', result: 'cme_error', code: '10' }
 *   classifySql('select * from ota_sessions where id = 7')       // { queryType: 'SELECT', table: 'ota_sessions', sanitized: ... }
 */
import { decodeCommandApdu, hexToBytes, type CommandApdu } from '../instrumentations/shared/apdu.js';
import { decodeCommandScript } from '../instrumentations/tls/scp81.js';
import { VENDOR_ERROR_FINALS, isBareUrc, isNumberedVendorError, linePrefix, urcName, type AtResult } from '../instrumentations/serialport/at-names.js';

export {
  commandType,
  decodeCommandApdu,
  decodeResponseApdu,
  statusWordHex,
  statusCategory,
  describeStatusWord,
  isSensitiveCommand,
  hexToBytes,
  bytesToHex,
  COMMAND_TYPES,
} from '../instrumentations/shared/apdu.js';
export type { CommandApdu, ResponseApdu, CommandType, StatusCategory } from '../instrumentations/shared/apdu.js';
export {
  decodeCommandScript,
  decodeResponseScript,
  encodeCommandScript,
  encodeResponseScript,
  encodeLengthPrefixed,
  walkCommandBody,
  walkResponseBody,
  BODY_FORMATS,
  scp81ContentKind,
  SCP81_COMMAND_CONTENT_TYPE,
  SCP81_RESPONSE_CONTENT_TYPE,
  ADMIN_PROTOCOL,
} from '../instrumentations/tls/scp81.js';
export type { CommandScript, ResponseScript, ScriptItem, BodyFormat, BodyShape, ResponseBodyShape } from '../instrumentations/tls/scp81.js';
export { HttpMessageScanner } from '../instrumentations/tls/http-stream.js';
export { AtDecoder, parseAtCommandLine, atCommandName } from '../instrumentations/serialport/at.js';
export type { AtListener, AtDecoderOptions, AtResult } from '../instrumentations/serialport/at.js';
export {
  decodeAdbArgs,
  parseAdbDevices,
  classifyAdbError,
  commandArgsForSpan,
  isAdbExecutable,
  parseShellCommandLine,
} from '../instrumentations/adb/adb.js';
export { classifySql, queryType, mainTable, sanitizeSql, redactConnectionString } from '../instrumentations/db/sql.js';
export { parsePrometheusText, histogramQuantile } from './prom/text-parser.js';

/** `decodeCommandApdu` for bytes or hex; null when it is not an APDU (fewer than 4 bytes, bad hex). */
export function decodeApdu(apdu: Uint8Array | string): CommandApdu | null {
  const bytes = typeof apdu === 'string' ? hexToBytes(apdu) : apdu;
  return bytes === null ? null : decodeCommandApdu(bytes);
}

/** The C-APDU positions of an SCP81 command script (an alias of `decodeCommandScript`). */
export const decodeScp81Script = decodeCommandScript;

export type AtLine =
  | { kind: 'final'; result: AtResult; code?: string }
  | { kind: 'urc'; name: string }
  | { kind: 'prompt' }
  | { kind: 'info'; prefix: string | null };

const FINALS: Record<string, AtResult> = {
  OK: 'ok',
  ERROR: 'error',
  'NO CARRIER': 'no_carrier',
  BUSY: 'busy',
  'NO ANSWER': 'no_answer',
  'NO DIALTONE': 'no_dialtone',
  CONNECT: 'connect',
};

/**
 * What one line read from a modem is, on its own (without the command context the stream decoder
 * has): a final result, a known unsolicited result code, the SMS `> ` prompt, or information.
 */
export function parseAtLine(line: string): AtLine {
  const l = line.trim();
  if (l === '>' || line.startsWith('> ')) return { kind: 'prompt' };
  const final = FINALS[l];
  if (final !== undefined) return { kind: 'final', result: final };
  if (l.startsWith('+CME ERROR:')) return { kind: 'final', result: 'cme_error', code: l.slice(11).trim() };
  if (l.startsWith('+CMS ERROR:')) return { kind: 'final', result: 'cms_error', code: l.slice(11).trim() };
  // Vendor error finals: the whole line is the code, as the stream decoder reports them.
  if (VENDOR_ERROR_FINALS.has(l) || isNumberedVendorError(l)) return { kind: 'final', result: 'error', code: l };
  if (isBareUrc(l)) return { kind: 'urc', name: urcName(l) };
  const prefix = linePrefix(l);
  if (prefix !== null) {
    const name = urcName(prefix);
    if (name !== 'other') return { kind: 'urc', name };
  }
  return { kind: 'info', prefix };
}
