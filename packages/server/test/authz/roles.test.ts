import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backends, useApp } from "../helper.js";
import { insertKey } from "./fixtures.js";

const R = "/api/v1/roles";

for (const backend of backends()) {
  describe(`roles (${backend})`, () => {
    const cairn = useApp(backend);

    const auditTypes = async () =>
      (await cairn.store.db.selectFrom("audit_events").select(["event_type", "resource_id"]).orderBy("seq").execute()).map(
        (e) => `${e.event_type}:${e.resource_id}`,
      );

    it("a tenant has the built-in roles admin, operator, developer, viewer", async () => {
      const res = await cairn.call("GET", R);
      assert.equal(res.status, 200, res.text);
      const byName = Object.fromEntries(res.json.items.map((r: any) => [r.name, r]));
      for (const name of ["admin", "operator", "developer", "viewer"]) assert.equal(byName[name]?.builtin, true, name);
      assert.deepEqual(byName.admin.rules, [{ effect: "allow", permission: "*:**:*" }]);
      assert.ok(byName.developer.rules.some((r: any) => r.permission === "secrets:**:read"));
      assert.ok(!byName.developer.rules.some((r: any) => r.permission.endsWith(":reveal")));
      const one = await cairn.call("GET", `${R}/viewer`);
      assert.equal(one.status, 200);
      assert.deepEqual(one.json.rules.map((r: any) => r.permission).sort(), [
        "configs:**:list",
        "configs:**:read",
        "environments:**:list",
        "environments:**:read",
      ]);
    });

    it("built-in roles cannot be changed, replaced, deleted or re-created (409, clear message)", async () => {
      for (const [method, url, body] of [
        ["PUT", `${R}/admin`, { rules: [] }],
        ["DELETE", `${R}/viewer`, undefined],
        ["POST", R, { name: "operator", rules: [] }],
      ] as const) {
        const res = await cairn.call(method, url, body);
        assert.equal(res.status, 409, `${method} ${url}: ${res.text}`);
        assert.match(res.json.detail, /built in and cannot be changed or deleted/);
      }
      assert.equal((await cairn.call("GET", `${R}/admin`)).json.rules[0].permission, "*:**:*");
    });

    it("create, read, replace, delete a role; each change is an audit event", async () => {
      const body = {
        name: "payments-dev",
        description: "payments team",
        rules: [
          { effect: "allow", permission: "configs:payments/**:write", conditions: { environments: ["development"] } },
          { effect: "deny", permission: "secrets:**:reveal" },
        ],
        inherits: ["viewer"],
      };
      const created = await cairn.call("POST", R, body);
      assert.equal(created.status, 201, created.text);
      assert.equal(created.json.builtin, false);
      assert.deepEqual(created.json.rules, body.rules);
      assert.deepEqual(created.json.inherits, ["viewer"]);

      const dup = await cairn.call("POST", R, body);
      assert.equal(dup.status, 409);

      const got = await cairn.call("GET", `${R}/payments-dev`);
      assert.equal(got.json.description, "payments team");

      const replaced = await cairn.call("PUT", `${R}/payments-dev`, {
        rules: [{ effect: "allow", permission: "configs:payments/*:read" }],
      });
      assert.equal(replaced.status, 200, replaced.text);
      assert.deepEqual(replaced.json.inherits, []);
      assert.equal(replaced.json.description, null);

      const upserted = await cairn.call("PUT", `${R}/billing-dev`, {
        rules: [{ effect: "allow", permission: "configs:billing/**:write" }],
      });
      assert.equal(upserted.status, 201, upserted.text);

      assert.equal((await cairn.call("DELETE", `${R}/payments-dev`)).status, 204);
      assert.equal((await cairn.call("GET", `${R}/payments-dev`)).status, 404);
      assert.equal((await cairn.call("DELETE", `${R}/payments-dev`)).status, 404);

      const events = await auditTypes();
      for (const e of ["role.created:payments-dev", "role.updated:payments-dev", "role.created:billing-dev", "role.deleted:payments-dev"]) {
        assert.ok(events.includes(e), `${e} in ${events.join(", ")}`);
      }
    });

    it("an invalid permission → 422 naming it and the field; nothing is written", async () => {
      const res = await cairn.call("POST", R, {
        name: "broken",
        rules: [
          { effect: "allow", permission: "configs:**:read" },
          { effect: "allow", permission: "cfgs:payments/**:read" },
          { effect: "deny", permission: "secrets:pay*:reveal" },
        ],
      });
      assert.equal(res.status, 422, res.text);
      assert.match(res.json.detail, /cfgs:payments\/\*\*:read/);
      assert.match(res.json.detail, /secrets:pay\*:reveal/);
      assert.deepEqual(
        res.json.errors.map((e: any) => e.path),
        ["/rules/1/permission", "/rules/2/permission"],
      );
      assert.equal((await cairn.call("GET", `${R}/broken`)).status, 404);
    });

    it("invalid conditions → 422 naming the field; a bad name → 400; a bad shape → 400", async () => {
      const cidr = await cairn.call("POST", R, {
        name: "ip-bound",
        rules: [{ effect: "allow", permission: "secrets:**:reveal", conditions: { sourceIps: ["10.0.0.0/8", "2001:db8::/200"] } }],
      });
      assert.equal(cidr.status, 422, cidr.text);
      assert.equal(cidr.json.errors[0].path, "/rules/0/conditions/sourceIps/1");
      const window = await cairn.call("POST", R, {
        name: "night",
        rules: [{ effect: "allow", permission: "configs:**:write", conditions: { timeWindow: { start: "22:00", end: "25:00" } } }],
      });
      assert.equal(window.status, 422);
      assert.equal(window.json.errors[0].path, "/rules/0/conditions/timeWindow/end");
      assert.equal((await cairn.call("POST", R, { name: "bad name!", rules: [] })).status, 400);
      assert.equal((await cairn.call("POST", R, { name: "x", rules: [{ effect: "maybe", permission: "configs:**:read" }] })).status, 400);
    });

    it("inheritance: unknown role → 422, itself → 422, a cycle → 422 naming it", async () => {
      const unknown = await cairn.call("POST", R, { name: "orphan", rules: [], inherits: ["nobody"] });
      assert.equal(unknown.status, 422);
      assert.match(unknown.json.detail, /"nobody" does not exist/);
      assert.equal(unknown.json.errors[0].path, "/inherits/0");

      const self = await cairn.call("PUT", `${R}/narcissus`, { rules: [], inherits: ["narcissus"] });
      assert.equal(self.status, 422);
      assert.match(self.json.detail, /cannot inherit from itself/);

      assert.equal((await cairn.call("POST", R, { name: "ring-a", rules: [] })).status, 201);
      assert.equal((await cairn.call("POST", R, { name: "ring-b", rules: [], inherits: ["ring-a"] })).status, 201);
      assert.equal((await cairn.call("POST", R, { name: "ring-c", rules: [], inherits: ["ring-b"] })).status, 201);
      const cycle = await cairn.call("PUT", `${R}/ring-a`, { rules: [], inherits: ["ring-c"] });
      assert.equal(cycle.status, 422, cycle.text);
      assert.match(cycle.json.detail, /inheritance cycle: ring-a → ring-c → ring-b → ring-a/);
      assert.deepEqual((await cairn.call("GET", `${R}/ring-a`)).json.inherits, []);
    });

    it("a role still bound, inherited or given to a key cannot be deleted (409)", async () => {
      assert.equal((await cairn.call("POST", R, { name: "bound", rules: [] })).status, 201);
      const binding = await cairn.call("POST", "/api/v1/role-bindings", {
        role: "bound",
        subject: { type: "key", id: (await insertKey(cairn)).id },
      });
      assert.equal(binding.status, 201, binding.text);
      const res = await cairn.call("DELETE", `${R}/bound`);
      assert.equal(res.status, 409);
      assert.match(res.json.detail, /still bound by 1 role binding/);
      assert.equal((await cairn.call("DELETE", `/api/v1/role-bindings/${binding.json.id}`)).status, 204);

      assert.equal((await cairn.call("POST", R, { name: "child", rules: [], inherits: ["bound"] })).status, 201);
      const inherited = await cairn.call("DELETE", `${R}/bound`);
      assert.equal(inherited.status, 409);
      assert.match(inherited.json.detail, /inherited by "child"/);
      assert.equal((await cairn.call("DELETE", `${R}/child`)).status, 204);

      await insertKey(cairn, { roles: ["bound"] });
      const onKey = await cairn.call("DELETE", `${R}/bound`);
      assert.equal(onKey.status, 409);
      assert.match(onKey.json.detail, /API key/);
    });

    it("reading roles needs roles:read, changing them roles:admin; a denial is a 403 naming the permission and an audit event", async () => {
      const viewer = await insertKey(cairn, { roles: ["viewer"] });
      const list = await viewer.call("GET", R);
      assert.equal(list.status, 403, list.text);
      assert.equal(list.json.code, "forbidden");
      assert.match(list.json.detail, /roles:\*\*:read/);
      assert.equal(list.json.permission, "roles:**:read");
      // Authorisation comes before validation: an invalid body from a forbidden caller is still a 403.
      assert.equal((await viewer.call("POST", R, { nonsense: true })).status, 403);

      assert.equal(
        (await cairn.call("POST", R, { name: "policy-reader", rules: [{ effect: "allow", permission: "roles:**:read" }] })).status,
        201,
      );
      const reader = await insertKey(cairn, { roles: ["policy-reader"] });
      assert.equal((await reader.call("GET", R)).status, 200);
      const write = await reader.call("POST", R, { name: "sneaky", rules: [{ effect: "allow", permission: "*:**:*" }] });
      assert.equal(write.status, 403);
      assert.match(write.json.detail, /no rule allows roles:\*\*:admin/);

      const direct = await insertKey(cairn, { permissions: [{ effect: "allow", permission: "roles:**:read" }] });
      assert.equal((await direct.call("GET", R)).status, 200, "a key's own permissions count");
      assert.equal((await direct.call("DELETE", `${R}/policy-reader`)).status, 403);

      const denied = await cairn.store.db
        .selectFrom("audit_events")
        .selectAll()
        .where("event_type", "=", "authz.denied")
        .where("actor_id", "=", viewer.id)
        .execute();
      assert.equal(denied.length, 2);
      assert.equal(denied[0]?.result, "denied");
      assert.equal((denied[0]?.metadata as any)?.permission, "roles:**:read");
    });
  });
}
