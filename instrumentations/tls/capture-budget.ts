/**
 * One bound on the body bytes all connections together hold while collecting SCP81 bodies (the
 * raw-socket scanners' captures and the https request collectors). Each connection is bounded by
 * its capture limit; this keeps many connections, each below it, from adding up without limit.
 * A capture that would pass the total stops growing, and its message is reported as truncated.
 */
export const TOTAL_CAPTURE_BYTES = 16 * 1024 * 1024;

let held = 0;

/** Take `n` bytes of the budget; false (nothing taken) when that would pass the total. */
export function reserveCapture(n: number): boolean {
  if (held + n > TOTAL_CAPTURE_BYTES) return false;
  held += n;
  return true;
}

export function releaseCapture(n: number): void {
  held = held > n ? held - n : 0;
}

/** Bytes of the budget in use. */
export function capturedBytes(): number {
  return held;
}
