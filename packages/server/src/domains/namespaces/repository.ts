import type { Conn } from "../../db/database.js";

export function createNamespaceRepository() {
  return {
    find(conn: Conn, tenantId: string, path: string) {
      return conn
        .selectFrom("namespaces")
        .select(["id", "path", "active_data_key_id"])
        .where("tenant_id", "=", tenantId)
        .where("path", "=", path)
        .executeTakeFirst();
    },
    /** Every namespace of a tenant with its number of live keys (any environment), by path. */
    list(conn: Conn, tenantId: string) {
      return conn
        .selectFrom("namespaces as n")
        .leftJoin("configs as c", (join) => join.onRef("c.namespace_id", "=", "n.id").on("c.deleted", "=", false))
        .select(["n.path", "n.created_at"])
        .select((eb) => eb.fn.count<string>("c.key").distinct().as("keys"))
        .where("n.tenant_id", "=", tenantId)
        .groupBy(["n.path", "n.created_at"])
        .orderBy("n.path")
        .execute();
    },
    /** Inserts unless present (a concurrent creator wins quietly); says whether this call created it. */
    async insertIfAbsent(conn: Conn, row: { id: string; tenantId: string; path: string; parentId: string | null }) {
      const inserted = await conn
        .insertInto("namespaces")
        .values({ id: row.id, tenant_id: row.tenantId, path: row.path, parent_id: row.parentId })
        .onConflict((oc) => oc.columns(["tenant_id", "path"]).doNothing())
        .returning("id")
        .executeTakeFirst();
      return inserted !== undefined;
    },
    async setActiveDataKey(conn: Conn, namespaceId: string, dataKeyId: string) {
      await conn.updateTable("namespaces").set({ active_data_key_id: dataKeyId }).where("id", "=", namespaceId).execute();
    },
  };
}

export type NamespaceRepository = ReturnType<typeof createNamespaceRepository>;
