import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backends, ns, useApp } from "./helper.js";

for (const backend of backends()) {
  describe(`environments (${backend})`, () => {
    const cairn = useApp(backend);

    it("a new tenant has base → development → staging → production", async () => {
      const res = await cairn.call("GET", "/api/v1/environments");
      assert.equal(res.status, 200);
      const byName = Object.fromEntries(res.json.items.map((e: { name: string; chain: string[] }) => [e.name, e.chain]));
      assert.deepEqual(byName.production, ["production", "staging", "development", "base"]);
      assert.deepEqual(byName.base, ["base"]);
    });

    it("creates qa under development; reads in qa inherit from development", async () => {
      const created = await cairn.call("POST", "/api/v1/environments", { name: "qa", parent: "development" });
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(created.json.chain, ["qa", "development", "base"]);
      await cairn.call("PUT", `/api/v1/configs/${ns("env/test")}/k?environment=development`, { value: "dev" });
      const read = await cairn.call("GET", `/api/v1/configs/${ns("env/test")}/k?environment=qa`);
      assert.equal(read.json.value, "dev");
      assert.equal(read.json.resolvedFrom, "development");
      const list = await cairn.call("GET", "/api/v1/environments");
      assert.ok(list.json.items.some((e: { name: string }) => e.name === "qa"));
    });

    it("unknown parent or a cycle → 422; a duplicate → 409; a bad name → 400; nothing created", async () => {
      const before = (await cairn.call("GET", "/api/v1/environments")).json.items.length;
      const unknown = await cairn.call("POST", "/api/v1/environments", { name: "uat", parent: "nowhere" });
      assert.equal(unknown.status, 422);
      assert.match(unknown.json.detail, /"nowhere" does not exist/);
      const cycle = await cairn.call("POST", "/api/v1/environments", { name: "loop", parent: "loop" });
      assert.equal(cycle.status, 422);
      assert.match(cycle.json.detail, /cycle/);
      const dup = await cairn.call("POST", "/api/v1/environments", { name: "staging", parent: "base" });
      assert.equal(dup.status, 409);
      const bad = await cairn.call("POST", "/api/v1/environments", { name: "Bad Name" });
      assert.equal(bad.status, 400);
      assert.equal((await cairn.call("GET", "/api/v1/environments")).json.items.length, before);
    });

    it("an environment without a parent is a root of its own", async () => {
      const res = await cairn.call("POST", "/api/v1/environments", { name: "sandbox" });
      assert.equal(res.status, 201);
      assert.deepEqual(res.json.chain, ["sandbox"]);
    });
  });
}
