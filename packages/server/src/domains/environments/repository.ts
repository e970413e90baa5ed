import type { Transaction } from "kysely";
import type { Db } from "../../db/database.js";
import type { Database } from "../../db/types.js";

export function createEnvironmentRepository(db: Db) {
  return {
    list(tenantId: string) {
      return db.selectFrom("environments").selectAll().where("tenant_id", "=", tenantId).orderBy("created_at").orderBy("name").execute();
    },
    async insert(trx: Transaction<Database> | Db, tenantId: string, name: string, parent: string | null) {
      const row = await trx
        .insertInto("environments")
        .values({ tenant_id: tenantId, name, parent })
        .onConflict((oc) => oc.doNothing())
        .returningAll()
        .executeTakeFirst();
      return row;
    },
  };
}

export type EnvironmentRepository = ReturnType<typeof createEnvironmentRepository>;
