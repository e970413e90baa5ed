import type { Redis } from "ioredis";
import type { ConfigRow } from "../db/types.js";
import type { Log } from "../events/redis.js";
import { silentLog } from "../events/redis.js";
import type { CacheCounters } from "./values.js";

/**
 * L2: the head rows of a key, shared by every replica in Redis — ciphertext only (value_sealed is the
 * AES-GCM envelope the database holds; the data key stays wrapped in PostgreSQL), so Redis learns names
 * and versions, never a value.
 *
 * One hash per key: field `g` is the key's generation, one field per environment holds that environment's
 * head (or `-`: none). A write bumps `g` and drops the heads in one script; a reader that loaded heads
 * from the database stores them only if `g` is still what it saw before loading, so a slow reader can
 * never put back what a write replaced. Any Redis failure falls through to the database.
 */
const STORE_IF_UNCHANGED = `
local g = redis.call('HGET', KEYS[1], 'g') or ''
if g ~= ARGV[1] then return 0 end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;
const INVALIDATE = `
local g = redis.call('HINCRBY', KEYS[1], 'g', 1)
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'g', g)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if ARGV[2] then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return g
`;

const PREFIX = "cairn:heads:";
/** How long an untouched key's heads stay in Redis. */
const TTL_MS = 24 * 3600 * 1000;

type Head = ConfigRow;

function encode(row: Head): string {
  return JSON.stringify({
    ...row,
    value_sealed: row.value_sealed ? Buffer.from(row.value_sealed).toString("base64") : null,
    updated_at: new Date(row.updated_at).toISOString(),
  });
}

function decode(text: string): Head {
  const raw = JSON.parse(text) as Omit<Head, "value_sealed" | "updated_at"> & { value_sealed: string | null; updated_at: string };
  return {
    ...raw,
    value_sealed: raw.value_sealed === null ? null : Buffer.from(raw.value_sealed, "base64"),
    updated_at: new Date(raw.updated_at),
  };
}

type ScriptRedis = Redis & {
  cairnStoreHeads(key: string, ...args: string[]): Promise<number>;
  cairnInvalidateHeads(key: string, ttl: string, ...publish: string[]): Promise<number>;
};

export function createHeadCache(redis: Redis, options: { log?: Log; counters?: CacheCounters } = {}) {
  const log = options.log ?? silentLog;
  const r = redis as ScriptRedis;
  if (!("cairnStoreHeads" in redis)) {
    redis.defineCommand("cairnStoreHeads", { numberOfKeys: 1, lua: STORE_IF_UNCHANGED });
    redis.defineCommand("cairnInvalidateHeads", { numberOfKeys: 1, lua: INVALIDATE });
  }
  const keyOf = (tenantId: string, namespaceId: string, key: string) => `${PREFIX}${tenantId}:${namespaceId}:${key}`;
  let warned = false;
  const failed = (e: unknown) => {
    if (!warned) log.warn({ error: (e as Error).message }, "the Redis head cache failed; reading from the database");
    warned = true;
  };

  return {
    /**
     * The heads of `key` in each of `environments` — from Redis when it holds all of them, else from
     * `load` (the database), stored for the next reader.
     */
    async heads(tenantId: string, namespaceId: string, key: string, environments: string[], load: () => Promise<Head[]>): Promise<Head[]> {
      const redisKey = keyOf(tenantId, namespaceId, key);
      let generation = "";
      try {
        const fields = await redis.hmget(redisKey, "g", ...environments);
        generation = fields[0] ?? "";
        const envFields = fields.slice(1);
        if (envFields.every((f) => f !== null)) {
          options.counters?.hit("heads");
          return envFields.filter((f): f is string => f !== "-").map(decode);
        }
      } catch (e) {
        failed(e);
        return load();
      }
      options.counters?.miss("heads");
      const rows = await load();
      const args: string[] = [];
      for (const env of environments) {
        const row = rows.find((h) => h.environment === env);
        args.push(env, row ? encode(row) : "-");
      }
      await r.cairnStoreHeads(redisKey, generation, String(TTL_MS), ...args).catch(failed);
      return rows;
    },

    /**
     * After a write of `key` committed (any environment): the next reader goes to the database. `publish`
     * (a bus message) goes out in the same script, after the invalidation, so a replica it reaches can
     * only read the new heads — one round trip instead of two. If the script fails it is published alone.
     */
    async invalidate(tenantId: string, namespaceId: string, key: string, publish?: { channel: string; message: string }): Promise<void> {
      const extra = publish ? [publish.channel, publish.message] : [];
      await r.cairnInvalidateHeads(keyOf(tenantId, namespaceId, key), String(TTL_MS), ...extra).catch(async (e) => {
        failed(e);
        if (publish) {
          await redis.publish(publish.channel, publish.message).catch((e2: Error) => {
            log.warn({ error: e2.message }, "could not publish an event to Redis; other replicas will expire their caches");
          });
        }
      });
    },
  };
}

export type HeadCache = ReturnType<typeof createHeadCache>;
