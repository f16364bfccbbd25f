/**
 * Plain ANSI colours, on only where they help: never when NO_COLOR is set (https://no-color.org),
 * never when the stream is not a terminal (pipes, files, CI logs) or TERM=dumb, unless
 * FORCE_COLOR asks for them; the --color / --no-color flags win over all of that.
 */
import type { Env } from '../config.js';

export interface Palette {
  readonly enabled: boolean;
  green(s: string): string;
  yellow(s: string): string;
  red(s: string): string;
  cyan(s: string): string;
  bold(s: string): string;
  dim(s: string): string;
}

/** Whether to colour a stream. `flag`: true for --color, false for --no-color, undefined when neither was given. */
export function colorEnabled(isTTY: boolean, env: Env, flag?: boolean): boolean {
  if (flag !== undefined) return flag;
  if ((env['NO_COLOR'] ?? '') !== '') return false;
  const force = env['FORCE_COLOR'];
  if (force !== undefined && force !== '' && force !== '0' && force.toLowerCase() !== 'false') return true;
  if (env['TERM'] === 'dumb') return false;
  return isTTY;
}

const wrap =
  (on: boolean, open: number, close: number) =>
  (s: string): string =>
    on && s !== '' ? `\u001b[${open}m${s}\u001b[${close}m` : s;

export function palette(enabled: boolean): Palette {
  return {
    enabled,
    green: wrap(enabled, 32, 39),
    yellow: wrap(enabled, 33, 39),
    red: wrap(enabled, 31, 39),
    cyan: wrap(enabled, 36, 39),
    bold: wrap(enabled, 1, 22),
    dim: wrap(enabled, 2, 22),
  };
}

/** Removes ANSI colour sequences (for width computations and tests). */
export function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;]*m/g, '');
}
