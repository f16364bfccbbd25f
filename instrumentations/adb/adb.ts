/**
 * Pure adb decoder: recognises adb runs among child processes, decodes adb's command line into a
 * bounded operation, reduces it to a span-safe `process.command_args`, classifies failures from the
 * exit status and stderr, parses `adb devices [-l]` and spots SMS injections.
 * No OpenTelemetry, no I/O, never throws, every scan bounded.
 *
 * Decisions worth knowing (the tests pin each one):
 *
 * - `isAdbExecutable` runs on every spawn of the application, so it looks at the last few
 *   characters only: base name `adb` (case-sensitive), `adb.exe` (any case, Windows), or exactly
 *   the configured path.
 * - `parseShellCommandLine` understands the POSIX shell subset that `exec('adb ...')` strings use:
 *   blanks, '...' and "..." quotes, backslash escapes, `VAR=x` / `env [-i] [-u N] VAR=x` / `exec` /
 *   `command` prefixes, redirections (dropped with their target) and the first command of a
 *   pipeline or list (`|`, `||`, `&&`, `;`, `&`, newline, `#` comment). It says whether the line's
 *   exit status, stdout and stderr are still adb's (nothing follows; not redirected). Parameter expansion,
 *   command substitution, subshells and here-documents make the command unknowable: null.
 *   Globs (`*`, `?`, `[`) and `~` are kept literally. On Windows the line is cmd.exe's
 *   (`splitCmdFirstCommand`): backslashes are path separators, `^` escapes.
 * - `decodeAdbArgs` mirrors adb's own global option loop (adb 29 .. 35): `-d -e -a
 *   --exit-on-write-error`, and `-s -t -H -P -L --one-device` with a value, also glued (`-sSERIAL`).
 *   An unknown dash word ends the loop and, like adb, is taken as the command (`other`).
 * - The `operation` label comes from a fixed table (`ADB_OPERATIONS`); `wait-for-<t>-<state>` folds
 *   into `wait-for-device`, `install-multi-package` into `install-multiple`, `reboot-bootloader`
 *   into `reboot`, `lolcat` (adb's own alias) into `logcat`, `--version` into `version`.
 * - `commandArgsForSpan` keeps `adb`, the global flags WITHOUT their values (the serial goes to
 *   `cardlink.device.serial`, host/port to `server.address`/`server.port`), the subcommand, and then
 *   only flags known to be harmless per operation (table `KEPT_FLAGS`). For `shell`/`exec-out` it
 *   adds the remote program's base name (`am`, `pm`, `input`, `service` ...) and never its
 *   arguments: they carry SMS text, PDUs, keys and phone numbers.
 * - `classifyAdbError` reads only the first and last 1 KiB of stderr, and only lines that adb itself
 *   writes (`error: ...`, `adb: ...`, `adb: error: ...`, `adb.exe: ...` and the executable's own
 *   name, `get-state error: ...`), so a remote program's stderr mentioning "device offline" is not
 *   mistaken for adb's verdict. The failed step before the reason (`failed to get feature set: `,
 *   `unable to connect for root: `) is skipped. The sync commands' stdout is read after stderr
 *   (older adb, Debian's 29 among them, printed their errors there).
 * - `parseAdbDevices` accepts both listings (`SERIAL\tSTATE`, and `%-22s %s` + `usb:` `product:`
 *   `model:` `device:` `transport_id:`), skips the header and the `* daemon ...` chatter, counts
 *   other non-empty lines as malformed, and stops at 256 devices / 128 KiB.
 * - `phoneActions` (and `isSmsInjection`) match only the forms documented on the function; the AT
 *   command a run sends to the phone's modem is named by the serialport decoder's at-names rules.
 */

import { AT_OTHER, parseAtCommandLine } from '../serialport/at-names.js';

/** The bounded `operation` label domain (metric `cardlink_adb_operation_duration_seconds`). */
export const ADB_OPERATIONS = Object.freeze([
  'devices',
  'shell',
  'exec-out',
  'install',
  'install-multiple',
  'uninstall',
  'push',
  'pull',
  'logcat',
  'reboot',
  'wait-for-device',
  'get-state',
  'get-serialno',
  'forward',
  'reverse',
  'start-server',
  'kill-server',
  'root',
  'unroot',
  'emu',
  'version',
  'connect',
  'disconnect',
  'sideload',
  'bugreport',
  'tcpip',
  'usb',
  'remount',
  'other',
] as const);

export type AdbOperation = (typeof ADB_OPERATIONS)[number];

export type AdbErrorType =
  | 'no_devices'
  | 'device_not_found'
  | 'unauthorized'
  | 'offline'
  | 'more_than_one_device'
  | 'adb_missing'
  | 'killed'
  | 'connect_failed'
  | 'console_refused'
  | 'exit_nonzero';

/** Every value `classifyAdbError` can return besides null. */
export const ADB_ERROR_TYPES: readonly AdbErrorType[] = Object.freeze([
  'no_devices',
  'device_not_found',
  'unauthorized',
  'offline',
  'more_than_one_device',
  'adb_missing',
  'killed',
  'connect_failed',
  'console_refused',
  'exit_nonzero',
]);

/** Connection states adb reports (`connection_state_name()`); anything else is not a device line. */
export type AdbDeviceState =
  | 'device'
  | 'offline'
  | 'unauthorized'
  | 'authorizing'
  | 'connecting'
  | 'bootloader'
  | 'recovery'
  | 'rescue'
  | 'sideload'
  | 'host'
  | 'detached'
  | 'no permissions'
  | 'unknown';

export const ADB_DEVICE_STATES: readonly AdbDeviceState[] = Object.freeze([
  'device',
  'offline',
  'unauthorized',
  'authorizing',
  'connecting',
  'bootloader',
  'recovery',
  'rescue',
  'sideload',
  'host',
  'detached',
  'no permissions',
  'unknown',
]);

/** Longest command line `parseShellCommandLine` reads; longer strings are not decoded. */
export const MAX_COMMAND_LINE = 8192;
/** Most words kept from one simple command. */
const MAX_WORDS = 256;
/** The joined remote command of `adb shell` is cut here (it is matched, never exported). */
export const MAX_SHELL_COMMAND = 16384;
/** Bounds of `parseAdbDevices`. */
export const MAX_DEVICES = 256;
export const MAX_SERIAL_LENGTH = 128;
const MAX_DEVICES_INPUT = 128 * 1024;
const MAX_DEVICE_LINE = 1024;
const MAX_FIELD_LENGTH = 128;
/** `classifyAdbError` looks at this many characters at each end of stderr. */
const STDERR_WINDOW = 1024;

// ---------------------------------------------------------------------------------------------
// Executable recognition

const SLASH = 0x2f;
const BACKSLASH = 0x5c;

/**
 * True when `file` names adb: base name `adb`, or `adb.exe` in any case, or exactly
 * `configuredPath`. A handful of char comparisons for anything else: this runs on every spawn.
 */
export function isAdbExecutable(file: string, configuredPath?: string): boolean {
  if (typeof file !== 'string') return false;
  if (configuredPath !== undefined && file === configuredPath) return true;
  const n = file.length;
  if (n < 3) return false;
  let end = n;
  const last = file.charCodeAt(n - 1);
  if (last === 0x65 || last === 0x45) {
    // `...e`: only `adb.exe` can still match, compared without regard to case (Windows).
    if (
      n < 7 ||
      (file.charCodeAt(n - 2) | 0x20) !== 0x78 ||
      (file.charCodeAt(n - 3) | 0x20) !== 0x65 ||
      file.charCodeAt(n - 4) !== 0x2e ||
      (file.charCodeAt(n - 5) | 0x20) !== 0x62 ||
      (file.charCodeAt(n - 6) | 0x20) !== 0x64 ||
      (file.charCodeAt(n - 7) | 0x20) !== 0x61
    ) {
      return false;
    }
    end = n - 7;
  } else {
    if (last !== 0x62 || file.charCodeAt(n - 2) !== 0x64 || file.charCodeAt(n - 3) !== 0x61) return false;
    end = n - 3;
  }
  if (end === 0) return true;
  const before = file.charCodeAt(end - 1);
  return before === SLASH || before === BACKSLASH;
}

// ---------------------------------------------------------------------------------------------
// Shell word splitting

const SP = 0x20;
const TAB = 0x09;
const NL = 0x0a;
const CR = 0x0d;
const SEMI = 0x3b;
const AMP = 0x26;
const PIPE = 0x7c;
const LT = 0x3c;
const GT = 0x3e;
const LPAREN = 0x28;
const RPAREN = 0x29;
const BACKTICK = 0x60;
const DOLLAR = 0x24;
const SQUOTE = 0x27;
const DQUOTE = 0x22;
const HASH = 0x23;

/** Characters that end an unquoted run of ordinary characters. */
function isSpecial(c: number): boolean {
  return (
    c === SP ||
    c === TAB ||
    c === NL ||
    c === CR ||
    c === SEMI ||
    c === AMP ||
    c === PIPE ||
    c === LT ||
    c === GT ||
    c === LPAREN ||
    c === RPAREN ||
    c === BACKTICK ||
    c === DOLLAR ||
    c === SQUOTE ||
    c === DQUOTE ||
    c === BACKSLASH
  );
}

/** Whether `$` followed by `c` starts an expansion (`$x`, `${`, `$(`, `$1`, `$@`, `$'..'` ...). */
function startsExpansion(c: number): boolean {
  if (Number.isNaN(c)) return false;
  if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f) return true;
  // { ( @ * # ? $ ! - ' "
  return (
    c === 0x7b || c === LPAREN || c === 0x40 || c === 0x2a || c === HASH || c === 0x3f || c === DOLLAR ||
    c === 0x21 || c === 0x2d || c === SQUOTE || c === DQUOTE
  );
}

function isAllDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** What the rest of a shell line does to its first command's outcome (`splitFirstCommand`). */
interface LineShape {
  /** Another command follows (`|`, `||`, `&&`, `;`, `&`, a newline): the line's exit status is not the first command's. */
  followed: boolean;
  /** The first command's stdout is redirected (`>f`, `1>f`, `>&2`, `&>f`). */
  stdoutRedirected: boolean;
  /** Its stderr is redirected (`2>f`, `2>&1`, `&>f`). */
  stderrRedirected: boolean;
}

/** Whether a command follows position `i` of `s` (blanks, empty `;` statements and comments are none). */
function moreCommands(s: string, i: number): boolean {
  const n = Math.min(s.length, MAX_COMMAND_LINE);
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === SP || c === TAB || c === CR || c === NL || c === SEMI) i++;
    else if (c === HASH) {
      const e = s.indexOf('\n', i);
      if (e < 0) return false;
      i = e + 1;
    } else return true;
  }
  return false;
}

/**
 * Splits the first simple command of `s` into words, shell-style. `strict` (for local command
 * lines) gives up (null) on expansions, substitutions and subshells; lenient mode (for remote
 * commands, which the DEVICE's shell expands) keeps `$`, backticks and parentheses as characters.
 * Null also for unterminated quotes, here-documents and more than MAX_WORDS words. The targets of
 * redirections are dropped from the words; `redirects`, when given, receives the first four.
 */
function splitFirstCommand(s: string, strict: boolean, redirects?: string[], shape?: LineShape): string[] | null {
  const n = s.length;
  if (n > MAX_COMMAND_LINE) return null;
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quoted = false; // the current word had quotes or escapes (so `2` in `"2">x` is no fd number)
  let dropNext = false; // the next word is a redirection target
  let fd = -1; // the descriptor a redirection names (`2>`), -1 for its default
  let i = 0;
  for (;;) {
    const c = i < n ? s.charCodeAt(i) : -1;
    const endsCommand =
      c === -1 || c === NL || c === SEMI || c === PIPE || (c === AMP && s.charCodeAt(i + 1) !== GT);
    const endsWord = endsCommand || c === SP || c === TAB || c === CR;
    const redirect = !endsWord && (c === LT || c === GT || (c === AMP && s.charCodeAt(i + 1) === GT));
    if (endsWord || redirect) {
      if (inWord) {
        if (redirect && !quoted && isAllDigits(word)) {
          // `2>file`: the digits are the redirected descriptor, not an argument.
          fd = word.length <= 2 ? Number(word) : 99;
        } else if (dropNext) {
          dropNext = false;
          if (redirects !== undefined && redirects.length < 4) redirects.push(word);
        } else {
          words.push(word);
          if (words.length > MAX_WORDS) return null;
        }
        word = '';
        inWord = false;
        quoted = false;
      }
      if (endsCommand) {
        if (shape !== undefined && c !== -1) shape.followed = c === PIPE || c === AMP || moreCommands(s, i + 1);
        break;
      }
      if (redirect) {
        if (dropNext) return null; // `> >`: a syntax error, nothing to say
        if (c === LT && s.charCodeAt(i + 1) === LT) return null; // here-document / here-string
        if (shape !== undefined && c !== LT) {
          if (c === AMP) {
            shape.stdoutRedirected = true;
            shape.stderrRedirected = true;
          } else if (fd === 2) shape.stderrRedirected = true;
          else if (fd < 0 || fd === 1) shape.stdoutRedirected = true;
        }
        fd = -1;
        i++;
        if (c === AMP) i++; // `&>`
        const d = s.charCodeAt(i);
        if (d === GT || d === AMP || d === PIPE || (c === LT && d === GT)) i++; // >> >& <& >| <>
        dropNext = true;
        continue;
      }
      i++;
      continue;
    }
    if (c === HASH && !inWord) {
      // A comment: the rest of its line is no command (the next line may hold one).
      if (shape !== undefined) shape.followed = moreCommands(s, i);
      break;
    }
    if (c === LPAREN || c === RPAREN || c === BACKTICK) {
      if (strict) return null;
      word += s[i];
      inWord = true;
      i++;
      continue;
    }
    if (c === DOLLAR) {
      if (strict && startsExpansion(s.charCodeAt(i + 1))) return null;
      word += '$';
      inWord = true;
      i++;
      continue;
    }
    if (c === SQUOTE) {
      const j = s.indexOf("'", i + 1);
      if (j < 0) return null;
      word += s.slice(i + 1, j);
      inWord = true;
      quoted = true;
      i = j + 1;
      continue;
    }
    if (c === DQUOTE) {
      i++;
      let closed = false;
      while (i < n) {
        const d = s.charCodeAt(i);
        if (d === DQUOTE) {
          closed = true;
          i++;
          break;
        }
        if (d === BACKSLASH && i + 1 < n) {
          const e = s.charCodeAt(i + 1);
          if (e === NL) {
            i += 2; // line continuation
            continue;
          }
          if (e === DOLLAR || e === BACKTICK || e === DQUOTE || e === BACKSLASH) {
            word += s[i + 1];
            i += 2;
            continue;
          }
          word += '\\';
          i++;
          continue;
        }
        if (strict && (d === BACKTICK || (d === DOLLAR && startsExpansion(s.charCodeAt(i + 1))))) return null;
        // Copy a run of plain characters at once.
        let j = i + 1;
        while (j < n) {
          const f = s.charCodeAt(j);
          if (f === DQUOTE || f === BACKSLASH || f === BACKTICK || f === DOLLAR) break;
          j++;
        }
        word += s.slice(i, j);
        i = j;
      }
      if (!closed) return null;
      inWord = true;
      quoted = true;
      continue;
    }
    if (c === BACKSLASH) {
      if (i + 1 < n) {
        if (s.charCodeAt(i + 1) === NL) {
          i += 2; // line continuation joins words
          continue;
        }
        word += s[i + 1];
        i += 2;
      } else {
        word += '\\';
        i++;
      }
      inWord = true;
      quoted = true;
      continue;
    }
    let j = i + 1;
    while (j < n && !isSpecial(s.charCodeAt(j))) j++;
    word += s.slice(i, j);
    inWord = true;
    i = j;
  }
  if (dropNext) return null; // redirection without a target
  return words;
}

/**
 * The first command of a cmd.exe line (`exec` on Windows), split as cmd.exe splits it: blanks
 * between words, `"..."` quoting (no escapes inside), `^` escaping the next character outside
 * quotes, backslashes literal; `&`, `&&`, `||`, `|` end the command, redirections (`>`, `>>`, `<`,
 * `2>`, `2>&1`) are dropped with their target. Null for `%VAR%` expansion, `(` grouping, an
 * unterminated quote or more than MAX_WORDS words.
 */
function splitCmdFirstCommand(s: string, shape: LineShape): string[] | null {
  const n = s.length;
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  let dropNext = false;
  const endWord = (): boolean => {
    if (!inWord) return true;
    if (dropNext) dropNext = false;
    else {
      words.push(word);
      if (words.length > MAX_WORDS) return false;
    }
    word = '';
    inWord = false;
    quoted = false;
    return true;
  };
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === DQUOTE) {
      const j = s.indexOf('"', i + 1);
      if (j < 0) return null;
      word += s.slice(i + 1, j);
      inWord = true;
      quoted = true;
      i = j + 1;
      continue;
    }
    // `%VAR%` in the program's name makes it unknowable; in an argument cmd.exe leaves an
    // undefined one as written (`date +%s`), and a defined one does not change the subcommand.
    if ((c === 0x25 /* % */ && words.length === 0) || (c === LPAREN && !inWord)) return null;
    if (c === 0x5e /* ^ */) {
      if (i + 1 < n) {
        word += s[i + 1];
        inWord = true;
      }
      i += 2;
      continue;
    }
    if (c === AMP || c === PIPE || c === NL || c === CR) {
      if (!endWord()) return null;
      if (dropNext) return null;
      shape.followed = c === PIPE || moreCommands(s.replace(/[&|]/g, ' '), i + 1);
      break;
    }
    if (c === GT || c === LT) {
      const digits = inWord && !quoted && isAllDigits(word) ? Number(word) : -1;
      if (digits >= 0) {
        word = '';
        inWord = false;
      } else if (!endWord()) return null;
      if (dropNext) return null;
      if (c === GT) {
        if (digits === 2) shape.stderrRedirected = true;
        else if (digits < 0 || digits === 1) shape.stdoutRedirected = true;
      }
      i++;
      if (s.charCodeAt(i) === GT) i++;
      if (s.charCodeAt(i) === AMP) {
        // `2>&1`, `>&2`: a descriptor, not a file.
        i++;
        while (i < n && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
        continue;
      }
      dropNext = true;
      continue;
    }
    if (c === SP || c === TAB) {
      if (!endWord()) return null;
      i++;
      continue;
    }
    word += s[i];
    inWord = true;
    i++;
  }
  if (!endWord() || dropNext) return null;
  return words;
}

/** `NAME=value` with a shell variable name. */
function isAssignment(w: string): boolean {
  const eq = w.indexOf('=');
  if (eq <= 0) return false;
  for (let i = 0; i < eq; i++) {
    const c = w.charCodeAt(i);
    const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
    if (!alpha && !(i > 0 && c >= 0x30 && c <= 0x39)) return false;
  }
  return true;
}

/**
 * Index of the word that is the program after `VAR=x`, `env [opts] VAR=x`, `exec` and `command`
 * prefixes; -1 when a prefix carries options we do not model.
 */
function programIndex(words: readonly string[]): number {
  let k = 0;
  while (k < words.length && isAssignment(words[k] as string)) k++;
  for (let guard = 0; guard < 4 && k < words.length; guard++) {
    const w = words[k] as string;
    if (w === 'exec' || w === 'command') {
      k++;
      continue;
    }
    if (w !== 'env') break;
    k++;
    while (k < words.length) {
      const o = words[k] as string;
      if (o === '-i' || o === '-' || o === '--ignore-environment') k++;
      else if (o === '-u' || o === '--unset') k += 2;
      else if (o.startsWith('--unset=')) k++;
      else if (o === '--') {
        k++;
        break;
      } else if (o.length > 1 && o.charCodeAt(0) === 0x2d) return -1;
      else break;
    }
    while (k < words.length && isAssignment(words[k] as string)) k++;
  }
  return k < words.length ? k : -1;
}

export interface ShellCommandLine {
  /** The program as written (`adb`, `/opt/sdk/platform-tools/adb`). */
  file: string;
  /** Its arguments, unquoted, without redirections. */
  args: string[];
  /**
   * `ANDROID_SERIAL` as the line's own prefix sets it (`ANDROID_SERIAL=X adb ...`, `env
   * ANDROID_SERIAL=X adb ...`); null when the prefix removes it (`env -u ANDROID_SERIAL`, `env -i`);
   * undefined when the prefix does not touch it (the child's environment decides).
   */
  androidSerial?: string | null;
  /** The line's exit status is adb's (no command follows it: no pipeline, list or `&`). */
  exitIsAdbs: boolean;
  /** What the line writes to stdout is adb's alone (not piped on, redirected, or followed by another command). */
  stdoutIsAdbs: boolean;
  /** adb's stdout reaches the caller, perhaps through a filter (`| grep`), not a file (`> f`). */
  stdoutReachesCaller: boolean;
  /** adb's stderr is not redirected (`2>/dev/null`, `2>&1`). */
  stderrIsAdbs: boolean;
}

/** What the words before the program (assignments, `env` and its options) do to ANDROID_SERIAL. */
function prefixAndroidSerial(words: readonly string[], program: number): string | null | undefined {
  let v: string | null | undefined;
  for (let k = 0; k < program; k++) {
    const w = words[k] as string;
    if (w.startsWith('ANDROID_SERIAL=')) v = w.slice('ANDROID_SERIAL='.length);
    else if (w === '-i' || w === '-' || w === '--ignore-environment' || w === '--unset=ANDROID_SERIAL') v = null;
    else if ((w === '-u' || w === '--unset') && words[k + 1] === 'ANDROID_SERIAL') v = null;
  }
  return v;
}

/**
 * Decodes `exec('adb -s X shell ls /sdcard')`-style strings (what `/bin/sh -c` receives): the
 * first simple command, when its program is adb (`isAdbExecutable`). Null when it is not adb, when
 * the string is longer than MAX_COMMAND_LINE, or when it is too complex to say (see module notes).
 */
/**
 * `platform`: `win32` reads the line as cmd.exe does, anything else as /bin/sh does (a Windows
 * application that gives `exec` another shell, Git Bash or PowerShell, passes `posix`).
 */
export function parseShellCommandLine(command: string, configuredPath?: string, platform: string = process.platform): ShellCommandLine | null {
  if (typeof command !== 'string' || command.length > MAX_COMMAND_LINE) return null;
  // Quick reject: no `adb` anywhere, and no configured path that could be spelt differently.
  if (configuredPath === undefined && command.indexOf('adb') < 0 && command.indexOf('ADB') < 0) return null;
  const shape: LineShape = { followed: false, stdoutRedirected: false, stderrRedirected: false };
  // Windows: Node hands the line to cmd.exe, where backslashes are path separators.
  const windows = platform === 'win32';
  const words = windows ? splitCmdFirstCommand(command, shape) : splitFirstCommand(command, true, undefined, shape);
  if (words === null) return null;
  const k = windows ? (words.length > 0 ? 0 : -1) : programIndex(words);
  if (k < 0) return null;
  const file = words[k] as string;
  if (!isAdbExecutable(file, configuredPath)) return null;
  const line: ShellCommandLine = {
    file,
    args: words.slice(k + 1),
    exitIsAdbs: !shape.followed,
    stdoutIsAdbs: !shape.followed && !shape.stdoutRedirected,
    stdoutReachesCaller: !shape.stdoutRedirected,
    stderrIsAdbs: !shape.stderrRedirected,
  };
  const serial = prefixAndroidSerial(words, k);
  if (serial !== undefined) line.androidSerial = serial;
  return line;
}

// ---------------------------------------------------------------------------------------------
// adb's command line

export interface DecodedAdbCommand {
  /** Bounded label (ADB_OPERATIONS). */
  operation: AdbOperation;
  /** The subcommand word as typed, when it is a short plain token (`wait-for-usb-device`, `pair`). */
  subcommand?: string;
  /** `-s` / `--one-device` value (printable ASCII, no blanks, at most MAX_SERIAL_LENGTH). */
  serial?: string;
  /** `-t` value. */
  transportId?: number;
  /** `-H` value, or the host of `-L tcp:HOST:PORT`. */
  host?: string;
  /** `-P` value, or the port of `-L tcp:[HOST:]PORT`. */
  port?: number;
  /** `-d` (usb) / `-e` (emulator / tcp). */
  target?: 'usb' | 'emulator';
  /** Global flags as typed but without their values (`-s`, `-d` ...), for `commandArgsForSpan`. */
  globalFlags: string[];
  /** The words after the subcommand. */
  subcommandArgs: string[];
  /** `shell` options (`-n`, `-T`, `-x`, `-t`, `-e C`) before the remote command. */
  shellOptions?: string[];
  /** `shell` / `exec-out`: the remote command as adb sends it (arguments joined by one space). */
  shellCommand?: string;
}

const OPERATION_BY_WORD: ReadonlyMap<string, AdbOperation> = new Map<string, AdbOperation>([
  ...ADB_OPERATIONS.filter((o) => o !== 'other').map((o): [string, AdbOperation] => [o, o]),
  ['install-multi-package', 'install-multiple'],
  ['reboot-bootloader', 'reboot'],
  ['lolcat', 'logcat'],
  ['--version', 'version'],
]);

/** Maps a subcommand word to its bounded operation. */
export function adbOperationOf(word: string | undefined): AdbOperation {
  if (typeof word !== 'string') return 'other';
  const op = OPERATION_BY_WORD.get(word);
  if (op !== undefined) return op;
  // wait-for[-TRANSPORT]-STATE (usb, local, any x device, recovery, rescue, sideload, bootloader, disconnect)
  if (word.length > 9 && word.length <= 40 && word.startsWith('wait-for-')) return 'wait-for-device';
  return 'other';
}

/** Printable ASCII without blanks, 1..max characters. */
function isPlainValue(s: string, max: number): boolean {
  const n = s.length;
  if (n === 0 || n > max) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** `[a-z0-9][a-z0-9_-]*`, at most 32: safe to show as a subcommand or a program name. */
function isToken(s: string, max = 32): boolean {
  const n = s.length;
  if (n === 0 || n > max) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    const ok =
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x30 && c <= 0x39) ||
      (i > 0 && (c === 0x2d || c === 0x5f || c === 0x2e || c === 0x2b));
    if (!ok) return false;
  }
  return true;
}

function parseUint(s: string, max: number): number | undefined {
  if (s.length === 0 || s.length > 10 || !isAllDigits(s)) return undefined;
  const v = Number(s);
  return v <= max ? v : undefined;
}

function applySocketSpec(out: DecodedAdbCommand, spec: string): void {
  // -L tcp:PORT | tcp:HOST:PORT (other socket kinds carry no host/port)
  if (!spec.startsWith('tcp:')) return;
  const rest = spec.slice(4);
  const colon = rest.lastIndexOf(':');
  const portText = colon < 0 ? rest : rest.slice(colon + 1);
  const port = parseUint(portText, 65535);
  if (port !== undefined && port > 0) out.port = port;
  if (colon > 0) {
    const host = rest.slice(0, colon);
    if (isPlainValue(host, 253)) out.host = host;
  }
}

/** Global options that take a value, by their flag. */
const VALUE_FLAGS: ReadonlySet<string> = new Set(['-s', '-t', '-H', '-P', '-L', '--one-device']);
/** Global options without a value. */
const BARE_FLAGS: ReadonlySet<string> = new Set(['-d', '-e', '-a', '--exit-on-write-error']);

function applyGlobal(out: DecodedAdbCommand, flag: string, value: string): void {
  switch (flag) {
    case '-s':
    case '--one-device':
      if (isPlainValue(value, MAX_SERIAL_LENGTH)) out.serial = value;
      break;
    case '-t': {
      const id = parseUint(value, Number.MAX_SAFE_INTEGER);
      if (id !== undefined) out.transportId = id;
      break;
    }
    case '-H':
      if (isPlainValue(value, 253)) out.host = value;
      break;
    case '-P': {
      const port = parseUint(value, 65535);
      if (port !== undefined && port > 0) out.port = port;
      break;
    }
    case '-L':
      applySocketSpec(out, value);
      break;
  }
}

/**
 * Parses `adb shell` options the way adb's getopt("+e:ntTx") does: clustered flags (`-nT`), `-e C`
 * or `-eC`, `--` ends them, the first other word starts the command. Returns that word's index.
 */
function shellCommandStart(sub: readonly string[], options: string[]): number {
  let j = 0;
  while (j < sub.length) {
    const a = sub[j] as string;
    if (a === '--') return j + 1;
    if (a.length < 2 || a.charCodeAt(0) !== 0x2d) return j;
    let k = 1;
    while (k < a.length) {
      const c = a.charCodeAt(k);
      if (c !== 0x6e && c !== 0x74 && c !== 0x54 && c !== 0x78) break; // n t T x
      k++;
    }
    if (k === a.length) {
      options.push(a);
      j++;
      continue;
    }
    if (a.charCodeAt(k) !== 0x65) return j; // not an option adb knows: it would refuse the run
    if (k > 1) options.push(a.slice(0, k));
    options.push('-e');
    j += k === a.length - 1 ? 2 : 1; // `-e C` takes the next word, `-eC` does not
  }
  return j;
}

function joinBounded(words: readonly string[], from: number): string {
  let s = '';
  for (let i = from; i < words.length; i++) {
    const w = words[i];
    if (typeof w !== 'string') continue;
    s = s.length === 0 ? w : s + ' ' + w;
    if (s.length >= MAX_SHELL_COMMAND) return s.slice(0, MAX_SHELL_COMMAND);
  }
  return s;
}

/**
 * Decodes adb's arguments (WITHOUT argv[0], i.e. `spawnargs.slice(1)` or execFile's array).
 * Never throws; non-string elements end the decoding (`other`).
 */
export function decodeAdbArgs(args: readonly string[]): DecodedAdbCommand {
  const out: DecodedAdbCommand = { operation: 'other', globalFlags: [], subcommandArgs: [] };
  if (!Array.isArray(args)) return out;
  const n = args.length;
  let i = 0;
  while (i < n) {
    const a: unknown = args[i];
    if (typeof a !== 'string') return out;
    if (a.length < 2 || a.charCodeAt(0) !== 0x2d) break;
    if (BARE_FLAGS.has(a)) {
      if (a === '-d') out.target = 'usb';
      else if (a === '-e') out.target = 'emulator';
      if (out.globalFlags.length < 16) out.globalFlags.push(a);
      i++;
      continue;
    }
    if (VALUE_FLAGS.has(a)) {
      const v: unknown = args[i + 1];
      if (typeof v !== 'string') return out; // adb: "-s requires an argument"
      applyGlobal(out, a, v);
      if (out.globalFlags.length < 16) out.globalFlags.push(a);
      i += 2;
      continue;
    }
    const flag = a.slice(0, 2);
    if (a.length > 2 && flag !== '--' && VALUE_FLAGS.has(flag)) {
      applyGlobal(out, flag, a.slice(2)); // glued: -sSERIAL, -t3, -P5038
      if (out.globalFlags.length < 16) out.globalFlags.push(flag);
      i++;
      continue;
    }
    break; // adb takes an unknown option as the command word
  }
  const word: unknown = args[i];
  if (typeof word !== 'string') return out;
  out.operation = adbOperationOf(word);
  if (isToken(word)) out.subcommand = word;
  for (let k = i + 1; k < n; k++) {
    const w: unknown = args[k];
    if (typeof w === 'string') out.subcommandArgs.push(w);
  }
  if (out.operation === 'shell') {
    const options: string[] = [];
    const start = shellCommandStart(out.subcommandArgs, options);
    out.shellOptions = options;
    if (start < out.subcommandArgs.length) out.shellCommand = joinBounded(out.subcommandArgs, start);
  } else if (out.operation === 'exec-out' && out.subcommandArgs.length > 0) {
    out.shellCommand = joinBounded(out.subcommandArgs, 0);
  }
  return out;
}

/**
 * What adb prints on stdout, with exit status 0, when it did not do what was asked: `adb connect`
 * that reached no device (`failed to connect to 'host:port': Connection refused`, `unable to connect
 * to ...`, `cannot connect to ...`), and the emulator console refusing a command (`KO: ...`, e.g.
 * `adb emu sms pdu` with a bad PDU). Null when it said nothing of the kind.
 */
export function stdoutRefusal(op: AdbOperation, stdout: string): AdbErrorType | null {
  if (op !== 'connect' && op !== 'emu') return null;
  const n = Math.min(stdout.length, 2 * STDERR_WINDOW);
  let i = 0;
  while (i < n) {
    let end = stdout.indexOf('\n', i);
    if (end < 0 || end > n) end = n;
    let p = i;
    while (p < end && (stdout.charCodeAt(p) === SP || stdout.charCodeAt(p) === TAB || stdout.charCodeAt(p) === CR)) p++;
    if (op === 'connect') {
      if (stdout.startsWith('failed to connect to ', p) || stdout.startsWith('unable to connect to ', p) || stdout.startsWith('cannot connect to ', p)) return 'connect_failed';
    } else if (stdout.startsWith('KO', p) && (end - p === 2 || stdout.charCodeAt(p + 2) === 0x3a)) return 'console_refused';
    i = end + 1;
  }
  return null;
}

/** Operations whose errors older adb printed on stdout (the sync client's LinePrinter). */
const STDOUT_ERROR_OPERATIONS: ReadonlySet<AdbOperation> = new Set<AdbOperation>(['push', 'pull', 'install', 'install-multiple', 'bugreport']);

export function errorsMayBeOnStdout(op: AdbOperation): boolean {
  return STDOUT_ERROR_OPERATIONS.has(op);
}

/** logcat options that print what is there and exit (or do not read the log at all): no live radio log. */
const LOGCAT_NOT_LIVE: ReadonlySet<string> = new Set(['-d', '-c', '-g', '-S', '-L', '--dump', '--clear', '--buffer-size', '--statistics', '--last']);

/** `adb logcat` reading the live log (not `-d`, `-t N`, `-c` ...). */
export function isLiveLogcat(decoded: DecodedAdbCommand): boolean {
  if (decoded.operation !== 'logcat') return false;
  for (const a of decoded.subcommandArgs) {
    if (LOGCAT_NOT_LIVE.has(a)) return false;
    // `-t N` / `-tN` / `-t 'time'`: the most recent lines, then exit (`-T` keeps reading).
    if (a.startsWith('-t') && !a.startsWith('--')) return false;
  }
  return true;
}

/** Flags (or, for reboot, targets) kept on the span per operation: none of them carries data. */
const KEPT_FLAGS: Partial<Record<AdbOperation, ReadonlySet<string>>> = {
  devices: new Set(['-l']),
  install: new Set([
    '-l', '-r', '-t', '-s', '-d', '-g', '--instant', '--streaming', '--no-streaming', '--fastdeploy',
    '--no-fastdeploy', '--incremental', '--no-incremental', '--wait', '--staged',
  ]),
  'install-multiple': new Set([
    '-l', '-r', '-t', '-s', '-d', '-g', '-p', '--instant', '--streaming', '--no-streaming',
    '--incremental', '--no-incremental', '--staged',
  ]),
  uninstall: new Set(['-k']),
  push: new Set(['--sync', '-a', '-z', '-Z', '-n']),
  pull: new Set(['-a', '-z', '-Z']),
  logcat: new Set(['-d', '-c', '-g', '-D', '-S', '-L', '-s']),
  reboot: new Set(['bootloader', 'recovery', 'sideload', 'sideload-auto-reboot', 'fastboot', 'edl']),
  forward: new Set(['--list', '--remove-all', '--no-rebind', '--remove']),
  reverse: new Set(['--list', '--remove-all', '--no-rebind', '--remove']),
};

/**
 * Base name of the remote program: first word of the remote command, `VAR=x` prefixes skipped,
 * directories dropped; undefined unless it is a plain token (so no quoted text can slip through).
 */
export function remoteProgramName(shellCommand: string | undefined): string | undefined {
  if (typeof shellCommand !== 'string') return undefined;
  const n = Math.min(shellCommand.length, 4096);
  let i = 0;
  for (let guard = 0; guard < 8; guard++) {
    while (i < n && (shellCommand.charCodeAt(i) === SP || shellCommand.charCodeAt(i) === TAB)) i++;
    let j = i;
    while (j < n && !isSpecial(shellCommand.charCodeAt(j))) j++;
    const w = shellCommand.slice(i, j);
    if (isAssignment(w) && j < n && (shellCommand.charCodeAt(j) === SP || shellCommand.charCodeAt(j) === TAB)) {
      i = j;
      continue;
    }
    const base = w.slice(w.lastIndexOf('/') + 1);
    return isToken(base, 64) ? base : undefined;
  }
  return undefined;
}

/**
 * The `process.command_args` span value: `adb`, the global flags without their values, the
 * subcommand (as typed when it is a plain token, else the operation), then for `shell` its
 * `-n/-t/-T/-x` options and the remote program's base name, for `exec-out` the program's base name,
 * and for other operations only the flags in KEPT_FLAGS. Never a serial, path, package, URL,
 * address, port, shell argument or emulator console text.
 */
export function commandArgsForSpan(decoded: DecodedAdbCommand): string[] {
  const out = ['adb'];
  for (const f of decoded.globalFlags) out.push(f);
  out.push(decoded.subcommand ?? decoded.operation);
  if (decoded.operation === 'shell' || decoded.operation === 'exec-out') {
    if (decoded.shellOptions !== undefined) {
      for (const o of decoded.shellOptions) if (o !== '-e' && isToken(o.slice(1), 8)) out.push(o);
    }
    const name = remoteProgramName(decoded.shellCommand);
    if (name !== undefined) out.push(name);
    return out;
  }
  const kept = KEPT_FLAGS[decoded.operation];
  if (kept === undefined) return out;
  let count = 0;
  for (const a of decoded.subcommandArgs) {
    if (kept.has(a)) {
      out.push(a);
      if (++count >= 16) break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Errors

export interface AdbRunOutcome {
  /** The exit code; null/undefined when the process died by a signal or never started. */
  exitCode?: number | null;
  /** The terminating signal (`SIGTERM` ...). */
  signal?: string | null;
  /** What adb wrote to stderr (only its first and last 1 KiB are read). */
  stderr?: string | null;
  /**
   * What it wrote to stdout, for the sync commands (push, pull, sync, install): older adb printed
   * their errors there (its LinePrinter wrote to stdout until 2024). Read as stderr is, after it.
   */
  stdout?: string | null;
  /**
   * False when the exit status is not adb's (a shell line that goes on after adb: `adb ... | tr`):
   * then only adb's own error lines decide, whatever the status.
   */
  exitIsAdbs?: boolean;
  /** `error.code` of a failed spawn (`ENOENT` ...). */
  spawnErrorCode?: string | null;
  /** The caller's timeout killed it. */
  timedOut?: boolean;
  /**
   * Base name of the executable that was run, when it is not `adb` (a configured path): adb prefixes
   * some errors with its own executable's name (`adb.exe: device offline` on Windows).
   */
  executableName?: string | null;
}

/** Spawn failures meaning "there is no runnable adb at that path". */
const MISSING_CODES: ReadonlySet<string> = new Set(['ENOENT', 'EACCES', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG', 'EPERM']);

/**
 * What adb says before the reason when a step fails (`adb: error: failed to get feature set: device
 * offline`, `adb: unable to connect for root: device offline`): the reason follows it.
 */
function skipFailedStep(m: string): string {
  if (m.startsWith('failed to get feature set: ')) return m.slice(27);
  if (m.startsWith('failed to check server version: ')) return m.slice(32);
  if (m.startsWith('sideload connection failed: ')) return m.slice(28);
  if (m.startsWith('unable to connect for ')) {
    const c = m.indexOf(': ', 22);
    if (c > 22 && c <= 22 + 32) return m.slice(c + 2);
  }
  return m;
}

/** Classifies one adb message (the text after `adb: ` / `error: `). */
function classifyAdbMessage(message: string): AdbErrorType | null {
  const m = skipFailedStep(message);
  if (
    m.startsWith('no devices/emulators found') ||
    m.startsWith('no devices found') ||
    m.startsWith('no emulators found') ||
    m.startsWith('no emulator detected') // `adb emu ...` (the emulator console) with none running
  ) {
    return 'no_devices';
  }
  if (m.startsWith("device '")) {
    const q = m.indexOf("'", 8);
    if (q > 0 && m.startsWith("' not found", q)) return 'device_not_found';
  }
  if (m.startsWith('device not found') || m.startsWith('no device with transport id') || m.startsWith("no such device '")) return 'device_not_found';
  if (
    m.startsWith('device unauthorized') ||
    m.startsWith('device still authorizing') ||
    m.startsWith('insufficient permissions for device')
  ) {
    return 'unauthorized';
  }
  if (m.startsWith('device offline') || m.startsWith('device still connecting')) return 'offline';
  if (m.startsWith('more than one device') || m.startsWith('more than one emulator') || m.startsWith('more than one USB device')) {
    return 'more_than_one_device';
  }
  return null;
}

/** Longest executable name read before `: ` at the start of a stderr line. */
const MAX_EXECUTABLE_PREFIX = 64;

/**
 * Where the message of one of adb's own error lines starts, or -1. adb writes `error: <why>`, and
 * `<its executable's base name>: [error: ]<why>` (`adb: ...`, `adb.exe: ...` on Windows, any case;
 * `executableName` for an adb with another name), and `get-state error: <why>` before `wait-for` /
 * `root`.
 */
function ownMessageStart(text: string, p: number, end: number, executableName: string | null): number {
  if (text.startsWith('error: ', p)) return p + 7;
  if (text.startsWith('get-state error: ', p)) return p + 17;
  const colon = text.indexOf(': ', p);
  if (colon <= p || colon >= end || colon - p > MAX_EXECUTABLE_PREFIX) return -1;
  const name = text.slice(p, colon);
  if (name !== 'adb' && name !== executableName && name.toLowerCase() !== 'adb.exe') return -1;
  const q = colon + 2;
  return text.startsWith('error: ', q) ? q + 7 : q;
}

/** Scans `text[from, to)` line by line for adb's own error lines. */
function scanStderr(text: string, from: number, to: number, executableName: string | null): AdbErrorType | null {
  let i = from;
  while (i < to) {
    let end = text.indexOf('\n', i);
    if (end < 0 || end > to) end = to;
    let p = i;
    while (p < end && (text.charCodeAt(p) === SP || text.charCodeAt(p) === TAB || text.charCodeAt(p) === CR)) p++;
    const q = ownMessageStart(text, p, end, executableName);
    if (q >= 0 && end - q >= 10) {
      const r = classifyAdbMessage(text.slice(q, Math.min(end, q + 192)));
      if (r !== null) return r;
    }
    i = end + 1;
  }
  return null;
}

/**
 * The `error.type` of an adb run, or null when it succeeded (or has not ended). Order: a spawn
 * failure (`adb_missing` for ENOENT/EACCES/ENOTDIR/ELOOP/ENAMETOOLONG/EPERM, else `exit_nonzero`),
 * then a timeout or a signal (`killed`), exit 0 (null), adb's own message in stderr, `exit_nonzero`.
 */
export function classifyAdbError(outcome: AdbRunOutcome): AdbErrorType | null {
  if (outcome === null || typeof outcome !== 'object') return null;
  const { exitCode, signal, stderr, stdout, spawnErrorCode, timedOut } = outcome;
  const exe = typeof outcome.executableName === 'string' && outcome.executableName !== '' ? outcome.executableName : null;
  if (typeof spawnErrorCode === 'string' && spawnErrorCode.length > 0) {
    return MISSING_CODES.has(spawnErrorCode) ? 'adb_missing' : 'exit_nonzero';
  }
  if (timedOut === true || (typeof signal === 'string' && signal.length > 0)) return 'killed';
  const ownStatus = outcome.exitIsAdbs !== false;
  if (ownStatus && (typeof exitCode !== 'number' || exitCode === 0)) return null;
  const said = scanOutput(stderr, exe) ?? scanOutput(stdout, exe);
  if (said !== null || !ownStatus) return said;
  return 'exit_nonzero';
}

/** adb's own error line in the first and last 1 KiB of `text`, if any. */
function scanOutput(text: string | null | undefined, exe: string | null): AdbErrorType | null {
  if (typeof text !== 'string' || text.length === 0) return null;
  const n = text.length;
  if (n <= 2 * STDERR_WINDOW) return scanStderr(text, 0, n, exe);
  const head = scanStderr(text, 0, STDERR_WINDOW, exe);
  if (head !== null) return head;
  // Start the tail at a line boundary so a cut line is not misread.
  let start = text.indexOf('\n', n - STDERR_WINDOW);
  start = start < 0 ? n : start + 1;
  return scanStderr(text, start, n, exe);
}

// ---------------------------------------------------------------------------------------------
// adb devices [-l]

export interface AdbDevice {
  serial: string;
  state: AdbDeviceState;
  /** `usb:` devpath (`1-1.2` on Linux). */
  usb?: string;
  product?: string;
  model?: string;
  device?: string;
  transportId?: number;
}

export interface AdbDevicesListing {
  devices: AdbDevice[];
  /** Non-empty lines that are neither a device, the header nor adb's `* daemon` chatter. */
  malformed: number;
  /** More than MAX_DEVICES devices, or more than 128 KiB of output: the rest was not read. */
  truncated: boolean;
}

/** Single-word states, longest first where one is a prefix of another (none are today). */
const WORD_STATES: ReadonlyMap<string, AdbDeviceState> = new Map(
  ADB_DEVICE_STATES.filter((s) => s !== 'no permissions').map((s): [string, AdbDeviceState] => [s, s]),
);

function isBlank(c: number): boolean {
  return c === SP || c === TAB;
}

/** Parses one device line; null when it is not one. `line` has no line terminator. */
function parseDeviceLine(line: string): AdbDevice | null {
  const n = line.length;
  let serial: string;
  let i: number;
  if (line.startsWith('(no serial number)')) {
    serial = '(no serial number)';
    i = serial.length;
  } else {
    i = 0;
    while (i < n && !isBlank(line.charCodeAt(i))) i++;
    serial = line.slice(0, i);
    if (!isPlainValue(serial, MAX_SERIAL_LENGTH)) return null;
  }
  if (i >= n || !isBlank(line.charCodeAt(i))) return null;
  while (i < n && isBlank(line.charCodeAt(i))) i++;
  let state: AdbDeviceState;
  if (line.startsWith('no permissions', i)) {
    state = 'no permissions';
    i += 14;
    // `no permissions (reason); see [url]` (the reason has its own `;`), or older bare forms.
    const see = line.indexOf('; see [', i);
    if (see >= 0) {
      const close = line.indexOf(']', see);
      i = close < 0 ? n : close + 1;
    } else if (line.startsWith(' (', i)) {
      const close = line.indexOf(')', i);
      i = close < 0 ? n : close + 1;
    }
  } else {
    let j = i;
    while (j < n && !isBlank(line.charCodeAt(j))) j++;
    const s = WORD_STATES.get(line.slice(i, j));
    if (s === undefined) return null;
    state = s;
    i = j;
  }
  const dev: AdbDevice = { serial, state };
  // Long listing: blank-separated `key:value` fields; unknown fields are ignored (newer adb adds some).
  while (i < n) {
    while (i < n && isBlank(line.charCodeAt(i))) i++;
    let j = i;
    while (j < n && !isBlank(line.charCodeAt(j))) j++;
    if (j > i) {
      const colon = line.indexOf(':', i);
      if (colon > i && colon < j) {
        const key = line.slice(i, colon);
        const value = line.slice(colon + 1, j);
        if (isPlainValue(value, MAX_FIELD_LENGTH)) {
          if (key === 'usb') dev.usb = value;
          else if (key === 'product') dev.product = value;
          else if (key === 'model') dev.model = value;
          else if (key === 'device') dev.device = value;
          else if (key === 'transport_id') {
            const id = parseUint(value, Number.MAX_SAFE_INTEGER);
            if (id !== undefined) dev.transportId = id;
          }
        }
      }
    }
    i = j;
  }
  return dev;
}

/** Parses the stdout of `adb devices` / `adb devices -l`. Never throws. */
export function parseAdbDevices(stdout: string): AdbDevicesListing {
  const result: AdbDevicesListing = { devices: [], malformed: 0, truncated: false };
  if (typeof stdout !== 'string') return result;
  let n = stdout.length;
  if (n > MAX_DEVICES_INPUT) {
    n = MAX_DEVICES_INPUT;
    result.truncated = true;
  }
  let i = 0;
  while (i < n) {
    let end = stdout.indexOf('\n', i);
    const cut = end < 0 || end > n;
    if (cut) end = n;
    let lineEnd = end;
    if (lineEnd > i && stdout.charCodeAt(lineEnd - 1) === CR) lineEnd--;
    const start = i;
    i = end + 1;
    if (cut && result.truncated) break; // a line cut by the input bound is not judged
    let p = start;
    while (p < lineEnd && (isBlank(stdout.charCodeAt(p)) || stdout.charCodeAt(p) === CR)) p++;
    if (p === lineEnd) continue;
    if (stdout.startsWith('List of devices attached', p) || stdout.startsWith('* ', p) || stdout.startsWith('adb server version', p)) {
      continue;
    }
    if (lineEnd - start > MAX_DEVICE_LINE) {
      result.malformed++;
      continue;
    }
    const dev = parseDeviceLine(stdout.slice(start, lineEnd));
    if (dev === null) {
      result.malformed++;
      continue;
    }
    if (result.devices.length >= MAX_DEVICES) {
      result.truncated = true;
      break;
    }
    result.devices.push(dev);
  }
  return result;
}

/** Devices ready for use (state `device`). */
export function countOnline(devices: readonly AdbDevice[]): number {
  let c = 0;
  if (!Array.isArray(devices)) return 0;
  for (const d of devices) if (d !== null && typeof d === 'object' && d.state === 'device') c++;
  return c;
}

// ---------------------------------------------------------------------------------------------
// What a remote command does to the phone's modem: SMS injections and AT commands

const SMS_ACTIONS: ReadonlySet<string> = new Set([
  'android.provider.Telephony.SMS_DELIVER',
  'android.provider.Telephony.SMS_RECEIVED',
]);

/** How an SMS was injected (the `sms.trigger` span's `cardlink.sms.method`); a bounded domain. */
export type SmsInjectionMethod = 'emulator_console' | 'broadcast' | 'content_provider' | 'service_call' | 'modem_device';

/** What an adb run does to the phone's modem. */
export interface PhoneActions {
  /** The run injects or sends an SMS (a trigger), and how; null when it does not. */
  smsMethod: SmsInjectionMethod | null;
  /** Bounded name of the AT command it sends to the modem (`+CPIN`, `+CMGS`), by the at-names rules. */
  atCommand: string | null;
}

const NO_ACTIONS: PhoneActions = Object.freeze({ smsMethod: null, atCommand: null });

function baseName(w: string): string {
  return w.slice(w.lastIndexOf('/') + 1);
}

/** One remote simple command: its program's base name, arguments and redirection targets. */
interface RemoteCommand {
  name: string;
  args: string[];
  redirects: string[];
}

/** The remote command's first simple command, or the script of one or two `sh -c` / `su [user] -c` around it. */
function innermostCommand(cmd: string): RemoteCommand | null {
  let script = cmd;
  for (let depth = 0; depth <= 2; depth++) {
    const redirects: string[] = [];
    const words = splitFirstCommand(script, false, redirects);
    if (words === null) return null;
    let k = 0;
    while (k < words.length && isAssignment(words[k] as string)) k++;
    const prog = words[k];
    if (prog === undefined) return null;
    const name = baseName(prog);
    const args = words.slice(k + 1);
    if ((name === 'sh' || name === 'su') && depth < 2) {
      const c = args.indexOf('-c');
      const inner = c >= 0 ? args[c + 1] : undefined;
      if (inner === undefined) return null;
      script = inner;
      continue;
    }
    return { name, args, redirects };
  }
  return null;
}

/** A modem's AT device node on Qualcomm phones (`/dev/smd0`, `/dev/smd11`). */
function isModemNode(path: string): boolean {
  return path.startsWith('/dev/smd');
}

/** `echo` options that come before the text (`-e`, `-n`, `-ne`, `-E`). */
function isEchoOption(w: string): boolean {
  if (w.length < 2 || w.length > 4 || w.charCodeAt(0) !== 0x2d) return false;
  for (let i = 1; i < w.length; i++) {
    const c = w.charCodeAt(i);
    if (c !== 0x65 && c !== 0x6e && c !== 0x45) return false; // e n E
  }
  return true;
}

/**
 * The AT text a remote command sends to the modem: an `s16` argument starting with `AT` of
 * `service call phone <code> ...` (a raw OEM RIL request), or what `echo` / `printf` writes into a
 * `/dev/smd*` node. Undefined for anything else.
 */
function modemText(c: RemoteCommand): { text: string; route: 'service_call' | 'modem_device' } | undefined {
  const a = c.args;
  if (c.name === 'service') {
    if (a[0] !== 'call' || a[1] !== 'phone') return undefined;
    for (let i = 2; i + 1 < a.length; i++) {
      const v = a[i + 1] as string;
      if (a[i] === 's16' && v.length >= 2 && (v.charCodeAt(0) | 0x20) === 0x61 && (v.charCodeAt(1) | 0x20) === 0x74) {
        return { text: v, route: 'service_call' };
      }
    }
    return undefined;
  }
  if ((c.name !== 'echo' && c.name !== 'printf') || !c.redirects.some(isModemNode)) return undefined;
  let i = 0;
  if (c.name === 'echo') while (i < a.length && isEchoOption(a[i] as string)) i++;
  const text = a[i];
  return text === undefined ? undefined : { text: text.trimStart(), route: 'modem_device' };
}

/** The command line of an AT text: up to its CR, LF, Ctrl-Z / ESC or a backslash escape (`\r` of `echo -e`). */
function atCommandLine(text: string): string {
  let i = 0;
  const n = Math.min(text.length, 512);
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === CR || c === NL || c === 0x1a || c === 0x1b || c === BACKSLASH) break;
  }
  return text.slice(0, i);
}

/** Whether an AT text carries a message body ended by Ctrl-Z: a byte, or `echo -e` / `printf` escapes. */
function endsMessageBody(text: string): boolean {
  return text.indexOf('\x1a') >= 0 || text.indexOf('\\x1a') >= 0 || text.indexOf('\\x1A') >= 0 || text.indexOf('\\032') >= 0;
}

/**
 * What an adb run does to the phone's modem. SMS injections (and nothing else):
 * - `adb emu sms send <number> <text>` and `adb emu sms pdu <hex>` (emulator console);
 * - remote `am broadcast ...` / `cmd activity broadcast ...` naming the action
 *   `android.provider.Telephony.SMS_DELIVER` or `...SMS_RECEIVED`;
 * - remote `content insert --uri content://sms[/...] ...`;
 * - remote `service call isms <code> ...` with at least three `s16` arguments (the send*
 *   transactions: destination, service centre, text);
 * - an `AT+CMGS` with its message body ended by Ctrl-Z sent to the modem: as an `s16` argument of
 *   remote `service call phone <code> ...`, or by `echo` / `printf` into `/dev/smd*`. A bare
 *   `AT+CMGS=<length>` sends nothing yet, so one SMS written in two steps is one trigger.
 * AT commands: the name (at-names rules) of the AT text of `service call phone ... s16 'AT...'`
 * and of `echo [-e] 'AT...' > /dev/smd*`. The remote command is `shellCommand` (defaults to
 * `decoded.shellCommand`): its first simple command, or the script of up to two `sh -c` /
 * `su [user] -c` around it. Never throws.
 */
export function phoneActions(decoded: DecodedAdbCommand, shellCommand?: string): PhoneActions {
  if (decoded === null || typeof decoded !== 'object') return NO_ACTIONS;
  if (decoded.operation === 'emu') {
    const a = decoded.subcommandArgs;
    const sms = Array.isArray(a) && a[0] === 'sms' && (a[1] === 'send' || a[1] === 'pdu');
    return sms ? { smsMethod: 'emulator_console', atCommand: null } : NO_ACTIONS;
  }
  if (decoded.operation !== 'shell' && decoded.operation !== 'exec-out') return NO_ACTIONS;
  const cmd = shellCommand ?? decoded.shellCommand;
  if (typeof cmd !== 'string' || cmd.length === 0) return NO_ACTIONS;
  const c = innermostCommand(cmd.length > MAX_COMMAND_LINE ? cmd.slice(0, MAX_COMMAND_LINE) : cmd);
  if (c === null) return NO_ACTIONS;
  const rest = c.args;
  if (c.name === 'am' || (c.name === 'cmd' && rest[0] === 'activity')) {
    const r = c.name === 'cmd' ? rest.slice(1) : rest;
    const sms = r[0] === 'broadcast' && r.some((w) => SMS_ACTIONS.has(w));
    return sms ? { smsMethod: 'broadcast', atCommand: null } : NO_ACTIONS;
  }
  if (c.name === 'content') {
    if (rest[0] !== 'insert') return NO_ACTIONS;
    for (let j = 1; j + 1 < rest.length; j++) {
      if (rest[j] !== '--uri') continue;
      const uri = rest[j + 1] as string;
      if (uri === 'content://sms' || uri.startsWith('content://sms/')) return { smsMethod: 'content_provider', atCommand: null };
    }
    return NO_ACTIONS;
  }
  if (c.name === 'service' && rest[0] === 'call' && rest[1] === 'isms') {
    // The send* transactions of ISms take destination, service centre and text as strings;
    // queries take at most the calling package. Transaction numbers vary by release, so count.
    let strings = 0;
    for (const w of rest) if (w === 's16') strings++;
    return strings >= 3 ? { smsMethod: 'service_call', atCommand: null } : NO_ACTIONS;
  }
  const m = modemText(c);
  if (m === undefined) return NO_ACTIONS;
  const name = parseAtCommandLine(atCommandLine(m.text)).name;
  if (name === AT_OTHER) return NO_ACTIONS;
  const sms = name === '+CMGS' && endsMessageBody(m.text);
  return { smsMethod: sms ? m.route : null, atCommand: name };
}

/** True when the adb run injects or sends an SMS (see phoneActions). */
export function isSmsInjection(decoded: DecodedAdbCommand, shellCommand?: string): boolean {
  return phoneActions(decoded, shellCommand).smsMethod !== null;
}
