/**
 * Saving and restoring the properties a patch replaces on a prototype, so `disable()` puts back
 * exactly what was there: an own property is redefined with its original descriptor, an inherited
 * one is deleted again (the prototype chain then serves the original).
 */
export interface PatchRecord {
  readonly proto: Record<PropertyKey, unknown>;
  readonly saved: Map<PropertyKey, PropertyDescriptor | undefined>;
}

export function savePrototype(proto: Record<PropertyKey, unknown>, keys: readonly PropertyKey[]): PatchRecord {
  const saved = new Map<PropertyKey, PropertyDescriptor | undefined>();
  for (const k of keys) saved.set(k, Object.getOwnPropertyDescriptor(proto, k));
  return { proto, saved };
}

export function restorePrototype(p: PatchRecord): void {
  for (const [k, d] of p.saved) {
    if (d !== undefined) Object.defineProperty(p.proto, k, d);
    else delete p.proto[k];
  }
}
