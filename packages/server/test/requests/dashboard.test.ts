import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backends, useApp } from "../helper.js";

// What the console's access-request dashboard reads: counts per status, and the plain-words search's
// interpretation field by field. Role `api`: no worker runs, so requests stay where intake put them.
const TARGET = "postgres://postgres@127.0.0.1:5432/test";
const valid = { provider: "postgres", principal: "ana", role: "pg_read_all_data", durationSeconds: 600, justification: "incident 42" };

for (const backend of backends()) {
  describe(`access requests: dashboard reads (${backend})`, () => {
    const cairn = useApp(backend, { CAIRN_ROLE: "api", CAIRN_ACCESS_POSTGRES_URL: TARGET });

    it("GET /requests/counts: every status (zeros too); a requester without requests:list counts only their own", async () => {
      const empty = await cairn.call("GET", "/api/v1/requests/counts");
      assert.equal(empty.status, 200, empty.text);
      assert.equal(empty.json.total, 0);
      assert.deepEqual(Object.keys(empty.json.counts).sort(), [
        "APPROVED",
        "AWAITING_APPROVAL",
        "DENIED",
        "EXPIRED",
        "FAILED",
        "PENDING",
        "PROCESSING",
        "REVOKED",
        "SUCCESS",
      ]);

      const dev = await cairn.call("POST", "/api/v1/keys", { name: "dev", roles: ["developer"] });
      assert.equal(dev.status, 201, dev.text);
      const asDev = { authorization: `Bearer ${dev.json.key}` };
      assert.equal((await cairn.call("POST", "/api/v1/requests", valid)).status, 202);
      const cancelled = await cairn.call("POST", "/api/v1/requests", { ...valid, principal: "bob" });
      assert.equal((await cairn.call("POST", `/api/v1/requests/${cancelled.json.correlationId}/revoke`)).status, 202);
      assert.equal((await cairn.call("POST", "/api/v1/requests", { ...valid, principal: "carol" }, asDev)).status, 202);

      const all = await cairn.call("GET", "/api/v1/requests/counts");
      assert.equal(all.json.total, 3);
      assert.equal(all.json.counts.PENDING, 2);
      assert.equal(all.json.counts.REVOKED, 1);
      assert.equal(all.json.counts.SUCCESS, 0);

      const own = await cairn.call("GET", "/api/v1/requests/counts", undefined, asDev);
      assert.equal(own.status, 200, own.text);
      assert.equal(own.json.total, 1);
      assert.equal(own.json.counts.PENDING, 1);
      assert.equal(own.json.counts.REVOKED, 0);

      assert.equal((await cairn.call("GET", "/api/v1/requests/counts", undefined, { authorization: "" })).status, 401);

      // Lists say who asked in words: an API key by its name (a user by email, tested in the console's tests).
      const list = await cairn.call("GET", "/api/v1/requests?principal=carol");
      assert.equal(list.json.items[0].requestedByName, "API key dev");
    });

    it("GET /requests?q=…: interpretedFilter says the filter field by field, next to interpretedAs and ignored", async () => {
      assert.equal((await cairn.call("POST", "/api/v1/requests", { ...valid, principal: "dora" })).status, 202);
      const res = await cairn.call("GET", `/api/v1/requests?q=${encodeURIComponent("pending database requests from dora today zork")}`);
      assert.equal(res.status, 200, res.text);
      const f = res.json.interpretedFilter;
      assert.deepEqual(f.status, ["PENDING"]);
      assert.deepEqual(f.provider, ["postgres"]);
      assert.equal(f.principal, "dora");
      assert.ok(Date.parse(f.from) <= Date.now() && Date.parse(f.to) > Date.now(), JSON.stringify(f));
      assert.match(res.json.interpretedAs, /^PENDING requests on postgres for dora received /);
      assert.deepEqual(res.json.ignored, ["zork"]);
      assert.deepEqual(
        res.json.items.map((i: { principal: string }) => i.principal),
        ["dora"],
      );
      const plain = await cairn.call("GET", "/api/v1/requests");
      assert.equal(plain.json.interpretedFilter, undefined, "no q, no interpretation");
    });
  });
}
