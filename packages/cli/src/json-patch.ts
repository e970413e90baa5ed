/** An RFC 6902 operation, limited to what a diff between two documents needs. */
export type PatchOp =
  | { op: "add"; path: string; value: unknown }
  | { op: "remove"; path: string }
  | { op: "replace"; path: string; value: unknown };

/** A change as shown to a person: the old and new value at a JSON Pointer (`undefined` = absent). */
export interface Change {
  path: string;
  before: unknown;
  after: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** RFC 6901 escaping of one reference token. */
const token = (key: string | number) => String(key).replace(/~/g, "~0").replace(/\//g, "~1");

/**
 * The changes that turn `before` into `after`: objects are compared key by key, arrays element by
 * element when their lengths match (otherwise replaced whole, which is easier to read than shifts).
 * `undefined` stands for "no value" (e.g. a key absent in one environment).
 */
export function diffValues(before: unknown, after: unknown, path = ""): Change[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((k) => diffValues(before[k], after[k], `${path}/${token(k)}`));
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((item, i) => diffValues(item, after[i], `${path}/${i}`));
  }
  return sameJson(before, after) ? [] : [{ path, before, after }];
}

export function toPatch(changes: Change[]): PatchOp[] {
  return changes.map(({ path, before, after }): PatchOp => {
    if (before === undefined) return { op: "add", path, value: after };
    if (after === undefined) return { op: "remove", path };
    return { op: "replace", path, value: after };
  });
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}
