import type { Selectable } from "kysely";
import type { Conn } from "../../db/database.js";
import type { ApiKeysTable } from "../../db/types.js";

export type KeyRow = Omit<Selectable<ApiKeysTable>, "key_hash">;

export interface NewKeyRow {
  id: string;
  tenantId: string;
  name: string;
  prefix: string;
  hash: Buffer;
  roles: string[];
  permissions: unknown[];
  instanceAdmin: boolean;
  expiresAt: Date | null;
  rateLimit: { limit: number; windowSeconds: number } | null;
  remaining: number | null;
  meta: Record<string, unknown>;
  createdBy: string | null;
}

// Everything but the hash: nothing outside authentication ever reads it.
const columns = [
  "id",
  "tenant_id",
  "name",
  "prefix",
  "roles",
  "created_at",
  "revoked_at",
  "instance_admin",
  "permissions",
  "expires_at",
  "grace_until",
  "rotated_to",
  "rate_limit",
  "rate_window_seconds",
  "remaining",
  "meta",
  "created_by",
  "last_used_at",
  "usage_count",
  "expired_at",
] as const;

/** API keys of one tenant: every read and write is scoped by tenant id. */
export function createKeyRepository() {
  return {
    async insert(conn: Conn, k: NewKeyRow): Promise<KeyRow> {
      return conn
        .insertInto("api_keys")
        .values({
          id: k.id,
          tenant_id: k.tenantId,
          name: k.name,
          prefix: k.prefix,
          key_hash: k.hash,
          roles: JSON.stringify(k.roles),
          permissions: JSON.stringify(k.permissions),
          instance_admin: k.instanceAdmin,
          expires_at: k.expiresAt,
          rate_limit: k.rateLimit?.limit ?? null,
          rate_window_seconds: k.rateLimit?.windowSeconds ?? null,
          remaining: k.remaining === null ? null : String(k.remaining),
          meta: JSON.stringify(k.meta),
          created_by: k.createdBy,
        })
        .returning(columns)
        .executeTakeFirstOrThrow();
    },

    find(conn: Conn, tenantId: string, id: string): Promise<KeyRow | undefined> {
      return conn.selectFrom("api_keys").select(columns).where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirst();
    },

    /** The row, locked until the transaction ends (rotate and revoke must not interleave). */
    findForUpdate(conn: Conn, tenantId: string, id: string): Promise<KeyRow | undefined> {
      return conn
        .selectFrom("api_keys")
        .select(columns)
        .where("tenant_id", "=", tenantId)
        .where("id", "=", id)
        .forUpdate()
        .executeTakeFirst();
    },

    list(conn: Conn, tenantId: string, options: { limit: number; after?: string }): Promise<KeyRow[]> {
      let q = conn.selectFrom("api_keys").select(columns).where("tenant_id", "=", tenantId);
      if (options.after) q = q.where("id", ">", options.after);
      return q.orderBy("id").limit(options.limit).execute();
    },

    revoke(conn: Conn, id: string, at: Date): Promise<KeyRow> {
      return conn.updateTable("api_keys").set({ revoked_at: at }).where("id", "=", id).returning(columns).executeTakeFirstOrThrow();
    },

    markRotated(conn: Conn, id: string, graceUntil: Date, rotatedTo: string): Promise<KeyRow> {
      return conn
        .updateTable("api_keys")
        .set({ grace_until: graceUntil, rotated_to: rotatedTo })
        .where("id", "=", id)
        .returning(columns)
        .executeTakeFirstOrThrow();
    },

    /**
     * Claims keys whose expiry or rotation grace has passed and whose expiry is not recorded yet. Rows
     * another replica is claiming are skipped, so each expiry is recorded exactly once.
     */
    claimExpired(conn: Conn, now: Date, limit: number) {
      return conn
        .updateTable("api_keys")
        .set({ expired_at: now })
        .where("id", "in", (eb) =>
          eb
            .selectFrom("api_keys")
            .select("id")
            .where("expired_at", "is", null)
            .where("revoked_at", "is", null)
            .where((w) => w.or([w("expires_at", "<=", now), w("grace_until", "<=", now)]))
            .limit(limit)
            .forUpdate()
            .skipLocked(),
        )
        .returning(["id", "tenant_id", "expires_at", "grace_until", "rotated_to"])
        .execute();
    },

    /** Hourly usage buckets from `since` (inclusive of the hour it falls in), oldest first. */
    usage(conn: Conn, keyId: string, since: Date) {
      const hour = new Date(Math.floor(since.getTime() / 3_600_000) * 3_600_000);
      return conn
        .selectFrom("key_usage")
        .select(["hour", "count"])
        .where("key_id", "=", keyId)
        .where("hour", ">=", hour)
        .orderBy("hour")
        .execute();
    },

    async roleNames(conn: Conn, tenantId: string): Promise<string[]> {
      const rows = await conn.selectFrom("roles").select("name").where("tenant_id", "=", tenantId).execute();
      return rows.map((r) => r.name);
    },
  };
}

export type KeyRepository = ReturnType<typeof createKeyRepository>;
