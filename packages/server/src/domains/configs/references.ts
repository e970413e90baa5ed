import { CairnError } from "../../errors.js";
import { MASK } from "./values.js";

/**
 * Secret references, as Infisical has them: a string value may contain `${ref:ns/key}` or
 * `${ref:ns/key#field}` (the namespace may have several segments; the key is the last one; `field` is a
 * dotted path into an object value). `?resolve=true` replaces each reference with the referenced value,
 * read in the same environment (along its chain), recursively; a string that is exactly one reference
 * takes the referenced JSON value as is, a reference inside longer text is replaced by its text.
 */
export interface Reference {
  namespace: string;
  key: string;
  field?: string;
  /** The reference as written, `${ref:…}`. */
  text: string;
}

const REFERENCE = /\$\{ref:([^{}#\s]+)\/([A-Za-z0-9_.-]{1,256})(?:#([A-Za-z0-9_.-]{1,256}))?\}/g;
const MAX_DEPTH = 8;

function referencesIn(text: string): Reference[] {
  return [...text.matchAll(REFERENCE)].map((m) => ({
    namespace: m[1] as string,
    key: m[2] as string,
    ...(m[3] ? { field: m[3] } : {}),
    text: m[0],
  }));
}

/** Every reference anywhere in a JSON value (strings only; object keys are not looked at). */
export function findReferences(value: unknown): Reference[] {
  if (typeof value === "string") return value.includes("${ref:") ? referencesIn(value) : [];
  if (Array.isArray(value)) return value.flatMap(findReferences);
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(findReferences);
  return [];
}

export const hasReferences = (value: unknown): boolean => findReferences(value).length > 0;

/** What a resolver learns about a referenced key: its value (undefined: no such key) and whether it is secret. */
export interface ReferencedValue {
  value: unknown;
  secret: boolean;
}

export interface ResolveOptions {
  /** Reads one referenced key (after the caller's permission on it was checked). */
  load: (ref: Reference) => Promise<ReferencedValue | undefined>;
  /** Whether secret values may be put in clear; otherwise a reference to a secret becomes the mask. */
  reveal: boolean;
}

const id = (namespace: string, key: string) => `${namespace}/${key}`;

function pick(value: unknown, field: string, ref: Reference): unknown {
  let at: unknown = value;
  for (const part of field.split(".")) {
    if (at === null || typeof at !== "object" || !(part in at)) {
      throw new CairnError("validation_failed", `${ref.text}: ${id(ref.namespace, ref.key)} has no field "${field}"`, {
        errors: [{ path: `/${ref.text}`, message: `no field "${field}"` }],
      });
    }
    at = (at as Record<string, unknown>)[part];
  }
  return at;
}

/**
 * Resolves every reference in `value`, which lives at `origin` (`ns/key`). A cycle, a reference deeper
 * than 8 levels, a missing key or field is a 422 naming the reference.
 */
export async function resolveReferences(value: unknown, origin: string, options: ResolveOptions): Promise<unknown> {
  return resolveIn(value, [origin], options);
}

async function resolveIn(value: unknown, stack: string[], options: ResolveOptions): Promise<unknown> {
  if (typeof value === "string") return value.includes("${ref:") ? resolveString(value, stack, options) : value;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) out.push(await resolveIn(item, stack, options));
    return out;
  }
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await resolveIn(v, stack, options);
    return out;
  }
  return value;
}

async function resolveOne(ref: Reference, stack: string[], options: ResolveOptions): Promise<unknown> {
  const target = id(ref.namespace, ref.key);
  if (stack.includes(target)) {
    const cycle = [...stack.slice(stack.indexOf(target)), target].join(" → ");
    throw new CairnError("validation_failed", `reference cycle: ${cycle}; break it by writing a plain value into one of them`, {
      errors: [{ path: `/${ref.text}`, message: `cycle ${cycle}` }],
    });
  }
  if (stack.length > MAX_DEPTH) {
    throw new CairnError("validation_failed", `references nest deeper than ${MAX_DEPTH} levels at ${ref.text} (${stack.join(" → ")})`, {
      errors: [{ path: `/${ref.text}`, message: "too deep" }],
    });
  }
  const found = await options.load(ref);
  if (!found || found.value === undefined) {
    throw new CairnError(
      "validation_failed",
      `${ref.text} points to ${target}, which has no value here; write it first or fix the reference`,
      {
        errors: [{ path: `/${ref.text}`, message: "unresolved reference" }],
      },
    );
  }
  if (found.secret && !options.reveal) return MASK;
  const resolved = await resolveIn(found.value, [...stack, target], options);
  return ref.field ? pick(resolved, ref.field, ref) : resolved;
}

async function resolveString(text: string, stack: string[], options: ResolveOptions): Promise<unknown> {
  const refs = referencesIn(text);
  if (refs.length === 0) return text;
  // Exactly one reference and nothing else: the referenced JSON value itself (a number stays a number).
  if (refs.length === 1 && refs[0]?.text === text) return resolveOne(refs[0], stack, options);
  let out = text;
  for (const ref of refs) {
    const resolved = await resolveOne(ref, stack, options);
    const replacement = typeof resolved === "string" ? resolved : JSON.stringify(resolved);
    // A function, so `$&` or `$1` inside a value are not read as replacement patterns.
    out = out.replace(ref.text, () => replacement);
  }
  return out;
}
