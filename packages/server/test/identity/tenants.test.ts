import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backends, ns, useApp } from "../helper.js";

for (const backend of backends()) {
  describe(`tenants (${backend})`, () => {
    const cairn = useApp(backend);

    it("the instance admin creates a tenant and gets its admin key once; the tenant starts with the default environments", async () => {
      const res = await cairn.call("POST", "/api/v1/tenants", { name: "acme" });
      assert.equal(res.status, 201, res.text);
      assert.match(res.json.adminKey, /^cairn_[0-9A-Za-z]{8}_[0-9A-Za-z]+$/);
      const acme = { authorization: `Bearer ${res.json.adminKey}` };
      const envs = await cairn.call("GET", "/api/v1/environments", undefined, acme);
      assert.deepEqual(envs.json.items.map((e: { name: string }) => e.name).sort(), ["base", "development", "production", "staging"]);
      const list = await cairn.call("GET", "/api/v1/tenants");
      assert.deepEqual(list.json.items.map((t: { name: string }) => t.name).sort(), ["acme", "default"]);
      assert.ok(!JSON.stringify(list.json).includes(res.json.adminKey));
    });

    it("a tenant admin cannot manage tenants (403); duplicates → 409; bad names → 400", async () => {
      const made = await cairn.call("POST", "/api/v1/tenants", { name: "globex" });
      const globex = { authorization: `Bearer ${made.json.adminKey}` };
      assert.equal((await cairn.call("POST", "/api/v1/tenants", { name: "other" }, globex)).status, 403);
      assert.equal((await cairn.call("GET", "/api/v1/tenants", undefined, globex)).status, 403);
      assert.equal((await cairn.call("POST", "/api/v1/tenants", { name: "globex" })).status, 409);
      assert.equal((await cairn.call("POST", "/api/v1/tenants", { name: "Bad Name!" })).status, 400);
    });

    it("tenants are hard walls: another tenant's objects are 404, never 403, never the object", async () => {
      await cairn.call("PUT", `/api/v1/configs/${ns("shared/path")}/db.url`, { value: "default-tenant-value" });
      await cairn.call("PUT", `/api/v1/schemas/${ns("shared/path")}/db.url`, { schema: { type: "string" } });
      const made = await cairn.call("POST", "/api/v1/tenants", { name: "initech" });
      const other = { authorization: `Bearer ${made.json.adminKey}` };
      const probes: [string, string, unknown?][] = [
        ["GET", `/api/v1/configs/${ns("shared/path")}/db.url`],
        ["GET", `/api/v1/configs/${ns("shared/path")}`],
        ["GET", `/api/v1/configs/${ns("shared/path")}/db.url/history`],
        ["GET", `/api/v1/configs/${ns("shared/path")}/history`],
        ["DELETE", `/api/v1/configs/${ns("shared/path")}/db.url`],
        ["POST", `/api/v1/configs/${ns("shared/path")}/db.url/rollback`, { version: 1 }],
        ["GET", `/api/v1/schemas/${ns("shared/path")}/db.url`],
        ["DELETE", `/api/v1/schemas/${ns("shared/path")}/db.url`],
      ];
      for (const [method, url, body] of probes) {
        const res = await cairn.call(method, url, body, other);
        assert.equal(res.status, 404, `${method} ${url}: ${res.text}`);
        assert.ok(!res.text.includes("default-tenant-value"));
      }
      // The same path in the other tenant is its own namespace.
      const own = await cairn.call("PUT", `/api/v1/configs/${ns("shared/path")}/db.url`, { value: "initech-value" }, other);
      assert.equal(own.status, 200);
      assert.equal(own.json.version, 1);
      const mine = await cairn.call("GET", `/api/v1/configs/${ns("shared/path")}/db.url`);
      assert.equal(mine.json.value, "default-tenant-value");
      assert.equal(mine.json.version, 1);
    });
  });
}
