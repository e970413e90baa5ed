import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backends, secondTenant, useApp } from "../helper.js";

/** GET /namespaces: what the console's tree shows — only namespaces the caller may list, only its tenant's. */
for (const backend of backends()) {
  describe(`namespaces list (${backend})`, () => {
    const cairn = useApp(backend);

    it("lists every namespace with its live keys (ancestors included); a scoped key sees only its own, and hiding records no denial", async () => {
      for (const [ns, key] of [
        ["team-a/app", "db.url"],
        ["team-a/app", "port"],
        ["team-b/api", "timeout"],
      ] as const) {
        const put = await cairn.call("PUT", `/api/v1/configs/${encodeURIComponent(ns)}/${key}`, { value: 1 });
        assert.ok(put.status < 300, put.text);
      }
      assert.equal((await cairn.call("DELETE", `/api/v1/configs/${encodeURIComponent("team-b/api")}/timeout`)).status, 200);

      const all = await cairn.call("GET", "/api/v1/namespaces");
      assert.equal(all.status, 200, all.text);
      const byPath = Object.fromEntries(all.json.items.map((n: { path: string; keys: number }) => [n.path, n.keys]));
      assert.equal(byPath["team-a/app"], 2);
      assert.equal(byPath["team-b/api"], 0, "a deleted key is not counted");
      assert.ok("team-a" in byPath, "ancestors made by the first write are listed too");

      const role = await cairn.call("POST", "/api/v1/roles", {
        name: "team-a-reader",
        rules: [{ effect: "allow", permission: "configs:team-a/**:*" }],
      });
      assert.equal(role.status, 201, role.text);
      const key = await cairn.call("POST", "/api/v1/keys", { name: "team-a-ci", roles: ["team-a-reader"] });
      assert.equal(key.status, 201, key.text);
      const deniedBefore = await cairn.store.db
        .selectFrom("audit_events")
        .select((eb) => eb.fn.countAll<string>().as("n"))
        .where("event_type", "=", "authz.denied")
        .executeTakeFirstOrThrow();
      const scoped = await cairn.call("GET", "/api/v1/namespaces", undefined, { authorization: `Bearer ${key.json.key}` });
      assert.equal(scoped.status, 200, scoped.text);
      assert.deepEqual(
        scoped.json.items.map((n: { path: string }) => n.path),
        ["team-a", "team-a/app"],
        "team-a/** covers team-a itself and below, nothing of team-b",
      );
      const deniedAfter = await cairn.store.db
        .selectFrom("audit_events")
        .select((eb) => eb.fn.countAll<string>().as("n"))
        .where("event_type", "=", "authz.denied")
        .executeTakeFirstOrThrow();
      assert.equal(Number(deniedAfter.n), Number(deniedBefore.n));
    });

    it("another tenant sees none of them; no credential → 401", async () => {
      const other = await secondTenant(cairn);
      const theirs = await cairn.call("GET", "/api/v1/namespaces", undefined, { authorization: `Bearer ${other.adminKey}` });
      assert.equal(theirs.status, 200);
      assert.deepEqual(theirs.json.items, []);
      const anonymous = await cairn.call("GET", "/api/v1/namespaces", undefined, { authorization: "" });
      assert.equal(anonymous.status, 401);
    });
  });
}
