/** Where the CLI writes and what it reads from its surroundings (swappable in tests). */
import type { Env } from '../config.js';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Env;
  cwd: string;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
}

export function processIo(): CliIo {
  return {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    env: process.env,
    cwd: process.cwd(),
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
  };
}
