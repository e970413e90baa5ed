import type { BulkOperation, Environment, ResolvedConfig } from "@cairn/sdk";

/** One key of a namespace: its resolved entry per environment (undefined where it resolves to nothing). */
export interface ConfigRow {
  key: string;
  byEnv: Record<string, ResolvedConfig | undefined>;
}

/** Keys are `[A-Za-z0-9_.-]{1,256}`; `history` and `validate` are reserved. */
export function keyProblem(key: string): string | undefined {
  if (!key) return "A key is required.";
  if (!/^[A-Za-z0-9_.-]{1,256}$/.test(key)) return "Use 1–256 letters, digits, '_', '.' or '-'.";
  if (key === "history" || key === "validate") return `"${key}" is a reserved name.`;
  return undefined;
}

/** Namespaces: 1–16 `/`-separated segments of `A–Z a–z 0–9 _ - .`, not starting with `.`. */
export function namespaceProblem(ns: string): string | undefined {
  const segments = ns.split("/");
  if (!ns) return "A namespace is required.";
  if (segments.length > 16) return "At most 16 segments.";
  if (segments.some((s) => !/^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(s))) {
    return "Segments of letters, digits, '_', '-' and '.', separated by '/' (not starting with '.').";
  }
  return undefined;
}

/** Environments in resolution order, roots first (base, development, staging, production). */
export function orderEnvironments(envs: Environment[]): Environment[] {
  return [...envs].sort((a, b) => a.chain.length - b.chain.length || a.name.localeCompare(b.name));
}

export const pretty = (value: unknown): string => (value === undefined ? "" : JSON.stringify(value, null, 2));

/** Parses the JSON typed into the value field; `error` says why it is not JSON. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  if (!text.trim()) return { ok: false, error: 'Enter a JSON value, e.g. "text", 42, true or {"a": 1}.' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: `Not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
}

export function rowsFrom(envs: string[], lists: ResolvedConfig[][]): ConfigRow[] {
  const rows = new Map<string, ConfigRow>();
  lists.forEach((items, i) => {
    const env = envs[i] as string;
    for (const item of items) {
      const row = rows.get(item.key) ?? { key: item.key, byEnv: {} };
      row.byEnv[env] = item;
      rows.set(item.key, row);
    }
  });
  return [...rows.values()].sort((a, b) => a.key.localeCompare(b.key));
}

/** A namespace tree node: a path segment; `namespace` when that path itself is a namespace. */
export interface TreeNode {
  name: string;
  path: string;
  namespace: boolean;
  keys: number;
  children: TreeNode[];
}

export function buildTree(namespaces: { path: string; keys: number }[]): TreeNode[] {
  const root: TreeNode = { name: "", path: "", namespace: false, keys: 0, children: [] };
  for (const ns of [...namespaces].sort((a, b) => a.path.localeCompare(b.path))) {
    let node = root;
    const segments = ns.path.split("/");
    segments.forEach((segment, i) => {
      const path = segments.slice(0, i + 1).join("/");
      let child = node.children.find((c) => c.name === segment);
      if (!child) {
        child = { name: segment, path, namespace: false, keys: 0, children: [] };
        node.children.push(child);
      }
      node = child;
    });
    node.namespace = true;
    node.keys = ns.keys;
  }
  return root.children;
}

/** What an import file holds, as bulk operations; `skipped` says what was left out and why. */
export interface ImportPlan {
  operations: BulkOperation[];
  skipped: string[];
}

/**
 * Reads an import file: a console/API JSON export (`{items: [{key, value, secret}]}`) or a plain object of
 * `key: value`. Masked secrets (`••••` in exports) are skipped: importing them would overwrite real values.
 */
export function planImport(text: string, namespace: string, environment: string): ImportPlan {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`The file is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new Error('Expected a JSON object: an export of a namespace ({items: [...]}) or {"key": value, …}.');
  }
  const skipped: string[] = [];
  const operations: BulkOperation[] = [];
  const add = (key: string, value: unknown, secret: boolean) => {
    const problem = keyProblem(key);
    if (problem) skipped.push(`${key || "(empty)"}: ${problem}`);
    else if (secret) skipped.push(`${key}: a secret (masked in exports; set it by hand)`);
    else operations.push({ op: "set", namespace, key, environment, value, reason: "console import" });
  };
  const items = (doc as { items?: unknown }).items;
  if (Array.isArray(items)) {
    for (const item of items) {
      const entry = item as Partial<ResolvedConfig> | null;
      if (!entry || typeof entry.key !== "string") skipped.push("an item without a key");
      else add(entry.key, entry.value, entry.secret === true);
    }
  } else {
    for (const [key, value] of Object.entries(doc)) add(key, value, false);
  }
  if (operations.length > 1000) throw new Error(`${operations.length} keys: an import takes at most 1000 at once.`);
  return { operations, skipped };
}

/** A datetime-local input's value (local time, seconds) for an ISO time, and back. */
export function toLocalInput(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const local = new Date(d.getTime() - d.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 19);
}

export function fromLocalInput(value: string): string | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}
