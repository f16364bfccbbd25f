/**
 * Exit codes of `cardlink-metrics` and the error type that carries one. Every failure the CLI
 * expects (unreachable endpoint, wrong credentials, bad argument) is a CliError: printed as one
 * line without a stack trace (the stack only with --debug).
 */

export const EXIT = {
  /** Success; `health`: healthy. */
  OK: 0,
  /** `health`: degraded. `test`: a check failed. `config show`: the configuration has problems. */
  DEGRADED: 1,
  /** `health`: unhealthy. */
  UNHEALTHY: 2,
  /** The endpoint could not be reached (refused, unknown host, timeout), or answered no health document. */
  UNREACHABLE: 3,
  /** The endpoint answered but refused or gave something unusable: wrong or missing credentials (401/403), 404, not Prometheus text. */
  REJECTED: 4,
  /** Usage: unknown command or option, bad argument, invalid configuration value. */
  USAGE: 64,
  /** A file could not be written or read. */
  IO: 74,
  /** A bug: an unexpected exception. */
  INTERNAL: 70,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The message of anything thrown, on one line. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}
