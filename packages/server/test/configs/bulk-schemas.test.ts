import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backends, ns, useApp } from "../helper.js";

for (const backend of backends()) {
  describe(`schemas, validate and bulk (${backend})`, () => {
    const cairn = useApp(backend);
    const schemaUrl = (key: string) => `/api/v1/schemas/${ns("svc/api")}/${key}`;
    const configUrl = (key: string, q = "") => `/api/v1/configs/${ns("svc/api")}/${key}${q}`;

    it("a write that violates the key's JSON Schema → 422 with errors[] of {path, message}; a valid one passes", async () => {
      const schema = {
        type: "object",
        properties: { port: { type: "integer", minimum: 1, maximum: 65535 }, host: { type: "string", format: "hostname" } },
        required: ["port", "host"],
        additionalProperties: false,
      };
      const attached = await cairn.call("PUT", schemaUrl("server"), { schema });
      assert.equal(attached.status, 200, attached.text);
      assert.deepEqual((await cairn.call("GET", schemaUrl("server"))).json.schema, schema);
      const bad = await cairn.call("PUT", configUrl("server"), { value: { port: 0, host: "db.internal", extra: 1 } });
      assert.equal(bad.status, 422);
      assert.equal(bad.json.code, "validation_failed");
      const paths = bad.json.errors.map((e: { path: string }) => e.path).sort();
      assert.deepEqual(paths, ["/", "/port"]);
      assert.ok(bad.json.errors.every((e: { message: string }) => e.message.length > 0));
      // Every environment is checked, not just base.
      const badProd = await cairn.call("PUT", configUrl("server", "?environment=production"), { value: { port: "80", host: "x" } });
      assert.equal(badProd.status, 422);
      const ok = await cairn.call("PUT", configUrl("server"), { value: { port: 8080, host: "db.internal" } });
      assert.equal(ok.status, 200);
      assert.equal((await cairn.call("GET", configUrl("server"))).json.version, 1, "refused writes made no versions");
    });

    it("an invalid schema is refused with 422; detaching a schema lets any value through", async () => {
      const invalid = await cairn.call("PUT", schemaUrl("x"), { schema: { type: "no-such-type" } });
      assert.equal(invalid.status, 422);
      await cairn.call("PUT", schemaUrl("num"), { schema: { type: "number" } });
      assert.equal((await cairn.call("PUT", configUrl("num"), { value: "str" })).status, 422);
      assert.equal((await cairn.call("DELETE", schemaUrl("num"))).status, 204);
      assert.equal((await cairn.call("GET", schemaUrl("num"))).status, 404);
      assert.equal((await cairn.call("PUT", configUrl("num"), { value: "str" })).status, 200);
    });

    it("rollback to a version that violates the current schema → 422", async () => {
      await cairn.call("PUT", configUrl("mode"), { value: "legacy" });
      await cairn.call("PUT", configUrl("mode"), { value: "fast" });
      await cairn.call("PUT", schemaUrl("mode"), { schema: { enum: ["fast", "safe"] } });
      const rb = await cairn.call("POST", configUrl("mode", "/rollback"), { version: 1 });
      assert.equal(rb.status, 422);
      assert.equal((await cairn.call("GET", configUrl("mode"))).json.value, "fast");
    });

    it("validate reports per key and writes nothing", async () => {
      await cairn.call("PUT", schemaUrl("retries"), { schema: { type: "integer", minimum: 0 } });
      const res = await cairn.call("POST", `/api/v1/configs/${ns("svc/api")}/validate`, { values: { retries: -1, free: "anything" } });
      assert.equal(res.status, 200);
      assert.equal(res.json.valid, false);
      assert.equal(res.json.results.retries.valid, false);
      assert.equal(res.json.results.retries.hasSchema, true);
      assert.equal(res.json.results.retries.errors[0].path, "/");
      assert.deepEqual(res.json.results.free, { valid: true, hasSchema: false, errors: [] });
      assert.equal((await cairn.call("GET", configUrl("retries"))).status, 404, "validate wrote nothing");
      const good = await cairn.call("POST", `/api/v1/configs/${ns("svc/api")}/validate`, { values: { retries: 3 } });
      assert.equal(good.json.valid, true);
    });

    it("bulk applies every operation atomically across namespaces and environments", async () => {
      await cairn.call("PUT", `/api/v1/configs/${ns("bulk/b")}/old`, { value: "x" });
      const res = await cairn.call("POST", "/api/v1/configs/bulk", {
        operations: [
          { op: "set", namespace: "bulk/a", key: "one", value: 1 },
          { op: "set", namespace: "bulk/a", key: "two", value: { n: 2 }, environment: "staging" },
          { op: "set", namespace: "bulk/new/deep", key: "three", value: "3", secret: true },
          { op: "delete", namespace: "bulk/b", key: "old" },
        ],
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.applied, 4);
      assert.deepEqual(
        res.json.results.map((r: { key: string; changeType: string; environment: string }) => `${r.key}:${r.changeType}@${r.environment}`),
        ["one:create@base", "two:create@staging", "three:create@base", "old:delete@base"],
      );
      assert.equal((await cairn.call("GET", `/api/v1/configs/${ns("bulk/a")}/two?environment=production`)).json.value.n, 2);
      assert.equal((await cairn.call("GET", `/api/v1/configs/${ns("bulk/new/deep")}/three`)).json.value, "••••");
      assert.equal((await cairn.call("GET", `/api/v1/configs/${ns("bulk/b")}/old`)).status, 404);
    });

    it("one bad operation fails the whole bulk, names it, and nothing is applied", async () => {
      await cairn.call("PUT", schemaUrl("limit"), { schema: { type: "integer" } });
      const cases: [unknown[], number, RegExp][] = [
        [
          [
            { op: "set", namespace: "bulk/x", key: "a", value: 1 },
            { op: "set", namespace: "svc/api", key: "limit", value: "NaN" },
          ],
          422,
          /operation 1/,
        ],
        [
          [
            { op: "set", namespace: "bulk/x", key: "a", value: 1 },
            { op: "set", namespace: "bulk/x", key: "bad key", value: 1 },
          ],
          400,
          /operation 1/,
        ],
        [
          [
            { op: "set", namespace: "bulk/x", key: "a", value: 1 },
            { op: "delete", namespace: "bulk/x", key: "never" },
          ],
          404,
          /operation 1/,
        ],
        [
          [
            { op: "set", namespace: "bulk/x", key: "a", value: 1 },
            { op: "set", namespace: "bulk/x", key: "b" },
          ],
          400,
          /operation 1/,
        ],
        [[{ op: "set", namespace: "bulk/x", key: "a", value: 1, environment: "nowhere" }], 404, /operation 0/],
      ];
      for (const [operations, status, detail] of cases) {
        const res = await cairn.call("POST", "/api/v1/configs/bulk", { operations });
        assert.equal(res.status, status, res.text);
        assert.match(res.json.detail, detail);
        assert.match(res.json.detail, /nothing was applied/);
        assert.ok(res.json.errors[0].path.startsWith("/operations/"));
        assert.equal((await cairn.call("GET", `/api/v1/configs/${ns("bulk/x")}/a`)).status, 404, "nothing applied");
      }
      const badOp = await cairn.call("POST", "/api/v1/configs/bulk", { operations: [{ op: "upsert", namespace: "a", key: "b" }] });
      assert.equal(badOp.status, 400);
      const empty = await cairn.call("POST", "/api/v1/configs/bulk", { operations: [] });
      assert.equal(empty.status, 400);
    });
  });
}
