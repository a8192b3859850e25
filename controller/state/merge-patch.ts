/**
 * JSON merge patch (RFC 7386) over a function's spec: a field given replaces the current one,
 * `null` removes it (the spec then takes its default), and the map fields (`env`, `retry`:
 * NESTED_SPEC_FIELDS) merge key by key, where `null` removes a key. Other values, lists and
 * `schedulePayload` among them, are replaced whole.
 */

/** A patch as received, split into what it sets and what it removes. */
export interface SplitPatch {
  /** The patch without its nulls: what the spec schema validates. */
  sets: Record<string, unknown>;
  /** Top-level fields to remove. */
  removes: string[];
  /** Keys to remove inside each map field. */
  removesIn: Record<string, string[]>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Splits a merge patch of the spec; `mapFields` are the fields merged key by key. */
export function splitPatch(patch: unknown, mapFields: readonly string[]): SplitPatch {
  const split: SplitPatch = { sets: {}, removes: [], removesIn: {} };
  if (!isObject(patch)) return { ...split, sets: patch as Record<string, unknown> };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      split.removes.push(key);
    } else if (mapFields.includes(key) && isObject(value)) {
      const kept: Record<string, unknown> = {};
      for (const [inner, v] of Object.entries(value)) {
        if (v === null) (split.removesIn[key] ??= []).push(inner);
        else kept[inner] = v;
      }
      split.sets[key] = kept;
    } else {
      split.sets[key] = value;
    }
  }
  return split;
}

/**
 * Applies a split patch whose `sets` the schema has parsed (`parsed`) over `base` (the current
 * spec; undefined for a function that states its whole spec).
 */
export function applyPatch(base: Record<string, unknown> | undefined, split: SplitPatch, parsed: Record<string, unknown>, mapFields: readonly string[]): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...(base ?? {}) };
  for (const key of split.removes) delete merged[key];
  for (const [key, value] of Object.entries(parsed)) {
    if (value === undefined) continue;
    if (mapFields.includes(key) && isObject(value)) {
      const current = isObject(merged[key]) ? { ...(merged[key] as Record<string, unknown>) } : {};
      for (const gone of split.removesIn[key] ?? []) delete current[gone];
      merged[key] = { ...current, ...Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) };
    } else {
      merged[key] = value;
    }
  }
  return merged;
}
