import type { Selectable } from "kysely";
import { sql } from "kysely";
import type { Conn } from "../../db/database.js";
import type { KeyRotationsTable } from "../../db/types.js";

export type RotationRow = Selectable<KeyRotationsTable> & { namespace: string | null };

/** Key rotation jobs and the rows they move; Kysely only, every method on the caller's connection. */
export function createKeyRotationRepository() {
  const withNamespace = (conn: Conn) =>
    conn
      .selectFrom("key_rotations as r")
      .leftJoin("namespaces as n", "n.id", "r.namespace_id")
      .selectAll("r")
      .select("n.path as namespace");

  return {
    get: (conn: Conn, id: string) => withNamespace(conn).where("r.id", "=", id).executeTakeFirst() as Promise<RotationRow | undefined>,

    list: (conn: Conn, tenantId: string | undefined, limit: number) => {
      let q = withNamespace(conn).orderBy("r.created_at", "desc").limit(limit);
      if (tenantId !== undefined) q = q.where("r.tenant_id", "=", tenantId);
      return q.execute() as Promise<RotationRow[]>;
    },

    /** The rotation in flight for this scope (a namespace, or the master key when null). */
    active: (conn: Conn, namespaceId: string | null) =>
      conn
        .selectFrom("key_rotations")
        .select("id")
        .where("status", "in", ["pending", "running"])
        .where(sql<boolean>`coalesce(namespace_id, '') = ${namespaceId ?? ""}`)
        .executeTakeFirst(),

    /** Inserts unless one is in flight for the scope (the partial unique index); says whether it did. */
    async insert(
      conn: Conn,
      row: {
        id: string;
        kind: "master" | "data";
        tenantId: string | null;
        namespaceId: string | null;
        reason: string;
        createdBy: string;
        targetKek: string | null;
        cursor: Record<string, unknown>;
      },
    ) {
      const inserted = await sql<{ id: string }>`
        insert into key_rotations (id, kind, tenant_id, namespace_id, status, reason, created_by, target_kek, cursor, started_at)
        values (${row.id}, ${row.kind}, ${row.tenantId}, ${row.namespaceId}, 'pending', ${row.reason}, ${row.createdBy}, ${row.targetKek}, ${JSON.stringify(row.cursor)}::jsonb, now())
        on conflict do nothing
        returning id`.execute(conn);
      return inserted.rows.length === 1;
    },

    /** The oldest job in flight nobody else is working on, locked for this transaction. */
    claim: (conn: Conn) =>
      conn
        .selectFrom("key_rotations")
        .selectAll()
        .where("status", "in", ["pending", "running"])
        .orderBy("created_at")
        .limit(1)
        .forUpdate()
        .skipLocked()
        .executeTakeFirst(),

    async progress(
      conn: Conn,
      id: string,
      fields: {
        status?: KeyRotationsTable["status"];
        addDone?: number;
        addSkipped?: number;
        addTotal?: number;
        cursor?: Record<string, unknown>;
        error?: string | null;
        finished?: boolean;
        newDataKeyId?: string;
        total?: number;
      },
    ) {
      await conn
        .updateTable("key_rotations")
        .set({
          ...(fields.status ? { status: fields.status } : {}),
          ...(fields.addDone ? { done: sql`done + ${fields.addDone}` } : {}),
          ...(fields.addSkipped ? { skipped: sql`skipped + ${fields.addSkipped}` } : {}),
          ...(fields.addTotal ? { total: sql`total + ${fields.addTotal}` } : {}),
          ...(fields.total !== undefined ? { total: fields.total } : {}),
          ...(fields.cursor ? { cursor: JSON.stringify(fields.cursor) } : {}),
          ...(fields.error !== undefined ? { error: fields.error } : {}),
          ...(fields.finished ? { finished_at: new Date() } : {}),
          ...(fields.newDataKeyId ? { new_data_key_id: fields.newDataKeyId } : {}),
          updated_at: new Date(),
        } as never)
        .where("id", "=", id)
        .execute();
    },
  };
}

export type KeyRotationRepository = ReturnType<typeof createKeyRotationRepository>;
