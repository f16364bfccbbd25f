/**
 * Reading `child_process` argument lists the way Node reads them: is this call a run of adb, what
 * are adb's arguments and the call's options, and (opt-in trace propagation) the same call with a
 * `TRACEPARENT` in the child's environment. No OpenTelemetry here.
 *
 * Shapes (Node 20 `normalizeSpawnArguments` / `normalizeExecFileArgs` / `normalizeExecArgs`):
 *   spawn / spawnSync / execFileSync (file, args?, options?)     args may be skipped or null
 *   execFile (file, args?, options?, callback?)                   any of the three may be skipped
 *   exec / execSync (command, options?, callback?)                always through a shell
 */
import { decodeAdbArgs, isAdbExecutable, parseShellCommandLine, MAX_SERIAL_LENGTH, type DecodedAdbCommand, type ShellCommandLine } from './adb.js';

export type CallKind = 'spawn' | 'execFile' | 'exec' | 'spawnSync' | 'execFileSync' | 'execSync';

/** A recognised run of adb. */
export interface AdbCall {
  /** The executable as the application named it (`adb`, `/opt/sdk/platform-tools/adb`). */
  readonly file: string;
  readonly decoded: DecodedAdbCommand;
  /** The target serial: `-s`, else `ANDROID_SERIAL` of the child's environment (as adb does). */
  readonly serial: string | undefined;
  /** The command went through a shell (`exec`, or `shell: true`). */
  readonly viaShell: boolean;
  /** What of the run's outcome is adb's (a shell line may go on after it): see ShellCommandLine. */
  readonly exitIsAdbs: boolean;
  readonly stdoutIsAdbs: boolean;
  readonly stdoutReachesCaller: boolean;
  readonly stderrIsAdbs: boolean;
}

type Outcome = Pick<AdbCall, 'exitIsAdbs' | 'stdoutIsAdbs' | 'stdoutReachesCaller' | 'stderrIsAdbs'>;

const ALL_ADBS: Outcome = { exitIsAdbs: true, stdoutIsAdbs: true, stdoutReachesCaller: true, stderrIsAdbs: true };

function lineOutcome(line: ShellCommandLine): Outcome {
  return { exitIsAdbs: line.exitIsAdbs, stdoutIsAdbs: line.stdoutIsAdbs, stdoutReachesCaller: line.stdoutReachesCaller, stderrIsAdbs: line.stderrIsAdbs };
}

type Options = Record<string, unknown>;

function isObject(x: unknown): x is Options {
  return typeof x === 'object' && x !== null;
}

/** The options object of a `(file, args?, options?, ...)` call, as Node would pick it. */
export function fileCallOptions(a1: unknown, a2: unknown): Options | undefined {
  if (Array.isArray(a1) || a1 === null || a1 === undefined) return isObject(a2) && !Array.isArray(a2) ? a2 : undefined;
  return isObject(a1) ? a1 : undefined;
}

/** The options object of an `(command, options?, callback?)` call. */
export function commandCallOptions(a1: unknown): Options | undefined {
  return isObject(a1) ? a1 : undefined;
}

/**
 * Cheap pre-test for strings that only a shell would split (`exec` commands, `shell: true` files):
 * can this string mention adb at all? Two or three substring searches, no allocation.
 */
export function mentionsAdb(s: string, configuredBase: string | undefined): boolean {
  return s.indexOf('adb') >= 0 || s.indexOf('ADB') >= 0 || (configuredBase !== undefined && s.indexOf(configuredBase) >= 0);
}

/**
 * For a `file` that is not adb by name: is it a `shell: true` command line that mentions adb
 * (`spawn('adb -s X shell ls', { shell: true })`)? Reads the options first, so a plain non-adb
 * spawn costs a type test or two, no substring search.
 */
export function shellLineMentionsAdb(file: string, a1: unknown, a2: unknown, configuredBase: string | undefined): boolean {
  const options = fileCallOptions(a1, a2);
  return options !== undefined && Boolean(options['shell']) && mentionsAdb(file, configuredBase);
}

/** Base name of a configured adb path (what a shell command line would contain at least). */
export function baseNameOf(path: string): string {
  const i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return i >= 0 ? path.slice(i + 1) : path;
}

/**
 * `-s`, else ANDROID_SERIAL: as the shell line's own prefix sets it (`prefix`: see
 * ShellCommandLine.androidSerial), else from the child's environment.
 */
function serialFromEnv(decoded: DecodedAdbCommand, options: Options | undefined, prefix?: string | null): string | undefined {
  if (decoded.serial !== undefined) return decoded.serial;
  // adb lets -d / -e / -t win over ANDROID_SERIAL.
  if (decoded.transportId !== undefined || decoded.target !== undefined) return undefined;
  let v: unknown;
  if (prefix !== undefined) v = prefix ?? undefined;
  else {
    const env = options !== undefined && options['env'] !== undefined && options['env'] !== null ? options['env'] : process.env;
    if (!isObject(env)) return undefined;
    v = env['ANDROID_SERIAL'];
  }
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_SERIAL_LENGTH) return undefined;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return undefined;
  }
  return v;
}

function stringArgs(a: unknown): string[] {
  if (!Array.isArray(a)) return [];
  return a as string[]; // decodeAdbArgs stops at the first non-string, like a malformed call
}

/**
 * The adb run behind `spawn(file, a1, a2)` / `execFile` / `spawnSync` / `execFileSync`, or
 * undefined. `file` is adb itself, or (with `shell: true`) a command line whose program is adb.
 */
export function adbCallFromFile(file: string, a1: unknown, a2: unknown, configuredPath: string | undefined): AdbCall | undefined {
  const options = fileCallOptions(a1, a2);
  if (isAdbExecutable(file, configuredPath) && (options === undefined || !options['shell'])) {
    const decoded = decodeAdbArgs(stringArgs(a1));
    return { file, decoded, serial: serialFromEnv(decoded, options), viaShell: false, ...ALL_ADBS };
  }
  if (options === undefined || !options['shell']) return undefined;
  // Node joins file and args with single spaces and hands the line to the shell.
  const args = Array.isArray(a1) ? a1 : [];
  const line = parseShellCommandLine(args.length > 0 ? `${file} ${args.join(' ')}` : file, configuredPath, lineDialect(options));
  if (line === null) return undefined;
  const decoded = decodeAdbArgs(line.args);
  return { file: line.file, decoded, serial: serialFromEnv(decoded, options, line.androidSerial), viaShell: true, ...lineOutcome(line) };
}

/**
 * How the shell Node runs will split the line: cmd.exe's rules on Windows unless the application
 * named another shell (Git Bash, PowerShell: POSIX-like enough for a first command), else sh's.
 */
export function lineDialect(options: Options | undefined, platform: string = process.platform): string {
  if (platform !== 'win32') return platform;
  const shell = options?.['shell'];
  return typeof shell === 'string' && !/(^|[\\/])cmd(\.exe)?$/i.test(shell) ? 'posix' : 'win32';
}

/** The adb run behind `exec(command, a1)` / `execSync`, or undefined. */
export function adbCallFromCommand(command: string, a1: unknown, configuredPath: string | undefined): AdbCall | undefined {
  const line = parseShellCommandLine(command, configuredPath, lineDialect(commandCallOptions(a1)));
  if (line === null) return undefined;
  const decoded = decodeAdbArgs(line.args);
  return { file: line.file, decoded, serial: serialFromEnv(decoded, commandCallOptions(a1), line.androidSerial), viaShell: true, ...lineOutcome(line) };
}

/**
 * The same call with `extraEnv` added to the child's environment (the options object and its env
 * are copied, never changed). Undefined when the argument list has a shape Node would reject:
 * then the call is made unchanged and Node reports the problem as it would have.
 */
export function argumentsWithEnv(kind: CallKind, args: ArrayLike<unknown>, extraEnv: Record<string, string>): unknown[] | undefined {
  const first = args[0];
  const a1 = args[1];
  const a2 = args[2];
  const a3 = args[3];
  let options: unknown;
  let out: unknown[];
  if (kind === 'exec' || kind === 'execSync') {
    if (a1 !== undefined && a1 !== null && typeof a1 !== 'object' && typeof a1 !== 'function') return undefined;
    options = isObject(a1) ? a1 : undefined;
    const callback = typeof a1 === 'function' ? a1 : a2;
    out = kind === 'exec' ? [first, undefined, callback] : [first, undefined];
    return finish(out, 1, options, extraEnv);
  }
  if (kind === 'execFile') {
    let fileArgs: unknown = undefined;
    let callback: unknown = undefined;
    if (Array.isArray(a1)) {
      fileArgs = a1;
      options = a2;
      callback = a3;
    } else if (isObject(a1)) {
      options = a1;
      callback = a2;
    } else if (typeof a1 === 'function') {
      callback = a1;
    } else if (a1 === undefined || a1 === null) {
      options = a2;
      callback = a3;
    } else {
      return undefined;
    }
    if (typeof options === 'function') {
      callback = options;
      options = undefined;
    }
    if (options !== undefined && options !== null && !isObject(options)) return undefined;
    if (callback !== undefined && callback !== null && typeof callback !== 'function') return undefined;
    out = [first, fileArgs ?? [], undefined, callback];
    return finish(out, 2, options, extraEnv);
  }
  // spawn, spawnSync, execFileSync
  if (Array.isArray(a1)) options = a2;
  else if (a1 === undefined || a1 === null) options = a2;
  else if (isObject(a1)) options = a1;
  else return undefined;
  if (options !== undefined && options !== null && !isObject(options)) return undefined;
  out = [first, Array.isArray(a1) ? a1 : [], undefined];
  return finish(out, 2, options, extraEnv);
}

function finish(out: unknown[], at: number, options: unknown, extraEnv: Record<string, string>): unknown[] | undefined {
  const opts = isObject(options) ? options : undefined;
  const env = opts?.['env'];
  if (env !== undefined && env !== null && !isObject(env)) return undefined;
  out[at] = { ...opts, env: { ...envCopy(isObject(env) ? env : process.env), ...extraEnv } };
  return out;
}

/** The environment as Node hands it to the child: inherited enumerable keys too (`for...in`), not only own ones. */
function envCopy(env: Options): Options {
  const copy: Options = {};
  for (const key in env) copy[key] = env[key];
  return copy;
}
