import { sql } from "kysely";
import { type NodeRef, nodeKey } from "../../audit/proofs.js";
import { AUDIT_DOCUMENT_COLUMNS, type AuditDocumentRow } from "../../audit/tree.js";
import type { Conn, Db } from "../../db/database.js";

export interface EventFilters {
  from?: Date;
  to?: Date;
  actor?: string;
  /** Exact, or a prefix when it ends in `*` (`config.*`). */
  eventType?: string;
  /** Exact, or the namespace and everything below it when it ends in `/**`. */
  namespace?: string;
  result?: "success" | "failure" | "denied";
}

export interface CheckpointRow {
  tree_size: string;
  root: Uint8Array;
  note: string;
  created_at: Date;
}

/** `like` patterns match literally what the caller typed before the wildcard. */
const likePrefix = (s: string) => `${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * SQL of the audit domain. A log is addressed by its id (the tenant id); events are found through the
 * unique index on (coalesce(tenant_id, ''), leaf_index), so every query here says `coalesce(tenant_id, '')`.
 */
export function createAuditRepository(db: Db) {
  const inLog = (logId: string) => sql<boolean>`coalesce(tenant_id, '') = ${logId}`;
  /** The same rows, in the words of the (tenant_id, occurred_at) index, for searches by time. */
  const ofTenant = (logId: string) => (logId === "" ? sql<boolean>`tenant_id is null` : sql<boolean>`tenant_id = ${logId}`);

  return {
    /** One page of sequenced events, by leaf index: newest first (`desc`) or oldest first. */
    async events(
      logId: string,
      filters: EventFilters,
      page: { limit: number; after?: number; order: "asc" | "desc" },
    ): Promise<AuditDocumentRow[]> {
      const where = [inLog(logId), sql<boolean>`leaf_index is not null`];
      if (page.after !== undefined) {
        where.push(page.order === "desc" ? sql`leaf_index < ${String(page.after)}` : sql`leaf_index > ${String(page.after)}`);
      }
      if (filters.from) where.push(sql`occurred_at >= ${filters.from}`);
      if (filters.to) where.push(sql`occurred_at < ${filters.to}`);
      if (filters.actor) where.push(sql`actor_id = ${filters.actor}`);
      if (filters.result) where.push(sql`result = ${filters.result}`);
      if (filters.eventType?.endsWith("*")) where.push(sql`event_type like ${likePrefix(filters.eventType.slice(0, -1))}`);
      else if (filters.eventType) where.push(sql`event_type = ${filters.eventType}`);
      if (filters.namespace?.endsWith("/**")) {
        const base = filters.namespace.slice(0, -3);
        where.push(sql`(namespace = ${base} or namespace like ${likePrefix(`${base}/`)})`);
      } else if (filters.namespace) where.push(sql`namespace = ${filters.namespace}`);
      const order = page.order === "desc" ? sql`desc` : sql`asc`;
      const { rows } = await sql<AuditDocumentRow>`
        select ${AUDIT_DOCUMENT_COLUMNS} from audit_events
        where ${sql.join(where, sql` and `)}
        order by coalesce(tenant_id, ''), leaf_index ${order}
        limit ${page.limit}`.execute(db);
      return rows;
    },

    /** Events with leaf index in [from, to), ascending (the export). */
    async eventsByIndex(logId: string, from: number, to: number): Promise<AuditDocumentRow[]> {
      const { rows } = await sql<AuditDocumentRow>`
        select ${AUDIT_DOCUMENT_COLUMNS} from audit_events
        where ${inLog(logId)} and leaf_index >= ${String(from)} and leaf_index < ${String(to)}
        order by coalesce(tenant_id, ''), leaf_index`.execute(db);
      return rows;
    },

    /** The first leaf index at or after a moment (`at` → the export's `from`); undefined when none. */
    async firstIndexFrom(logId: string, at: Date): Promise<number | undefined> {
      const { rows } = await sql<{ i: string | null }>`
        select min(leaf_index) as i from audit_events where ${ofTenant(logId)} and occurred_at >= ${at} and leaf_index is not null`.execute(
        db,
      );
      return rows[0]?.i == null ? undefined : Number(rows[0].i);
    },

    /** One past the last leaf index before a moment (the export's `to`); 0 when none. */
    async endIndexBefore(logId: string, at: Date): Promise<number> {
      const { rows } = await sql<{ i: string | null }>`
        select max(leaf_index) as i from audit_events where ${ofTenant(logId)} and occurred_at < ${at} and leaf_index is not null`.execute(
        db,
      );
      return rows[0]?.i == null ? 0 : Number(rows[0].i) + 1;
    },

    /** The log's sequenced size and root, as the sequencer stored them (size 0 when it has none yet). */
    async logState(logId: string, conn: Conn = db): Promise<{ size: number; root?: Buffer }> {
      const row = await conn.selectFrom("audit_logs").select(["size", "root"]).where("log_id", "=", logId).executeTakeFirst();
      return row ? { size: Number(row.size), root: Buffer.from(row.root) } : { size: 0 };
    },

    /** Stored subtree hashes, keyed `level/idx`. */
    async nodes(logId: string, refs: NodeRef[]): Promise<Map<string, Buffer>> {
      const out = new Map<string, Buffer>();
      for (let i = 0; i < refs.length; i += 500) {
        const chunk = refs.slice(i, i + 500);
        const pairs = sql.join(chunk.map((r) => sql`(${r.level}::smallint, ${String(r.idx)}::bigint)`));
        const { rows } = await sql<{ level: number; idx: string; hash: Uint8Array }>`
          select level, idx, hash from audit_tree_nodes where log_id = ${logId} and (level, idx) in (${pairs})`.execute(db);
        for (const row of rows) out.set(nodeKey({ level: row.level, idx: Number(row.idx) }), Buffer.from(row.hash));
      }
      return out;
    },

    /** Leaf hashes (level 0) of [from, to), in index order; missing ones are absent. */
    async leafHashes(logId: string, from: number, to: number): Promise<Map<number, Buffer>> {
      const rows = await db
        .selectFrom("audit_tree_nodes")
        .select(["idx", "hash"])
        .where("log_id", "=", logId)
        .where("level", "=", 0)
        .where("idx", ">=", String(from))
        .where("idx", "<", String(to))
        .execute();
      return new Map(rows.map((r) => [Number(r.idx), Buffer.from(r.hash)]));
    },

    /** Checkpoints newest first, below `before` (a tree size) when given. */
    checkpoints(logId: string, limit: number, before?: number): Promise<CheckpointRow[]> {
      let q = db.selectFrom("audit_checkpoints").select(["tree_size", "root", "note", "created_at"]).where("log_id", "=", logId);
      if (before !== undefined) q = q.where("tree_size", "<", String(before));
      return q.orderBy("tree_size", "desc").limit(limit).execute();
    },

    checkpointAt(logId: string, size: number): Promise<CheckpointRow | undefined> {
      return db
        .selectFrom("audit_checkpoints")
        .select(["tree_size", "root", "note", "created_at"])
        .where("log_id", "=", logId)
        .where("tree_size", "=", String(size))
        .executeTakeFirst();
    },

    /** The first checkpoint of a size above `size`. */
    checkpointAfter(logId: string, size: number): Promise<CheckpointRow | undefined> {
      return db
        .selectFrom("audit_checkpoints")
        .select(["tree_size", "root", "note", "created_at"])
        .where("log_id", "=", logId)
        .where("tree_size", ">", String(size))
        .orderBy("tree_size")
        .limit(1)
        .executeTakeFirst();
    },

    /** Checkpoints of sizes in [from, to], ascending. */
    checkpointsBetween(logId: string, from: number, to: number): Promise<CheckpointRow[]> {
      return db
        .selectFrom("audit_checkpoints")
        .select(["tree_size", "root", "note", "created_at"])
        .where("log_id", "=", logId)
        .where("tree_size", ">=", String(from))
        .where("tree_size", "<=", String(to))
        .orderBy("tree_size")
        .execute();
    },
  };
}

export type AuditRepository = ReturnType<typeof createAuditRepository>;
