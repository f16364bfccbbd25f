/**
 * Process metrics, read at collection time through observable instruments: no polling thread, no
 * cost between scrapes. /proc is read where it exists (Linux); elsewhere vms and fds are omitted.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { BatchObservableCallback } from '@opentelemetry/api';
import { getCardlinkMeter, getInstruments } from './instruments.js';
import { VERSION } from '../version.js';

const MEM_RSS = { type: 'rss' } as const;
const MEM_VMS = { type: 'vms' } as const;
const MEM_HEAP = { type: 'heap_used' } as const;
const BUILD = { version: VERSION, node_version: process.versions.node, platform: process.platform } as const;

/** Virtual memory size in bytes from /proc/self/stat (field 23), or undefined off Linux. */
export function readVmsBytes(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'latin1');
    // The command name (field 2) may contain spaces and parentheses: count fields after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(rest[20]); // field 23 overall: index 20 once pid and comm are gone
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export function countOpenFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length - 1; // minus the descriptor readdir itself holds
  } catch {
    return undefined;
  }
}

/** Registers the process metrics on the current MeterProvider; returns the function that removes them. */
export function startSystemMetrics(): () => void {
  const m = getInstruments();
  const meter = getCardlinkMeter();
  const observables = [m.processCpu, m.processMemory, m.processOpenFds, m.uptime, m.buildInfo];
  const observe: BatchObservableCallback = (r) => {
    const cpu = process.cpuUsage();
    r.observe(m.processCpu, (cpu.user + cpu.system) / 1e6);
    const mem = process.memoryUsage();
    r.observe(m.processMemory, mem.rss, MEM_RSS);
    r.observe(m.processMemory, mem.heapUsed, MEM_HEAP);
    const vms = readVmsBytes();
    if (vms !== undefined) r.observe(m.processMemory, vms, MEM_VMS);
    const fds = countOpenFds();
    if (fds !== undefined) r.observe(m.processOpenFds, fds);
    r.observe(m.uptime, process.uptime());
    r.observe(m.buildInfo, 1, BUILD);
  };
  meter.addBatchObservableCallback(observe, observables);
  return () => meter.removeBatchObservableCallback(observe, observables);
}
