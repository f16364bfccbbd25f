/**
 * This process's memory and descriptor count, readable when it has no descriptor left.
 *
 * `process.memoryUsage()` and a fresh read of /proc both need a new descriptor: read that way, a
 * process that has used up its `ulimit -n` cannot tell its memory or its descriptor count (and
 * the memory health check fails with EMFILE) exactly when an operator needs them. So
 * /proc/self/status and /proc/self/limits are opened once, while descriptors are there, and read
 * again from offset 0 at each collection (procfs regenerates the text on every read). Out of
 * descriptors, the count is the soft limit itself: EMFILE means every descriptor number below it
 * is taken. Off Linux nothing is held.
 */
import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import { parseSoftFdLimit, softFdLimit } from '../listen.js';

/** The value of a `Name:   <n> kB` line of /proc/<pid>/status, in bytes; undefined when absent. */
export function statusBytes(statusText: string, field: string): number | undefined {
  const at = statusText.indexOf(`\n${field}:`);
  const start = at >= 0 ? at + field.length + 2 : statusText.startsWith(`${field}:`) ? field.length + 1 : -1;
  if (start < 0) return undefined;
  const end = statusText.indexOf('\n', start);
  const m = /^\s*(\d+)\s*kB\s*$/.exec(statusText.slice(start, end < 0 ? undefined : end));
  return m === null ? undefined : Number(m[1]) * 1024;
}

export interface MemoryBytes {
  rss: number | undefined;
  vms: number | undefined;
}

class ProcSelf {
  private users = 0;
  private status: number | undefined;
  private limits: number | undefined;
  private readonly buf = Buffer.alloc(4096);

  /** Holds the two files open until every user has called the function returned (once counts). */
  acquire(): () => void {
    this.users++;
    this.openMissing();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release();
    };
  }

  private release(): void {
    if (--this.users > 0) return;
    for (const fd of [this.status, this.limits]) {
      if (fd === undefined) continue;
      try {
        closeSync(fd);
      } catch {
        /* already gone */
      }
    }
    this.status = undefined;
    this.limits = undefined;
  }

  memory(): MemoryBytes {
    if (this.users > 0) this.openMissing();
    const text = this.read(this.status);
    if (text !== undefined) return { rss: statusBytes(text, 'VmRSS'), vms: statusBytes(text, 'VmSize') };
    let rss: number | undefined;
    try {
      rss = process.memoryUsage.rss();
    } catch {
      rss = undefined; // EMFILE with nothing held (not started, or not Linux)
    }
    return { rss, vms: undefined };
  }

  /** Open descriptors; at the soft limit when none is left; undefined off Linux. */
  openFds(): number | undefined {
    try {
      return readdirSync('/proc/self/fd').length - 1; // minus the descriptor readdir itself holds
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EMFILE') return undefined;
      const limit = this.softLimit();
      return limit !== undefined && Number.isFinite(limit) ? limit : undefined;
    }
  }

  /** The soft RLIMIT_NOFILE (Infinity when unlimited); undefined off Linux. */
  softLimit(): number | undefined {
    if (this.users > 0) this.openMissing();
    const text = this.read(this.limits);
    return text === undefined ? softFdLimit() : parseSoftFdLimit(text);
  }

  private openMissing(): void {
    this.status ??= openQuiet('/proc/self/status');
    this.limits ??= openQuiet('/proc/self/limits');
  }

  private read(fd: number | undefined): string | undefined {
    if (fd === undefined) return undefined;
    try {
      return this.buf.toString('latin1', 0, readSync(fd, this.buf, 0, this.buf.length, 0));
    } catch {
      return undefined;
    }
  }
}

function openQuiet(path: string): number | undefined {
  try {
    return openSync(path, 'r');
  } catch {
    return undefined;
  }
}

/** One per process: the system metrics and the health checks share its two descriptors. */
export const procSelf = new ProcSelf();
