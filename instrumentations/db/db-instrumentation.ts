/**
 * What the `sqlite` and `pg` instrumentations share besides the recorder: the recorder's wiring
 * (tracer, instruments, configuration), the prototypes they patched and putting them back. The
 * drivers' files keep only what is theirs: which methods to patch and when a query begins and ends.
 */
import { restorePrototype, type PatchRecord } from '../shared/prototype-patch.js';
import { CardlinkInstrumentationBase } from '../shared/instrumentation-base.js';
import type { CardlinkInstruments } from '../../src/metrics/instruments.js';
import { reportOnce } from '../../src/diag.js';
import { DbRecorder } from './recorder.js';
import type { DbInstrumentationConfig, DbSystem } from './types.js';

/**
 * Patches are not made with `_wrap`: other instrumentations of the same drivers (the contrib `pg`
 * one, community better-sqlite3 ones) `_wrap` these very methods, and the base class's `_wrap`
 * first unwraps whatever shimmer wrapped there. Ours stack and restore their own descriptor.
 */
export abstract class DbInstrumentationBase extends CardlinkInstrumentationBase<DbInstrumentationConfig> {
  // Undefined while the base constructor runs (it calls setConfig before this exists).
  private rec: DbRecorder | undefined;
  /** Every prototype patched (the base class only remembers the last module copy it saw). */
  protected readonly patched: PatchRecord[] = [];

  /** Subclass constructors end with `this.enableIfConfigured(config)`. */
  constructor(
    private readonly driver: 'sqlite' | 'pg',
    system: DbSystem,
    config: DbInstrumentationConfig,
  ) {
    super(driver, config);
    this.rec = new DbRecorder(system, {
      tracer: () => this.tracer,
      instruments: () => this.instruments(),
      config: () => this._config,
    });
  }

  override setConfig(config: DbInstrumentationConfig = {}): void {
    super.setConfig(config);
    this.rec?.configure();
  }

  override disable(): void {
    super.disable();
    for (const p of this.patched.slice()) this.restore(p);
  }

  protected instruments(): CardlinkInstruments {
    return this.m;
  }

  protected recorder(): DbRecorder {
    return this.rec as DbRecorder;
  }

  /** A loop, not `patched.some(...)`: no closure per call (prepare() asks). */
  protected isPatched(proto: unknown): boolean {
    for (const p of this.patched) if (p.proto === proto) return true;
    return false;
  }

  /** Puts back what we patched on `proto`, if anything (a module's unpatch hook). */
  protected unpatchProto(proto: unknown): void {
    const p = this.patched.find((x) => x.proto === proto);
    if (p !== undefined) this.restore(p);
  }

  private restore(p: PatchRecord): void {
    try {
      restorePrototype(p);
    } catch (err) {
      reportOnce(`${this.driver} unpatch`, err);
    }
    const i = this.patched.indexOf(p);
    if (i >= 0) this.patched.splice(i, 1);
  }
}
