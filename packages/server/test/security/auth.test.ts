import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { generateApiKey } from "../../src/auth/api-key.js";
import { backends, build, ns, useApp } from "../helper.js";

/** Every protected route, with a body where it needs one: the shared matrix every route runs. */
export const protectedRoutes: [method: string, url: string, body?: unknown][] = [
  ["GET", `/api/v1/configs/${ns("auth/ns")}/k`],
  ["PUT", `/api/v1/configs/${ns("auth/ns")}/k`, { value: 1 }],
  ["POST", `/api/v1/configs/${ns("auth/ns")}/k`, { value: 1 }],
  ["DELETE", `/api/v1/configs/${ns("auth/ns")}/k`],
  ["GET", `/api/v1/configs/${ns("auth/ns")}`],
  ["GET", `/api/v1/configs/${ns("auth/ns")}/k/history`],
  ["GET", `/api/v1/configs/${ns("auth/ns")}/history`],
  ["POST", `/api/v1/configs/${ns("auth/ns")}/k/rollback`, { version: 1 }],
  ["POST", `/api/v1/configs/${ns("auth/ns")}/validate`, { values: { k: 1 } }],
  ["POST", "/api/v1/configs/bulk", { operations: [{ op: "set", namespace: "auth/ns", key: "k", value: 1 }] }],
  ["PUT", `/api/v1/schemas/${ns("auth/ns")}/k`, { schema: { type: "integer" } }],
  ["GET", `/api/v1/schemas/${ns("auth/ns")}/k`],
  ["DELETE", `/api/v1/schemas/${ns("auth/ns")}/k`],
  ["GET", "/api/v1/environments"],
  ["POST", "/api/v1/environments", { name: "authqa", parent: "base" }],
];

for (const backend of backends()) {
  describe(`authentication (${backend})`, () => {
    const cairn = useApp(backend);

    const wrongKeys: [string, string | undefined][] = [
      ["no Authorization header", undefined],
      ["an empty header", ""],
      ["another scheme", `Basic ${Buffer.from("admin:admin").toString("base64")}`],
      ["a malformed key", "Bearer not-a-cairn-key"],
      ["a well-formed key nobody issued", `Bearer ${generateApiKey().key}`],
      ["the admin key with one character changed", "MUTATED"],
    ];

    it("every /api/v1 route answers 401 problem+json to a missing or wrong credential and changes nothing", async () => {
      const versionsBefore = await cairn.store.db.selectFrom("config_versions").select("version").execute();
      for (const [method, url, body] of protectedRoutes) {
        for (const [label, header] of wrongKeys) {
          const authorization =
            header === "MUTATED" ? `Bearer ${cairn.adminKey.slice(0, -1)}${cairn.adminKey.endsWith("a") ? "b" : "a"}` : header;
          const headers: Record<string, string> = authorization === undefined ? { authorization: "" } : { authorization };
          const res = await cairn.call(method, url, body, headers);
          assert.equal(res.status, 401, `${method} ${url} with ${label}: ${res.text}`);
          assert.match(String(res.headers["content-type"]), /^application\/problem\+json/);
          assert.equal(res.json.code, "unauthorized");
          assert.match(String(res.headers["www-authenticate"]), /^Bearer/);
        }
      }
      const versionsAfter = await cairn.store.db.selectFrom("config_versions").select("version").execute();
      assert.equal(versionsAfter.length, versionsBefore.length);
    });

    it("the admin key works on every route (no 401)", async () => {
      for (const [method, url, body] of protectedRoutes) {
        const res = await cairn.call(method, url, body);
        assert.notEqual(res.status, 401, `${method} ${url}`);
        assert.ok(res.status < 500, `${method} ${url}: ${res.text}`);
      }
    });

    it("each failed authentication is an audit event that records neither the key nor its hash", async () => {
      const bogus = generateApiKey().key;
      await cairn.call("GET", "/api/v1/environments", undefined, { authorization: `Bearer ${bogus}` });
      const events = await cairn.store.db
        .selectFrom("audit_events")
        .selectAll()
        .where("event_type", "=", "auth.failed")
        .orderBy("seq", "desc")
        .limit(1)
        .execute();
      assert.equal(events.length, 1);
      assert.equal(events[0]?.result, "failure");
      const text = JSON.stringify(events);
      assert.ok(!text.includes(bogus));
      assert.ok(!text.includes(bogus.split("_")[2] as string));
    });

    it("the admin key is stored only as a SHA-256 hash with its public prefix", async () => {
      const rows = await cairn.store.db.selectFrom("api_keys").selectAll().execute();
      assert.equal(rows.length, 1);
      const [row] = rows;
      assert.equal(row?.prefix, cairn.adminKey.split("_")[1]);
      assert.equal(row?.key_hash.length, 32);
      assert.ok(!JSON.stringify(rows).includes(cairn.adminKey.split("_")[2] as string));
    });

    it("health and readiness need no credential; docs neither", async () => {
      for (const url of ["/health", "/ready", "/docs/json"]) {
        const res = await cairn.call("GET", url, undefined, { authorization: "" });
        assert.equal(res.status, 200, url);
      }
    });
  });
}

describe("bootstrap admin key from CAIRN_BOOTSTRAP_ADMIN_KEY", () => {
  it("uses the given key instead of generating one", async (t) => {
    const given = generateApiKey().key;
    const cairn = await build(t, "pglite", { CAIRN_BOOTSTRAP_ADMIN_KEY: given });
    assert.equal(cairn.bootstrap.generatedAdminKey, undefined, "nothing to print: the operator chose the key");
    const res = await cairn.call("GET", "/api/v1/environments", undefined, { authorization: `Bearer ${given}` });
    assert.equal(res.status, 200);
  });

  it("refuses to start with a key that does not look like a Cairn key", async (t) => {
    await assert.rejects(build(t, "pglite", { CAIRN_BOOTSTRAP_ADMIN_KEY: "hunter2" }), /must look like a Cairn key/);
  });
});
