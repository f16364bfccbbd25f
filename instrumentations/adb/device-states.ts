/**
 * What the last `adb devices` said: the state of each phone, and how many were usable. Feeds the
 * `cardlink_devices_connected{device_type="phone"}` up-down counter (by deltas, so it reads the
 * count of the latest listing) and the state-change span events. No OpenTelemetry, no I/O.
 */
import { MAX_DEVICES, type AdbDevice, type AdbDeviceState } from './adb.js';

/** `absent`: not listed (before a phone appears, after it disappears). */
export type ListedState = AdbDeviceState | 'absent';

export interface DeviceStateChange {
  serial: string;
  state: ListedState;
  previous: ListedState;
  /** From `adb devices -l`, when listed. */
  model?: string;
}

export interface ListingUpdate {
  changes: DeviceStateChange[];
  /** Phones in state `device` in this listing. */
  online: number;
  /** What to add to the gauge so it reads `online`. */
  delta: number;
}

export class DeviceStates {
  private known = new Map<string, AdbDeviceState>();
  /** What the gauge has been moved to so far. */
  private counted = 0;

  /** Replaces the remembered listing with `devices` (at most MAX_DEVICES are remembered). */
  update(devices: readonly AdbDevice[]): ListingUpdate {
    const next = new Map<string, AdbDeviceState>();
    const changes: DeviceStateChange[] = [];
    let online = 0;
    for (const d of devices) {
      if (next.size >= MAX_DEVICES) break;
      if (next.has(d.serial)) continue; // adb never lists a serial twice; a malformed listing might
      next.set(d.serial, d.state);
      if (d.state === 'device') online++;
      const previous = this.known.get(d.serial) ?? 'absent';
      if (previous !== d.state) {
        const change: DeviceStateChange = { serial: d.serial, state: d.state, previous };
        if (d.model !== undefined) change.model = d.model;
        changes.push(change);
      }
    }
    for (const [serial, state] of this.known) {
      if (!next.has(serial)) changes.push({ serial, state: 'absent', previous: state });
    }
    this.known = next;
    const delta = online - this.counted;
    this.counted = online;
    return { changes, online, delta };
  }

  /** The gauge was recreated (a new MeterProvider): it starts again from 0. */
  resetCount(): void {
    this.counted = 0;
  }
}
