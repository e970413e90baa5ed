import type { Conn, Db } from "../../db/database.js";

export function createUserRepository(db: Db) {
  return {
    findByEmail(email: string) {
      return db.selectFrom("users").selectAll().where("email", "=", email).executeTakeFirst();
    },
    find(tenantId: string, id: string, conn: Conn = db) {
      return conn.selectFrom("users").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirst();
    },
    list(tenantId: string) {
      return db.selectFrom("users").selectAll().where("tenant_id", "=", tenantId).orderBy("created_at").execute();
    },
    insert(conn: Conn, row: { id: string; tenantId: string; email: string; passwordHash: string; name: string | null }) {
      return conn
        .insertInto("users")
        .values({ id: row.id, tenant_id: row.tenantId, email: row.email, password_hash: row.passwordHash, name: row.name })
        .onConflict((oc) => oc.column("email").doNothing())
        .returningAll()
        .executeTakeFirst();
    },
    async disable(conn: Conn, tenantId: string, id: string) {
      const res = await conn
        .updateTable("users")
        .set({ disabled_at: new Date() })
        .where("tenant_id", "=", tenantId)
        .where("id", "=", id)
        .where("disabled_at", "is", null)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },
  };
}

export type UserRepository = ReturnType<typeof createUserRepository>;
