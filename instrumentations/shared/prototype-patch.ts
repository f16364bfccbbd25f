/**
 * Saving and restoring the properties a patch replaces on a prototype, so `disable()` puts back
 * exactly what was there: an own property is redefined with its original descriptor, an inherited
 * one is deleted again (the prototype chain then serves the original).
 */
export interface PatchRecord {
  readonly proto: Record<PropertyKey, unknown>;
  readonly saved: Map<PropertyKey, PropertyDescriptor | undefined>;
  /** What the patch put there (`markInstalled`): a property someone else has wrapped since is left to them. */
  installed?: Map<PropertyKey, unknown>;
}

/**
 * Remember the patch's own values, for a property another instrumentation may wrap after us (the
 * contrib http instrumentation wraps `http.Server.prototype.emit`): restoring it then would remove
 * their wrapper too, so it is left in place (our wrapper, inside theirs, must then do nothing).
 */
export function markInstalled(p: PatchRecord): void {
  p.installed = new Map([...p.saved.keys()].map((k) => [k, p.proto[k]]));
}

export function savePrototype(proto: Record<PropertyKey, unknown>, keys: readonly PropertyKey[]): PatchRecord {
  const saved = new Map<PropertyKey, PropertyDescriptor | undefined>();
  for (const k of keys) saved.set(k, Object.getOwnPropertyDescriptor(proto, k));
  return { proto, saved };
}

export function restorePrototype(p: PatchRecord): void {
  for (const [k, d] of p.saved) {
    if (p.installed !== undefined && p.proto[k] !== p.installed.get(k)) continue;
    if (d !== undefined) Object.defineProperty(p.proto, k, d);
    else delete p.proto[k];
  }
}
