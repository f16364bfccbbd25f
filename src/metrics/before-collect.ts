/**
 * Work that must be done before any metric is read: instrumentations that record in batches (the
 * tls instrumentation, when no trace exporter is configured) register a flush here, and every
 * collection of a CardLink instrument (each reader's scrape or export, the SDK's forceFlush and
 * shutdown) runs the flushes first, so what is read is never behind what happened.
 */
const hooks: Array<() => void> = [];

export function onBeforeCollect(flush: () => void): void {
  if (!hooks.includes(flush)) hooks.push(flush);
}

/** Cheap when nothing is pending: each hook returns at once. A throwing hook never stops a collection. */
export function runBeforeCollect(): void {
  for (let i = 0; i < hooks.length; i++) {
    try {
      (hooks[i] as () => void)();
    } catch {
      /* reported by the hook's owner */
    }
  }
}
