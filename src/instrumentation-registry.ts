/**
 * Which instrumentation each name of CARDLINK_INSTRUMENTATIONS loads. Factories import their module
 * lazily, so a disabled instrumentation costs nothing at start-up. `system` is not a patch: the SDK
 * starts the process metrics itself (see sdk.ts).
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { CardlinkConfig, InstrumentationName } from './config.js';
import { printLine } from './diag.js';
import { setTriggerWindowMs } from './triggers.js';

export type InstrumentationFactory = (config: CardlinkConfig) => Promise<Instrumentation[]>;

export const INSTRUMENTATION_FACTORIES: Partial<Record<InstrumentationName, InstrumentationFactory>> = {
  tls: async (c) => {
    const { TlsInstrumentation } = await import('../instrumentations/tls/index.js');
    return [
      new TlsInstrumentation({ captureApduData: c.captureApduData, recordingDelayMs: c.tlsRecordingDelayMs, triggerWindowMs: c.triggerWindowMs }),
    ];
  },
  adb: async (c) => (await import('../instrumentations/adb/index.js')).createInstrumentations(c),
  serialport: async (c) => (await import('../instrumentations/serialport/index.js')).createInstrumentations(c),
  sqlite: async (c) => (await import('../instrumentations/db/index.js')).createSqliteInstrumentations(c),
  pg: async (c) => (await import('../instrumentations/db/index.js')).createPgInstrumentations(c),
};

export async function loadInstrumentations(config: CardlinkConfig): Promise<Instrumentation[]> {
  // The trigger hand-over is shared by the modem, phone and tls instrumentations: one window for all.
  setTriggerWindowMs(config.triggerWindowMs);
  const out: Instrumentation[] = [];
  for (const name of config.instrumentations) {
    const factory = INSTRUMENTATION_FACTORIES[name];
    if (factory !== undefined) out.push(...(await factory(config)));
  }
  for (const spec of config.extraInstrumentations) out.push(...(await loadExtra(spec)));
  return out;
}

function isInstrumentation(x: unknown): x is Instrumentation {
  return typeof x === 'object' && x !== null && typeof (x as Instrumentation).enable === 'function' &&
    typeof (x as Instrumentation).setTracerProvider === 'function';
}

/**
 * CARDLINK_EXTRA_INSTRUMENTATIONS: any OTel instrumentation (a contrib package, a lab's own) loaded
 * without code changes. The module's default export is an instance, an array, or a (async) factory.
 */
async function loadExtra(spec: string): Promise<Instrumentation[]> {
  try {
    const target = spec.startsWith('.') || isAbsolute(spec) ? pathToFileURL(resolve(spec)).href : spec;
    const mod = (await import(target)) as { default?: unknown };
    let v = mod.default;
    if (typeof v === 'function' && !isInstrumentation(v)) v = await (v as () => unknown)();
    const list = Array.isArray(v) ? v : [v];
    if (!list.every(isInstrumentation)) throw new Error('its default export is not an OpenTelemetry Instrumentation');
    return list;
  } catch (err) {
    printLine(
      `CARDLINK_EXTRA_INSTRUMENTATIONS: cannot load ${JSON.stringify(spec)}: ${err instanceof Error ? err.message : String(err)}; skipped.`,
    );
    return [];
  }
}
