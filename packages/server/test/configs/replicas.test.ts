import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildApp } from "../../src/app.js";
import { loadSettings } from "../../src/settings.js";
import { build, inject, ns, serverUrl } from "../helper.js";

// Two replicas on one PostgreSQL: each remembers the heads it wrote, and neither may act on a stale memory.
describe("writes across two replicas (postgres)", { skip: serverUrl ? false : "needs DATABASE_URL" }, () => {
  it("a replica's remembered head never causes a wrong 412, 409, or a missed schema", async (t) => {
    const a = await build(t, "postgres");
    const b = await buildApp(loadSettings({ ...a.testStore.env, CAIRN_LOG_LEVEL: "silent" }));
    t.after(() => b.app.close());
    const onA = a.call;
    const onB = (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) =>
      inject(b, a.adminKey, method, url, body, headers);
    const url = `/api/v1/configs/${ns("replicas/app")}/limit`;

    assert.equal((await onA("PUT", url, { value: 1 })).json.version, 1);
    assert.equal((await onA("PUT", url, { value: 2 })).json.version, 2, "A now remembers version 2");
    assert.equal((await onB("PUT", url, { value: 3 })).json.version, 3);
    const matched = await onA("PUT", url, { value: 4 }, { "if-match": '"3"' });
    assert.equal(matched.status, 200, `A must not refuse on its stale memory: ${matched.text}`);
    assert.equal(matched.json.version, 4);
    const stale = await onA("PUT", url, { value: 5 }, { "if-match": '"3"' });
    assert.equal(stale.status, 412);
    assert.equal(stale.json.currentVersion, 4);

    assert.equal((await onB("PUT", `/api/v1/schemas/${ns("replicas/app")}/limit`, { schema: { type: "integer" } })).status, 200);
    const violating = await onA("PUT", url, { value: "not a number" });
    assert.equal(violating.status, 422, "the schema attached on B binds A's next write");
    assert.equal((await onA("PUT", url, { value: 6 })).json.version, 5);

    assert.equal((await onB("DELETE", url)).status, 200);
    const recreated = await onA("POST", url, { value: 7 });
    assert.equal(recreated.status, 201, `deleted on B, so creating on A works: ${recreated.text}`);
    const history = await onB("GET", `${url}/history`);
    assert.deepEqual(
      history.json.items.map((i: { version: number; changeType: string }) => `${i.version}:${i.changeType}`),
      ["7:create", "6:delete", "5:update", "4:update", "3:update", "2:update", "1:create"],
    );
  });
});
