import { type Action, actions, type Resource, resources } from "./types.js";

/**
 * Permission strings, `resource:namespacePattern:action`, parsed once into a matcher.
 *
 * - `resource` is one of `resources` or `*` (all of them); `action` one of `actions` or `*`.
 * - The pattern is `/`-separated segments; a segment is a literal namespace segment, `*` (exactly one
 *   segment) or `**` (any number of segments, including none). Wildcards are whole segments only.
 * - Namespaced resources (configs, secrets) match the pattern against the request's namespace (none = the
 *   root, which only `**` matches). The other resources have no namespace: a rule naming one of them
 *   explicitly ignores its pattern; a rule for `*` covers them only when its pattern is `**`, so
 *   `*:payments/**:*` is about payments and never grants, say, keys:admin.
 */
export const namespacedResources: ReadonlySet<Resource> = new Set<Resource>(["configs", "secrets"]);

export const PERMISSION_RULE =
  "a permission is resource:namespacePattern:action, e.g. configs:payments/**:read; resource is one of " +
  `${resources.join(", ")} or *; action is one of ${actions.join(", ")} or *; ` +
  "pattern segments are *, ** or 1–64 characters of A–Z, a–z, 0–9, '_', '-', '.' not starting with '.'";

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$/;
const MAX_SEGMENTS = 32;

export class PermissionError extends Error {
  override name = "PermissionError";
}

export type Segment = { kind: "literal"; value: string } | { kind: "one" } | { kind: "any" };

export interface NamespacePattern {
  source: string;
  segments: Segment[];
  /** `**`: matches every namespace, including none. */
  universal: boolean;
}

export interface Permission {
  source: string;
  resource: Resource | "*";
  pattern: NamespacePattern;
  action: Action | "*";
}

const clip = (s: string) => (s.length > 120 ? `${s.slice(0, 120)}…` : s);

export function parsePattern(source: string): NamespacePattern {
  if (source === "") throw new PermissionError("the namespace pattern is empty (use ** for every namespace)");
  const parts = source.split("/");
  if (parts.length > MAX_SEGMENTS)
    throw new PermissionError(`the namespace pattern "${clip(source)}" has more than ${MAX_SEGMENTS} segments`);
  const segments: Segment[] = [];
  for (const part of parts) {
    if (part === "**") {
      // `**/**` means the same as `**`.
      if (segments.at(-1)?.kind !== "any") segments.push({ kind: "any" });
    } else if (part === "*") segments.push({ kind: "one" });
    else if (part.includes("*")) {
      throw new PermissionError(`"${clip(part)}" in namespace pattern "${clip(source)}": * and ** must be whole segments`);
    } else if (!SEGMENT.test(part)) {
      throw new PermissionError(
        `"${clip(part)}" in namespace pattern "${clip(source)}" is not a valid segment (1–64 characters of A–Z, a–z, 0–9, '_', '-', '.', not starting with '.')`,
      );
    } else segments.push({ kind: "literal", value: part });
  }
  return { source, segments, universal: segments.length === 1 && segments[0]?.kind === "any" };
}

export function parsePermission(source: string): Permission {
  if (typeof source !== "string") throw new PermissionError("a permission must be a string");
  const parts = source.split(":");
  if (parts.length !== 3) {
    throw new PermissionError(`"${clip(source)}" is not resource:namespacePattern:action (it has ${parts.length} part(s))`);
  }
  const [resource, pattern, action] = parts as [string, string, string];
  if (resource !== "*" && !(resources as readonly string[]).includes(resource)) {
    throw new PermissionError(`unknown resource "${clip(resource)}" in "${clip(source)}"; use one of ${resources.join(", ")} or *`);
  }
  if (action !== "*" && !(actions as readonly string[]).includes(action)) {
    throw new PermissionError(`unknown action "${clip(action)}" in "${clip(source)}"; use one of ${actions.join(", ")} or *`);
  }
  let parsed: NamespacePattern;
  try {
    parsed = parsePattern(pattern);
  } catch (e) {
    throw new PermissionError(`${(e as Error).message} in "${clip(source)}"`);
  }
  return { source, resource: resource as Resource | "*", pattern: parsed, action: action as Action | "*" };
}

/** Does the pattern match this namespace path? `undefined` or `""` is the root (no segments). */
export function matchPattern(pattern: NamespacePattern, namespace: string | undefined): boolean {
  if (pattern.universal) return true;
  const path = namespace ? namespace.split("/") : [];
  const segs = pattern.segments;
  // Classic glob matching over segments with memo: dp over (pattern index, path index).
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const k = i * (path.length + 1) + j;
    const hit = memo.get(k);
    if (hit !== undefined) return hit;
    let r: boolean;
    const seg = segs[i];
    if (!seg) r = j === path.length;
    else if (seg.kind === "any") r = go(i + 1, j) || (j < path.length && go(i, j + 1));
    else if (j >= path.length) r = false;
    else if (seg.kind === "one") r = go(i + 1, j + 1);
    else r = seg.value === path[j] && go(i + 1, j + 1);
    memo.set(k, r);
    return r;
  };
  return go(0, 0);
}

/** Does the permission cover this resource, namespace and action (conditions aside)? */
export function matchPermission(p: Permission, resource: Resource, namespace: string | undefined, action: Action): boolean {
  if (p.action !== "*" && p.action !== action) return false;
  if (p.resource !== "*" && p.resource !== resource) return false;
  if (namespacedResources.has(resource)) return matchPattern(p.pattern, namespace);
  return p.resource !== "*" || p.pattern.universal;
}

/**
 * Does a binding's scope include this request? Namespaced resources: the namespace must match the scope.
 * The other resources have no namespace, so only an unscoped (`**`) binding reaches them.
 */
export function inScope(scope: NamespacePattern, resource: Resource, namespace: string | undefined): boolean {
  if (namespacedResources.has(resource)) return matchPattern(scope, namespace);
  return scope.universal;
}

/** `configs:payments/api:read`: the permission a request needs, for messages. */
export function permissionOf(resource: Resource, namespace: string | undefined, action: Action): string {
  return `${resource}:${namespacedResources.has(resource) && namespace ? namespace : "**"}:${action}`;
}
