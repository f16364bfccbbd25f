/**
 * Wall-clock milliseconds with sub-millisecond resolution, for span times and durations recorded
 * from hooks: the time origin is read once (its getter is not free), then only `performance.now()`
 * (perf_hooks' object: the global `performance` is a getter).
 * `TIME_ORIGIN + t` turns a `performance.now()` value `t` taken elsewhere into the same clock.
 */
import { performance } from 'node:perf_hooks';

export const TIME_ORIGIN = performance.timeOrigin;

export function nowMs(): number {
  return TIME_ORIGIN + performance.now();
}
