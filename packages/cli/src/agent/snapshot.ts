import type { ResolvedConfig } from "@cairn/sdk";

/** What the agent knows of one namespace in one environment: the resolved items, and how far it has read. */
export interface Snapshot {
  namespace: string;
  environment: string;
  /** The last watch revision applied; resuming the watch from it replays what was missed. */
  revision?: number;
  /** When the server last confirmed these values (RFC 3339). */
  syncedAt: string;
  /**
   * Whether secrets' values are in clear (the agent's credential may reveal them). When false, secrets
   * hold the mask.
   */
  revealed: boolean;
  /** Sorted by key. */
  items: ResolvedConfig[];
}

export const emptySnapshot = (namespace: string, environment: string): Snapshot => ({
  namespace,
  environment,
  syncedAt: new Date(0).toISOString(),
  revealed: true,
  items: [],
});

const byKey = (a: ResolvedConfig, b: ResolvedConfig) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

export const sortItems = (items: ResolvedConfig[]): ResolvedConfig[] => [...items].sort(byKey);

/** What a reader could notice of an item: where it resolved from, its version, secrecy and value. */
const fingerprint = (i: ResolvedConfig) => JSON.stringify([i.resolvedFrom, i.version, i.secret, i.value]);

/** Keys whose item appeared, went away or changed between two lists. */
export function changedKeys(before: readonly ResolvedConfig[], after: readonly ResolvedConfig[]): string[] {
  const old = new Map(before.map((i) => [i.key, fingerprint(i)]));
  const changed = new Set<string>();
  for (const item of after) {
    if (old.get(item.key) !== fingerprint(item)) changed.add(item.key);
    old.delete(item.key);
  }
  for (const key of old.keys()) changed.add(key);
  return [...changed].sort();
}
