import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sql } from "kysely";
import { insertKey, type TestKey } from "../authz/fixtures.js";
import { backends, ns, useApp, withPg } from "../helper.js";

const CR = "/api/v1/change-requests";
const cfg = (path: string, key: string, env = "production") => `/api/v1/configs/${ns(path)}/${key}?environment=${env}`;

for (const backend of backends()) {
  describe(`protected environments: change requests (${backend})`, () => {
    const cairn = useApp(backend);
    let approver: TestKey;
    let developer: TestKey;
    let operator: TestKey;

    it("setup: production requires approval (admin only); reads show the flag", async () => {
      approver = await insertKey(cairn, { roles: ["admin"] });
      developer = await insertKey(cairn, { roles: ["developer"] });
      operator = await insertKey(cairn, { roles: ["operator"] });
      assert.equal((await developer.call("PATCH", "/api/v1/environments/production", { requireApproval: true })).status, 403);
      const res = await cairn.call("PATCH", "/api/v1/environments/production", { requireApproval: true });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.requireApproval, true);
      const list = await cairn.call("GET", "/api/v1/environments");
      assert.deepEqual(
        list.json.items.filter((e: any) => e.requireApproval).map((e: any) => e.name),
        ["production"],
      );
      // Writes elsewhere go through as before: a new environment outside production's chain.
      assert.equal((await cairn.call("POST", "/api/v1/environments", { name: "sandbox", parent: "base" })).status, 201);
      assert.equal((await cairn.call("PUT", cfg("shop/api", "timeout", "sandbox"), { value: 5 })).status, 200);
    });

    it("a write to an environment production inherits from is held when production reads that key from there", async () => {
      await cairn.call("PATCH", "/api/v1/environments/production", { requireApproval: false });
      assert.equal((await cairn.call("PUT", cfg("shop/api", "own", "production"), { value: "prod" })).status, 200);
      assert.equal((await cairn.call("PUT", cfg("shop/api", "own", "base"), { value: "base" })).status, 200);
      assert.equal((await cairn.call("PUT", cfg("shop/api", "shared", "base"), { value: 1 })).status, 200);
      await cairn.call("PATCH", "/api/v1/environments/production", { requireApproval: true });

      // production has its own value of "own": base and staging writes don't change what production reads.
      assert.equal((await developer.call("PUT", cfg("shop/api", "own", "base"), { value: "base-2" })).status, 200);
      assert.equal((await developer.call("PUT", cfg("shop/api", "own", "staging"), { value: "stg" })).status, 200);
      // production reads "shared" from base: changing it there, or overriding it on the way (staging), or
      // deleting it, or creating a key production would see, all go through approval.
      const held = await developer.call("PUT", cfg("shop/api", "shared", "base"), { value: 2 });
      assert.equal(held.status, 202, held.text);
      assert.deepEqual(held.json.changeRequest.environments, ["base"]);
      assert.equal((await developer.call("PUT", cfg("shop/api", "shared", "staging"), { value: 3 })).status, 202);
      assert.equal((await cairn.call("DELETE", cfg("shop/api", "shared", "base"))).status, 202);
      assert.equal((await developer.call("PUT", cfg("shop/api", "brand-new", "development"), { value: true })).status, 202);
      assert.equal((await cairn.call("GET", cfg("shop/api", "shared"))).json.value, 1, "production still reads the old value");
      assert.equal((await cairn.call("GET", cfg("shop/api", "brand-new", "development"))).status, 404);
      // The secrets API cannot go around it: a direct set there is refused, saying how to propose it.
      const secret = await cairn.call("PUT", `/api/v1/secrets/${ns("shop/api")}/token?environment=base`, { type: "generic", value: "t0k" });
      assert.equal(secret.status, 409, secret.text);
      assert.match(secret.json.detail, /change request/);
      assert.equal((await cairn.call("GET", `/api/v1/secrets/${ns("shop/api")}/token?environment=base`)).status, 404);
    });

    it("propose → approve → apply: 202 with the diff, nothing changes until applied, applied as the proposer", async () => {
      assert.equal((await cairn.call("PATCH", "/api/v1/environments/production", { requireApproval: false })).status, 200);
      assert.equal((await cairn.call("PUT", cfg("shop/api", "limits"), { value: { rps: 10, burst: 20 } })).status, 200);
      await cairn.call("PATCH", "/api/v1/environments/production", { requireApproval: true });

      const proposed = await developer.call("PUT", cfg("shop/api", "limits"), { value: { rps: 50, burst: 20 }, reason: "black friday" });
      assert.equal(proposed.status, 202, proposed.text);
      const cr = proposed.json.changeRequest;
      assert.match(cr.id, /^chr_/);
      assert.equal(cr.status, "pending");
      assert.deepEqual(cr.diff, [{ op: "replace", path: "/rps", value: 50 }]);
      assert.equal(cr.changes[0].baseVersion, 1);
      assert.equal(cr.links.self, `${CR}/${cr.id}`);
      assert.equal(proposed.headers.location, cr.links.self);
      assert.deepEqual((await cairn.call("GET", cfg("shop/api", "limits"))).json.value, { rps: 10, burst: 20 }, "nothing changed yet");

      // Not approved yet: apply is refused; the proposer cannot approve their own change.
      const early = await developer.call("POST", `${CR}/${cr.id}/apply`);
      assert.equal(early.status, 409);
      assert.match(early.json.detail, /pending \(0 of 1 approvals so far\)/);
      const self = await developer.call("POST", `${CR}/${cr.id}/approve`, {});
      assert.equal(self.status, 403);
      assert.match(self.json.detail, /you asked for change request .* cannot approve/);

      const approved = await approver.call("POST", `${CR}/${cr.id}/approve`, { comment: "ok for the sale" });
      assert.equal(approved.status, 200, approved.text);
      assert.equal(approved.json.status, "approved");
      assert.equal((await approver.call("POST", `${CR}/${cr.id}/approve`, {})).status, 409, "decided already");

      const applied = await developer.call("POST", `${CR}/${cr.id}/apply`);
      assert.equal(applied.status, 200, applied.text);
      assert.equal(applied.json.status, "applied");
      assert.equal(applied.json.appliedBy, developer.id);
      const now = (await cairn.call("GET", cfg("shop/api", "limits"))).json;
      assert.deepEqual([now.value, now.version, now.updatedBy], [{ rps: 50, burst: 20 }, 2, developer.id]);
      const history = (await cairn.call("GET", `/api/v1/configs/${ns("shop/api")}/limits/history?environment=production`)).json;
      assert.match(history.items[0].reason, new RegExp(`black friday \\(change request ${cr.id}, approved by ${approver.id}\\)`));
      assert.equal((await developer.call("POST", `${CR}/${cr.id}/apply`)).status, 409, "applied once");

      const events = await cairn.store.db
        .selectFrom("audit_events")
        .select(["event_type", "actor_id"])
        .where("resource_id", "in", [cr.id, "shop/api/limits"])
        .orderBy("seq")
        .execute();
      const adminKey = await cairn.store.db
        .selectFrom("api_keys")
        .select("id")
        .where("name", "=", "bootstrap-admin")
        .executeTakeFirstOrThrow();
      assert.deepEqual(
        events.map((e) => `${e.event_type}@${e.actor_id}`),
        [
          `config.create@${adminKey.id}`,
          `approval.requested@${developer.id}`,
          `change_request.created@${developer.id}`,
          `authz.denied@${developer.id}`,
          `approval.decided@${approver.id}`,
          `change_request.approved@${approver.id}`,
          `config.update@${developer.id}`,
          `change_request.applied@${developer.id}`,
        ],
      );
    });

    it("reject closes it; a rejected change cannot be applied", async () => {
      assert.equal((await developer.call("DELETE", cfg("shop/api", "limits"))).status, 403, "authorised as the write would be");
      const proposed = await operator.call("DELETE", cfg("shop/api", "limits"));
      assert.equal(proposed.status, 202, proposed.text);
      const cr = proposed.json.changeRequest;
      assert.deepEqual(cr.diff, [{ op: "remove", path: "" }]);
      const rejected = await approver.call("POST", `${CR}/${cr.id}/reject`, { comment: "not during the sale" });
      assert.equal(rejected.json.status, "rejected");
      assert.equal(rejected.json.approval.decisions[0].comment, "not during the sale");
      assert.equal((await operator.call("POST", `${CR}/${cr.id}/apply`)).status, 409);
      assert.equal((await cairn.call("GET", cfg("shop/api", "limits"))).status, 200, "still there");
      const pending = await cairn.call("GET", `${CR}?status=rejected`);
      assert.deepEqual(
        pending.json.items.map((i: any) => i.id),
        [cr.id],
      );
    });

    it("apply after the config moved → 409; the config keeps the newer value", async () => {
      const cr = (await developer.call("PUT", cfg("shop/api", "limits"), { value: { rps: 70 } })).json.changeRequest;
      const other = (await developer.call("PUT", cfg("shop/api", "limits"), { value: { rps: 80 } })).json.changeRequest;
      await approver.call("POST", `${CR}/${cr.id}/approve`, {});
      await approver.call("POST", `${CR}/${other.id}/approve`, {});
      assert.equal((await developer.call("POST", `${CR}/${other.id}/apply`)).status, 200);
      const stale = await developer.call("POST", `${CR}/${cr.id}/apply`);
      assert.equal(stale.status, 409, stale.text);
      assert.match(stale.json.detail, /changed since this change request was proposed on version 2/);
      assert.deepEqual((await cairn.call("GET", cfg("shop/api", "limits"))).json.value, { rps: 80 });
    });

    it("bulk and rollback become change requests too; If-Match mismatch at proposal → 412", async () => {
      const bulk = await developer.call("POST", "/api/v1/configs/bulk", {
        operations: [
          { op: "set", namespace: "shop/api", key: "a", environment: "production", value: 1 },
          { op: "set", namespace: "shop/api", key: "b", environment: "staging", value: 2 },
        ],
      });
      assert.equal(bulk.status, 202, bulk.text);
      assert.equal(bulk.json.changeRequest.changes.length, 2);
      assert.equal(bulk.json.changeRequest.diff[0].path, "/shop~1api~1a@production");
      assert.equal((await cairn.call("GET", cfg("shop/api", "b", "staging"))).status, 404, "the whole bulk waits");
      const rollback = await developer.call("POST", `/api/v1/configs/${ns("shop/api")}/limits/rollback?environment=production`, {
        version: 1,
      });
      assert.equal(rollback.status, 202, rollback.text);
      assert.deepEqual(rollback.json.changeRequest.changes[0].restoreVersion, 1);
      const stale = await cairn.call("PUT", cfg("shop/api", "limits"), { value: 1 }, { "if-match": '"1"' });
      assert.equal(stale.status, 412);
    });

    it("secrets: the proposal is sealed (no plaintext in change_requests), the diff masked; approve + apply writes it", async () => {
      const plaintext = "hunter2-very-secret-proposed-value";
      const ops = operator;
      const proposed = await ops.call("PUT", cfg("shop/api", "db.password"), { value: plaintext, secret: true });
      assert.equal(proposed.status, 202, proposed.text);
      const cr = proposed.json.changeRequest;
      assert.deepEqual(cr.diff, [{ op: "add", path: "", value: "••••" }]);
      assert.ok(!JSON.stringify(cr).includes(plaintext));
      assert.equal((await developer.call("PUT", cfg("shop/api", "db.password"), { value: "x", secret: true })).status, 403);
      const rows = await cairn.store.db.selectFrom("change_requests").selectAll().execute();
      const dump = JSON.stringify(
        rows.map((r) => ({ ...r, wrapped_key: r.wrapped_key.toString("latin1"), payload_sealed: r.payload_sealed.toString("latin1") })),
      );
      assert.ok(!dump.includes(plaintext), "no plaintext in change_requests");
      const text = await sql<{ t: string }>`select string_agg(change_requests::text, '') as t from change_requests`.execute(cairn.store.db);
      assert.ok(!String(text.rows[0]?.t).includes(plaintext));
      if (cairn.testStore.databaseUrl) {
        await withPg(cairn.testStore.databaseUrl, async (c) => {
          const r = await c.query(
            "select count(*)::int as n from change_requests where position(convert_to($1, 'UTF8') in payload_sealed) > 0 or change_requests::text like $2",
            [plaintext, `%${plaintext}%`],
          );
          assert.equal(r.rows[0].n, 0);
        });
      }
      await approver.call("POST", `${CR}/${cr.id}/approve`, {});
      assert.equal((await ops.call("POST", `${CR}/${cr.id}/apply`)).status, 200);
      const revealed = await cairn.call("GET", `${cfg("shop/api", "db.password")}&reveal=true`);
      assert.equal(revealed.json.value, plaintext);
    });

    it("another tenant sees none of them (404)", async () => {
      const { insertTenant } = await import("../authz/fixtures.js");
      const other = await insertTenant(cairn);
      const mine = (await cairn.call("GET", CR)).json.items[0];
      assert.equal((await other.admin.call("GET", `${CR}/${mine.id}`)).status, 404);
      assert.equal((await other.admin.call("POST", `${CR}/${mine.id}/approve`, {})).status, 404);
      assert.deepEqual((await other.admin.call("GET", CR)).json.items, []);
    });
  });
}
