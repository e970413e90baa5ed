import type { Conn, Db } from "../../db/database.js";

export function createKeySchemaRepository(db: Db) {
  return {
    find(tenantId: string, namespaceId: string, key: string, conn: Conn = db) {
      return conn
        .selectFrom("schemas")
        .selectAll()
        .where("tenant_id", "=", tenantId)
        .where("namespace_id", "=", namespaceId)
        .where("key", "=", key)
        .executeTakeFirst();
    },
    upsert(trx: Conn, row: { tenantId: string; namespaceId: string; key: string; schema: string; updatedBy: string }) {
      return trx
        .insertInto("schemas")
        .values({ tenant_id: row.tenantId, namespace_id: row.namespaceId, key: row.key, schema: row.schema, updated_by: row.updatedBy })
        .onConflict((oc) =>
          oc.columns(["tenant_id", "namespace_id", "key"]).doUpdateSet((eb) => ({
            schema: eb.ref("excluded.schema"),
            updated_by: eb.ref("excluded.updated_by"),
            updated_at: eb.fn("now"),
          })),
        )
        .returningAll()
        .executeTakeFirstOrThrow();
    },
    async remove(trx: Conn, tenantId: string, namespaceId: string, key: string) {
      const res = await trx
        .deleteFrom("schemas")
        .where("tenant_id", "=", tenantId)
        .where("namespace_id", "=", namespaceId)
        .where("key", "=", key)
        .executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
  };
}

export type KeySchemaRepository = ReturnType<typeof createKeySchemaRepository>;
