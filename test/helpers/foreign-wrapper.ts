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

export function wrapOver(proto: object, key: string): ForeignWrapper {
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
  return w;
}
