import { type Insertable, type Selectable, sql, type Updateable } from "kysely";
import type { Conn } from "../../db/database.js";
import type { RequestsTable } from "../../db/types.js";
import type { RequestStatus } from "./schemas.js";

export type RequestRow = Selectable<RequestsTable>;
export type RequestPatch = Updateable<RequestsTable>;

export interface RequestFilter {
  status?: string[];
  provider?: string[];
  principal?: string;
  role?: string;
  from?: Date;
  to?: Date;
  /** Only requests made by this actor. */
  requestedBy?: string;
}

export interface Cursor {
  receivedAt: string;
  id: string;
}

/** Kysely only; every method takes the caller's connection (the pool or its transaction). */
export function createRequestRepository() {
  return {
    async insert(conn: Conn, row: Insertable<RequestsTable>): Promise<RequestRow | undefined> {
      return conn
        .insertInto("requests")
        .values(row)
        .onConflict((oc) => oc.doNothing())
        .returningAll()
        .executeTakeFirst();
    },

    async find(conn: Conn, tenantId: string, id: string): Promise<RequestRow | undefined> {
      return conn.selectFrom("requests").selectAll().where("tenant_id", "=", tenantId).where("correlation_id", "=", id).executeTakeFirst();
    },

    async findAny(conn: Conn, id: string, lock = false): Promise<RequestRow | undefined> {
      const q = conn.selectFrom("requests").selectAll().where("correlation_id", "=", id);
      return (lock ? q.forUpdate() : q).executeTakeFirst();
    },

    async findByIdempotencyKey(conn: Conn, tenantId: string, requestedBy: string, key: string): Promise<RequestRow | undefined> {
      return conn
        .selectFrom("requests")
        .selectAll()
        .where("tenant_id", "=", tenantId)
        .where("requested_by", "=", requestedBy)
        .where("idempotency_key", "=", key)
        .executeTakeFirst();
    },

    /** Moves a request on, only from one of `from`; bumps its version. Undefined when it was elsewhere. */
    async transition(conn: Conn, id: string, from: RequestStatus[], patch: RequestPatch): Promise<RequestRow | undefined> {
      return conn
        .updateTable("requests")
        .set({ ...patch, version: sql`version + 1`, updated_at: sql`now()` } as unknown as RequestPatch)
        .where("correlation_id", "=", id)
        .where("status", "in", from)
        .returningAll()
        .executeTakeFirst();
    },

    async list(conn: Conn, tenantId: string, filter: RequestFilter, limit: number, after?: Cursor): Promise<RequestRow[]> {
      let q = conn.selectFrom("requests").selectAll().where("tenant_id", "=", tenantId);
      if (filter.status?.length) q = q.where("status", "in", filter.status);
      if (filter.provider?.length) q = q.where("cloud_provider", "in", filter.provider);
      if (filter.principal) q = q.where("principal", "=", filter.principal);
      if (filter.role) q = q.where("role", "=", filter.role);
      if (filter.from) q = q.where("received_at", ">=", filter.from);
      if (filter.to) q = q.where("received_at", "<", filter.to);
      if (filter.requestedBy) q = q.where("requested_by", "=", filter.requestedBy);
      if (after) {
        const at = new Date(after.receivedAt);
        q = q.where((eb) => eb.or([eb("received_at", "<", at), eb.and([eb("received_at", "=", at), eb("correlation_id", "<", after.id)])]));
      }
      return q.orderBy("received_at", "desc").orderBy("correlation_id", "desc").limit(limit).execute();
    },

    /** Who these actor ids are, for display: a user's email, an API key's name (ids of neither are left out). */
    async actorNames(conn: Conn, tenantId: string, ids: string[]): Promise<Map<string, string>> {
      const names = new Map<string, string>();
      const users = ids.filter((id) => id.startsWith("usr_"));
      const keys = ids.filter((id) => !id.startsWith("usr_"));
      if (users.length) {
        const rows = await conn
          .selectFrom("users")
          .select(["id", "email"])
          .where("tenant_id", "=", tenantId)
          .where("id", "in", users)
          .execute();
        for (const r of rows) names.set(r.id, r.email);
      }
      if (keys.length) {
        const rows = await conn
          .selectFrom("api_keys")
          .select(["id", "name"])
          .where("tenant_id", "=", tenantId)
          .where("id", "in", keys)
          .execute();
        for (const r of rows) names.set(r.id, `API key ${r.name}`);
      }
      return names;
    },

    /** How many requests are in each status (only those made by `requestedBy`, when given). */
    async countByStatus(conn: Conn, tenantId: string, requestedBy?: string): Promise<{ status: string; n: number }[]> {
      let q = conn
        .selectFrom("requests")
        .select(["status", (eb) => eb.fn.countAll<string | number>().as("n")])
        .where("tenant_id", "=", tenantId);
      if (requestedBy) q = q.where("requested_by", "=", requestedBy);
      const rows = await q.groupBy("status").execute();
      return rows.map((r) => ({ status: r.status, n: Number(r.n) }));
    },

    /**
     * Grants due for revocation (their expiry, or an early revoke, passed), claimed with a lease: FOR UPDATE
     * SKIP LOCKED, so two workers never take the same one; a worker that dies leaves it to the next after the lease.
     */
    async claimRevocations(conn: Conn, limit: number, leaseSeconds: number): Promise<RequestRow[]> {
      const result = await sql<RequestRow>`
        update requests set revoke_locked_until = now() + make_interval(secs => ${leaseSeconds}), revoke_attempts = revoke_attempts + 1
        where correlation_id in (
          select correlation_id from requests
          where status = 'SUCCESS' and coalesce(revoke_at, expires_at) <= now()
            and (revoke_locked_until is null or revoke_locked_until < now())
          order by coalesce(revoke_at, expires_at) limit ${limit}
          for update skip locked)
        returning *`.execute(conn);
      return result.rows;
    },

    async releaseRevocation(conn: Conn, id: string, retryAt: Date, error: Record<string, unknown>): Promise<void> {
      await conn
        .updateTable("requests")
        .set({ revoke_locked_until: null, revoke_at: retryAt, error_details: JSON.stringify(error) })
        .where("correlation_id", "=", id)
        .execute();
    },

    async dueApprovalExpiries(conn: Conn, limit: number): Promise<RequestRow[]> {
      return conn
        .selectFrom("requests")
        .selectAll()
        .where("status", "=", "AWAITING_APPROVAL")
        .where("approval_expires_at", "<=", new Date())
        .limit(limit)
        .forUpdate()
        .skipLocked()
        .execute();
    },

    /** Requests waiting for a worker for longer than `olderThanSeconds`: their job may have been lost. */
    async stalled(conn: Conn, olderThanSeconds: number, limit: number): Promise<RequestRow[]> {
      return conn
        .selectFrom("requests")
        .selectAll()
        .where("status", "in", ["PENDING", "APPROVED", "PROCESSING"])
        .where("updated_at", "<", sql<Date>`now() - make_interval(secs => ${olderThanSeconds})`)
        .limit(limit)
        .execute();
    },
  };
}

export type RequestRepository = ReturnType<typeof createRequestRepository>;
