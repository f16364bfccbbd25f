/**
 * Which instrumentation each name of CARDLINK_INSTRUMENTATIONS loads. Factories import their module
 * lazily, so a disabled instrumentation costs nothing at start-up. `system` is not a patch: the SDK
 * starts the process metrics itself (see sdk.ts).
 */
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { CardlinkConfig, InstrumentationName } from './config.js';

export type InstrumentationFactory = (config: CardlinkConfig) => Promise<Instrumentation[]>;

export const INSTRUMENTATION_FACTORIES: Partial<Record<InstrumentationName, InstrumentationFactory>> = {};

export async function loadInstrumentations(config: CardlinkConfig): Promise<Instrumentation[]> {
  const out: Instrumentation[] = [];
  for (const name of config.instrumentations) {
    const factory = INSTRUMENTATION_FACTORIES[name];
    if (factory !== undefined) out.push(...(await factory(config)));
  }
  return out;
}
