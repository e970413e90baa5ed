import { type Kysely, sql } from "kysely";
import type { AuditRow } from "../../audit/log.js";
import type { Conn, Db } from "../../db/database.js";
import type { ConfigRow, ConfigVersionRow, Database, NewConfigVersion } from "../../db/types.js";

type HeadFields = Pick<ConfigRow, "version" | "deleted" | "secret" | "data_key_id" | "value_sealed" | "updated_by"> & { tags: string };

/** How a write touches the head row: already inserted (in this transaction), updated, or inserted. */
export type HeadWrite =
  | { kind: "existing"; id: string }
  /** Only while the head is at `expectVersion` and the key's schema is the one decided on (its md5, or none). */
  | { kind: "update"; id: string; expectVersion: number; expectSchemaHash: string | null; fields: HeadFields }
  | { kind: "insert"; row: Omit<ConfigRow, "updated_at" | "tags"> & { tags: string } };

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
    lockHead(trx: Conn, tenantId: string, namespaceId: string, key: string, environment: string, lock = true) {
      const q = trx
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
        .select((eb) =>
          eb
            .selectFrom("schemas as s")
            .select(sql<string>`md5(s.schema::text)`.as("hash"))
            .whereRef("s.tenant_id", "=", "c.tenant_id")
            .whereRef("s.namespace_id", "=", "c.namespace_id")
            .whereRef("s.key", "=", "c.key")
            .as("key_schema_hash"),
        )
        .where("c.tenant_id", "=", tenantId)
        .where("c.namespace_id", "=", namespaceId)
        .where("c.key", "=", key)
        .where("c.environment", "=", environment);
      return (lock ? q.forUpdate("c") : q).executeTakeFirst();
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
     * Writes the head, the version and the audit event in ONE statement. The head is inserted, or
     * updated only while it is still at `expectVersion`; the version row takes its id from that head
     * write, so when the head moved (or was created) concurrently the version's config_id is null, the
     * whole statement fails, nothing is written, and this returns undefined: the caller reads again.
     * Returns the version's timestamp (the database clock, shared by all replicas).
     */
    async commitWrite(
      conn: Conn,
      head: HeadWrite,
      version: Omit<NewConfigVersion, "config_id">,
      audit: AuditRow,
    ): Promise<Date | undefined> {
      // Kysely cannot type a chain of data-modifying CTEs that refer to each other; the SQL is plain.
      let q = conn as unknown as Kysely<Database>;
      if (head.kind === "update") {
        q = q.with("h", (db) =>
          db
            .updateTable("configs")
            .set({ ...head.fields, updated_at: sql`now()` as unknown as Date })
            .where("id", "=", head.id)
            .where("version", "=", head.expectVersion)
            .where(
              sql<boolean>`coalesce((select md5(s.schema::text) from schemas s where s.tenant_id = configs.tenant_id and s.namespace_id = configs.namespace_id and s.key = configs.key), '') = ${head.expectSchemaHash ?? ""}`,
            )
            .returning("id"),
        ) as unknown as Kysely<Database>;
      } else if (head.kind === "insert") {
        q = q.with("h", (db) =>
          db
            .insertInto("configs")
            .values(head.row)
            .onConflict((oc) => oc.columns(["tenant_id", "namespace_id", "key", "environment"]).doNothing())
            .returning("id"),
        ) as unknown as Kysely<Database>;
      }
      const configId = head.kind === "existing" ? head.id : (sql<string>`(select id from h)` as unknown as string);
      const statement = q
        .with("v", (db) =>
          db
            .insertInto("config_versions")
            .values({ ...version, config_id: configId })
            .returning("created_at"),
        )
        .with("a", (db) => db.insertInto("audit_events").values(audit))
        .selectFrom("v")
        .select("v.created_at");
      try {
        const row = await statement.executeTakeFirstOrThrow();
        return new Date(row.created_at);
      } catch (e) {
        const err = e as { code?: string; message?: string; column?: string };
        if (head.kind !== "existing" && err.code === "23502" && `${err.column ?? ""} ${err.message ?? ""}`.includes("config_id"))
          return undefined;
        throw e;
      }
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
