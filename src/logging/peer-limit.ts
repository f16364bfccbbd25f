/**
 * A rate limit for the log lines that peers cause: a modem answering `+CME ERROR` in a loop, a card
 * (or anyone) failing PSK handshakes as fast as it can connect. Per component and kind (`cme_error`,
 * `bad_psk` ...), at most `lines` lines per window (settings.ts, DEFAULT_PEER_LINE_LIMIT); past that
 * lines are only counted, and when the window ends one summary line says how many of each kind
 * were left out. The events themselves are still counted in metrics and spans.
 *
 * Decided before any field is built: a suppressed line costs a map lookup and an increment.
 */
import { reportOnce } from '../diag.js';
import type { Logger, WritableLevel } from './logger.js';
import { loggingState } from './settings.js';

const RANK: Readonly<Record<WritableLevel, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
/** Kinds are bounded enums at every call site; past this many, new ones share one entry. */
const MAX_KINDS = 32;
const OTHER_KIND = 'other';

export const SUPPRESSED_MESSAGE = 'log lines suppressed';

interface KindCount {
  written: number;
  suppressed: number;
}

export class PeerLineLimiter {
  private windowStart: number | undefined;
  private readonly kinds = new Map<string, KindCount>();
  private summaryLevel: WritableLevel | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether a line of this kind may be written now; false counts it for the window's summary. */
  allow(kind: string, level: WritableLevel): boolean {
    try {
      const limit = loggingState().peerLineLimit;
      const now = this.now();
      if (this.windowStart === undefined || now - this.windowStart >= limit.windowMs) {
        this.endWindow();
        this.windowStart = now;
      }
      let c = this.kinds.get(kind);
      if (c === undefined) {
        const key = this.kinds.size < MAX_KINDS ? kind : OTHER_KIND;
        c = this.kinds.get(key);
        if (c === undefined) this.kinds.set(key, (c = { written: 0, suppressed: 0 }));
      }
      if (c.written < limit.lines) {
        c.written++;
        return true;
      }
      c.suppressed++;
      if (this.summaryLevel === undefined || RANK[level] > RANK[this.summaryLevel]) this.summaryLevel = level;
      if (this.timer === undefined) {
        // The summary is due when the window ends, even if the flood stopped: a timer, armed only
        // once something was suppressed, unref'd so it never keeps a process alive.
        this.timer = setTimeout(() => this.endWindow(), Math.max(0, this.windowStart + limit.windowMs - now));
        this.timer.unref();
      }
      return false;
    } catch (err) {
      reportOnce('log rate limit', err);
      return true;
    }
  }

  /** Writes the summary of the current window (if anything was suppressed) and starts afresh. */
  endWindow(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const level = this.summaryLevel;
    // A list rather than an object keyed by kind: a kind such as `bad_psk` is a secret's name to
    // the sanitizer, which would redact its count.
    let suppressed: Array<{ kind: string; count: number }> | undefined;
    let total = 0;
    for (const [kind, c] of this.kinds) {
      if (c.suppressed === 0) continue;
      (suppressed ??= []).push({ kind, count: c.suppressed });
      total += c.suppressed;
    }
    const started = this.windowStart;
    this.kinds.clear();
    this.summaryLevel = undefined;
    this.windowStart = undefined;
    if (suppressed === undefined || level === undefined || started === undefined) return;
    const limit = loggingState().peerLineLimit;
    this.log[level](SUPPRESSED_MESSAGE, {
      suppressed,
      suppressed_total: total,
      limit_per_kind: limit.lines,
      window_ms: limit.windowMs,
    });
  }
}
