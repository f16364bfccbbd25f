/**
 * The cardlink-otel config file: a flat JSON object from configuration variable names to values,
 *
 *     { "OTEL_SERVICE_NAME": "ota-lab", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://alloy:4317" }
 *
 * at `$CARDLINK_CONFIG_FILE`, else `./cardlink-otel.json` (relative to the working directory).
 * Keys are the variables `parseConfig` reads (the README's variable table); values are strings
 * (numbers and booleans are accepted and read as their text). The environment wins: a variable set
 * to a non-empty value in the environment overrides the file. The runtime and the CLI both go
 * through `loadLayeredEnv`, so they always agree on the effective configuration.
 *
 * Everything here reports problems as one-line messages and never throws for a bad file: the
 * application must start whatever the file holds.
 *
 * The file can load code (CARDLINK_EXTRA_INSTRUMENTATIONS) and holds the metrics password, so it is
 * trusted only when nobody else could have written it: a file writable by group or others, or owned
 * by another user than the process's (root excepted), is refused with one line. `config set` never
 * writes through a symlink and never into a file another user prepared (see writeConfigFile).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, lstatSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { Env } from '../config.js';
import { knownVariables } from './config-vars.js';
import { makeDirectories } from './io.js';

export const CONFIG_FILE_ENV = 'CARDLINK_CONFIG_FILE';
export const DEFAULT_CONFIG_FILE = 'cardlink-otel.json';
/** Files larger than this are not read (a config file is a few hundred bytes). */
const MAX_FILE_BYTES = 1024 * 1024;
const PREFIX = 'cardlink-otel:';

export type ValueSource = 'environment' | 'file' | 'default';

export interface ConfigFile {
  path: string;
  exists: boolean;
  values: Record<string, string>;
  /** The file's object as read (unknown keys included), when it is one; `config set` keeps what it does not touch. */
  raw: Record<string, unknown> | undefined;
  /** One line each. */
  errors: string[];
  /** Why the file is not trusted (writable by others, another owner): it is then not read. */
  refused?: string;
}

export interface LayeredEnv {
  /** File values overlaid by non-empty environment values: hand this to parseConfig. */
  env: Record<string, string | undefined>;
  file: ConfigFile;
  /** Where each known variable's value came from. */
  sources: Record<string, ValueSource>;
}

/** The config file path for an environment and working directory. */
export function configFilePath(env: Env = process.env, cwd: string = process.cwd()): string {
  const explicit = env[CONFIG_FILE_ENV]?.trim();
  const p = explicit !== undefined && explicit !== '' ? explicit : DEFAULT_CONFIG_FILE;
  return isAbsolute(p) ? p : resolve(cwd, p);
}

const isSet = (v: string | undefined): v is string => v !== undefined && v.trim() !== '';

/** Why a file with this owner and mode must not be trusted, or undefined when it may be. */
function untrusted(path: string, uid: number, mode: number): string | undefined {
  if ((mode & 0o022) !== 0) {
    const m = (mode & 0o777).toString(8).padStart(4, '0');
    return `config file ${path} is writable by ${(mode & 0o002) !== 0 ? 'others' : 'its group'} (mode ${m}; chmod go-w it)`;
  }
  const self = process.getuid?.();
  if (self !== undefined && uid !== self && uid !== 0) {
    return `config file ${path} is owned by another user (uid ${uid}; this process runs as uid ${self})`;
  }
  return undefined;
}

/** Reads and validates the file; a missing file is simply empty. */
export function readConfigFile(path: string): ConfigFile {
  const out: ConfigFile = { path, exists: false, values: {}, raw: undefined, errors: [] };
  let text: string;
  let fd: number | undefined;
  try {
    // What is checked is what is read: the open file, not the path a second time.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile()) {
      out.errors.push(`${PREFIX} config file ${path} is not a regular file; ignored.`);
      return out;
    }
    out.exists = true;
    const distrust = untrusted(path, st.uid, st.mode);
    if (distrust !== undefined) {
      out.refused = distrust;
      out.errors.push(`${PREFIX} ${distrust}; ignored.`);
      return out;
    }
    if (st.size > MAX_FILE_BYTES) {
      out.errors.push(`${PREFIX} config file ${path} is larger than ${MAX_FILE_BYTES} bytes; ignored.`);
      return out;
    }
    text = readFileSync(fd, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return out;
    out.errors.push(`${PREFIX} cannot read config file ${path}: ${(e as Error).message}; ignored.`);
    return out;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    out.errors.push(`${PREFIX} config file ${path} is not valid JSON (${(e as Error).message}); ignored.`);
    return out;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    out.errors.push(`${PREFIX} config file ${path} must hold a JSON object of variable names to values; ignored.`);
    return out;
  }
  out.raw = raw as Record<string, unknown>;
  const known = new Set(knownVariables().map((v) => v.name));
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (!known.has(k)) {
      out.errors.push(`${PREFIX} config file ${path}: unknown variable ${JSON.stringify(k)}; ignored.`);
      continue;
    }
    if (typeof v === 'string') out.values[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') out.values[k] = String(v);
    else out.errors.push(`${PREFIX} config file ${path}: ${k} must be a string; ignored.`);
  }
  return out;
}

/** File values overlaid by the environment, for parseConfig. */
export function loadLayeredEnv(env: Env = process.env, cwd: string = process.cwd()): LayeredEnv {
  const file = readConfigFile(configFilePath(env, cwd));
  const layered: Record<string, string | undefined> = { ...file.values };
  for (const [k, v] of Object.entries(env)) if (isSet(v)) layered[k] = v;
  const sources: Record<string, ValueSource> = {};
  for (const v of knownVariables()) {
    sources[v.name] = isSet(env[v.name]) ? 'environment' : file.values[v.name] !== undefined ? 'file' : 'default';
  }
  return { env: layered, file, sources };
}

/**
 * Writes `values` (sorted, 2-space JSON, owner-only permissions since it may hold the metrics
 * password) atomically: a reader never sees a half-written file. The temporary file has an
 * unpredictable name and is created exclusively without following a symlink (O_CREAT | O_EXCL |
 * O_NOFOLLOW, mode 0600), so nothing another local user planted beside the file receives the
 * content; the rename then replaces the path itself. A path that is a symlink is refused.
 */
export function writeConfigFile(path: string, values: Record<string, unknown>): void {
  const sorted = Object.fromEntries(Object.keys(values).sort().map((k) => [k, values[k]]));
  let isLink = false;
  try {
    isLink = lstatSync(path).isSymbolicLink();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (isLink) throw new Error(`${path} is a symbolic link; not writing through it (point CARDLINK_CONFIG_FILE at the real file)`);
  makeDirectories(dirname(path));
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(12).toString('hex')}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    try {
      writeFileSync(fd, `${JSON.stringify(sorted, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* nothing to clean */
    }
    throw e;
  }
}
