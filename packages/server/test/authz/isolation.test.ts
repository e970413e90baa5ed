import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { backends, useApp } from "../helper.js";
import { check, insertKey, insertTenant, insertUser, type TestKey } from "./fixtures.js";

/** Tenants are walls: tenant B's admin sees none of tenant A's roles, bindings or groups, and changes nothing. */
for (const backend of backends()) {
  describe(`authz tenant isolation (${backend})`, () => {
    const cairn = useApp(backend);
    let other: TestKey;
    let a: { keyId: string; userId: string; bindingId: string; groupId: string };

    const snapshot = async () => ({
      roles: await cairn.store.db
        .selectFrom("roles")
        .selectAll()
        .where("tenant_id", "=", cairn.bootstrap.tenantId)
        .orderBy("name")
        .execute(),
      bindings: await cairn.store.db
        .selectFrom("role_bindings")
        .selectAll()
        .where("tenant_id", "=", cairn.bootstrap.tenantId)
        .orderBy("id")
        .execute(),
      members: await cairn.store.db.selectFrom("group_members").selectAll().orderBy("user_id").execute(),
    });

    before(async () => {
      other = (await insertTenant(cairn)).admin;
      const key = await insertKey(cairn);
      const userId = await insertUser(cairn);
      assert.equal(
        (await cairn.call("POST", "/api/v1/roles", { name: "a-only", rules: [{ effect: "allow", permission: "configs:a/**:read" }] }))
          .status,
        201,
      );
      const binding = await cairn.call("POST", "/api/v1/role-bindings", { role: "a-only", subject: { type: "key", id: key.id } });
      const group = await cairn.call("POST", "/api/v1/groups", { name: "a-team" });
      await cairn.call("POST", `/api/v1/groups/${group.json.id}/members/${userId}`);
      a = { keyId: key.id, userId, bindingId: binding.json.id, groupId: group.json.id };
    });

    it("B's admin gets 404 on every one of A's objects by id, and nothing changes", async () => {
      const before = await snapshot();
      const routes: [string, string, unknown?][] = [
        ["GET", "/api/v1/roles/a-only"],
        ["DELETE", "/api/v1/roles/a-only"],
        ["GET", `/api/v1/role-bindings/${a.bindingId}`],
        ["DELETE", `/api/v1/role-bindings/${a.bindingId}`],
        ["GET", `/api/v1/groups/${a.groupId}`],
        ["DELETE", `/api/v1/groups/${a.groupId}`],
        ["POST", `/api/v1/groups/${a.groupId}/members/${a.userId}`],
        ["DELETE", `/api/v1/groups/${a.groupId}/members/${a.userId}`],
      ];
      for (const [method, url, body] of routes) {
        const res = await other.call(method, url, body);
        assert.equal(res.status, 404, `${method} ${url}: ${res.text}`);
        assert.doesNotMatch(res.text, /a-team|configs:a\/\*\*/);
      }
      assert.deepEqual(await snapshot(), before);
    });

    it("B's lists hold none of A's objects; B's role of the same name is B's own", async () => {
      const bindings = await other.call("GET", "/api/v1/role-bindings");
      assert.equal(bindings.status, 200);
      assert.equal(bindings.json.items.length, 0);
      const groups = await other.call("GET", "/api/v1/groups");
      assert.equal(groups.json.items.length, 0);
      const roles = await other.call("GET", "/api/v1/roles");
      assert.deepEqual(roles.json.items.map((r: any) => r.name).sort(), ["admin", "developer", "operator", "viewer"]);

      const own = await other.call("PUT", "/api/v1/roles/a-only", { rules: [{ effect: "allow", permission: "configs:b/**:read" }] });
      assert.equal(own.status, 201, "created in B, A's role untouched");
      assert.equal((await cairn.call("GET", "/api/v1/roles/a-only")).json.rules[0].permission, "configs:a/**:read");
    });

    it("B cannot bind A's subjects, put A's users in groups, or explain A's subjects", async () => {
      for (const subject of [
        { type: "key", id: a.keyId },
        { type: "user", id: a.userId },
        { type: "group", id: a.groupId },
      ]) {
        const res = await other.call("POST", "/api/v1/role-bindings", { role: "viewer", subject });
        assert.equal(res.status, 422, `${subject.type}: ${res.text}`);
        const explained = await check(other, { subject, resource: "configs", action: "read" });
        assert.equal(explained.status, 422);
      }
      const bGroup = await other.call("POST", "/api/v1/groups", { name: "b-team" });
      assert.equal((await other.call("POST", `/api/v1/groups/${bGroup.json.id}/members/${a.userId}`)).status, 404);
    });

    it("B's admin rules stop at B's wall: A's key is not decided by B's roles", async () => {
      const mine = await check(other, { resource: "roles", action: "admin" });
      assert.equal(mine.json.allowed, true);
      const aKey = await check(cairn, { subject: { type: "key", id: a.keyId }, resource: "configs", namespace: "b/x", action: "read" });
      assert.equal(aKey.json.allowed, false, "B's a-only role (configs:b/**) must not apply to A's key");
    });
  });
}
