import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { backends, useApp } from "../helper.js";
import { check, insertKey, insertUser } from "./fixtures.js";

const B = "/api/v1/role-bindings";

for (const backend of backends()) {
  describe(`role bindings, groups and explain (${backend})`, () => {
    const cairn = useApp(backend);
    const bind = (body: Record<string, unknown>) => cairn.call("POST", B, body);
    const asKey = (id: string) => ({ type: "key", id });

    it("bad bindings → 422 naming the field; nothing is written", async () => {
      const key = await insertKey(cairn);
      const before = (await cairn.call("GET", B)).json.items.length;
      const cases: [Record<string, unknown>, string, RegExp][] = [
        [{ role: "nope", subject: asKey(key.id) }, "/role", /role "nope" does not exist/],
        [{ role: "viewer", subject: asKey("key_doesnotexist") }, "/subject/id", /key "key_doesnotexist" does not exist/],
        [{ role: "viewer", subject: { type: "user", id: "usr_nobody" } }, "/subject/id", /user/],
        [{ role: "viewer", subject: { type: "group", id: "grp_nothing" } }, "/subject/id", /group/],
        [{ role: "viewer", subject: asKey(key.id), namespacePattern: "pay*/x" }, "/namespacePattern", /whole segments/],
        [{ role: "viewer", subject: asKey(key.id), expiresAt: "2001-01-01T00:00:00Z" }, "/expiresAt", /in the past/],
      ];
      for (const [body, path, message] of cases) {
        const res = await bind(body);
        assert.equal(res.status, 422, `${JSON.stringify(body)}: ${res.text}`);
        assert.equal(res.json.errors[0].path, path);
        assert.match(res.json.detail, message);
      }
      assert.equal((await bind({ role: "viewer", subject: { type: "robot", id: key.id } })).status, 400);
      assert.equal((await cairn.call("GET", B)).json.items.length, before);
    });

    it("create, list (filtered), show, delete a binding; audit events for both", async () => {
      const key = await insertKey(cairn);
      const created = await bind({ role: "developer", subject: asKey(key.id), namespacePattern: "payments/**" });
      assert.equal(created.status, 201, created.text);
      assert.match(created.json.id, /^rb_/);
      assert.deepEqual(
        {
          role: created.json.role,
          subject: created.json.subject,
          ns: created.json.namespacePattern,
          exp: created.json.expiresAt,
          expired: created.json.expired,
        },
        { role: "developer", subject: asKey(key.id), ns: "payments/**", exp: null, expired: false },
      );
      const defaulted = await bind({ role: "viewer", subject: asKey(key.id) });
      assert.equal(defaulted.json.namespacePattern, "**");

      const mine = await cairn.call("GET", `${B}?subjectType=key&subjectId=${key.id}`);
      assert.deepEqual(
        mine.json.items.map((b: any) => b.role),
        ["developer", "viewer"],
      );
      const devs = await cairn.call("GET", `${B}?role=developer&subjectId=${key.id}`);
      assert.equal(devs.json.items.length, 1);
      assert.equal((await cairn.call("GET", `${B}/${created.json.id}`)).json.role, "developer");

      assert.equal((await cairn.call("DELETE", `${B}/${created.json.id}`)).status, 204);
      assert.equal((await cairn.call("DELETE", `${B}/${created.json.id}`)).status, 404);
      assert.equal((await cairn.call("GET", `${B}/${created.json.id}`)).status, 404);

      const events = await cairn.store.db
        .selectFrom("audit_events")
        .select(["event_type"])
        .where("resource_id", "=", created.json.id)
        .orderBy("seq")
        .execute();
      assert.deepEqual(
        events.map((e) => e.event_type),
        ["binding.created", "binding.deleted"],
      );
    });

    it("explain: the decision names the deciding rule, role, binding and inheritance path", async () => {
      const key = await insertKey(cairn);
      const b = await bind({ role: "developer", subject: asKey(key.id), namespacePattern: "payments/**" });
      const allowed = await check(cairn, { subject: asKey(key.id), resource: "configs", namespace: "payments/api", action: "write" });
      assert.equal(allowed.status, 200, allowed.text);
      assert.equal(allowed.json.allowed, true);
      assert.equal(allowed.json.permission, "configs:payments/api:write");
      assert.deepEqual(allowed.json.decidedBy, {
        rule: { effect: "allow", permission: "configs:**:write" },
        source: "role",
        role: "developer",
        bindingId: b.json.id,
      });
      assert.match(allowed.json.reason, /allowed by allow rule "configs:\*\*:write" of role "developer" bound by rb_\w+ on payments\/\*\*/);

      const outside = await check(cairn, { subject: asKey(key.id), resource: "configs", namespace: "billing/api", action: "write" });
      assert.equal(outside.json.allowed, false);
      assert.equal(outside.json.decidedBy, null);
      assert.match(outside.json.reason, /no rule allows configs:billing\/api:write: .*scope/);

      const reveal = await check(cairn, { subject: asKey(key.id), resource: "secrets", namespace: "payments/api", action: "reveal" });
      assert.equal(reveal.json.allowed, false);
      assert.match(reveal.json.reason, /^no rule allows secrets:payments\/api:reveal/);

      // inherited rule + a deny through a second role
      assert.equal(
        (
          await cairn.call("POST", "/api/v1/roles", {
            name: "careful-dev",
            rules: [{ effect: "deny", permission: "configs:payments/prod/**:write" }],
            inherits: ["developer"],
          })
        ).status,
        201,
      );
      const other = await insertKey(cairn, { roles: ["careful-dev"] });
      const inherited = await check(cairn, { subject: asKey(other.id), resource: "configs", namespace: "payments/api", action: "read" });
      assert.equal(inherited.json.allowed, true);
      assert.deepEqual(inherited.json.decidedBy.path, ["careful-dev", "developer"]);
      assert.equal(inherited.json.decidedBy.role, "developer");
      assert.equal(inherited.json.decidedBy.bindingId, undefined);
      const denied = await check(cairn, { subject: asKey(other.id), resource: "configs", namespace: "payments/prod/db", action: "write" });
      assert.equal(denied.json.allowed, false);
      assert.deepEqual(denied.json.decidedBy, {
        rule: { effect: "deny", permission: "configs:payments/prod/**:write" },
        source: "role",
        role: "careful-dev",
      });
    });

    it("explain: a key's own permissions, the instance admin, and the caller by default", async () => {
      const direct = await insertKey(cairn, {
        permissions: [
          { effect: "allow", permission: "secrets:ops/**:reveal", conditions: { sourceIps: ["10.0.0.0/8", "2001:db8::/32"] } },
          { effect: "deny", permission: "secrets:ops/root:*" },
        ],
      });
      const fromV6 = await check(cairn, {
        subject: asKey(direct.id),
        resource: "secrets",
        namespace: "ops/db",
        action: "reveal",
        sourceIp: "2001:db8::7",
      });
      assert.equal(fromV6.json.allowed, true, fromV6.text);
      assert.equal(fromV6.json.decidedBy.source, "key");
      const fromOutside = await check(cairn, {
        subject: asKey(direct.id),
        resource: "secrets",
        namespace: "ops/db",
        action: "reveal",
        sourceIp: "192.0.2.1",
      });
      assert.equal(fromOutside.json.allowed, false);
      assert.match(fromOutside.json.reason, /192\.0\.2\.1 is not in 10\.0\.0\.0\/8, 2001:db8::\/32/);
      const noIp = await check(cairn, { subject: asKey(direct.id), resource: "secrets", namespace: "ops/db", action: "reveal" });
      assert.equal(noIp.json.allowed, false, "no source IP given for another subject: an IP condition cannot hold");
      const root = await check(cairn, {
        subject: asKey(direct.id),
        resource: "secrets",
        namespace: "ops/root",
        action: "reveal",
        sourceIp: "10.0.0.1",
      });
      assert.equal(root.json.allowed, false);
      assert.equal(root.json.decidedBy.rule.effect, "deny");

      const instanceAdmin = await insertKey(cairn, { instanceAdmin: true });
      const ia = await check(cairn, { subject: asKey(instanceAdmin.id), resource: "tenants", action: "admin" });
      assert.equal(ia.json.allowed, true);
      assert.equal(ia.json.decidedBy.source, "instance_admin");

      const self = await check(cairn, { resource: "keys", action: "admin" });
      assert.equal(self.json.allowed, true);
      assert.equal(self.json.subject.type, "key");

      // Anyone may ask about themselves; asking about others needs roles:read.
      const viewer = await insertKey(cairn, { roles: ["viewer"] });
      const mine = await check(viewer, { resource: "configs", namespace: "a", action: "read" });
      assert.equal(mine.status, 200);
      assert.equal(mine.json.allowed, true);
      assert.equal(mine.json.decidedBy.role, "viewer");
      assert.equal((await check(viewer, { subject: asKey(viewer.id), resource: "configs", action: "write" })).status, 200);
      assert.equal((await check(viewer, { subject: asKey(direct.id), resource: "configs", action: "read" })).status, 403);
    });

    it("explain: environment and time conditions from the request body", async () => {
      assert.equal(
        (
          await cairn.call("POST", "/api/v1/roles", {
            name: "night-shift",
            rules: [
              {
                effect: "allow",
                permission: "configs:**:write",
                conditions: { environments: ["production"], timeWindow: { start: "22:00", end: "06:00", days: [5] } },
              },
            ],
          })
        ).status,
        201,
      );
      const key = await insertKey(cairn, { roles: ["night-shift"] });
      const at = (iso: string, environment?: string) =>
        check(cairn, {
          subject: asKey(key.id),
          resource: "configs",
          namespace: "x",
          action: "write",
          at: iso,
          ...(environment ? { environment } : {}),
        });
      assert.equal((await at("2025-06-07T02:00:00Z", "production")).json.allowed, true, "Saturday 02:00 is in Friday's night shift");
      assert.equal((await at("2025-06-06T02:00:00Z", "production")).json.allowed, false, "Friday 02:00 is Thursday's shift");
      assert.equal((await at("2025-06-06T23:00:00Z", "staging")).json.allowed, false);
      const noEnv = await at("2025-06-06T23:00:00Z");
      assert.equal(noEnv.json.allowed, false);
      assert.match(noEnv.json.reason, /names no environment/);
      assert.equal((await check(cairn, { resource: "configs", action: "read", sourceIp: "not-an-ip" })).status, 400);
      assert.equal((await check(cairn, { resource: "configs", action: "peek" })).status, 400);
    });

    it("cache invalidation: a new or deleted binding, or a changed role, shows in the very next decision", async () => {
      const key = await insertKey(cairn);
      const q = { subject: asKey(key.id), resource: "configs", namespace: "cache/x", action: "write" };
      assert.equal((await check(cairn, q)).json.allowed, false);
      assert.equal((await check(cairn, q)).json.allowed, false, "cached now");
      const b = await bind({ role: "developer", subject: asKey(key.id) });
      assert.equal((await check(cairn, q)).json.allowed, true);
      assert.equal((await cairn.call("DELETE", `${B}/${b.json.id}`)).status, 204);
      assert.equal((await check(cairn, q)).json.allowed, false);

      // The key's real requests see the same thing.
      assert.equal(
        (await cairn.call("PUT", "/api/v1/roles/cache-role", { rules: [{ effect: "allow", permission: "roles:**:read" }] })).status,
        201,
      );
      await bind({ role: "cache-role", subject: asKey(key.id) });
      assert.equal((await key.call("GET", "/api/v1/roles")).status, 200);
      assert.equal(
        (await cairn.call("PUT", "/api/v1/roles/cache-role", { rules: [{ effect: "deny", permission: "roles:**:read" }] })).status,
        200,
      );
      assert.equal((await key.call("GET", "/api/v1/roles")).status, 403);
    });

    it("an expired binding stops working by itself, without a restart or a change", async () => {
      const key = await insertKey(cairn);
      const expiresAt = new Date(Date.now() + 1500).toISOString();
      const b = await bind({ role: "viewer", subject: asKey(key.id), expiresAt });
      assert.equal(b.status, 201, b.text);
      const q = { subject: asKey(key.id), resource: "configs", namespace: "x", action: "read" };
      assert.equal((await check(cairn, q)).json.allowed, true);
      await sleep(Date.parse(expiresAt) - Date.now() + 50);
      const after = await check(cairn, q);
      assert.equal(after.json.allowed, false);
      assert.match(after.json.reason, /no rule allows configs:x:read/);
      const listed = await cairn.call("GET", `${B}/${b.json.id}`);
      assert.equal(listed.json.expired, true);
      // A check at a time before expiry still explains what it would have been.
      assert.equal((await check(cairn, { ...q, at: new Date(Date.parse(expiresAt) - 1000).toISOString() })).json.allowed, true);
    });

    it("groups: members get the roles bound to the group; removing a member takes effect at once", async () => {
      const alice = await insertUser(cairn);
      const bob = await insertUser(cairn);
      const g = await cairn.call("POST", "/api/v1/groups", { name: "payments-team" });
      assert.equal(g.status, 201, g.text);
      assert.match(g.json.id, /^grp_/);
      assert.equal((await cairn.call("POST", "/api/v1/groups", { name: "payments-team" })).status, 409);
      const added = await cairn.call("POST", `/api/v1/groups/${g.json.id}/members/${alice}`);
      assert.equal(added.status, 200, added.text);
      assert.deepEqual(added.json.members, [alice]);
      assert.equal((await cairn.call("POST", `/api/v1/groups/${g.json.id}/members/${alice}`)).status, 200, "idempotent");
      assert.equal((await cairn.call("POST", `/api/v1/groups/${g.json.id}/members/usr_nobody`)).status, 404);

      const binding = await bind({ role: "operator", subject: { type: "group", id: g.json.id }, namespacePattern: "payments/**" });
      assert.equal(binding.status, 201, binding.text);
      const q = (user: string) =>
        check(cairn, { subject: { type: "user", id: user }, resource: "secrets", namespace: "payments/db", action: "rotate" });
      const yes = await q(alice);
      assert.equal(yes.json.allowed, true, yes.text);
      assert.equal(yes.json.decidedBy.bindingId, binding.json.id);
      assert.equal((await q(bob)).json.allowed, false);
      const asGroup = await check(cairn, {
        subject: { type: "group", id: g.json.id },
        resource: "secrets",
        namespace: "payments/db",
        action: "rotate",
      });
      assert.equal(asGroup.json.allowed, true);

      assert.equal((await cairn.call("DELETE", `/api/v1/groups/${g.json.id}/members/${alice}`)).status, 204);
      assert.equal((await cairn.call("DELETE", `/api/v1/groups/${g.json.id}/members/${alice}`)).status, 404);
      assert.equal((await q(alice)).json.allowed, false);

      assert.equal((await cairn.call("DELETE", `/api/v1/groups/${g.json.id}`)).status, 409, "still bound");
      await cairn.call("DELETE", `${B}/${binding.json.id}`);
      assert.equal((await cairn.call("DELETE", `/api/v1/groups/${g.json.id}`)).status, 204);
      assert.equal((await cairn.call("GET", `/api/v1/groups/${g.json.id}`)).status, 404);

      const events = await cairn.store.db
        .selectFrom("audit_events")
        .select("event_type")
        .where("resource_id", "=", g.json.id)
        .orderBy("seq")
        .execute();
      assert.deepEqual(
        events.map((e) => e.event_type),
        ["group.created", "group.member_added", "group.member_removed", "group.deleted"],
      );
    });

    it("the authorizer exported from buildApp is the one routes use", async () => {
      const key = await insertKey(cairn, { roles: ["viewer"] });
      const ctx = {
        actor: { id: key.id, type: "api_key" as const, tenantId: cairn.bootstrap.tenantId, name: "k", roles: ["viewer"] },
        requestId: "t",
      };
      assert.equal((await cairn.authorizer.check(ctx, { resource: "configs", namespace: "a/b", action: "read" })).allowed, true);
      await assert.rejects(cairn.authorizer.require(ctx, { resource: "configs", namespace: "a/b", action: "write" }), (e: any) => {
        assert.equal(e.code, "forbidden");
        assert.match(e.message, /configs:a\/b:write/);
        return true;
      });
    });
  });
}
