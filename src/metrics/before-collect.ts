/**
 * Work that must be done before any metric is read: instrumentations that record in batches (the
 * tls instrumentation, when no trace exporter is configured) or add up per session (its tallies)
 * register a flush here, and every collection of a CardLink instrument (each reader's scrape or
 * export, the SDK's forceFlush and shutdown) runs the flushes first, so what is read is never
 * behind what happened.
 *
 * Two stages: `record` flushes run first (a batch being recorded may add to what a `hand-over`
 * flush hands to the instruments), then `hand-over` flushes.
 */
export type BeforeCollectStage = 'record' | 'hand-over';

const record: Array<() => void> = [];
const handOver: Array<() => void> = [];

export function onBeforeCollect(flush: () => void, stage: BeforeCollectStage = 'record'): void {
  const hooks = stage === 'record' ? record : handOver;
  if (!hooks.includes(flush)) hooks.push(flush);
}

/** Cheap when nothing is pending: each hook returns at once. A throwing hook never stops a collection. */
export function runBeforeCollect(): void {
  run(record);
  run(handOver);
}

function run(hooks: Array<() => void>): void {
  for (let i = 0; i < hooks.length; i++) {
    try {
      (hooks[i] as () => void)();
    } catch {
      /* reported by the hook's owner */
    }
  }
}
