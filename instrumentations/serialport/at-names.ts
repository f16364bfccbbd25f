/**
 * AT command and result-code names: parsing a command line into a bounded name, and the
 * fixed vocabularies (URC names, result names) the decoder reports.
 *
 * Pure: no I/O, no OpenTelemetry. Names are used as metric labels (`command`), so every function
 * here maps arbitrary text into a bounded set: a prefix character from a fixed set plus at most
 * MAX_EXTENDED_NAME_LENGTH characters of [A-Z0-9_.-/], a single basic-command letter, `&X`, `S<n>`,
 * `AT`, or `other`. The command text comes from the application (trusted code), so this bound is
 * enough; the values a modem sends never become command names.
 */

/** The name reported for anything that does not parse as an AT command. */
export const AT_OTHER = 'other';

/** Longest extended-command name kept after its prefix character (`+CGEQOSRDP` is 9). */
export const MAX_EXTENDED_NAME_LENGTH = 15;

/** V.250 command forms: `AT+X` exec, `AT+X?` read, `AT+X=...` set, `AT+X=?` test. */
export type AtCommandKind = 'exec' | 'read' | 'set' | 'test';

/** What a command line says about itself. */
export interface AtCommandLineInfo {
  /** Name of the first command of the line (the label): `+CSIM`, `E`, `&F`, `S0`, `AT`, `other`. */
  readonly name: string;
  /** Form of the first command. */
  readonly kind: AtCommandKind;
  /** Names of every command concatenated in the line (`AT+CMEE=1;+CREG?`), first = `name`, at most 8. */
  readonly names: readonly string[];
  /** `E0`/`E1` in the line (`Z`, `&F` reset to on); undefined when the line does not touch echo. */
  readonly echo: boolean | undefined;
  /** `V0`/`V1` in the line (`Z`, `&F` reset to verbose); undefined when untouched. */
  readonly verbose: boolean | undefined;
}

const MAX_NAMES = 8;
const OTHER_INFO: AtCommandLineInfo = Object.freeze({
  name: AT_OTHER,
  kind: 'exec',
  names: Object.freeze([AT_OTHER]),
  echo: undefined,
  verbose: undefined,
});
const EMPTY_INFO: AtCommandLineInfo = Object.freeze({
  name: 'AT',
  kind: 'exec',
  names: Object.freeze(['AT']),
  echo: undefined,
  verbose: undefined,
});

/** Prefix characters of extended (`+`) and vendor (`^SYSINFO`, `$QCPWRDN`, `#SIMDET`, `%`, `*`, `@`, `!`) commands. */
export function isCommandPrefixChar(c: number): boolean {
  // + ^ $ # % * @ !
  return c === 0x2b || c === 0x5e || c === 0x24 || c === 0x23 || c === 0x25 || c === 0x2a || c === 0x40 || c === 0x21;
}

/** Characters kept in an extended name: letters, digits, `_ . - /` (V.250 5.4.1 allows a few more; we cap). */
function isNameChar(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x5f ||
    c === 0x2e ||
    c === 0x2d ||
    c === 0x2f
  );
}

function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Index just past the arguments of an extended command: the next `;` outside double quotes, or the end. */
function skipArguments(text: string, i: number): number {
  let quoted = false;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) quoted = !quoted;
    else if (c === 0x3b && !quoted) return i;
  }
  return i;
}

/** Form of a command whose name ends at `i`: `=?` test, `=` set, `?` read, else exec. */
function kindAt(text: string, i: number): AtCommandKind {
  const c = text.charCodeAt(i);
  if (c === 0x3d) return text.charCodeAt(i + 1) === 0x3f ? 'test' : 'set';
  if (c === 0x3f) return 'read';
  return 'exec';
}

/**
 * Parses a command line (the text the application wrote, without the terminating CR) into its names.
 * `AT+CSIM=14,"00A4..."` -> `+CSIM` (set); `AT+CPIN?` -> `+CPIN` (read); `AT+COPS=?` -> `+COPS` (test);
 * `ATE0` -> `E`; `ATI` -> `I`; `AT` -> `AT`; `AT&F` -> `&F`; `ATS0=1` -> `S0`; `ATD*99#` -> `D`;
 * `AT^SYSINFO` -> `^SYSINFO`; anything that is not `AT`/`at` followed by a command -> `other`.
 * Never throws.
 */
export function parseAtCommandLine(text: string): AtCommandLineInfo {
  if (typeof text !== 'string' || text.length < 2) return OTHER_INFO;
  if ((text.charCodeAt(0) | 0x20) !== 0x61 || (text.charCodeAt(1) | 0x20) !== 0x74) return OTHER_INFO;
  const n = text.length;
  const names: string[] = [];
  let kind: AtCommandKind = 'exec';
  let echo: boolean | undefined;
  let verbose: boolean | undefined;
  let i = 2;
  while (i < n && names.length < MAX_NAMES) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x3b) {
      i++;
      continue;
    }
    let name: string;
    let k: AtCommandKind = 'exec';
    let stop = false;
    if (isCommandPrefixChar(c)) {
      let j = i + 1;
      while (j < n && isNameChar(text.charCodeAt(j))) j++;
      const len = j - i - 1;
      if (len === 0 || len > MAX_EXTENDED_NAME_LENGTH) {
        name = AT_OTHER;
        stop = true;
      } else {
        name = text.slice(i, j).toUpperCase();
        k = kindAt(text, j);
      }
      i = skipArguments(text, j);
    } else if (c === 0x26) {
      // &F, &W, &C1, &D2 ...
      const l = text.charCodeAt(i + 1);
      if (!isLetter(l)) {
        name = AT_OTHER;
        stop = true;
      } else {
        name = '&' + String.fromCharCode(l & ~0x20);
        i += 2;
        while (i < n && isDigit(text.charCodeAt(i))) i++;
        if (name === '&F') {
          echo = true;
          verbose = true;
        }
      }
    } else if (isLetter(c)) {
      const letter = c & ~0x20;
      if (letter === 0x53 /* S */ && isDigit(text.charCodeAt(i + 1))) {
        let j = i + 1;
        while (j < n && j - i <= 3 && isDigit(text.charCodeAt(j))) j++;
        name = 'S' + String(Number(text.slice(i + 1, j)));
        k = kindAt(text, j);
        i = j;
        if (k === 'set') {
          i++;
          while (i < n && isDigit(text.charCodeAt(i))) i++;
        } else if (k === 'read') i++;
        else if (k === 'test') i += 2;
      } else if (letter === 0x44 /* D */) {
        // The rest of the line is a dial string (digits, `;`, `*99#`): nothing more to parse.
        name = 'D';
        stop = true;
      } else {
        name = String.fromCharCode(letter);
        let j = i + 1;
        let value = 0;
        while (j < n && isDigit(text.charCodeAt(j)) && j - i < 4) {
          value = value * 10 + (text.charCodeAt(j) - 0x30);
          j++;
        }
        k = kindAt(text, j);
        if (k === 'read') j++;
        else if (k === 'test') j += 2;
        if (k === 'exec') {
          if (letter === 0x45 /* E */) echo = value !== 0;
          else if (letter === 0x56 /* V */) verbose = value !== 0;
          else if (letter === 0x5a /* Z */) {
            echo = true;
            verbose = true;
          }
        }
        i = j;
      }
    } else {
      name = AT_OTHER;
      stop = true;
    }
    if (names.length === 0) kind = k;
    names.push(name);
    if (stop) break;
  }
  if (names.length === 0) return EMPTY_INFO;
  return { name: names[0] ?? AT_OTHER, kind, names, echo, verbose };
}

/** The bounded command name of a command line (see parseAtCommandLine). */
export function atCommandName(text: string): string {
  return parseAtCommandLine(text).name;
}

/**
 * Extra answer prefixes of commands whose information lines do not repeat the command name
 * (`AT+CICCID` answers `+ICCID: ...`). Used to attribute prefixed lines to the pending command.
 */
export const AT_RESPONSE_ALIASES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  '+CICCID': ['+ICCID'],
  '+CCID': ['+ICCID'],
  '+QCCID': ['+ICCID'],
  // 27.007 12.2.5: the envelope's answer comes back as +CUSATER (ofono's atmodem stk.c reads it so).
  '+CUSATE': ['+CUSATER'],
});

/**
 * URC names reported as such (anything else unsolicited is reported as `other`). 27.007 / 27.005
 * ones first, then vendor spellings seen on IoT modems and in ModemManager's and ofono's plugins:
 * readiness (`+PBREADY`, `^SYSSTART`, `+PACSP<n>`, Fibocom `+SIM READY` ...) and the SIM Toolkit proactive-command
 * indications (`+CUSATP`, Quectel `+QSTK`, SIMCom `+STKPCI` / `+STIN`, Huawei `^STIN`, Telit `#STN` /
 * `+STKPRO`, Infineon `+SATI` / `+SATN`, TI Calypso `%SATI` / `%SATN`, Ericsson `*STKI` / `*STKN`, Sagem
 * `+KSTC`).
 */
export const AT_URC_NAMES: ReadonlySet<string> = new Set([
  '+CMTI',
  '+CMT',
  '+CDS',
  '+CDSI',
  '+CBM',
  '+CBMI',
  '+CREG',
  '+CEREG',
  '+CGREG',
  '+C5GREG',
  '+CPIN',
  '+CUSATP',
  '+CUSATEND',
  '+CUSD',
  '+CRING',
  '+CLIP',
  '+CCWA',
  '+CGEV',
  '+CIEV',
  '+CTZV',
  '+CTZE',
  '+CSCON',
  '+STKPCI',
  '+STIN',
  '+STKPRO',
  '+STKCNF',
  '#STN',
  '^STIN',
  '+QSTK',
  '+SATI',
  '+SATN',
  '%SATI',
  '%SATN',
  '*STKI',
  '*STKN',
  '+KSTC',
  '+QIND',
  '+QUSIM',
  '+QIURC',
  '^SYSSTART',
  '^SHUTDOWN',
  '^SIMST',
  '+PACSP',
  '+PBREADY',
  '+SIM',
  '*EMRDY',
  '+XSIM',
  '#QSS',
  'RING',
  'NO CARRIER',
  'RDY',
  'POWERED DOWN',
  'NORMAL POWER DOWN',
  'Call Ready',
  'SMS Ready',
  'PB DONE',
  'SMS DONE',
]);

/** URCs without a prefix: complete lines that are unsolicited even while a command is pending. */
const BARE_URCS: ReadonlySet<string> = new Set([
  'RING',
  'RDY',
  'POWERED DOWN',
  'NORMAL POWER DOWN',
  'Call Ready',
  'SMS Ready',
  'PB DONE',
  'SMS DONE',
]);

/** Their first characters and greatest length: most lines are turned down without hashing them. */
const BARE_URC_FIRST: ReadonlySet<number> = new Set([...BARE_URCS].map((s) => s.charCodeAt(0)));
const BARE_URC_MAX_LENGTH = Math.max(...[...BARE_URCS].map((s) => s.length));

/** True when `line` is one of the prefix-less URCs (`RING`, Quectel `RDY`, SIMCom `Call Ready` ...). */
export function isBareUrc(line: string): boolean {
  return line.length <= BARE_URC_MAX_LENGTH && BARE_URC_FIRST.has(line.charCodeAt(0)) && BARE_URCS.has(line);
}

/**
 * The bounded URC name for a prefix (`+CMTI`) or a bare URC line: known names, else `other`.
 * A known name with a digit glued on (`+PACSP0`, `+PACSP1`: the SIM's customer service profile bit)
 * is that name.
 */
export function urcName(prefixOrLine: string | null): string {
  if (prefixOrLine === null) return AT_OTHER;
  if (AT_URC_NAMES.has(prefixOrLine)) return prefixOrLine;
  let j = prefixOrLine.length;
  while (j > 2 && isDigit(prefixOrLine.charCodeAt(j - 1))) j--;
  if (j === prefixOrLine.length) return AT_OTHER;
  const base = prefixOrLine.slice(0, j);
  return AT_URC_NAMES.has(base) ? base : AT_OTHER;
}

/**
 * A URC whose known name is followed by a blank and text instead of a colon (Cinterion
 * `^SYSSTART AIRPLANE MODE`): that name (`^SYSSTART`); null for anything else, so an information
 * line of the pending command that happens to look alike stays one.
 */
export function spacedUrcName(line: string): string | null {
  const n = line.length;
  if (n < 4 || !isCommandPrefixChar(line.charCodeAt(0))) return null;
  let j = 1;
  while (j < n && isNameChar(line.charCodeAt(j))) j++;
  if (j === 1 || j - 1 > MAX_EXTENDED_NAME_LENGTH || j === n || line.charCodeAt(j) !== 0x20) return null;
  const name = urcName(line.slice(0, j).toUpperCase());
  return name === AT_OTHER ? null : name;
}

/**
 * The prefix of an information or URC line: `+CSIM` for `+CSIM: 4,"6120"`, `^SYSSTART` for
 * `^SYSSTART`; null when the line does not start with a prefix character and a name ended by `:`
 * or the end of the line. Upper-cased, bounded like command names.
 */
export function linePrefix(line: string): string | null {
  const n = line.length;
  if (n < 2 || !isCommandPrefixChar(line.charCodeAt(0))) return null;
  let j = 1;
  while (j < n && isNameChar(line.charCodeAt(j))) j++;
  if (j === 1 || j - 1 > MAX_EXTENDED_NAME_LENGTH) return null;
  if (j < n && line.charCodeAt(j) !== 0x3a) return null;
  return line.slice(0, j).toUpperCase();
}

/**
 * Final results some modems send instead of `ERROR`, whole lines: Huawei's `COMMAND NOT SUPPORT` and
 * `TOO MANY PARAMETERS`, and `NA` (not allowed) of some Samsung modems. ModemManager's or ofono's
 * parsers end a command on each; the decoder reports them as `error`.
 */
export const VENDOR_ERROR_FINALS: ReadonlySet<string> = new Set(['COMMAND NOT SUPPORT', 'TOO MANY PARAMETERS', 'NA']);

/**
 * Numbered error finals outside 27.007: Motorola's `MODEM ERROR: <n>` (digits only, as ModemManager
 * requires) and `+EXT ERROR: <x>` (ofono's terminator table). Their numbers are not `+CME ERROR`
 * numbers, so the decoder keeps the whole line as the error code.
 */
export function isNumberedVendorError(line: string): boolean {
  if (line.startsWith('+EXT ERROR:')) return true;
  if (line.length < 13 || !line.startsWith('MODEM ERROR:')) return false;
  let i = 12;
  while (i < line.length && line.charCodeAt(i) === 0x20) i++;
  if (i === line.length || line.length - i > 9) return false;
  for (; i < line.length; i++) if (!isDigit(line.charCodeAt(i))) return false;
  return true;
}

/** Results a command can end with (`cardlink.at.result`); a bounded domain. */
export const AT_RESULTS = [
  'ok',
  'error',
  'cme_error',
  'cms_error',
  'no_carrier',
  'busy',
  'no_answer',
  'no_dialtone',
  'connect',
  'timeout',
  'cancelled',
  'overflow',
  'closed',
] as const;
export type AtResult = (typeof AT_RESULTS)[number];

/**
 * Numbers of the verbose `+CME ERROR` texts (3GPP TS 27.007 section 9.2.1) most often seen,
 * so `+CME ERROR: SIM not inserted` and `+CME ERROR: 10` report the same number.
 */
const CME_TEXT_NUMBERS: ReadonlyMap<string, number> = new Map([
  ['phone failure', 0],
  ['no connection to phone', 1],
  ['operation not allowed', 3],
  ['operation not supported', 4],
  ['ph-sim pin required', 5],
  ['sim not inserted', 10],
  ['sim pin required', 11],
  ['sim puk required', 12],
  ['sim failure', 13],
  ['sim busy', 14],
  ['sim wrong', 15],
  ['incorrect password', 16],
  ['sim pin2 required', 17],
  ['sim puk2 required', 18],
  ['memory full', 20],
  ['invalid index', 21],
  ['not found', 22],
  ['memory failure', 23],
  ['text string too long', 24],
  ['invalid characters in text string', 25],
  ['dial string too long', 26],
  ['invalid characters in dial string', 27],
  ['no network service', 30],
  ['network timeout', 31],
  ['network not allowed - emergency calls only', 32],
  ['incorrect parameters', 50],
  ['unknown', 100],
]);

/** The number of a `+CME ERROR`/`+CMS ERROR` argument (`10`, `SIM not inserted`); undefined if unknown. */
export function errorNumber(code: string): number | undefined {
  const n = code.length;
  if (n > 0 && n <= 5) {
    let v = 0;
    let i = 0;
    for (; i < n; i++) {
      const c = code.charCodeAt(i);
      if (!isDigit(c)) break;
      v = v * 10 + (c - 0x30);
    }
    if (i === n) return v;
  }
  if (n > 64) return undefined;
  return CME_TEXT_NUMBERS.get(code.toLowerCase());
}
