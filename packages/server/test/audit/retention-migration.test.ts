// Migration 0006 turns audit_events into a table partitioned by month. On a database that already has
// events (migrated to 0005, then written to), every row must survive unchanged — seq, leaf index, the
// timestamp to the microsecond — in the partition of its month, the seq sequence must go on from where it
// was, and the table must stay append-only (only a leaf index may be set, once).

import assert from "node:assert/strict";
import path from "node:path";
import { describe, test } from "node:test";
import { Kysely, type Migration, Migrator, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { addMonths, monthOf, monthPartition } from "../../src/audit/partitions.js";
import { migrate } from "../../src/db/database.js";
import * as m0001 from "../../src/db/migrations/0001_init.js";
import * as m0002 from "../../src/db/migrations/0002_identity.js";
import * as m0003 from "../../src/db/migrations/0003_audit_log.js";
import * as m0004 from "../../src/db/migrations/0004_audit_checkpoints.js";
import * as m0005 from "../../src/db/migrations/0005_alerts.js";
import type { Database } from "../../src/db/types.js";
import { type Backend, backends, freshStore } from "../helper.js";

const before0006: Record<string, Migration> = {
  "0001_init": m0001,
  "0002_identity": m0002,
  "0003_audit_log": m0003,
  "0004_audit_checkpoints": m0004,
  "0005_alerts": m0005,
};

async function open(backend: Backend, store: Awaited<ReturnType<typeof freshStore>>): Promise<Kysely<Database>> {
  if (backend === "postgres") {
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: store.databaseUrl, max: 2 }) }) });
  }
  const { PGlite } = await import("@electric-sql/pglite");
  const { PGliteDialect } = await import("kysely-pglite-dialect");
  return new Kysely<Database>({ dialect: new PGliteDialect(new PGlite(path.join(store.dataDir, "pg"))) });
}

/** Every column of every row, as text (timestamps with their microseconds), in seq order. */
async function snapshot(db: Kysely<Database>) {
  const { rows } = await sql<Record<string, string | null>>`
    select seq::text, id, tenant_id, to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') as occurred_at,
           event_type, action, result, actor_id, actor_type, resource_type, resource_id, namespace, request_id,
           source_ip, user_agent, metadata::text as metadata, leaf_index::text as leaf_index
    from audit_events order by seq`.execute(db);
  return rows;
}

for (const backend of backends()) {
  describe(`migration 0006: audit_events partitioned by month (${backend})`, () => {
    test("a database that already has events keeps every row and seq, each in its month's partition", { timeout: 120_000 }, async (t) => {
      const store = await freshStore(backend);
      const db = await open(backend, store);
      t.after(async () => {
        await db.destroy();
        await store.drop();
      });
      const migrator = new Migrator({
        db,
        provider: { getMigrations: async () => before0006 },
        migrationTableName: "cairn_migrations",
        migrationLockTableName: "cairn_migrations_lock",
      });
      const { error } = await migrator.migrateToLatest();
      assert.ifError(error);

      // Events over 15 months, some sequenced (leaf index set), some not, with and without a tenant.
      const current = monthOf(new Date());
      const months = [addMonths(current, -14), addMonths(current, -3), addMonths(current, -3), current];
      let n = 0;
      for (const month of [...months, ...months]) {
        n++;
        await sql`
          insert into audit_events (id, tenant_id, occurred_at, event_type, action, result, actor_id, metadata)
          values (${`evt_migration_${n}`}, ${n % 3 === 0 ? null : "ten_a"}, ${`${month}-0${(n % 9) + 1}T12:34:56.${String(100000 + n)}Z`},
                  'test.old', 'test', 'success', 'system', ${JSON.stringify({ n, note: "ünïcode" })})`.execute(db);
      }
      await sql`insert into audit_events (id, tenant_id, event_type, action, result) values ('evt_now', 'ten_b', 'test.now', 'test', 'denied')`.execute(
        db,
      );
      await sql`update audit_events set leaf_index = seq - 1 where tenant_id = 'ten_a' and seq < 6`.execute(db);
      const beforeRows = await snapshot(db);
      assert.equal(beforeRows.length, 9);

      await migrate(db);

      assert.deepEqual(await snapshot(db), beforeRows, "every row, unchanged");
      const kind = await sql<{ relkind: string }>`select relkind from pg_class where oid = 'audit_events'::regclass`.execute(db);
      assert.equal(kind.rows[0]?.relkind, "p", "audit_events is a partitioned table");
      const placed = await sql<{ p: string; n: string }>`
        select tableoid::regclass::text as p, count(*) as n from audit_events group by 1 order by 1`.execute(db);
      assert.deepEqual(
        placed.rows.map((r) => [r.p, Number(r.n)]),
        [
          [monthPartition(months[0] as string).name, 2],
          [monthPartition(months[1] as string).name, 4],
          [monthPartition(current).name, 3],
        ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
        "each row in its month, none in DEFAULT",
      );
      const partitions = await sql<{ name: string }>`
        select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'audit_events'::regclass order by 1`.execute(db);
      for (const month of [current, addMonths(current, 1), addMonths(current, 2)]) {
        assert.ok(
          partitions.rows.some((r) => r.name === monthPartition(month).name),
          `partition of ${month} made ahead`,
        );
      }
      assert.ok(partitions.rows.some((r) => r.name === "audit_events_default"));

      // The sequence goes on from where it was.
      const next = await sql<{ seq: string }>`
        insert into audit_events (id, event_type, action, result) values ('evt_after', 'test.after', 'test', 'success') returning seq::text as seq`.execute(
        db,
      );
      assert.equal(Number(next.rows[0]?.seq), Number(beforeRows.at(-1)?.seq) + 1);

      // Still append-only: a leaf index may be set once, nothing else changes, nothing is deleted.
      await sql`update audit_events set leaf_index = 0 where id = 'evt_after'`.execute(db);
      await assert.rejects(sql`update audit_events set leaf_index = 1 where id = 'evt_after'`.execute(db), /append-only/);
      await assert.rejects(sql`update audit_events set action = 'changed' where id = 'evt_now'`.execute(db), /append-only/);
      await assert.rejects(sql`delete from audit_events where id = 'evt_migration_1'`.execute(db), /append-only/);
      const indexes = await sql<{
        indexname: string;
      }>`select indexname from pg_indexes where tablename = 'audit_events' order by 1`.execute(db);
      assert.deepEqual(
        indexes.rows.map((r) => r.indexname),
        [
          "audit_events_id_key",
          "audit_events_leaf",
          "audit_events_pkey",
          "audit_events_tenant_time",
          "audit_events_type_time",
          "audit_events_unsequenced",
        ],
      );
    });
  });
}
