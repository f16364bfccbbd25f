/**
 * The `adb` readiness check, registered on the first adb run the instrumentation sees (a process
 * that never runs adb gets no adb check). Built from what adb itself reported, never by running
 * adb from the probe: the phones of the last successful `adb devices`, and the last failure.
 *   healthy    the last `adb devices` answered (the adb server is up); phones and states in details
 *   degraded   the last `adb devices` failed (server down, no permission ...)
 *   unhealthy  adb cannot be run at all (the executable is missing)
 */
import { registerCheck } from '../../src/health/registry.js';
import type { CheckResult } from '../../src/health/types.js';

const MAX_PHONES_REPORTED = 32;

interface Phone {
  serial: string;
  state: string;
}

export class AdbHealth {
  private registered = false;
  private phones: Phone[] | undefined;
  private listedAtMs = 0;
  private lastDevicesError: string | undefined;
  private missing = false;

  private ensureRegistered(): void {
    if (this.registered) return;
    this.registered = true;
    registerCheck('adb', () => this.report());
  }

  listing(devices: ReadonlyArray<{ serial: string; state: string }>): void {
    this.ensureRegistered();
    this.phones = devices.slice(0, MAX_PHONES_REPORTED).map((d) => ({ serial: d.serial, state: d.state }));
    this.listedAtMs = Date.now();
    this.lastDevicesError = undefined;
    this.missing = false;
  }

  runFailed(operation: string, errorType: string): void {
    this.ensureRegistered();
    if (errorType === 'adb_missing') this.missing = true;
    else if (operation === 'devices') this.lastDevicesError = errorType;
  }

  runSucceeded(): void {
    this.ensureRegistered();
    this.missing = false;
  }

  private report(): CheckResult {
    if (this.missing) return { status: 'unhealthy', message: 'adb cannot be run (executable not found)' };
    if (this.lastDevicesError !== undefined) {
      return { status: 'degraded', message: `the last adb devices failed: ${this.lastDevicesError}` };
    }
    if (this.phones === undefined) return { status: 'healthy', message: 'adb runs; no adb devices listing yet' };
    const ready = this.phones.filter((p) => p.state === 'device').length;
    return {
      status: 'healthy',
      message: `${this.phones.length} phone(s) listed, ${ready} ready`,
      details: { phones: this.phones, listed_at: new Date(this.listedAtMs).toISOString() },
    };
  }
}
