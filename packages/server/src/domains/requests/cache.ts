import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { LRUCache } from "lru-cache";
import type { EventBus } from "../../events/bus.js";
import type { Log } from "../../events/redis.js";
import { silentLog } from "../../events/redis.js";
import type { RequestView } from "./schemas.js";

/** Published after a request's status changed: every replica drops its copy. */
export const REQUESTS_CHANGED = "requests.changed";

const PREFIX = "cairn:requests:";
/** A stored view is versioned: `<version>|<json>`; a bare `<version>|` is a tombstone left by a change. */
const STORE_IF_NEWER = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+)|'))
  if v and v > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
return 1
`;

type VersionedView = { version: number; view?: RequestView };
type ScriptRedis = Redis & { cairnStoreRequest(key: string, version: string, json: string, ttl: string): Promise<number> };

/**
 * Cache-aside for `GET /requests/{id}` (seed 003): L1 in this process, L2 in Redis when REDIS_URL is set,
 * PostgreSQL behind both. Every status change bumps the row's `version`; `changed(id, version)` leaves a
 * tombstone of that version in both layers (and, by one bus message, in every replica's L1), and a view is
 * stored only if no newer version is known, so a slow reader can never put back a status that changed.
 * Views hold no secrets (credentials are never part of one).
 */
export function createRequestCache(options: { bus?: EventBus; redis?: Redis; ttlSeconds?: number; log?: Log }) {
  const log = options.log ?? silentLog;
  const origin = randomBytes(8).toString("hex");
  const ttlMs = (options.ttlSeconds ?? 300) * 1000;
  const l1 = new LRUCache<string, VersionedView>({ max: 10_000, ttl: ttlMs });
  const r = options.redis as ScriptRedis | undefined;
  if (options.redis && !("cairnStoreRequest" in options.redis))
    options.redis.defineCommand("cairnStoreRequest", { numberOfKeys: 1, lua: STORE_IF_NEWER });
  let warned = false;
  const failed = (e: unknown) => {
    if (!warned) log.warn({ error: (e as Error).message }, "the Redis request cache failed; reading from the database");
    warned = true;
  };

  function remember(id: string, version: number, view?: RequestView) {
    const known = l1.get(id);
    if (known && known.version > version) return;
    if (known && known.version === version && !view && known.view) return;
    l1.set(id, { version, view });
  }

  const unsubscribe = options.bus?.subscribe(REQUESTS_CHANGED, (p) => {
    if (p.origin === origin || typeof p.key !== "string" || typeof p.version !== "number") return;
    remember(p.key, p.version);
  });
  const unGap = options.bus?.onGap(() => l1.clear());

  return {
    /** The view, from L1, else L2, else `load` (stored in both unless a newer version is known). */
    async get(
      tenantId: string,
      correlationId: string,
      load: () => Promise<{ version: number; view: RequestView } | undefined>,
    ): Promise<RequestView | undefined> {
      const id = `${tenantId}/${correlationId}`;
      const hit = l1.get(id);
      if (hit?.view) return hit.view;
      if (r) {
        try {
          const raw = await r.get(PREFIX + id);
          const bar = raw?.indexOf("|") ?? -1;
          if (raw && bar > 0 && bar < raw.length - 1) {
            const view = JSON.parse(raw.slice(bar + 1)) as RequestView;
            remember(id, Number(raw.slice(0, bar)), view);
            return view;
          }
        } catch (e) {
          failed(e);
        }
      }
      const loaded = await load();
      if (!loaded) return undefined;
      remember(id, loaded.version, loaded.view);
      await r?.cairnStoreRequest(PREFIX + id, String(loaded.version), JSON.stringify(loaded.view), String(ttlMs)).catch(failed);
      return loaded.view;
    },

    /** After a change of `id` committed at `version`: drop it here, in Redis and on every replica. */
    async changed(tenantId: string, correlationId: string, version: number): Promise<void> {
      const id = `${tenantId}/${correlationId}`;
      remember(id, version);
      await r?.cairnStoreRequest(PREFIX + id, String(version), "", String(ttlMs)).catch(failed);
      await options.bus?.publish(REQUESTS_CHANGED, { key: id, version, origin });
    },

    close() {
      unsubscribe?.();
      unGap?.();
      l1.clear();
    },
  };
}

export type RequestCache = ReturnType<typeof createRequestCache>;
