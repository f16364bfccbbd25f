/**
 * What every CardLink instrumentation shares: its scope name, the catalogue instruments of the
 * MeterProvider it was given, and one constructor and enable order.
 *
 * The order: the base constructor never enables (the subclass's fields do not exist yet while it
 * runs); each subclass constructor sets its fields and ends with `this.enableIfConfigured(config)`.
 * Patches are InstrumentationNodeModuleDefinitions, so the base class's enable()/disable() patch,
 * unpatch and re-patch; a builtin (`tls`, `child_process`) is already loaded, so it is patched at
 * enable() too (`patchLoadedBuiltin`) instead of waiting for the next require.
 *
 * One instance of each instrumentation patches a process at a time, whichever copy of this package
 * made it: a second one enabled meanwhile (an application's own NodeSDK under `register`, the same
 * class listed twice) stays disabled and says so (a diag warning), instead of counting everything again.
 */
import { diag, metrics, type MeterProvider } from '@opentelemetry/api';
import {
  InstrumentationBase,
  InstrumentationNodeModuleDefinition,
  type InstrumentationConfig,
  type InstrumentationModuleDefinition,
} from '@opentelemetry/instrumentation';
import { instrumentationScopeName, type InstrumentationName } from '../../src/config.js';
import { instrumentsFor, type CardlinkInstruments } from '../../src/metrics/instruments.js';
import { VERSION } from '../../src/version.js';

const kActive = Symbol.for('cardlink-otel.active-instrumentations');

/** The enabled instance of each instrumentation, by scope name, shared by every copy of this package. */
function activeInstances(): Map<string, object> {
  const g = globalThis as { [kActive]?: Map<string, object> };
  return (g[kActive] ??= new Map());
}

export abstract class CardlinkInstrumentationBase<C extends InstrumentationConfig> extends InstrumentationBase<C> {
  // `declare`: set through _updateMetricInstruments() while the base constructor runs; a class
  // field would reset them afterwards.
  declare protected m: CardlinkInstruments;
  declare private givenMeterProvider: MeterProvider | undefined;
  declare private builtins: Array<{ definition: InstrumentationModuleDefinition; exports: object }> | undefined;
  /**
   * Moves on at every enable and disable. A prototype wrapper records only while the generation it
   * was made in lasts (`self.generation === gen`): one left in place under another tool's wrapper at
   * disable (`markInstalled`) then passes through for good, and a later enable's wrapper over it
   * counts alone.
   */
  protected generation = 0;

  protected constructor(name: InstrumentationName, config: C) {
    super(instrumentationScopeName(name), VERSION, { ...config, enabled: false });
  }

  /** The last statement of every subclass constructor. */
  protected enableIfConfigured(config: C): void {
    this._config = { ...this._config, enabled: config.enabled === true };
    if (config.enabled === true) this.enable();
  }

  override setMeterProvider(meterProvider: MeterProvider): void {
    this.givenMeterProvider = meterProvider;
    super.setMeterProvider(meterProvider);
  }

  /**
   * The catalogue's instruments on the provider this instrumentation was given (the global one
   * until then), on the shared `cardlink-otel` meter rather than `this.meter`: a metric fed by two
   * instrumentations (APDUs from TLS and from a modem) stays one family.
   */
  protected override _updateMetricInstruments(): void {
    this.m = instrumentsFor(this.givenMeterProvider ?? metrics.getMeterProvider());
  }

  /**
   * A module definition for a builtin module, patched at enable() (see the file comment). `patch`
   * and `unpatch` always get the module's own exports object (a later require or import hands the
   * hook the same object, or an ESM namespace of it), so they must be idempotent.
   */
  protected builtinModule<T extends object>(
    name: string,
    exports: T,
    patch: (exports: T) => void,
    unpatch: (exports: T) => void,
  ): InstrumentationNodeModuleDefinition {
    const definition = new InstrumentationNodeModuleDefinition(
      name,
      ['*'],
      (e: unknown) => {
        patch(exports);
        return e;
      },
      () => unpatch(exports),
    );
    (this.builtins ??= []).push({ definition, exports });
    return definition;
  }

  override enable(): void {
    const first = !this.isEnabled();
    if (first) {
      const active = activeInstances();
      const holder = active.get(this.instrumentationName);
      if (holder !== undefined && holder !== this) {
        // Through the diag logger, as the SDK's own warnings (register's logger prints a line once).
        diag.warn(
          `${this.instrumentationName} is already enabled in this process by another instance (register's, or another SDK's); this one stays disabled, so nothing is counted twice`,
        );
        return;
      }
      active.set(this.instrumentationName, this);
      this.generation++;
    }
    super.enable();
    if (!first) return;
    for (const b of this.builtins ?? []) {
      // Once moduleExports is set, the base class unpatches it on disable() and re-patches on enable().
      if (b.definition.moduleExports !== undefined) continue;
      b.definition.moduleExports = b.exports;
      b.definition.patch?.(b.exports);
    }
  }

  override disable(): void {
    if (this.isEnabled()) this.generation++;
    super.disable();
    const active = activeInstances();
    if (active.get(this.instrumentationName) === this) active.delete(this.instrumentationName);
  }
}
