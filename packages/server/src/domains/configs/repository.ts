import { sql } from "kysely";
import type { AuditRow } from "../../audit/log.js";
import type { Conn, Db } from "../../db/database.js";
import type { ConfigRow, ConfigVersionRow, NewConfigVersion } from "../../db/types.js";

/** SQL for config heads and their immutable versions. Every method takes the connection to run on. */
export function createConfigRepository(db: Db) {
  return {
    /** Head rows of `key` in each of `environments`. */
    heads(tenantId: string, namespaceId: string, key: string, environments: string[], conn: Conn = db) {
      return conn
        .selectFrom("configs")
        .selectAll()
        .where("tenant_id", "=", tenantId)
        .where("namespace_id", "=", namespaceId)
        .where("key", "=", key)
        .where("environment", "in", environments)
        .execute();
    },

    /**
     * The head row, locked until the transaction ends so concurrent writers queue behind each other,
     * with the key's JSON Schema (if any) fetched in the same round trip.
     */
    lockHead(trx: Conn, tenantId: string, namespaceId: string, key: string, environment: string) {
      return trx
        .selectFrom("configs as c")
        .selectAll("c")
        .select((eb) =>
          eb
            .selectFrom("schemas as s")
            .select("s.schema")
            .whereRef("s.tenant_id", "=", "c.tenant_id")
            .whereRef("s.namespace_id", "=", "c.namespace_id")
            .whereRef("s.key", "=", "c.key")
            .as("key_schema"),
        )
        .where("c.tenant_id", "=", tenantId)
        .where("c.namespace_id", "=", namespaceId)
        .where("c.key", "=", key)
        .where("c.environment", "=", environment)
        .forUpdate("c")
        .executeTakeFirst();
    },

    /** Inserts a head row unless a concurrent writer got there first (then returns undefined). */
    insertHead(trx: Conn, row: Omit<ConfigRow, "updated_at" | "tags"> & { tags: string }) {
      return trx
        .insertInto("configs")
        .values(row)
        .onConflict((oc) => oc.columns(["tenant_id", "namespace_id", "key", "environment"]).doNothing())
        .returning("id")
        .executeTakeFirst();
    },

    /**
     * Moves the head (when `headUpdate` is given), appends the version and the audit event in ONE
     * statement: a write costs BEGIN, the locking read, this, COMMIT. Returns the version's timestamp
     * (the database clock, shared by all replicas).
     */
    async appendVersion(
      trx: Conn,
      version: NewConfigVersion,
      audit: AuditRow,
      headUpdate?: {
        id: string;
        fields: Pick<ConfigRow, "version" | "deleted" | "secret" | "data_key_id" | "value_sealed" | "updated_by"> & { tags: string };
      },
    ): Promise<Date> {
      let q = trx
        .with("v", (db) => db.insertInto("config_versions").values(version).returning("created_at"))
        .with("a", (db) => db.insertInto("audit_events").values(audit));
      if (headUpdate) {
        q = q.with("h", (db) =>
          db
            .updateTable("configs")
            .set({ ...headUpdate.fields, updated_at: sql`now()` as unknown as Date })
            .where("id", "=", headUpdate.id),
        ) as unknown as typeof q;
      }
      const row = await q.selectFrom("v").select("v.created_at").executeTakeFirstOrThrow();
      return new Date(row.created_at);
    },

    version(tenantId: string, namespaceId: string, key: string, environment: string, version: number, conn: Conn = db) {
      return conn
        .selectFrom("config_versions")
        .selectAll()
        .where("tenant_id", "=", tenantId)
        .where("namespace_id", "=", namespaceId)
        .where("key", "=", key)
        .where("environment", "=", environment)
        .where("version", "=", version)
        .executeTakeFirst();
    },

    /** Versions newest first, plus the one before the oldest returned so its diff can be computed. */
    versions(tenantId: string, namespaceId: string, key: string, environment: string, limit: number) {
      return db
        .selectFrom("config_versions")
        .selectAll()
        .where("tenant_id", "=", tenantId)
        .where("namespace_id", "=", namespaceId)
        .where("key", "=", key)
        .where("environment", "=", environment)
        .orderBy("version", "desc")
        .limit(limit + 1)
        .execute();
    },

    listHeads(tenantId: string, namespaceId: string, environments: string[], prefix?: string) {
      let q = db
        .selectFrom("configs")
        .selectAll()
        .where("tenant_id", "=", tenantId)
        .where("namespace_id", "=", namespaceId)
        .where("environment", "in", environments)
        .where("deleted", "=", false);
      if (prefix) q = q.where(sql<boolean>`starts_with(key, ${prefix})`);
      return q.orderBy("key").execute();
    },

    /** For each key and environment, the newest version written at or before `at`. */
    listAt(tenantId: string, namespaceId: string, environments: string[], at: Date, prefix?: string): Promise<ConfigVersionRow[]> {
      let q = db
        .selectFrom("config_versions")
        .selectAll()
        .distinctOn(["key", "environment"])
        .where("tenant_id", "=", tenantId)
        .where("namespace_id", "=", namespaceId)
        .where("environment", "in", environments)
        .where("created_at", "<=", at);
      if (prefix) q = q.where(sql<boolean>`starts_with(key, ${prefix})`);
      return q.orderBy("key").orderBy("environment").orderBy("version", "desc").execute();
    },

    namespaceHistory(tenantId: string, namespaceId: string, limit: number, environment?: string) {
      let q = db
        .selectFrom("config_versions")
        .select(["key", "environment", "version", "change_type", "actor", "reason", "created_at"])
        .where("tenant_id", "=", tenantId)
        .where("namespace_id", "=", namespaceId);
      if (environment) q = q.where("environment", "=", environment);
      return q.orderBy("created_at", "desc").orderBy("key").orderBy("version", "desc").limit(limit).execute();
    },
  };
}

export type ConfigRepository = ReturnType<typeof createConfigRepository>;
