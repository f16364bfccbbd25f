/**
 * Child Node processes for `--import` tests, and free ports for them.
 *
 * Every child started here is killed when the test process exits (and, with `t`, when that test
 * ends), so a failing assertion never leaves a server holding a port for the next test file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file lives in test/helpers/). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** `<repo>/register.js`, what `importRegister: true` passes to `--import`. */
export const REGISTER_PATH = fileURLToPath(new URL('../../register.js', import.meta.url));

export interface RunNodeOptions {
  /** Arguments after the node executable (and after `--import register.js` when asked). */
  args: string[];
  /**
   * Environment on top of this process' environment; `undefined` removes a variable.
   * NODE_OPTIONS is removed unless given here: the test runner's loaders must not leak in.
   * (Under tap, @tapjs/processinfo still adds its own `--import` at spawn time; it only
   * records process info.)
   */
  env?: Record<string, string | undefined>;
  /** Default: the repository root. */
  cwd?: string;
  /** Adds `--import <repo>/register.js` before `args`. */
  importRegister?: boolean;
  /**
   * Run the child with this soft and hard descriptor limit: `bash -c 'ulimit -n N; exec node ...'`,
   * so the node process itself (its pid is the child's) runs under the limit.
   */
  fdLimit?: number;
  /** Hard limit on the child's life: SIGKILL after this many ms (default 30000). */
  timeoutMs?: number;
  /** A tap test (or anything with teardown): the child is killed when it ends. */
  t?: { teardown(fn: () => unknown): void };
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface NodeChild {
  child: ChildProcess;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** First line (stdout or stderr, including lines already printed) matching `re`. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves at exit (immediately if already exited). */
  waitForExit(timeoutMs?: number): Promise<ExitInfo>;
  /** Sends a signal (default SIGTERM); no-op once exited. */
  kill(signal?: NodeJS.Signals): void;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: kill() is.
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

function tail(s: string, max = 2000): string {
  return s.length <= max ? s : `...${s.slice(-max)}`;
}

export function runNode(opts: RunNodeOptions): NodeChild {
  installExitHook();
  // Children run in parallel (tap jobs): fixed default ports would collide, so the metrics and
  // health endpoints default to any free port unless a test asks for one.
  const env: Record<string, string | undefined> = {
    ...process.env,
    OTEL_EXPORTER_PROMETHEUS_PORT: '0',
    CARDLINK_HEALTH_PORT: '0',
  };
  delete env['NODE_OPTIONS'];
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const args = opts.importRegister ? ['--import', REGISTER_PATH, ...opts.args] : [...opts.args];
  const [file, argv] =
    opts.fdLimit === undefined
      ? [process.execPath, args]
      : ['bash', ['-c', `ulimit -n ${Math.floor(opts.fdLimit)} && exec "$0" "$@"`, process.execPath, ...args]];
  const child = spawn(file, argv, {
    cwd: opts.cwd ?? REPO_ROOT,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);

  let out = '';
  let err = '';
  // Completed lines from both streams, in arrival order, plus each stream's unfinished line.
  const lines: string[] = [];
  const partial = { out: '', err: '' };
  const lineListeners = new Set<() => void>();
  let exit: ExitInfo | undefined;
  const exitListeners = new Set<() => void>();

  const onData = (which: 'out' | 'err') => (chunk: Buffer) => {
    const s = chunk.toString('utf8');
    if (which === 'out') out += s;
    else err += s;
    const parts = (partial[which] + s).split('\n');
    partial[which] = parts.pop() ?? '';
    if (parts.length === 0) return;
    for (const p of parts) lines.push(p.endsWith('\r') ? p.slice(0, -1) : p);
    for (const l of [...lineListeners]) l();
  };
  child.stdout?.on('data', onData('out'));
  child.stderr?.on('data', onData('err'));
  // Nobody writes to stdin; closing it lets scripts that read it see EOF.
  child.stdin?.end();

  const hardLimit = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  hardLimit.unref();

  child.on('close', (code, signal) => {
    clearTimeout(hardLimit);
    live.delete(child);
    // Flush unterminated last lines so waitForLine can still see them.
    for (const which of ['out', 'err'] as const) {
      if (partial[which] !== '') lines.push(partial[which]);
      partial[which] = '';
    }
    exit = { code, signal };
    for (const l of [...lineListeners]) l();
    for (const l of [...exitListeners]) l();
  });
  child.on('error', (e) => {
    err += `\n[runNode] spawn error: ${e.message}\n`;
  });

  const handle: NodeChild = {
    child,
    stdout: () => out,
    stderr: () => err,
    waitForLine(re, timeoutMs = 10_000) {
      return new Promise<string>((resolve, reject) => {
        let scanned = 0;
        const check = (): boolean => {
          for (; scanned < lines.length; scanned++) {
            const l = lines[scanned]!;
            re.lastIndex = 0;
            if (re.test(l)) {
              resolve(l);
              return true;
            }
          }
          return false;
        };
        if (check()) return;
        if (exit) {
          reject(new Error(`child exited (${JSON.stringify(exit)}) without a line matching ${re}\nstdout: ${tail(out)}\nstderr: ${tail(err)}`));
          return;
        }
        const timer = setTimeout(() => {
          lineListeners.delete(listener);
          reject(new Error(`no line matching ${re} within ${timeoutMs} ms\nstdout: ${tail(out)}\nstderr: ${tail(err)}`));
        }, timeoutMs);
        const listener = (): void => {
          if (check()) {
            clearTimeout(timer);
            lineListeners.delete(listener);
          } else if (exit) {
            clearTimeout(timer);
            lineListeners.delete(listener);
            reject(new Error(`child exited (${JSON.stringify(exit)}) without a line matching ${re}\nstdout: ${tail(out)}\nstderr: ${tail(err)}`));
          }
        };
        lineListeners.add(listener);
      });
    },
    waitForExit(timeoutMs = 10_000) {
      return new Promise<ExitInfo>((resolve, reject) => {
        if (exit) {
          resolve(exit);
          return;
        }
        const timer = setTimeout(() => {
          exitListeners.delete(listener);
          reject(new Error(`child still running after ${timeoutMs} ms\nstdout: ${tail(out)}\nstderr: ${tail(err)}`));
        }, timeoutMs);
        const listener = (): void => {
          clearTimeout(timer);
          exitListeners.delete(listener);
          if (exit) resolve(exit);
        };
        exitListeners.add(listener);
      });
    },
    kill(signal = 'SIGTERM') {
      if (exit || child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
    },
  };
  opts.t?.teardown(async () => {
    if (exit) return;
    handle.kill('SIGKILL');
    await handle.waitForExit(5000).catch(() => undefined);
  });
  return handle;
}

/** A port that was free a moment ago on 127.0.0.1 (bind 0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('freePort: no port assigned'))));
    });
  });
}
