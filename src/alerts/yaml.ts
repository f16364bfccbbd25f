/**
 * A small YAML emitter for the documents we generate (Prometheus rule files): maps with identifier
 * keys, lists, strings, numbers and booleans. No YAML library is a dependency, and this subset is
 * easy to get exactly right: strings that could be read as anything but themselves are written as
 * JSON strings (valid YAML double-quoted scalars), multi-line strings as `|-` literal blocks.
 */

export type YamlValue = string | number | boolean | null | readonly YamlValue[] | { readonly [key: string]: YamlValue | undefined };

// Plain scalars that YAML 1.1 or 1.2 would read as a boolean, null or number are quoted.
const RESERVED = /^(?:true|false|yes|no|on|off|y|n|null|~)$/i;
const NUMBER_LIKE = /^(?:[-+.]?[0-9][0-9_.eE+-]*|[-+]?0[xob][0-9a-f_]*|[-+]?\.(?:inf|nan))$/i;
const PLAIN_SAFE = /^[A-Za-z0-9_][A-Za-z0-9_./-]*$/;

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPES = /[\u0000-\u001f\u007f\u2028\u2029']/;

function scalar(s: string): string {
  if (PLAIN_SAFE.test(s) && !RESERVED.test(s) && !NUMBER_LIKE.test(s)) return s;
  // Single quotes need no escaping at all inside (only `'` itself, which we leave to JSON style).
  if (s !== '' && !NEEDS_ESCAPES.test(s)) return `'${s}'`;
  return JSON.stringify(s);
}

function isMap(v: YamlValue): v is { readonly [key: string]: YamlValue | undefined } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function key(k: string): string {
  return PLAIN_SAFE.test(k) && !RESERVED.test(k) && !NUMBER_LIKE.test(k) ? k : JSON.stringify(k);
}

/** `value` after `key:` (or `- `) at `indent`: either inline text or a nested block on new lines. */
function emitValue(v: YamlValue, indent: number): string {
  if (v === null) return ' null';
  if (typeof v === 'boolean') return v ? ' true' : ' false';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error('yaml: non-finite number');
    return ` ${String(v)}`;
  }
  if (typeof v === 'string') {
    if (v.includes('\n') && !/[ \t]$/m.test(v) && !/^\s/.test(v) && !v.endsWith('\n')) {
      const pad = ' '.repeat(indent + 2);
      return ` |-\n${v
        .split('\n')
        .map((l) => (l === '' ? '' : pad + l))
        .join('\n')}`;
    }
    return ` ${scalar(v)}`;
  }
  if (Array.isArray(v)) {
    if (v.length === 0) return ' []';
    return `\n${emitList(v, indent + 2)}`;
  }
  if (isMap(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    if (keys.length === 0) return ' {}';
    return `\n${emitMap(v, indent + 2)}`;
  }
  throw new Error('yaml: unsupported value');
}

function emitMap(m: { readonly [key: string]: YamlValue | undefined }, indent: number): string {
  const pad = ' '.repeat(indent);
  const lines: string[] = [];
  for (const k of Object.keys(m)) {
    const v = m[k];
    if (v === undefined) continue;
    lines.push(`${pad}${key(k)}:${emitValue(v, indent)}`);
  }
  return lines.join('\n');
}

function emitList(list: readonly YamlValue[], indent: number): string {
  const pad = ' '.repeat(indent);
  return list
    .map((item) => {
      if (isMap(item) && Object.keys(item).some((k) => item[k] !== undefined)) {
        // `- first: x` then the other keys aligned under `first`.
        const body = emitMap(item, indent + 2);
        return `${pad}- ${body.slice(indent + 2)}`;
      }
      return `${pad}-${emitValue(item, indent)}`;
    })
    .join('\n');
}

/** A whole document; `header` lines become `#` comments at the top. */
export function toYaml(doc: { readonly [key: string]: YamlValue | undefined }, header: readonly string[] = []): string {
  const comments = header.map((h) => (h === '' ? '#' : `# ${h}`));
  const body = Object.keys(doc).some((k) => doc[k] !== undefined) ? emitMap(doc, 0) : '{}';
  return [...comments, body, ''].join('\n');
}
