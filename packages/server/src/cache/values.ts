import { randomBytes } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { EventBus } from "../events/bus.js";

/** Published after a config write commits: every replica drops what it cached for that key. */
export const CONFIGS_CHANGED = "configs.changed";

export interface CachedRead<T> {
  /** What the service returns (secrets already masked: reveals never come from the cache). */
  entry: T;
  /** The response body, serialised once. */
  json: string;
}

export interface CacheCounters {
  hit(cache: string): void;
  miss(cache: string): void;
}

/** How long a key's invalidation is remembered, so a slower read that started before it cannot refill stale data. */
const INVALIDATION_MEMORY_MS = 30_000;

type Ticket = { tick: number; at: number };

/**
 * L1: resolved config reads in this process, bounded in bytes (LRU), keyed by tenant, namespace, key and
 * the environment asked for.
 *
 * - A write drops every environment of its key here at once and, by one bus message, on every other
 *   replica; a lost bus connection drops everything. The value just written is cached for its own
 *   environment (write-through) unless a newer version of it is already known.
 * - A read that misses loads once per key and environment however many readers wait (`load`), and fills
 *   the cache only if no invalidation of that key happened since the load began, so a slow read can never
 *   put back a value a concurrent write replaced.
 */
export function createValueCache<T>(options: { maxBytes: number; bus?: EventBus; counters?: CacheCounters }) {
  /** Tells this cache's own messages apart when the bus hands them back. */
  const origin = randomBytes(8).toString("hex");
  let clock = 0;
  let clearedAt: Ticket = { tick: 0, at: 0 };
  /** Per key: when it was last invalidated, and the newest version written per environment. */
  const invalidatedAt = new Map<string, Ticket & { versions: Map<string, number> }>();
  const loading = new Map<string, Promise<CachedRead<T>>>();
  const envsOf = new Map<string, Set<string>>();
  const lru = new LRUCache<string, CachedRead<T>>({
    maxSize: Math.max(1, options.maxBytes),
    sizeCalculation: (value, key) => value.json.length * 2 + key.length * 2 + 256,
    dispose: (_value, key) => {
      const keyId = key.slice(0, key.lastIndexOf("\u0000"));
      const set = envsOf.get(keyId);
      if (set) {
        set.delete(key);
        if (set.size === 0) envsOf.delete(keyId);
      }
    },
  });
  const keyIdOf = (tenantId: string, namespaceId: string, key: string) => `${tenantId}\u0000${namespaceId}\u0000${key}`;

  function invalidate(keyId: string, written?: { environment: string; version: number }): void {
    const now = Date.now();
    const previous = invalidatedAt.get(keyId);
    const versions = previous && now - previous.at <= INVALIDATION_MEMORY_MS ? previous.versions : new Map<string, number>();
    if (written) versions.set(written.environment, Math.max(versions.get(written.environment) ?? 0, written.version));
    invalidatedAt.set(keyId, { tick: ++clock, at: now, versions });
    for (const full of [...(envsOf.get(keyId) ?? [])]) lru.delete(full);
    // A reader arriving now must not join a load that began before the write.
    for (const full of loading.keys()) if (full.startsWith(`${keyId}\u0000`)) loading.delete(full);
    // Forget old invalidations now and then (a load older than this is not cached anyway).
    if (invalidatedAt.size > 10_000 || clock % 1000 === 0) {
      for (const [id, mark] of invalidatedAt) if (now - mark.at > INVALIDATION_MEMORY_MS) invalidatedAt.delete(id);
    }
  }

  function clear(): void {
    clearedAt = { tick: ++clock, at: Date.now() };
    lru.clear();
    envsOf.clear();
  }

  function store(keyId: string, environment: string, value: CachedRead<T>): void {
    const full = `${keyId}\u0000${environment}`;
    lru.set(full, value);
    if (!lru.has(full)) return; // larger than the whole cache
    let set = envsOf.get(keyId);
    if (!set) {
      set = new Set();
      envsOf.set(keyId, set);
    }
    set.add(full);
  }

  function fill(ticket: Ticket, keyId: string, environment: string, value: CachedRead<T>): void {
    const mark = invalidatedAt.get(keyId);
    if ((mark && mark.tick > ticket.tick) || clearedAt.tick > ticket.tick) return;
    if (Date.now() - ticket.at > INVALIDATION_MEMORY_MS / 2) return;
    store(keyId, environment, value);
  }

  function changedHere(
    tenantId: string,
    namespaceId: string,
    key: string,
    written?: { environment: string; version: number },
    fresh?: CachedRead<T>,
  ): void {
    const keyId = keyIdOf(tenantId, namespaceId, key);
    invalidate(keyId, written);
    if (written && fresh && (invalidatedAt.get(keyId)?.versions.get(written.environment) ?? 0) <= written.version) {
      store(keyId, written.environment, fresh);
    }
  }

  const unsubscribe = options.bus?.subscribe(CONFIGS_CHANGED, (p) => {
    if (p.origin === origin) return;
    if (typeof p.tenantId !== "string" || typeof p.namespaceId !== "string" || typeof p.key !== "string") return;
    const written =
      typeof p.environment === "string" && typeof p.version === "number" ? { environment: p.environment, version: p.version } : undefined;
    invalidate(keyIdOf(p.tenantId, p.namespaceId, p.key), written);
  });
  const unGap = options.bus?.onGap(clear);

  return {
    get(tenantId: string, namespaceId: string, key: string, environment: string): CachedRead<T> | undefined {
      const hit = lru.get(`${keyIdOf(tenantId, namespaceId, key)}\u0000${environment}`);
      if (hit) options.counters?.hit("values");
      else options.counters?.miss("values");
      return hit;
    },

    /**
     * `loader`'s result, cached when nothing invalidated the key meanwhile. One load per key and
     * environment at a time: the readers that miss together after a write share one database read.
     */
    load(
      tenantId: string,
      namespaceId: string,
      key: string,
      environment: string,
      loader: () => Promise<CachedRead<T>>,
    ): Promise<CachedRead<T>> {
      const keyId = keyIdOf(tenantId, namespaceId, key);
      const full = `${keyId}\u0000${environment}`;
      let pending = loading.get(full);
      if (!pending) {
        const ticket = { tick: clock, at: Date.now() };
        pending = loader()
          .then((result) => {
            fill(ticket, keyId, environment, result);
            return result;
          })
          .finally(() => {
            if (loading.get(full) === pending) loading.delete(full);
          });
        loading.set(full, pending);
      }
      return pending;
    },

    /**
     * After a write committed: drop the key here now, then on every other replica (one message).
     * `fresh` — what a read of `written.environment` now returns — is cached at once unless a newer
     * version of that environment is already known here.
     */
    async changed(
      tenantId: string,
      namespaceId: string,
      key: string,
      written?: { environment: string; version: number },
      fresh?: CachedRead<T>,
    ): Promise<void> {
      changedHere(tenantId, namespaceId, key, written, fresh);
      await options.bus?.publish(CONFIGS_CHANGED, { tenantId, namespaceId, key, ...written, origin });
    },

    /**
     * The message `changed` sends to the other replicas, for a caller that sends it itself (one Redis
     * script with the L2 invalidation it must follow; then `changedHere`); undefined when the bus is not Redis.
     */
    relay(tenantId: string, namespaceId: string, key: string, written?: { environment: string; version: number }) {
      return options.bus?.relay?.(CONFIGS_CHANGED, { tenantId, namespaceId, key, ...written, origin });
    },

    /** `changed` on this replica only: the caller has sent `relay`'s message. */
    changedHere,

    close(): void {
      unsubscribe?.();
      unGap?.();
      lru.clear();
    },
  };
}

export type ValueCache<T> = ReturnType<typeof createValueCache<T>>;
