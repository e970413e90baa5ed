// Audit retention (issue 6, point 8): audit_events is partitioned by month; old months are archived to gzip
// NDJSON files in the export format, read back and verified, and only then detached and dropped.
//
// Old events are made with SQL inserts carrying an old occurred_at, as a database restored from an older
// install would hold them. The append-only trigger guards updates and deletes, not inserts, so it stays on;
// and the events are inserted before the sequencer sees them, so they are hashed into the log exactly as
// stored (moving time afterwards would mean rewriting hashed rows). They are inserted for a tenant made
// without its creation event, so its log starts with them, in time order — as a log that grew over months.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { access, chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { sql } from "kysely";
import { type AuditLog, createAuditLog } from "../../src/audit/log.js";
import { addMonths, ensurePartitions, monthOf, monthPartition } from "../../src/audit/partitions.js";
import { verifierKeyString } from "../../src/audit/signing.js";
import { ensureBuiltinRoles } from "../../src/authz/builtin.js";
import type { RetentionRun } from "../../src/domains/audit-retention/schemas.js";
import { createTenantRecords } from "../../src/domains/tenants/service.js";
import { newId } from "../../src/ids.js";
import { type Backend, backends, build, ns, type TestApp } from "../helper.js";
import { cairnCli } from "./support.js";

type Db = TestApp["store"]["db"];

/** A tenant whose log is empty: made by the code behind POST /tenants, without its tenant.created event. */
async function tenantWithoutEvents(cairn: TestApp) {
  const noAudit: AuditLog = { ...createAuditLog(), append: async () => {} };
  return cairn.store.db
    .transaction()
    .execute((trx) =>
      createTenantRecords(
        trx,
        { audit: noAudit, initializers: [ensureBuiltinRoles] },
        { name: `retention-${newId("tenant")}`, instanceAdmin: false },
      ),
    );
}

/** Events of `month` (a minute apart, with microseconds), inserted in one transaction, in time order. */
async function insertOldEvents(db: Db, batches: { tenantId: string | null; month: string; count: number; firstMinute?: number }[]) {
  const audit = createAuditLog();
  await db.transaction().execute(async (trx) => {
    for (const b of batches) {
      for (let i = 0; i < b.count; i++) {
        const minute = (b.firstMinute ?? 0) + i;
        const at = `${b.month}-03T${String(10 + Math.floor(minute / 60)).padStart(2, "0")}:${String(minute % 60).padStart(2, "0")}:07.123456Z`;
        const row = audit.rowOf({
          tenantId: b.tenantId,
          eventType: "test.old",
          action: "test",
          result: "success",
          resource: { type: "test", id: `old-${i}` },
          metadata: { n: i },
        });
        await trx
          .insertInto("audit_events")
          .values({ ...row, occurred_at: at })
          .execute();
      }
    }
  });
}

/** Which partition holds the tenant's events: {partition: count}. */
async function placement(db: Db, tenantId: string): Promise<Record<string, number>> {
  const { rows } = await sql<{ p: string; n: string }>`
    select tableoid::regclass::text as p, count(*) as n from audit_events where tenant_id = ${tenantId} group by 1`.execute(db);
  return Object.fromEntries(rows.map((r) => [r.p, Number(r.n)]));
}

const exists = async (db: Db, table: string) =>
  (await sql<{ t: string | null }>`select to_regclass(${table})::text as t`.execute(db)).rows[0]?.t != null;

/** The event lines of an export or archive, by index. */
function eventLines(ndjson: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of ndjson.split("\n")) {
    if (!line.startsWith("{")) continue;
    const doc = JSON.parse(line) as { index?: unknown };
    if (typeof doc.index === "number") out.set(doc.index, line);
  }
  return out;
}

/** A directory nothing can be written to — even by root (the CI user here), where permission bits do not bind. */
async function unwritableDir(parent: string): Promise<{ dir: string; restore: () => Promise<void> }> {
  const dir = path.join(parent, "read-only");
  await mkdir(dir);
  await chmod(dir, 0o555);
  const writable = async () =>
    writeFile(path.join(dir, "probe"), "x").then(
      async () => {
        await rm(path.join(dir, "probe"));
        return true;
      },
      () => false,
    );
  if (!(await writable())) return { dir, restore: () => chmod(dir, 0o755) };
  // root: make it immutable if the file system lets us…
  await promisify(execFile)("chattr", ["+i", dir]).catch(() => {});
  if (!(await writable())) {
    return {
      dir,
      restore: async () => {
        await promisify(execFile)("chattr", ["-i", dir]);
        await chmod(dir, 0o755);
      },
    };
  }
  // …else a path below a regular file, which no one can create.
  const blocker = path.join(parent, "not-a-directory");
  await writeFile(blocker, "");
  return {
    dir: path.join(blocker, "archive"),
    restore: async () => {
      await rm(blocker);
    },
  };
}

async function archiveFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (entry.isFile()) out.push(path.join(entry.parentPath, entry.name));
  }
  return out.sort();
}

function suite(backend: Backend) {
  describe(`audit retention (${backend})`, () => {
    test("old months land in their partitions, are archived to files the CLI verifies, then dropped; newer events still verify", {
      timeout: 300_000,
    }, async (t) => {
      const dir = await mkdtemp(path.join(tmpdir(), "cairn-retention-"));
      t.after(() => rm(dir, { recursive: true, force: true }));
      const archiveDir = path.join(dir, "archive");
      const cairn = await build(t, backend, {
        CAIRN_AUDIT_RETENTION_DAYS: "60",
        CAIRN_AUDIT_ARCHIVE_DIR: archiveDir,
        CAIRN_AUDIT_CHECKPOINT_EVENTS: "10",
      });
      const db = cairn.store.db;
      await cairn.retention.run(); // after the run at start, before anything old exists
      const tenant = await tenantWithoutEvents(cairn);
      const asTenant = (method: string, url: string, body?: unknown) =>
        cairn.call(method, url, body, { authorization: `Bearer ${tenant.adminKey}` });
      const current = monthOf(new Date());
      const [m1, m2] = [addMonths(current, -5), addMonths(current, -4)];
      const [p1, p2] = [monthPartition(m1).name, monthPartition(m2).name];

      // No partition exists for those months (the migration made the current one and the next two), so the
      // rows go to DEFAULT; the maintenance step creates their months and moves them there.
      await insertOldEvents(db, [
        { tenantId: tenant.tenantId, month: m1, count: 25 },
        { tenantId: null, month: m1, count: 1 },
        { tenantId: tenant.tenantId, month: m2, count: 25 },
      ]);
      assert.deepEqual(await placement(db, tenant.tenantId), { audit_events_default: 50 });
      assert.deepEqual((await ensurePartitions(db)).sort(), [p1, p2]);
      assert.deepEqual(await placement(db, tenant.tenantId), { [p1]: 25, [p2]: 25 });
      assert.deepEqual(await ensurePartitions(db), [], "nothing left to create");
      await cairn.sequencer.flush();

      // Writes of this month, then one more event of the older month that is sequenced after them (a commit
      // late across the month boundary): that month's leaves interleave with this month's.
      for (let i = 0; i < 3; i++) {
        const r = await asTenant("PUT", `/api/v1/configs/${ns("billing/api")}/k${i}`, { value: `v${i}` });
        assert.equal(r.status, 200, r.text);
      }
      await cairn.sequencer.flush();
      await insertOldEvents(db, [{ tenantId: tenant.tenantId, month: m2, count: 1, firstMinute: 40 }]);
      await cairn.sequencer.flush();
      assert.equal((await placement(db, tenant.tenantId))[p2], 26, "a row of an existing month goes straight to its partition");
      const lateLeaf = Number(
        (await sql<{ i: string }>`select max(leaf_index) as i from ${sql.id(p2)} where tenant_id = ${tenant.tenantId}`.execute(db)).rows[0]
          ?.i,
      );
      assert.ok(lateLeaf >= 53, `the late event comes after this month's writes (leaf ${lateLeaf})`);
      // The whole log as the export endpoint writes it, to compare the archives with.
      const exported = await asTenant("GET", "/api/v1/audit/export");
      assert.equal(exported.status, 200, exported.text);
      const exportedEvents = eventLines(exported.text);

      // `cairn audit archive` (POST /audit/retention/run) as the instance admin.
      await cairn.app.listen({ port: 0, host: "127.0.0.1" });
      const url = `http://127.0.0.1:${(cairn.app.server.address() as AddressInfo).port}`;
      const cli = await cairnCli(["audit", "archive", "--json"], { CAIRN_URL: url, CAIRN_TOKEN: cairn.adminKey }, dir);
      assert.equal(cli.code, 0, cli.stdout + cli.stderr);
      const run = JSON.parse(cli.stdout) as RetentionRun;
      assert.equal(run.retentionDays, 60);
      assert.deepEqual(
        run.partitions.map((p) => [p.partition, p.status, p.events]),
        [
          [p1, "archived", 26],
          [p2, "archived", 26],
        ],
        JSON.stringify(run.partitions),
      );
      const [first, second] = run.partitions as [RetentionRun["partitions"][0], RetentionRun["partitions"][0]];
      assert.deepEqual(
        first.archives.map((a) => [a.logId, a.fromIndex, a.toIndex]),
        [
          ["", 0, 1],
          [tenant.tenantId, 0, 25],
        ],
      );
      // The second month's archive is the contiguous leaf range up to its late event: it takes this month's
      // writes in between too (they stay in the database with their own partition).
      assert.deepEqual(
        second.archives.map((a) => [a.logId, a.fromIndex, a.toIndex]),
        [[tenant.tenantId, 25, lateLeaf + 1]],
      );

      // The partitions are gone; this month's events (archived or not) are still there.
      assert.equal(await exists(db, p1), false);
      assert.equal(await exists(db, p2), false);
      assert.equal(await exists(db, monthPartition(current).name), true);
      const live = await sql<{
        n: string;
      }>`select count(*) as n from audit_events where tenant_id = ${tenant.tenantId} and leaf_index < ${lateLeaf}`.execute(db);
      assert.equal(Number(live.rows[0]?.n), lateLeaf - 50, "this month's writes inside the archived range stay");
      assert.deepEqual(
        (await archiveFiles(archiveDir)).map((f) => path.relative(archiveDir, f)),
        [
          path.join("instance", `${m1}_0-1.ndjson.gz`),
          path.join(tenant.tenantId, `${m1}_0-25.ndjson.gz`),
          path.join(tenant.tenantId, `${m2}_25-${lateLeaf + 1}.ndjson.gz`),
        ].sort(),
      );

      // Each archive holds the events exactly as the export wrote them, and the CLI verifies it offline.
      const keyFile = path.join(dir, "tenant.pub");
      await writeFile(keyFile, (await asTenant("GET", "/api/v1/audit/public-key")).json.verifierKey);
      for (const a of [...first.archives, ...second.archives].filter((x) => x.logId === tenant.tenantId)) {
        const lines = eventLines(gunzipSync(await readFile(a.file)).toString("utf8"));
        assert.equal(lines.size, a.toIndex - a.fromIndex);
        for (const [index, line] of lines) assert.equal(line, exportedEvents.get(index), `event ${index} as exported`);
        const r = await cairnCli(["audit", "verify", "--file", a.file, "--public-key", keyFile], {}, dir);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, new RegExp(`^verified ${a.toIndex - a.fromIndex} events, root [A-Za-z0-9+/]{43}=\\n$`));
      }
      // The instance log (events without a tenant) has its own key.
      const instanceKey = await db
        .selectFrom("audit_signing_keys")
        .select(["key_name", "public_key"])
        .where("log_id", "=", "")
        .executeTakeFirstOrThrow();
      const instanceKeyFile = path.join(dir, "instance.pub");
      await writeFile(instanceKeyFile, verifierKeyString({ name: instanceKey.key_name, publicKey: Buffer.from(instanceKey.public_key) }));
      const instance = await cairnCli(
        ["audit", "verify", "--file", first.archives[0]?.file as string, "--public-key", instanceKeyFile],
        {},
        dir,
      );
      assert.equal(instance.code, 0, instance.stdout + instance.stderr);
      assert.match(instance.stdout, /^verified 1 events/);

      // A changed archive fails: one byte of one event.
      const tampered = path.join(dir, "tampered.ndjson");
      const text = gunzipSync(await readFile(second.archives[0]?.file as string)).toString("utf8");
      await writeFile(tampered, text.replace('"n":3}', '"n":4}'));
      const bad = await cairnCli(["audit", "verify", "--file", tampered, "--public-key", keyFile], {}, dir);
      assert.equal(bad.code, 1, bad.stdout + bad.stderr);
      assert.match(bad.stdout, /^FAILED at index 28: /);

      // Newer events still verify against the server: the export starts where the archives end, and says so.
      const online = await cairnCli(["audit", "verify", "--public-key", keyFile], { CAIRN_URL: url, CAIRN_TOKEN: tenant.adminKey }, dir);
      assert.equal(online.code, 0, online.stdout + online.stderr);
      assert.match(online.stdout, /^verified \d+ events, root /);
      assert.match(online.stderr, new RegExp(`leaves 0\\.\\.${lateLeaf} were archived by audit retention`));
      assert.match(online.stderr, new RegExp(`${m2}_25-${lateLeaf + 1}\\.ndjson\\.gz`));
      // Asking the server for archived leaves: 410, naming the archives.
      const gone = await asTenant("GET", "/api/v1/audit/export?fromIndex=0");
      assert.equal(gone.status, 410, gone.text);
      assert.match(gone.json.detail, new RegExp(`leaves 0\\.\\.${lateLeaf} of this log were archived`));
      assert.ok(gone.json.detail.includes(`${m1}_0-25.ndjson.gz`), gone.json.detail);
      // The tree stays: proofs for archived leaves still work.
      await cairn.checkpointer.checkpointNow(tenant.tenantId);
      const proof = await asTenant("GET", "/api/v1/audit/proofs/inclusion?index=3");
      assert.equal(proof.status, 200, proof.text);
      // The log records its own archiving.
      const events = await asTenant("GET", "/api/v1/audit?eventType=audit.archived");
      assert.deepEqual(
        events.json.items.map((e: { metadata: { fromIndex: number; toIndex: number } }) => [e.metadata.fromIndex, e.metadata.toIndex]),
        [
          [25, lateLeaf + 1],
          [0, 25],
        ],
      );

      // A second run has nothing left to do; only the instance admin may run it.
      const again = await cairn.call("POST", "/api/v1/audit/retention/run");
      assert.equal(again.status, 200, again.text);
      assert.deepEqual(again.json.partitions, []);
      const denied = await asTenant("POST", "/api/v1/audit/retention/run", { retentionDays: 1 });
      assert.equal(denied.status, 403, denied.text);
    });

    test("an archive that cannot be written drops nothing", { timeout: 300_000 }, async (t) => {
      const dir = await mkdtemp(path.join(tmpdir(), "cairn-retention-ro-"));
      const ro = await unwritableDir(dir);
      t.after(async () => {
        await ro.restore().catch(() => {});
        await rm(dir, { recursive: true, force: true });
      });
      // No CAIRN_AUDIT_RETENTION_DAYS: the run is asked with its retention.
      const cairn = await build(t, backend, { CAIRN_AUDIT_ARCHIVE_DIR: ro.dir });
      const db = cairn.store.db;
      const tenant = await tenantWithoutEvents(cairn);
      const month = addMonths(monthOf(new Date()), -3);
      const partition = monthPartition(month).name;
      await ensurePartitions(db); // (the run would do it too)
      // Events the sequencer has not reached yet: their partition waits.
      await cairn.sequencer.stop();
      await insertOldEvents(db, [{ tenantId: tenant.tenantId, month, count: 12 }]);
      const early = await cairn.call("POST", "/api/v1/audit/retention/run", { retentionDays: 30 });
      assert.equal(early.status, 200, early.text);
      assert.deepEqual(
        early.json.partitions.map((p: { partition: string; status: string }) => [p.partition, p.status]),
        [[partition, "waiting"]],
      );
      assert.match(early.json.partitions[0].reason, /12 of its events are not sequenced/);
      cairn.sequencer.start();
      await cairn.sequencer.flush();

      const idle = await cairn.call("POST", "/api/v1/audit/retention/run");
      assert.equal(idle.status, 200, idle.text);
      assert.equal(idle.json.retentionDays, null, "no retention set: nothing is archived");
      assert.deepEqual(idle.json.partitions, []);

      const r = await cairn.call("POST", "/api/v1/audit/retention/run", { retentionDays: 30 });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.partitions.length, 1, r.text);
      assert.equal(r.json.partitions[0].partition, partition);
      assert.equal(r.json.partitions[0].status, "failed");
      assert.match(r.json.partitions[0].reason, /archive of log .* failed/);
      assert.equal(await exists(db, partition), true, "the partition is kept");
      assert.deepEqual(await placement(db, tenant.tenantId), { [partition]: 12 });
      assert.equal((await db.selectFrom("audit_archives").selectAll().execute()).length, 0);
      await assert.rejects(access(path.join(ro.dir, tenant.tenantId)), "no archive file, not even a partial one");

      // Once the directory can be written, the next run archives it.
      await ro.restore();
      await mkdir(ro.dir, { recursive: true });
      const retry = await cairn.call("POST", "/api/v1/audit/retention/run", { retentionDays: 30 });
      assert.equal(retry.status, 200, retry.text);
      assert.equal(retry.json.partitions[0].status, "archived", retry.text);
      assert.equal(await exists(db, partition), false);
      assert.deepEqual(await archiveFiles(ro.dir), [path.join(ro.dir, tenant.tenantId, `${month}_0-12.ndjson.gz`)]);
    });

    test("a partition whose stored events do not verify is kept, and the log says so", { timeout: 300_000 }, async (t) => {
      const dir = await mkdtemp(path.join(tmpdir(), "cairn-retention-bad-"));
      t.after(() => rm(dir, { recursive: true, force: true }));
      const cairn = await build(t, backend, { CAIRN_AUDIT_ARCHIVE_DIR: dir });
      const db = cairn.store.db;
      const tenant = await tenantWithoutEvents(cairn);
      const month = addMonths(monthOf(new Date()), -3);
      const partition = monthPartition(month).name;
      await ensurePartitions(db);
      await insertOldEvents(db, [{ tenantId: tenant.tenantId, month, count: 8 }]);
      await cairn.sequencer.flush();
      await cairn.checkpointer.checkpointNow(tenant.tenantId);
      // One stored field changed after it was signed, as someone with psql could.
      await sql`alter table audit_events disable trigger user`.execute(db);
      await sql`update audit_events set action = 'changed' where tenant_id = ${tenant.tenantId} and leaf_index = 5`.execute(db);
      await sql`alter table audit_events enable trigger user`.execute(db);

      const r = await cairn.call("POST", "/api/v1/audit/retention/run", { retentionDays: 30 });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.partitions[0].status, "failed", r.text);
      assert.match(r.json.partitions[0].reason, /does not verify \(FAILED at index 5: /);
      assert.equal(await exists(db, partition), true, "the partition is kept");
      assert.deepEqual(await archiveFiles(dir), [], "no file that does not verify is left as an archive");
      await cairn.sequencer.flush();
      const failed = await cairn.call("GET", "/api/v1/audit?eventType=audit.verify_failed", undefined, {
        authorization: `Bearer ${tenant.adminKey}`,
      });
      assert.equal(failed.status, 200, failed.text);
      assert.equal(failed.json.items.length, 1, failed.text);
      assert.equal(failed.json.items[0].metadata.index, 5);
    });
  });
}

for (const backend of backends()) suite(backend);
