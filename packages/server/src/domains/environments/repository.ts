import type { Transaction } from "kysely";
import type { Db } from "../../db/database.js";
import type { Database } from "../../db/types.js";

export function createEnvironmentRepository(db: Db) {
  return {
    list(tenantId: string) {
      return db.selectFrom("environments").selectAll().where("tenant_id", "=", tenantId).orderBy("created_at").orderBy("name").execute();
    },
    async insert(trx: Transaction<Database> | Db, tenantId: string, name: string, parent: string | null, requireApproval = false) {
      const row = await trx
        .insertInto("environments")
        .values({ tenant_id: tenantId, name, parent, require_approval: requireApproval })
        .onConflict((oc) => oc.doNothing())
        .returningAll()
        .executeTakeFirst();
      return row;
    },
    setRequireApproval(trx: Transaction<Database> | Db, tenantId: string, name: string, requireApproval: boolean) {
      return trx
        .updateTable("environments")
        .set({ require_approval: requireApproval })
        .where("tenant_id", "=", tenantId)
        .where("name", "=", name)
        .returningAll()
        .executeTakeFirst();
    },
  };
}

export type EnvironmentRepository = ReturnType<typeof createEnvironmentRepository>;
