/** Human formatting of numbers, ratios, durations and simple aligned tables. */
import { stripAnsi } from './color.js';
import { peerText, redactEndpoint } from '../logging/sanitize.js';

/** 1234567 -> "1,234,567"; non-integers keep up to 2 decimals. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  const rounded = Number.isInteger(n) ? n : Math.round(n * 100) / 100;
  return rounded.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

/** 0.0123 -> "1.23%"; null/NaN -> "n/a". */
export function formatRatio(r: number | null | undefined): string {
  if (r === null || r === undefined || !Number.isFinite(r)) return 'n/a';
  const pct = r * 100;
  return `${pct >= 10 || pct === 0 ? pct.toFixed(1) : pct.toPrecision(2)}%`;
}

/** Seconds as a latency: 0.0042 -> "4.2 ms", 1.5 -> "1.50 s". */
export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return 'n/a';
  if (s < 1) return `${Number((s * 1000).toPrecision(3))} ms`;
  return `${s.toFixed(2)} s`;
}

/** Seconds as an uptime: 3725 -> "1h 2m 5s". */
export function formatUptime(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s) || s < 0) return 'n/a';
  let rest = Math.floor(s);
  const d = Math.floor(rest / 86400);
  rest -= d * 86400;
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  const sec = rest - m * 60;
  const parts: string[] = [];
  if (d > 0) parts.push(`${d}d`);
  if (h > 0) parts.push(`${h}h`);
  if (m > 0) parts.push(`${m}m`);
  if (sec > 0 || parts.length === 0) parts.push(`${sec}s`);
  return parts.slice(0, 3).join(' ');
}

/** Left-aligned columns, two spaces apart; ANSI colours do not count towards widths. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, stripAnsi(c).length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - stripAnsi(c).length)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A URL for display: user and password removed, query values masked (redactEndpoint). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username === '' && u.password === '') return redactEndpoint(url);
    u.username = '';
    u.password = '';
    return redactEndpoint(u.toString());
  } catch {
    return redactEndpoint(url);
  }
}

/**
 * Text the target sent (a label value, a check's name or message), as a terminal may show it:
 * control sequences escaped, at most `max` characters (`...[+N]`).
 */
export function targetText(value: string, max = 200): string {
  return peerText(value, max);
}
