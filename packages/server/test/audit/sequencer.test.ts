import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sql } from "kysely";
import { buildApp } from "../../src/app.js";
import { AUDIT_DOCUMENT_COLUMNS, type AuditDocumentRow, eventDocument, Frontier, leafHash, nodeHash } from "../../src/audit/tree.js";
import { loadSettings } from "../../src/settings.js";
import { backends, build, inject, ns, serverUrl } from "../helper.js";

/** Recomputes a tenant's Merkle root from its events, leaf by leaf, the slow obvious way (RFC 6962 MTH). */
function mth(leaves: Buffer[]): Buffer {
  if (leaves.length === 1) return leaves[0] as Buffer;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

for (const backend of backends()) {
  describe(`audit sequencer (${backend})`, () => {
    it("gives every event of a tenant a gapless leaf index, stores the root of exactly those leaves, and numbers config changes", async (t) => {
      const cairn = await build(t, backend);
      for (let i = 0; i < 25; i++) {
        const r = await cairn.call("PUT", `/api/v1/configs/${ns("seq/app")}/k${i % 7}`, { value: i });
        assert.equal(r.status, 200, r.text);
      }
      assert.equal((await cairn.call("DELETE", `/api/v1/configs/${ns("seq/app")}/k1`)).status, 200);
      assert.equal((await cairn.call("GET", "/api/v1/configs/x/y", undefined, { authorization: "Bearer cairn_nope_nope" })).status, 401);
      await cairn.sequencer.flush();

      const tenantId = cairn.bootstrap.tenantId;
      const rows = (
        await sql<AuditDocumentRow>`select ${AUDIT_DOCUMENT_COLUMNS} from audit_events where tenant_id = ${tenantId} order by leaf_index`.execute(
          cairn.store.db,
        )
      ).rows;
      assert.ok(rows.length >= 26);
      assert.deepEqual(
        rows.map((r) => Number(r.leaf_index)),
        rows.map((_, i) => i),
        "leaf indexes are 0..n-1",
      );
      const leaves = rows.map((r) => leafHash(eventDocument(r, r.leaf_index as string)));
      const state = await cairn.store.db.selectFrom("audit_logs").selectAll().where("log_id", "=", tenantId).executeTakeFirstOrThrow();
      assert.equal(Number(state.size), rows.length);
      assert.equal(Buffer.from(state.root).toString("hex"), mth(leaves).toString("hex"));

      // Every complete subtree is stored: the top node of the first 16 leaves is their MTH.
      const node = await cairn.store.db
        .selectFrom("audit_tree_nodes")
        .select("hash")
        .where("log_id", "=", tenantId)
        .where("level", "=", 4)
        .where("idx", "=", "0")
        .executeTakeFirstOrThrow();
      assert.equal(Buffer.from(node.hash).toString("hex"), mth(leaves.slice(0, 16)).toString("hex"));

      const changes = await cairn.store.db
        .selectFrom("config_changes")
        .selectAll()
        .where("tenant_id", "=", tenantId)
        .orderBy("revision")
        .execute();
      assert.deepEqual(
        changes.map((c) => Number(c.revision)),
        Array.from({ length: 26 }, (_, i) => i + 1),
      );
      assert.deepEqual(
        { key: changes[25]?.key, changeType: changes[25]?.change_type, namespace: changes[25]?.namespace },
        { key: "k1", changeType: "delete", namespace: "seq/app" },
      );
      // The failed authentication is an instance-level event in the '' log.
      assert.ok(await cairn.store.db.selectFrom("audit_logs").select("size").where("log_id", "=", "").executeTakeFirst());
    });

    it("refuses any other change to a sequenced event", async (t) => {
      const cairn = await build(t, backend);
      await cairn.call("PUT", `/api/v1/configs/${ns("seq/app")}/k`, { value: 1 });
      await cairn.sequencer.flush();
      await assert.rejects(sql`update audit_events set action = 'forged'`.execute(cairn.store.db), /append-only/);
      await assert.rejects(sql`update audit_events set leaf_index = leaf_index + 100`.execute(cairn.store.db), /append-only/);
      await assert.rejects(sql`delete from audit_tree_nodes`.execute(cairn.store.db), /append-only/);
    });
  });
}

describe("Frontier", () => {
  it("keeps the root of any prefix equal to the recursive MTH", () => {
    const leaves = Array.from({ length: 70 }, (_, i) => leafHash({ index: i } as never));
    const frontier = Frontier.empty();
    for (let i = 0; i < leaves.length; i++) {
      frontier.append(leaves[i] as Buffer);
      assert.equal(frontier.root().toString("hex"), mth(leaves.slice(0, i + 1)).toString("hex"), `size ${i + 1}`);
      const restored = Frontier.restore(frontier.size, frontier.toJSON());
      assert.equal(restored.root().toString("hex"), frontier.root().toString("hex"));
    }
  });
});

describe("two replicas sequencing one log (postgres)", { skip: serverUrl ? false : "needs DATABASE_URL" }, () => {
  it("writes on both replicas end up in one gapless log and one gapless revision sequence", async (t) => {
    const a = await build(t, "postgres");
    const b = await buildApp(loadSettings({ ...a.testStore.env, CAIRN_LOG_LEVEL: "silent" }));
    t.after(() => b.app.close());
    const writes = [];
    for (let i = 0; i < 100; i++) {
      const url = `/api/v1/configs/${ns("seq/two")}/k${i % 10}`;
      writes.push(i % 2 ? a.call("PUT", url, { value: i }) : inject(b, a.adminKey, "PUT", url, { value: i }));
    }
    const responses = await Promise.all(writes);
    assert.ok(responses.every((r) => r.status === 200));
    await a.sequencer.flush();
    await b.sequencer.flush();
    const changes = await a.store.db
      .selectFrom("config_changes")
      .select("revision")
      .where("tenant_id", "=", a.bootstrap.tenantId)
      .orderBy("revision")
      .execute();
    assert.deepEqual(
      changes.map((c) => Number(c.revision)),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    const unsequenced = await a.store.db.selectFrom("audit_events").select("id").where("leaf_index", "is", null).execute();
    assert.equal(unsequenced.length, 0);
  });
});
