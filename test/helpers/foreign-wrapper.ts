/**
 * Another tool's wrapper over ours, as APM agents and community instrumentations put one: a plain
 * own property on the prototype that calls what it found (no shimmer marks).
 */
type Fn = (...a: unknown[]) => unknown;

export interface ForeignWrapper {
  readonly fn: Fn;
  /** Calls that went through it. */
  calls: number;
  /** Takes it off again, putting back the wrapper of ours it found (which passes through by then). */
  remove(): void;
}

/**
 * Puts their wrapper over `proto[key]`. At the test's end it is taken off again, with `ours`
 * disabled meanwhile (so no patch of ours is made over theirs) and enabled after.
 */
export function wrapOver(t: { teardown(fn: () => void): void }, ours: { disable(): void; enable(): void }, proto: object, key: string): ForeignWrapper {
  const p = proto as Record<string, Fn>;
  const found = p[key] as Fn;
  const w: ForeignWrapper = {
    calls: 0,
    fn: function (this: unknown, ...a: unknown[]): unknown {
      w.calls++;
      return found.apply(this, a);
    },
    remove() {
      if (p[key] === w.fn) p[key] = found;
    },
  };
  p[key] = w.fn;
  t.teardown(() => {
    ours.disable();
    w.remove();
    ours.enable();
  });
  return w;
}
