/**
 * Process metrics, read at collection time through observable instruments: no polling thread, no
 * cost between scrapes. /proc is read where it exists (Linux), through descriptors held from the
 * start (proc-self.ts), so a process out of descriptors still reports them; elsewhere vms and fds
 * are omitted.
 */
import { getHeapStatistics } from 'node:v8';
import type { BatchObservableCallback } from '@opentelemetry/api';
import { getCardlinkMeter, getInstruments } from './instruments.js';
import { VERSION } from '../version.js';
import { procSelf } from './proc-self.js';

const MEM_RSS = { type: 'rss' } as const;
const MEM_VMS = { type: 'vms' } as const;
const MEM_HEAP = { type: 'heap_used' } as const;
const BUILD = { version: VERSION, node_version: process.versions.node, platform: process.platform } as const;

/** Registers the process metrics on the current MeterProvider; returns the function that removes them. */
export function startSystemMetrics(): () => void {
  const m = getInstruments();
  const meter = getCardlinkMeter();
  const observables = [m.processCpu, m.processMemory, m.processOpenFds, m.uptime, m.buildInfo];
  const observe: BatchObservableCallback = (r) => {
    const cpu = process.cpuUsage();
    r.observe(m.processCpu, (cpu.user + cpu.system) / 1e6);
    const mem = procSelf.memory();
    if (mem.rss !== undefined) r.observe(m.processMemory, mem.rss, MEM_RSS);
    r.observe(m.processMemory, getHeapStatistics().used_heap_size, MEM_HEAP);
    if (mem.vms !== undefined) r.observe(m.processMemory, mem.vms, MEM_VMS);
    const fds = procSelf.openFds();
    if (fds !== undefined) r.observe(m.processOpenFds, fds);
    r.observe(m.uptime, process.uptime());
    r.observe(m.buildInfo, 1, BUILD);
  };
  const release = procSelf.acquire();
  meter.addBatchObservableCallback(observe, observables);
  return () => {
    meter.removeBatchObservableCallback(observe, observables);
    release();
  };
}
