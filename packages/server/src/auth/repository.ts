import type { Conn, Db } from "../db/database.js";

export function createApiKeyRepository(db: Db) {
  return {
    findActiveByPrefix(prefix: string) {
      return db
        .selectFrom("api_keys")
        .select(["id", "tenant_id", "name", "key_hash", "roles"])
        .where("prefix", "=", prefix)
        .where("revoked_at", "is", null)
        .executeTakeFirst();
    },
    async insert(conn: Conn, row: { id: string; tenantId: string; name: string; prefix: string; hash: Buffer; roles: string[] }) {
      await conn
        .insertInto("api_keys")
        .values({
          id: row.id,
          tenant_id: row.tenantId,
          name: row.name,
          prefix: row.prefix,
          key_hash: row.hash,
          roles: JSON.stringify(row.roles),
        })
        .execute();
    },
  };
}

export type ApiKeyRepository = ReturnType<typeof createApiKeyRepository>;
