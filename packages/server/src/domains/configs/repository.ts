import { createHash } from "node:crypto";
import { CompiledQuery, sql } from "kysely";
import type { AuditRow } from "../../audit/log.js";
import type { Conn, Db } from "../../db/database.js";
import type { ConfigRow, ConfigVersionRow, NewConfigVersion } from "../../db/types.js";

type HeadFields = Pick<ConfigRow, "version" | "deleted" | "secret" | "data_key_id" | "value_sealed" | "updated_by"> & { tags: string };

/** How a write touches the head row: already inserted (in this transaction), updated, or inserted. */
export type HeadWrite =
  | { kind: "existing"; id: string }
  /** Only while the head is at `expectVersion` and the key's schema is the one decided on (its md5, or none). */
  | { kind: "update"; id: string; expectVersion: number; expectSchemaHash: string | null; fields: HeadFields }
  | { kind: "insert"; row: Omit<ConfigRow, "updated_at" | "tags"> & { tags: string } };

/**
 * SQL for config heads and their immutable versions. Every method takes the connection to run on.
 * `preparedWrites` (node-postgres only): the write statement is a named prepared statement, parsed and
 * planned once per connection instead of on every write (measured: PostgreSQL's CPU per write −35 %).
 */
export function createConfigRepository(db: Db, options: { preparedWrites?: boolean } = {}) {
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
      // Kysely cannot type a chain of data-modifying CTEs that refer to each other, and building and
      // compiling its query tree cost more than the rest of the statement's preparation: the SQL is
      // written here, with the columns the head and the version share (the sealed value, tags, …) sent once.
      const statement = commitStatement(head, version, audit, options.preparedWrites === true);
      try {
        const { rows } = await conn.executeQuery<{ created_at: Date | string }>(statement);
        const row = rows[0];
        if (!row) throw new Error("the write statement returned no row");
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

/** Columns of `configs` and `config_versions` that have the same name and type in both tables. */
const SHARED_COLUMNS = new Set([
  "version",
  "tenant_id",
  "namespace_id",
  "key",
  "environment",
  "secret",
  "data_key_id",
  "value_sealed",
  "tags",
]);

/**
 * The one statement of a write (see commitWrite): head write `h` (update while still at the expected
 * version and schema, or insert unless there is one), version row `v` taking its config_id from `h`,
 * audit event `a`. Column names come from this code, never from a request; every value is a parameter.
 */
function commitStatement(head: HeadWrite, version: Omit<NewConfigVersion, "config_id">, audit: AuditRow, prepared: boolean): CompiledQuery {
  const params: unknown[] = [];
  const param = (value: unknown) => `$${params.push(value)}`;
  /** The parameter of each head column, so a version column with the same name and value reuses it. */
  const headParams = new Map<string, { value: unknown; ref: string }>();
  const remember = (column: string, value: unknown, ref: string) => {
    if (SHARED_COLUMNS.has(column)) headParams.set(column, { value, ref });
    else if (column === "updated_by") headParams.set("actor", { value, ref });
  };
  /** `insert into table (columns) values (…)`; undefined values are left out, as Kysely does. */
  const insertOf = (table: string, row: Record<string, unknown>, extra?: [string, string]) => {
    const columns: string[] = [];
    const values: string[] = [];
    for (const column in row) {
      const value = row[column];
      if (value === undefined) continue;
      columns.push(`"${column}"`);
      const same = table === "config_versions" ? headParams.get(column) : undefined;
      const ref = same && same.value === value ? same.ref : param(value);
      if (table === "configs") remember(column, value, ref);
      values.push(ref);
    }
    if (extra) {
      columns.push(`"${extra[0]}"`);
      values.push(extra[1]);
    }
    return `insert into "${table}" (${columns.join(", ")}) values (${values.join(", ")})`;
  };

  let h: string;
  let configId: string;
  if (head.kind === "update") {
    const sets: string[] = [];
    const fields = head.fields as Record<string, unknown>;
    for (const column in fields) {
      const value = fields[column];
      if (value === undefined) continue;
      const ref = param(value);
      remember(column, value, ref);
      sets.push(`"${column}" = ${ref}`);
    }
    h = `with "h" as (update "configs" set ${sets.join(", ")}, "updated_at" = now() where "id" = ${param(head.id)} and "version" = ${param(head.expectVersion)} and coalesce((select md5(s.schema::text) from schemas s where s.tenant_id = configs.tenant_id and s.namespace_id = configs.namespace_id and s.key = configs.key), '') = ${param(head.expectSchemaHash ?? "")} returning "id"), `;
    configId = "(select id from h)";
  } else if (head.kind === "insert") {
    const insert = insertOf("configs", head.row as Record<string, unknown>);
    h = `with "h" as (${insert} on conflict ("tenant_id", "namespace_id", "key", "environment") do nothing returning "id"), `;
    configId = "(select id from h)";
  } else {
    h = "with ";
    configId = param(head.id);
  }
  const v = insertOf("config_versions", version as Record<string, unknown>, ["config_id", configId]);
  const a = insertOf("audit_events", audit as Record<string, unknown>);
  const text = `${h}"v" as (${v} returning "created_at"), "a" as (${a}) select "v"."created_at" from "v"`;
  const query = CompiledQuery.raw(text, params);
  if (!prepared) return query;
  // Kysely's PostgresDialect hands `sql` to pg's client.query as is, and pg takes a query config there:
  // with a name, pg prepares the statement once per connection. The name is the text's hash, so one
  // name always means one text (pg refuses a name reused for another text).
  const name = preparedNames.get(text) ?? nameOf(text);
  return { ...query, sql: { name, text } as unknown as string };
}

/** Names of the prepared write statements by text (a handful: one per kind of head write and column set). */
const preparedNames = new Map<string, string>();
function nameOf(text: string): string {
  const name = `cairn_write_${createHash("sha256").update(text).digest("hex").slice(0, 24)}`;
  if (preparedNames.size < 64) preparedNames.set(text, name);
  return name;
}
