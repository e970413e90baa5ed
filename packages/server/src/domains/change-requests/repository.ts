import { type Selectable, sql } from "kysely";
import type { Conn } from "../../db/database.js";
import type { ChangeRequestsTable } from "../../db/types.js";

export type ChangeRequestRow = Selectable<ChangeRequestsTable>;

/** Change requests: Kysely only, scoped by tenant. Values live only in `payload_sealed`. */
export function createChangeRequestRepository() {
  return {
    async insert(
      conn: Conn,
      row: Omit<
        ChangeRequestRow,
        "created_at" | "updated_at" | "applied_at" | "applied_by" | "result" | "targets" | "environments" | "namespaces" | "proposer"
      > & {
        targets: unknown[];
        environments: string[];
        namespaces: string[];
        proposer: Record<string, unknown>;
      },
    ) {
      await conn
        .insertInto("change_requests")
        .values({
          ...row,
          targets: JSON.stringify(row.targets),
          environments: JSON.stringify(row.environments),
          namespaces: JSON.stringify(row.namespaces),
          proposer: JSON.stringify(row.proposer),
        })
        .execute();
    },

    get(conn: Conn, tenantId: string, id: string, lock = false) {
      let q = conn.selectFrom("change_requests").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id);
      if (lock) q = q.forUpdate();
      return q.executeTakeFirst();
    },

    list(conn: Conn, tenantId: string, options: { status?: string; now: Date; limit: number }) {
      let q = conn.selectFrom("change_requests").selectAll().where("tenant_id", "=", tenantId);
      // A pending request past its approval window reads as expired.
      if (options.status === "expired") {
        q = q.where((eb) =>
          eb.or([eb("status", "=", "expired"), eb.and([eb("status", "=", "pending"), eb("expires_at", "<=", options.now)])]),
        );
      } else if (options.status === "pending") {
        q = q.where("status", "=", "pending").where("expires_at", ">", options.now);
      } else if (options.status) {
        q = q.where("status", "=", options.status as ChangeRequestRow["status"]);
      }
      return q.orderBy("id", "desc").limit(options.limit).execute();
    },

    /** Moves `from` → `to`; false when the row was not in `from` (someone else got there first). */
    async transition(
      conn: Conn,
      tenantId: string,
      id: string,
      from: ChangeRequestRow["status"],
      to: ChangeRequestRow["status"],
      extra: { applied_at?: Date | null; applied_by?: string | null; result?: string | null } = {},
    ): Promise<boolean> {
      const r = await conn
        .updateTable("change_requests")
        .set({ status: to, updated_at: sql`now()`, ...extra })
        .where("tenant_id", "=", tenantId)
        .where("id", "=", id)
        .where("status", "=", from)
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },
  };
}

export type ChangeRequestRepository = ReturnType<typeof createChangeRequestRepository>;
