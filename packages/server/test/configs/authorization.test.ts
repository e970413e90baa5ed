import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backends, ns, type TestApp, useApp } from "../helper.js";

async function keyWith(cairn: TestApp, body: Record<string, unknown>): Promise<Record<string, string>> {
  const res = await cairn.call("POST", "/api/v1/keys", { name: `k-${Math.random().toString(36).slice(2, 8)}`, ...body });
  assert.equal(res.status, 201, res.text);
  return { authorization: `Bearer ${res.json.key}` };
}

async function deniedCount(cairn: TestApp): Promise<number> {
  const rows = await cairn.store.db.selectFrom("audit_events").select("id").where("result", "=", "denied").execute();
  return rows.length;
}

// Config routes enforce RBAC/ABAC: what each role, rule, scope and condition lets a caller do.
for (const backend of backends()) {
  describe(`config authorization (${backend})`, () => {
    const cairn = useApp(backend);
    const url = (path: string, key: string, q = "") => `/api/v1/configs/${ns(path)}/${key}${q}`;

    it("viewer reads and lists but cannot write, delete or attach schemas (403, audited, nothing changed)", async () => {
      await cairn.call("PUT", url("authz/app", "k"), { value: 1 });
      const viewer = await keyWith(cairn, { roles: ["viewer"] });
      assert.equal((await cairn.call("GET", url("authz/app", "k"), undefined, viewer)).json.value, 1);
      assert.equal((await cairn.call("GET", `/api/v1/configs/${ns("authz/app")}`, undefined, viewer)).status, 200);
      const before = await deniedCount(cairn);
      const put = await cairn.call("PUT", url("authz/app", "k"), { value: 2 }, viewer);
      assert.equal(put.status, 403, put.text);
      assert.equal(put.json.code, "forbidden");
      assert.match(put.json.detail, /configs/);
      assert.equal((await cairn.call("DELETE", url("authz/app", "k"), undefined, viewer)).status, 403);
      assert.equal((await cairn.call("PUT", `/api/v1/schemas/${ns("authz/app")}/k`, { schema: { type: "integer" } }, viewer)).status, 403);
      assert.equal((await cairn.call("POST", "/api/v1/environments", { name: "viewerenv" }, viewer)).status, 403);
      assert.ok((await deniedCount(cairn)) >= before + 4, "each denial is an audit event");
      assert.equal((await cairn.call("GET", url("authz/app", "k"))).json.version, 1);
    });

    it("developer writes configs but may neither reveal nor write secrets", async () => {
      await cairn.call("PUT", url("authz/dev", "token"), { value: "s3cret", secret: true });
      const dev = await keyWith(cairn, { roles: ["developer"] });
      assert.equal((await cairn.call("PUT", url("authz/dev", "plain"), { value: "ok" }, dev)).status, 200);
      const masked = await cairn.call("GET", url("authz/dev", "token"), undefined, dev);
      assert.equal(masked.status, 200);
      assert.equal(masked.json.value, "••••");
      const reveal = await cairn.call("GET", url("authz/dev", "token", "?reveal=true"), undefined, dev);
      assert.equal(reveal.status, 403);
      assert.ok(!reveal.text.includes("s3cret"));
      const overwrite = await cairn.call("PUT", url("authz/dev", "token"), { value: "mine" }, dev);
      assert.equal(overwrite.status, 403, "a secret stays a secret, and only secret writers change it");
      const newSecret = await cairn.call("PUT", url("authz/dev", "new"), { value: "x", secret: true }, dev);
      assert.equal(newSecret.status, 403);
      const revealed = await cairn.call("GET", url("authz/dev", "token", "?reveal=true"));
      assert.equal(revealed.json.value, "s3cret", "nothing changed");
    });

    it("namespace patterns: * is one segment, ** any depth", async () => {
      const one = await keyWith(cairn, { permissions: [{ effect: "allow", permission: "configs:teams/*:write" }] });
      assert.equal((await cairn.call("PUT", url("teams/payments", "k"), { value: 1 }, one)).status, 200);
      assert.equal((await cairn.call("PUT", url("teams/payments/api", "k"), { value: 1 }, one)).status, 403);
      assert.equal((await cairn.call("PUT", url("billing", "k"), { value: 1 }, one)).status, 403);
      const deep = await keyWith(cairn, { permissions: [{ effect: "allow", permission: "configs:teams/**:write" }] });
      assert.equal((await cairn.call("PUT", url("teams/payments/api/v2", "k"), { value: 1 }, deep)).status, 200);
    });

    it("deny wins over allow", async () => {
      const key = await keyWith(cairn, {
        permissions: [
          { effect: "allow", permission: "configs:**:*" },
          { effect: "deny", permission: "configs:prod/**:write" },
        ],
      });
      assert.equal((await cairn.call("PUT", url("staging/app", "k"), { value: 1 }, key)).status, 200);
      const denied = await cairn.call("PUT", url("prod/app", "k"), { value: 1 }, key);
      assert.equal(denied.status, 403);
      assert.equal(
        (await cairn.call("GET", url("prod/app", "k"), undefined, key)).status,
        404,
        "reads are still allowed (and find nothing)",
      );
    });

    it("an environment condition limits writes to the listed environments", async () => {
      const key = await keyWith(cairn, {
        permissions: [
          { effect: "allow", permission: "configs:envcond/**:write", conditions: { environments: ["development"] } },
          { effect: "allow", permission: "configs:envcond/**:read" },
        ],
      });
      assert.equal((await cairn.call("PUT", url("envcond/app", "k", "?environment=development"), { value: 1 }, key)).status, 200);
      assert.equal((await cairn.call("PUT", url("envcond/app", "k", "?environment=production"), { value: 1 }, key)).status, 403);
    });

    it("a source-IP condition admits only callers from the listed networks", async () => {
      const key = await keyWith(cairn, {
        permissions: [{ effect: "allow", permission: "configs:ipcond/**:*", conditions: { sourceIps: ["10.0.0.0/8"] } }],
      });
      const from = async (ip: string) =>
        (await cairn.app.inject({ method: "PUT", url: url("ipcond/app", "k"), payload: { value: 1 }, headers: key, remoteAddress: ip }))
          .statusCode;
      assert.equal(await from("10.1.2.3"), 200);
      assert.equal(await from("192.168.1.1"), 403);
    });

    it("bulk is checked operation by operation before anything is applied", async () => {
      const key = await keyWith(cairn, { permissions: [{ effect: "allow", permission: "configs:bulkok/**:write" }] });
      const res = await cairn.call(
        "POST",
        "/api/v1/configs/bulk",
        {
          operations: [
            { op: "set", namespace: "bulkok/a", key: "k", value: 1 },
            { op: "set", namespace: "bulkno/a", key: "k", value: 1 },
          ],
        },
        key,
      );
      assert.equal(res.status, 403);
      assert.equal((await cairn.call("GET", url("bulkok/a", "k"))).status, 404, "nothing applied");
    });

    it("only key admins issue, rotate or revoke keys: a developer key cannot mint an admin key", async () => {
      const dev = await keyWith(cairn, { roles: ["developer"] });
      const mint = await cairn.call("POST", "/api/v1/keys", { name: "escalate", roles: ["admin"] }, dev);
      assert.equal(mint.status, 403, mint.text);
      const victim = await cairn.call("POST", "/api/v1/keys", { name: "victim" });
      assert.equal((await cairn.call("POST", `/api/v1/keys/${victim.json.id}/revoke`, undefined, dev)).status, 403);
      assert.equal((await cairn.call("POST", `/api/v1/keys/${victim.json.id}/rotate`, {}, dev)).status, 403);
      assert.equal((await cairn.call("GET", `/api/v1/keys/${victim.json.id}`)).json.status, "active", "nothing changed");
    });

    it("a user gets access through a role binding scoped to a namespace pattern", async () => {
      const user = await cairn.call("POST", "/api/v1/users", { email: "scoped@example.com", password: "amber-lantern-river-77" });
      assert.equal(user.status, 201, user.text);
      const bound = await cairn.call("POST", "/api/v1/role-bindings", {
        role: "developer",
        subject: { type: "user", id: user.json.id },
        namespacePattern: "payments/**",
      });
      assert.equal(bound.status, 201, bound.text);
      const login = await cairn.call(
        "POST",
        "/api/v1/auth/login",
        { email: "scoped@example.com", password: "amber-lantern-river-77" },
        { authorization: "" },
      );
      const session = { authorization: `Bearer ${login.json.accessToken}` };
      assert.equal((await cairn.call("PUT", url("payments/api", "k"), { value: 1 }, session)).status, 200);
      assert.equal((await cairn.call("PUT", url("billing/api", "k"), { value: 1 }, session)).status, 403);
      // Removing the binding takes effect at once.
      assert.equal((await cairn.call("DELETE", `/api/v1/role-bindings/${bound.json.id}`)).status, 204);
      assert.equal((await cairn.call("PUT", url("payments/api", "k"), { value: 2 }, session)).status, 403);
    });
  });
}
