import { sql } from "kysely";
import type { ConfigChange } from "../../audit/sequencer.js";
import type { Db } from "../../db/database.js";

/** Only one replica compacts at a time (the others skip that round). */
const COMPACT_LOCK = 0x63616972_03; // "cair" · 3

/** Where a tenant's change log stands: the last revision given, and the oldest still kept (none when empty). */
export interface LogPosition {
  current: number;
  oldest: number | undefined;
}

/**
 * Reads of `config_changes` (written by the sequencer, src/audit/sequencer.ts) and its compaction.
 * Revisions are bigint in SQL and numbers here: 2^53 revisions per tenant is beyond any real lifetime.
 */
export function createWatchRepository(db: Db) {
  return {
    /** Up to `limit` changes of a tenant after `after`, in revision order. */
    async changesAfter(tenantId: string, after: number, limit: number): Promise<ConfigChange[]> {
      const rows = await db
        .selectFrom("config_changes")
        .select(["revision", "namespace", "key", "environment", "version", "change_type", "secret", "actor_id", "at"])
        .where("tenant_id", "=", tenantId)
        .where("revision", ">", String(after))
        .orderBy("revision")
        .limit(limit)
        .execute();
      return rows.map((r) => ({
        revision: Number(r.revision),
        namespace: r.namespace,
        key: r.key,
        environment: r.environment,
        version: r.version,
        changeType: r.change_type,
        secret: r.secret,
        actorId: r.actor_id,
        at: new Date(r.at).toISOString(),
      }));
    },

    async position(tenantId: string): Promise<LogPosition> {
      const { rows } = await sql<{ current: string | number | null; oldest: string | number | null }>`
        select (select revision from audit_logs where log_id = ${tenantId}) as current,
               (select min(revision) from config_changes where tenant_id = ${tenantId}) as oldest`.execute(db);
      const row = rows[0];
      const oldest = row?.oldest == null ? undefined : Number(row.oldest);
      // The log row and the changes are written in one transaction; max() guards a hand-edited log row.
      const current = Math.max(Number(row?.current ?? 0), oldest ?? 0);
      return { current, oldest };
    },

    /** The last revision of each of these tenants (absent: none yet), in one query. */
    async currentRevisions(tenantIds: string[]): Promise<Map<string, number>> {
      if (tenantIds.length === 0) return new Map();
      const rows = await db.selectFrom("audit_logs").select(["log_id", "revision"]).where("log_id", "in", tenantIds).execute();
      return new Map(rows.map((r) => [r.log_id, Number(r.revision)]));
    },

    /**
     * Deletes every change more than `retention` revisions behind its tenant's latest, in batches.
     * Returns the rows deleted, or undefined when another replica was compacting.
     */
    async compact(retention: number, batch = 10_000): Promise<number | undefined> {
      let total = 0;
      for (;;) {
        const deleted = await db.transaction().execute(async (trx) => {
          const lock = await sql<{ ok: boolean }>`select pg_try_advisory_xact_lock(${COMPACT_LOCK}) as ok`.execute(trx);
          if (!lock.rows[0]?.ok) return undefined;
          const result = await sql`
            delete from config_changes where ctid in (
              select c.ctid from config_changes c join audit_logs l on l.log_id = c.tenant_id
              where c.revision <= l.revision - ${retention}
              limit ${batch})`.execute(trx);
          return Number(result.numAffectedRows ?? 0);
        });
        if (deleted === undefined) return total > 0 ? total : undefined;
        total += deleted;
        if (deleted < batch) return total;
      }
    },

    /**
     * Of these callers, the ones that may no longer watch: API keys revoked, expired or past their rotation
     * grace, users disabled or gone.
     */
    async refusedCredentials(keyIds: string[], userIds: string[]): Promise<Set<string>> {
      const refused = new Set<string>();
      const now = new Date();
      if (keyIds.length > 0) {
        const keys = await db
          .selectFrom("api_keys")
          .select(["id", "revoked_at", "expires_at", "grace_until"])
          .where("id", "in", keyIds)
          .execute();
        const found = new Set(keys.map((k) => k.id));
        for (const id of keyIds) if (!found.has(id)) refused.add(id);
        for (const k of keys) {
          if (k.revoked_at !== null || (k.expires_at !== null && k.expires_at <= now) || (k.grace_until !== null && k.grace_until <= now)) {
            refused.add(k.id);
          }
        }
      }
      if (userIds.length > 0) {
        const users = await db.selectFrom("users").select(["id", "disabled_at"]).where("id", "in", userIds).execute();
        const found = new Set(users.map((u) => u.id));
        for (const id of userIds) if (!found.has(id)) refused.add(id);
        for (const u of users) if (u.disabled_at !== null) refused.add(u.id);
      }
      return refused;
    },
  };
}

export type WatchRepository = ReturnType<typeof createWatchRepository>;
