import { sql } from "kysely";
import type { Rule } from "../authz/types.js";
import type { Conn, Db } from "../db/database.js";

export interface RateLimitSetting {
  limit: number;
  windowSeconds: number;
}

/** What authentication needs to know about a key: found by its public prefix, proven by its hash. */
export interface KeyRecord {
  id: string;
  tenantId: string;
  name: string;
  hash: Buffer;
  roles: string[];
  permissions: Rule[];
  instanceAdmin: boolean;
  revokedAt: number | null;
  expiresAt: number | null;
  /** A rotated key works until then. */
  graceUntil: number | null;
  /** The key.expired event has been written. */
  expiryRecorded: boolean;
  rateLimit: RateLimitSetting | null;
  /** `tenants.settings.rateLimit`: applies to keys without their own limit. */
  tenantRateLimit: RateLimitSetting | null;
  /** The key has a usage quota (`remaining` not null): every use decrements it in the database. */
  hasQuota: boolean;
  /**
   * Whose quota and rate limit a use counts against: the key's own, or — for a rotated key in its grace
   * period — its replacement's, which inherited them (so a rotation never doubles a quota or a limit).
   */
  limitKeyId: string;
  meta: Record<string, unknown>;
}

export interface UsageBatch {
  keyId: string;
  count: number;
  lastUsedAt: Date;
  /** Start of each hour → uses in it. */
  hours: [Date, number][];
}

function rateLimitOf(value: unknown): RateLimitSetting | null {
  const v = value as Partial<RateLimitSetting> | null | undefined;
  const limit = Number(v?.limit);
  const windowSeconds = Number(v?.windowSeconds);
  return Number.isInteger(limit) && limit > 0 && Number.isInteger(windowSeconds) && windowSeconds > 0 ? { limit, windowSeconds } : null;
}

const time = (d: Date | string | null): number | null => (d === null ? null : new Date(d).getTime());

/** The data access of authentication: the lookup by prefix, the quota decrement, batched usage counters. */
export function createApiKeyRepository(db: Db) {
  return {
    async findByPrefix(prefix: string): Promise<KeyRecord | undefined> {
      const row = await db
        .selectFrom("api_keys")
        .innerJoin("tenants", "tenants.id", "api_keys.tenant_id")
        .select([
          "api_keys.id",
          "api_keys.tenant_id",
          "api_keys.name",
          "api_keys.key_hash",
          "api_keys.roles",
          "api_keys.permissions",
          "api_keys.instance_admin",
          "api_keys.revoked_at",
          "api_keys.expires_at",
          "api_keys.grace_until",
          "api_keys.expired_at",
          "api_keys.rate_limit",
          "api_keys.rate_window_seconds",
          "api_keys.remaining",
          "api_keys.rotated_to",
          "api_keys.meta",
          "tenants.settings",
        ])
        .where("api_keys.prefix", "=", prefix)
        .executeTakeFirst();
      if (!row) return undefined;
      return {
        id: row.id,
        tenantId: row.tenant_id,
        name: row.name,
        hash: Buffer.from(row.key_hash),
        roles: row.roles,
        permissions: row.permissions as Rule[],
        instanceAdmin: row.instance_admin,
        revokedAt: time(row.revoked_at),
        expiresAt: time(row.expires_at),
        graceUntil: time(row.grace_until),
        expiryRecorded: row.expired_at !== null,
        rateLimit: rateLimitOf({ limit: row.rate_limit, windowSeconds: row.rate_window_seconds }),
        tenantRateLimit: rateLimitOf((row.settings as { rateLimit?: unknown } | null)?.rateLimit),
        hasQuota: row.remaining !== null,
        limitKeyId: row.rotated_to ?? row.id,
        meta: row.meta ?? {},
      };
    },

    /** Takes one use from the quota atomically; undefined when none is left. */
    async consumeQuota(keyId: string): Promise<number | undefined> {
      const row = await db
        .updateTable("api_keys")
        .set({ remaining: sql<string>`remaining - 1` })
        .where("id", "=", keyId)
        .where("remaining", ">", "0")
        .returning("remaining")
        .executeTakeFirst();
      return row ? Number(row.remaining) : undefined;
    },

    /**
     * Adds a batch of usage: one UPDATE per key (in id order, so two replicas flushing at once lock rows in
     * the same order) and one multi-row upsert of the hourly buckets.
     */
    async addUsage(conn: Conn, batch: UsageBatch[]): Promise<void> {
      const sorted = [...batch].sort((a, b) => (a.keyId < b.keyId ? -1 : 1));
      for (const u of sorted) {
        await conn
          .updateTable("api_keys")
          .set({
            usage_count: sql<string>`usage_count + ${u.count}`,
            last_used_at: sql<Date>`greatest(coalesce(last_used_at, ${u.lastUsedAt}), ${u.lastUsedAt})`,
          })
          .where("id", "=", u.keyId)
          .execute();
      }
      const rows = sorted.flatMap((u) => u.hours.map(([hour, count]) => ({ key_id: u.keyId, hour, count })));
      if (rows.length === 0) return;
      await conn
        .insertInto("key_usage")
        .values(rows)
        .onConflict((oc) => oc.columns(["key_id", "hour"]).doUpdateSet({ count: sql<string>`key_usage.count + excluded.count` }))
        .execute();
    },
  };
}

export type ApiKeyRepository = ReturnType<typeof createApiKeyRepository>;
