// POST /api/v1/audit/verify: the server runs the offline verifier (src/audit/verify.ts, as `cairn audit verify
// --file`) over a fresh export of the caller's own log, against the log's published key. A clean log verifies;
// a row changed with SQL (as in tamper.test.ts) is named by its index; the route needs audit read; and a
// tenant's verification never reads another tenant's log.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sql } from "kysely";
import { backends, ns, secondTenant, useApp } from "../helper.js";
import { settle } from "./support.js";

for (const backend of backends()) {
  describe(`POST /api/v1/audit/verify (${backend})`, () => {
    const cairn = useApp(backend);
    const verify = (key?: string) => cairn.call("POST", "/api/v1/audit/verify", undefined, key ? { authorization: `Bearer ${key}` } : {});
    const tenantOf = async () => (await cairn.call("GET", "/api/v1/audit?limit=1")).json.items[0].tenant as string;

    it("verifies a clean log: every event, up to a checkpoint signed now, and records audit.verify", async () => {
      for (let i = 0; i < 12; i++) {
        const r = await cairn.call("PUT", `/api/v1/configs/${ns("verify/app")}/k${i % 4}`, { value: { n: i } });
        assert.equal(r.status, 200, r.text);
      }
      await settle(cairn);
      const r = await verify();
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers["cache-control"], "no-store");
      const v = r.json;
      assert.equal(v.verified, true, v.summary);
      assert.equal(v.start, 0);
      assert.ok(v.events >= 12, `${v.events} events`);
      assert.equal(v.treeSize, v.events);
      assert.equal(v.signedSize, v.treeSize, "the export ends on a checkpoint signed for it");
      assert.ok(v.checkpoints >= 1);
      assert.equal(v.firstBadIndex, undefined);
      assert.equal(v.reason, undefined);
      assert.match(v.summary, new RegExp(`^verified ${v.events} events, root [A-Za-z0-9+/]{43}=$`));
      assert.equal(v.verifierKey, (await cairn.call("GET", "/api/v1/audit/public-key")).json.verifierKey);
      // The root is the one the log signed at that size.
      const proof = await cairn.call("GET", `/api/v1/audit/proofs/inclusion?index=0&treeSize=${v.treeSize}`);
      assert.equal(proof.status, 200, proof.text);
      assert.equal(v.root, proof.json.rootHash);
      await settle(cairn);
      const events = (await cairn.call("GET", "/api/v1/audit?eventType=audit.verify&limit=5")).json.items;
      assert.equal(events.length, 1);
      assert.equal(events[0].result, "success");
      assert.equal(events[0].metadata.events, v.events);
      assert.equal(events[0].metadata.root, v.root);
    });

    it("needs audit read: 401 without a credential, 403 for a viewer, 200 for an operator", async () => {
      const none = await cairn.call("POST", "/api/v1/audit/verify", undefined, { authorization: "" });
      assert.equal(none.status, 401, none.text);
      const keyOf = async (role: string) => {
        const r = await cairn.call("POST", "/api/v1/keys", { name: `verify-${role}`, roles: [role] });
        assert.equal(r.status, 201, r.text);
        return r.json.key as string;
      };
      const viewer = await verify(await keyOf("viewer"));
      assert.equal(viewer.status, 403, viewer.text);
      assert.match(String(viewer.headers["content-type"]), /^application\/problem\+json/);
      const operator = await verify(await keyOf("operator"));
      assert.equal(operator.status, 200, operator.text);
      assert.equal(operator.json.verified, true, operator.json.summary);
    });

    it("names the first bad index of a row changed with SQL, records audit.verify_failed; another tenant's verification never reads this log", async () => {
      await settle(cairn);
      const tenant = await tenantOf();
      const before = (await verify()).json;
      assert.equal(before.verified, true, before.summary);
      const db = cairn.store.db;
      // As an operator with psql would: triggers off, one field of event 5 changed.
      await sql.raw("alter table audit_events disable trigger user").execute(db);
      try {
        await sql`update audit_events set action = 'read' where coalesce(tenant_id, '') = ${tenant} and leaf_index = 5`.execute(db);
      } finally {
        await sql.raw("alter table audit_events enable trigger user").execute(db);
      }
      const r = await verify();
      assert.equal(r.status, 200, r.text);
      const v = r.json;
      assert.equal(v.verified, false);
      assert.equal(v.firstBadIndex, 5, v.summary);
      assert.match(v.reason, /the event differs from what the log committed and signed/);
      assert.match(v.summary, /^FAILED at index 5: /);
      assert.equal(v.root, undefined, "no root is vouched for when verification fails");
      await settle(cairn);
      const failed = (await cairn.call("GET", "/api/v1/audit?eventType=audit.verify_failed&limit=5")).json.items;
      assert.equal(failed.length, 1);
      assert.equal(failed[0].result, "failure");
      assert.equal(failed[0].metadata.index, 5);
      assert.equal(failed[0].metadata.source, "api");

      // Tenant B's log (its own key, its own events) verifies, untouched by A's tampered row.
      const b = await secondTenant(cairn);
      const asB = (method: string, url: string, body?: unknown) => cairn.call(method, url, body, { authorization: `Bearer ${b.adminKey}` });
      for (let i = 0; i < 3; i++) assert.equal((await asB("PUT", `/api/v1/configs/${ns("b/app")}/k`, { value: i })).status, 200);
      await settle(cairn);
      const bVerify = await asB("POST", "/api/v1/audit/verify");
      assert.equal(bVerify.status, 200, bVerify.text);
      assert.equal(bVerify.json.verified, true, bVerify.json.summary);
      assert.notEqual(bVerify.json.verifierKey, v.verifierKey, "B's log has its own key");
      const bEvents = (await asB("GET", "/api/v1/audit?order=desc&limit=1")).json.items[0];
      assert.equal(bEvents.tenant, b.tenantId);
      assert.ok(bVerify.json.events <= bEvents.index + 1, "only B's own events were verified");
      assert.ok(bVerify.json.events < v.treeSize, "B's log is not A's");
      // B's verification recorded nothing in A's log.
      await settle(cairn);
      const aVerifies = (await cairn.call("GET", "/api/v1/audit?eventType=audit.verify*&limit=20")).json.items;
      assert.ok(aVerifies.every((e: { tenant: string }) => e.tenant === tenant));
      assert.equal(aVerifies.filter((e: { eventType: string }) => e.eventType === "audit.verify").length, 3);
    });
  });
}
