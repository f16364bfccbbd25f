/**
 * CARDLINK_LOG_FORMAT=pretty: the same records as the JSON lines, laid out for a human at a
 * terminal. No dependency: pino writes its JSON line here, we parse it back (this is the
 * development format; the production path never parses).
 *
 *     12:04:05.123 WARN  [tls] handshake failed reason=bad_psk peer=10.0.0.7 trace=4bf9...:00f0...
 *         Error: ...
 *             at ...
 */

export interface PrettyOptions {
  /** ANSI colours for the level. */
  color?: boolean;
}

const FIXED = new Set(['level', 'timestamp', 'component', 'message', 'trace_id', 'span_id', 'trace_flags', 'exception']);

const COLORS: Record<string, string> = {
  trace: '\x1b[90m',
  debug: '\x1b[36m',
  info: '\x1b[32m',
  warn: '\x1b[33m',
  error: '\x1b[31m',
  fatal: '\x1b[35m',
};
const RESET = '\x1b[0m';

function scalar(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]*$/.test(v) && v !== '' ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((l) => prefix + l)
    .join('\n');
}

/** One record (the parsed JSON line) as one or more human-readable lines, newline-terminated. */
export function formatPretty(record: Record<string, unknown>, options: PrettyOptions = {}): string {
  const level = typeof record['level'] === 'string' ? record['level'] : 'info';
  const ts = typeof record['timestamp'] === 'string' ? record['timestamp'] : '';
  // The date is noise at a terminal; keep the time of day (the JSON format keeps everything).
  const time = ts.length >= 23 && ts[10] === 'T' ? ts.slice(11, 23) : ts;
  let levelText = level.toUpperCase().padEnd(5);
  if (options.color === true) levelText = `${COLORS[level] ?? ''}${levelText}${RESET}`;
  const component = typeof record['component'] === 'string' ? `[${record['component']}] ` : '';
  let line = `${time} ${levelText} ${component}${typeof record['message'] === 'string' ? record['message'] : ''}`;
  for (const [k, v] of Object.entries(record)) {
    if (FIXED.has(k)) continue;
    line += ` ${k}=${scalar(v)}`;
  }
  if (typeof record['trace_id'] === 'string') line += ` trace=${record['trace_id']}:${String(record['span_id'] ?? '')}`;
  const ex = record['exception'] as { type?: unknown; message?: unknown; stack?: unknown } | undefined;
  if (ex !== undefined && ex !== null && typeof ex === 'object') {
    const body = typeof ex.stack === 'string' ? ex.stack : `${String(ex.type ?? 'Error')}: ${String(ex.message ?? '')}`;
    line += `\n${indent(body, '    ')}`;
  }
  return `${line}\n`;
}

/** A pino destination that writes pretty lines to another destination. */
export class PrettyDestination {
  constructor(
    private readonly out: { write(line: string): unknown },
    private readonly options: PrettyOptions = {},
  ) {}

  write(jsonLine: string): void {
    let text: string;
    try {
      text = formatPretty(JSON.parse(jsonLine) as Record<string, unknown>, this.options);
    } catch {
      text = jsonLine.endsWith('\n') ? jsonLine : `${jsonLine}\n`;
    }
    this.out.write(text);
  }
}
