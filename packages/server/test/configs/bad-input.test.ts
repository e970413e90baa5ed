import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backends, ns, useApp } from "../helper.js";

// Bad input gets a clear 4xx problem and changes nothing.
for (const backend of backends()) {
  describe(`configs bad input (${backend})`, () => {
    const cairn = useApp(backend, { CAIRN_MAX_VALUE_BYTES: "1024" });
    const url = (key: string, query = "") => `/api/v1/configs/${ns("bad/input")}/${key}${query}`;

    async function versionCount(): Promise<number> {
      const row = await cairn.store.db
        .selectFrom("config_versions")
        .select((eb) => eb.fn.countAll<string>().as("n"))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    }

    /** Asserts the response is a problem document with this status, and that no version was written. */
    async function refused(res: Promise<{ status: number; json: any; headers: Record<string, unknown> }>, status: number, detail?: RegExp) {
      const before = await versionCount();
      const r = await res;
      assert.equal(r.status, status, JSON.stringify(r.json));
      assert.match(String(r.headers["content-type"]), /^application\/problem\+json/);
      assert.equal(r.json.status, status);
      assert.equal(typeof r.json.detail, "string");
      assert.ok(r.json.requestId);
      if (detail) assert.match(r.json.detail, detail);
      assert.equal(await versionCount(), before, "nothing was written");
      return r.json;
    }

    it("malformed JSON → 400", async () => {
      await refused(cairn.call("PUT", url("k"), '{"value": ', { "content-type": "application/json" }), 400, /not valid JSON/);
    });

    it("wrong content type → 415", async () => {
      await refused(cairn.call("PUT", url("k"), "value=1", { "content-type": "text/plain" }), 415, /application\/json/);
      await refused(cairn.call("PUT", url("k"), "value=1", { "content-type": "application/x-www-form-urlencoded" }), 415);
    });

    it("a value over CAIRN_MAX_VALUE_BYTES → 413 saying the limit", async () => {
      await refused(cairn.call("PUT", url("big"), { value: "x".repeat(2000) }), 413, /limit is 1024 bytes/);
      await refused(
        cairn.call("POST", "/api/v1/configs/bulk", {
          operations: [{ op: "set", namespace: "bad/input", key: "big", value: "x".repeat(2000) }],
        }),
        413,
        /operation 0/,
      );
    });

    it("a body over the body limit → 413", async () => {
      await refused(cairn.call("PUT", url("huge"), { value: "x".repeat(9 * 1024 * 1024) }), 413);
    });

    it("missing value, unknown fields and wrong types → 400 naming the field", async () => {
      const missing = await refused(cairn.call("PUT", url("k"), { secret: true }), 400);
      assert.match(missing.detail, /value/);
      const unknown = await refused(cairn.call("PUT", url("k"), { value: 1, secrte: true }), 400);
      assert.deepEqual(unknown.errors, [{ path: "body/secrte", message: "unknown property" }]);
      await refused(cairn.call("PUT", url("k"), { value: 1, secret: "yes" }), 400);
      await refused(cairn.call("PUT", url("k"), [1, 2]), 400);
    });

    it("invalid namespace or key, and reserved key names → 400 that says the rule", async () => {
      await refused(cairn.call("PUT", url("bad key"), { value: 1 }), 400, /keys are 1–256 characters/);
      await refused(cairn.call("PUT", url("k$"), { value: 1 }), 400, /keys are/);
      await refused(cairn.call("PUT", `/api/v1/configs/${ns("a//b")}/k`, { value: 1 }), 400, /namespaces are/);
      await refused(cairn.call("PUT", `/api/v1/configs/${ns("../etc")}/k`, { value: 1 }), 400, /namespaces are/);
      await refused(cairn.call("PUT", `/api/v1/configs/${ns("a/ b")}/k`, { value: 1 }), 400, /namespaces are/);
      await refused(cairn.call("PUT", url("validate"), { value: 1 }), 400, /reserved/);
      await refused(cairn.call("PUT", url("k".repeat(257)), { value: 1 }), 400);
    });

    it("unknown environment → 404 naming it; invalid environment name → 400", async () => {
      await refused(cairn.call("PUT", url("k", "?environment=prod"), { value: 1 }), 404, /environment "prod" does not exist/);
      await refused(cairn.call("PUT", url("k", "?environment=Prod!"), { value: 1 }), 400, /environment names are/);
    });

    it("reads of missing things → 404 with a message", async () => {
      await refused(cairn.call("GET", url("nope")), 404);
      await refused(cairn.call("GET", `/api/v1/configs/${ns("no/such/namespace")}/k`), 404, /does not exist/);
      await refused(cairn.call("GET", `/api/v1/configs/${ns("no/such/namespace")}`), 404);
      await refused(cairn.call("GET", url("nope", "/history")), 404);
      await refused(cairn.call("POST", url("nope", "/rollback"), { version: 1 }), 404);
      await refused(cairn.call("GET", url("nope", "?version=0")), 400);
    });

    it("20 rounds of two concurrent PUTs with the same If-Match: exactly one 200 and one 412 each", async () => {
      await cairn.call("PUT", url("race"), { value: 0 });
      for (let round = 1; round <= 20; round++) {
        const expected = `"${round}"`;
        const [a, b] = await Promise.all([
          cairn.call("PUT", url("race"), { value: `a${round}` }, { "if-match": expected }),
          cairn.call("PUT", url("race"), { value: `b${round}` }, { "if-match": expected }),
        ]);
        const statuses = [a.status, b.status].sort();
        assert.deepEqual(statuses, [200, 412], `round ${round}: ${a.text} / ${b.text}`);
        const winner = a.status === 200 ? a : b;
        const loser = a.status === 200 ? b : a;
        assert.equal(winner.json.version, round + 1);
        assert.equal(loser.json.currentVersion, round + 1);
        const now = await cairn.call("GET", url("race"));
        assert.equal(now.json.value, winner.json.value, "the loser changed nothing");
      }
    });

    it("two concurrent creates of a new key: both land as versions 1 and 2, none lost", async () => {
      const [a, b] = await Promise.all([cairn.call("PUT", url("fresh"), { value: "a" }), cairn.call("PUT", url("fresh"), { value: "b" })]);
      assert.deepEqual([a.status, b.status], [200, 200]);
      assert.deepEqual([a.json.version, b.json.version].sort(), [1, 2]);
      const [c, d] = await Promise.all([
        cairn.call("POST", url("fresh2"), { value: "c" }),
        cairn.call("POST", url("fresh2"), { value: "d" }),
      ]);
      assert.deepEqual([c.status, d.status].sort(), [201, 409]);
    });
  });
}
