/**
 * Turning arbitrary values into bounded, secret-free, JSON-safe data for log lines, OTel log
 * attributes and health-check details.
 *
 * Pure (no OTel, no I/O) and total: any value in, never an exception out. Secrets are removed by
 * key name (passwords, tokens, PSKs, PINs and the SIM card's keys: KIc, KID, KIK, Ki, OPc ...) and
 * inside strings (the password of a `scheme://user:password@host` URL, the `token` of a
 * `scheme://token@host` URL, `password=...` in a libpq string, the arguments of `AT+CPIN=` /
 * `AT+CPWD=` / `AT+CLCK=`).
 * Raw bytes are never copied into a log: a Buffer becomes `[12 bytes]` (docs/architecture.md, "Rules every patch obeys": APDU
 * data only when asked for, and never for PUT KEY / STORE DATA / the PIN commands).
 */

export const REDACTED = '[REDACTED]';

const MAX_DEPTH = 5;
const MAX_KEYS = 100;
const MAX_ITEMS = 100;
const MAX_STRING = 8192;
const MAX_CAUSES = 3;

/** Normalised (lower case, letters and digits only) names whose values are always secret. */
const SECRET_NAMES = new Set([
  'password',
  'passwd',
  'pwd',
  'pass',
  'passphrase',
  'secret',
  'token',
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'credentials',
  'credential',
  'psk',
  'pskhex',
  'ki',
  'opc',
  'kic',
  'kid',
  'kik',
  'dek',
  'privatekey',
  'pin',
  'pin1',
  'pin2',
  'puk',
  'puk1',
  'puk2',
  'adm',
]);

function normaliseKey(key: string): string {
  let out = '';
  for (let i = 0; i < key.length && i < 64; i++) {
    const c = key.charCodeAt(i);
    if (c >= 65 && c <= 90) out += String.fromCharCode(c + 32);
    else if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57)) out += key[i];
  }
  return out;
}

/**
 * Whether a field of this name holds a secret. Deliberately broad (anything ending in `key` or
 * `token`, anything mentioning password or secret): a redacted harmless value costs little, a
 * leaked card key costs a lot.
 */
export function isSecretKey(key: string): boolean {
  const n = normaliseKey(key);
  if (n === '') return false;
  return (
    SECRET_NAMES.has(n) ||
    n.includes('password') ||
    n.includes('secret') ||
    n.endsWith('token') ||
    n.endsWith('key') ||
    n.endsWith('keys') ||
    n.endsWith('psk')
  );
}

// The password runs to the LAST `@` of the authority: an unencoded `@` in it must not leave a tail.
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^/?#\s]*@/gi;
/** A userinfo without a password (`https://TOKEN@host`): the whole of it is the credential. */
const URL_TOKEN = /([a-z][a-z0-9+.-]*:\/\/)[^:/?#@\s]+@/gi;
/** Any userinfo, up to the last `@` of the authority. */
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^/?#\s]*@/gi;
const KEYWORD_PASSWORD = /(\bpassword\s*=\s*)('[^']*'|"[^"]*"|[^\s;&]*)/gi;
/** AT commands that carry a SIM PIN/PUK or a facility password (3GPP TS 27.007 +CPIN, +CPWD, +CLCK). */
const AT_PASSWORD = /(\+C(?:PIN|PWD|LCK)=)[^\r\n]*/gi;

/** Removes passwords from URLs and `password=...` pairs inside free text; bounded in length. */
export function redactString(s: string): string {
  let out = s.length > MAX_STRING ? `${s.slice(0, MAX_STRING)}...[truncated ${s.length - MAX_STRING} chars]` : s;
  // Cheap tests first: most strings contain neither.
  if (out.includes('://')) out = out.replace(URL_CREDENTIALS, '$1:***@').replace(URL_TOKEN, '$1***@');
  if (/password/i.test(out)) out = out.replace(KEYWORD_PASSWORD, '$1***');
  if (/\+C(?:PIN|PWD|LCK)=/i.test(out)) out = out.replace(AT_PASSWORD, '$1***');
  return out;
}

/**
 * An endpoint as it may be shown: its whole userinfo (`user:password@`, `token@`) becomes `***@`.
 * For OTLP endpoints, whose userinfo is a credential as a whole; any text is accepted.
 */
export function redactUrlUserinfo(s: string): string {
  return s.includes('@') ? s.replace(URL_USERINFO, '$1***@') : s;
}

const URL_QUERY_VALUE = /([?&][^=&#\s]*=)[^&#\s]*/g;

/**
 * An endpoint as it may be shown: its userinfo masked (redactUrlUserinfo) and every query
 * parameter's value too (`?api_key=...`: some collectors take their token there).
 */
export function redactEndpoint(s: string): string {
  const out = redactUrlUserinfo(s);
  return out.includes('?') && out.includes('://') ? out.replace(URL_QUERY_VALUE, '$1***') : out;
}

export interface SerializedError {
  type: string;
  message: string;
  stack?: string;
  code?: string | number;
  cause?: SerializedError;
}

/** An error (or any thrown value) as `{type, message, stack, code, cause}`, secrets removed. */
export function serializeError(err: unknown, causes = 0): SerializedError {
  try {
    if (err instanceof Error) {
      const out: SerializedError = {
        type: err.name || err.constructor?.name || 'Error',
        message: redactString(String(err.message)),
      };
      if (typeof err.stack === 'string') out.stack = redactString(err.stack);
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' || typeof code === 'number') out.code = code;
      if (err.cause !== undefined && causes < MAX_CAUSES) out.cause = serializeError(err.cause, causes + 1);
      return out;
    }
    if (typeof err === 'object' && err !== null) {
      const o = err as { name?: unknown; message?: unknown };
      return {
        type: typeof o.name === 'string' ? o.name : 'Object',
        message: typeof o.message === 'string' ? redactString(o.message) : redactString(safeString(err)),
      };
    }
    return { type: typeof err, message: redactString(safeString(err)) };
  } catch {
    return { type: 'unknown', message: 'unserializable error' };
  }
}

function safeString(v: unknown): string {
  try {
    return String(v);
  } catch {
    return '[unprintable]';
  }
}

/**
 * A JSON-safe copy of `value`: secrets redacted, bytes summarised, depth/keys/items/strings bounded,
 * cycles cut. `undefined`, functions and symbols become `undefined` (dropped from objects).
 */
export function sanitizeValue(value: unknown): unknown {
  try {
    return clean(value, 0, []);
  } catch {
    return '[unserializable]';
  }
}

function clean(v: unknown, depth: number, ancestors: object[]): unknown {
  switch (typeof v) {
    case 'string':
      return redactString(v);
    case 'number':
      return Number.isFinite(v) ? v : String(v);
    case 'boolean':
      return v;
    case 'bigint':
      return v.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (v === null) return null;
  const obj = v as object;
  if (obj instanceof Error) return serializeError(obj);
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString();
  if (obj instanceof URL) return redactString(obj.href);
  if (ArrayBuffer.isView(obj)) return `[${obj.byteLength} bytes]`;
  if (obj instanceof ArrayBuffer) return `[${obj.byteLength} bytes]`;
  if (depth >= MAX_DEPTH) return Array.isArray(obj) ? '[Array]' : '[Object]';
  if (ancestors.includes(obj)) return '[Circular]';
  ancestors.push(obj);
  try {
    if (Array.isArray(obj) || obj instanceof Set) {
      const items = Array.isArray(obj) ? obj : [...obj];
      const out: unknown[] = [];
      const n = Math.min(items.length, MAX_ITEMS);
      for (let i = 0; i < n; i++) {
        const c = clean(items[i], depth + 1, ancestors);
        out.push(c === undefined ? null : c);
      }
      if (items.length > MAX_ITEMS) out.push(`...${items.length - MAX_ITEMS} more`);
      return out;
    }
    if (obj instanceof Map) {
      const out: Record<string, unknown> = {};
      let n = 0;
      for (const [k, val] of obj) {
        if (n++ >= MAX_KEYS) break;
        const key = safeString(k);
        setKey(out, key, isSecretKey(key) ? REDACTED : clean(val, depth + 1, ancestors));
      }
      return out;
    }
    const toJSON = (obj as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return clean(toJSON.call(obj), depth + 1, ancestors);
    return cleanObject(obj as Record<string, unknown>, depth, ancestors);
  } finally {
    ancestors.pop();
  }
}

function cleanObject(obj: Record<string, unknown>, depth: number, ancestors: object[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const key in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, key)) continue;
    if (n++ >= MAX_KEYS) {
      out['...'] = 'more keys omitted';
      break;
    }
    let val: unknown;
    try {
      val = obj[key];
    } catch {
      val = '[getter threw]';
    }
    if (isSecretKey(key)) {
      if (val !== undefined && val !== null) setKey(out, key, REDACTED);
      continue;
    }
    const c = clean(val, depth + 1, ancestors);
    if (c !== undefined) setKey(out, key, c);
  }
  return out;
}

/** A plain assignment to `__proto__` would replace the copy's prototype instead of adding a key. */
function setKey(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

/**
 * Fields of one log call, sanitised. Keys listed in `reserved` (the fixed fields of a log line)
 * are kept under `_<key>` instead, so a context field can never overwrite `level` or `trace_id`;
 * so are names of Object.prototype members. Quotes, backslashes and control characters in names
 * become `_`.
 */
export function sanitizeFields(fields: object | undefined, reserved: ReadonlySet<string>): Record<string, unknown> {
  if (fields === undefined || fields === null) return {};
  const cleaned = sanitizeValue(fields);
  if (typeof cleaned !== 'object' || cleaned === null || Array.isArray(cleaned)) return { value: cleaned };
  const out: Record<string, unknown> = {};
  // Names of Object.prototype members (`valueOf`, `toString`, `__proto__` ...) are renamed too:
  // pino looks serializers up by field name in a plain object and would call the inherited method.
  for (const [raw, v] of Object.entries(cleaned)) {
    // pino writes a child's binding names into the line without JSON escaping: keep names plain.
    const k = NEEDS_ESCAPE.test(raw) ? raw.replace(NEEDS_ESCAPE_ALL, '_') : raw;
    out[reserved.has(k) || k in Object.prototype ? `_${k}` : k] = v;
  }
  return out;
}

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u2028\u2029]/;
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE_ALL = /["\\\u0000-\u001f\u2028\u2029]/g;

/** Default bound of a peer-chosen value in a log line (a PSK identity is at most 256 bytes; CardLink's are short). */
export const MAX_PEER_TEXT = 128;

/** Characters a peer could use to forge or hide log content: C0/C1 controls, DEL, line separators, bidi and direction marks, lone surrogates, and the backslash of our own escapes. */
function needsEscape(c: number): boolean {
  return (
    c < 0x20 ||
    (c >= 0x7f && c <= 0x9f) ||
    c === 0x5c ||
    c === 0x200e ||
    c === 0x200f ||
    (c >= 0x2028 && c <= 0x202e) ||
    (c >= 0x2066 && c <= 0x2069) ||
    (c >= 0xd800 && c <= 0xdfff)
  );
}

function escapeChar(s: string, i: number): { text: string; width: number } {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return { text: s.slice(i, i + 2), width: 2 }; // a well-formed pair
  }
  if (c === 0x5c) return { text: '\\\\', width: 1 };
  if (c < 0x100) return { text: `\\x${c.toString(16).padStart(2, '0')}`, width: 1 };
  return { text: `\\u${c.toString(16).padStart(4, '0')}`, width: 1 };
}

/**
 * A value a peer chose (PSK identity, device serial, modem error text) made fit for a log line:
 * every character of needsEscape written as `\xNN` / `\uNNNN` (a backslash as `\\`), and at most
 * `max` characters, then `...[+N]` for the N left out. Returns the value itself when it needs
 * nothing (no allocation on the common path).
 */
export function peerText(value: unknown, max = MAX_PEER_TEXT): string {
  const s = typeof value === 'string' ? value : safeString(value);
  let clean = s.length <= max;
  for (let i = 0; clean && i < s.length; i++) if (needsEscape(s.charCodeAt(i))) clean = false;
  if (clean) return s;
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    const e = needsEscape(c) ? escapeChar(s, i) : { text: s[i]!, width: 1 };
    if (out.length + e.text.length > max) break;
    out += e.text;
    i += e.width;
  }
  return i < s.length ? `${out}...[+${s.length - i}]` : out;
}
