import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backends, ns, type TestApp, useApp } from "../helper.js";

// The HTTP contract of DESIGN.md for configs, on every backend.
for (const backend of backends()) {
  describe(`configs contract (${backend})`, () => {
    const cairn = useApp(backend);
    const url = (path: string, key: string, query = "") => `/api/v1/configs/${ns(path)}/${key}${query}`;

    it("PUT stores any JSON value and GET returns it with version, ETag and resolvedFrom", async () => {
      const values = ["text", 42, 3.5, true, null, [1, "two", { three: 3 }], { nested: { deep: ["x"] }, n: 1 }];
      for (const [i, value] of values.entries()) {
        const put = await cairn.call("PUT", url("contract/any", `k${i}`), { value });
        assert.equal(put.status, 200, put.text);
        assert.deepEqual(put.json.value, value);
        assert.equal(put.json.version, 1);
        assert.equal(put.json.environment, "base");
        assert.equal(put.headers.etag, '"1"');
        const get = await cairn.call("GET", url("contract/any", `k${i}`));
        assert.equal(get.status, 200);
        assert.deepEqual(get.json.value, value);
        assert.equal(get.json.resolvedFrom, "base");
        assert.equal(get.headers.etag, '"1"');
        assert.match(get.json.updatedBy, /^key_/);
      }
    });

    it("a namespace is one URL segment with %2F and is created with its ancestors", async () => {
      const put = await cairn.call("PUT", url("production/ml-service/inference", "batch.size"), { value: 32 });
      assert.equal(put.status, 200, put.text);
      assert.equal(put.json.namespace, "production/ml-service/inference");
      const parentList = await cairn.call("GET", `/api/v1/configs/${ns("production/ml-service")}`);
      assert.equal(parentList.status, 200, "the ancestor namespace exists (empty)");
      assert.deepEqual(parentList.json.items, []);
    });

    it("each write makes a new version; ?version=N reads an old one", async () => {
      for (let v = 1; v <= 3; v++) {
        const res = await cairn.call("PUT", url("contract/versions", "limit"), { value: v * 10, reason: `set to ${v * 10}` });
        assert.equal(res.json.version, v);
      }
      const old = await cairn.call("GET", url("contract/versions", "limit", "?version=2"));
      assert.equal(old.status, 200);
      assert.equal(old.json.value, 20);
      assert.equal(old.json.version, 2);
      const missing = await cairn.call("GET", url("contract/versions", "limit", "?version=9"));
      assert.equal(missing.status, 404);
      assert.match(missing.json.detail, /no version 9/);
    });

    it("If-None-Match with the current ETag answers 304; a stale one gets the value", async () => {
      await cairn.call("PUT", url("contract/etag", "k"), { value: "a" });
      const first = await cairn.call("GET", url("contract/etag", "k"));
      const etag = String(first.headers.etag);
      const same = await cairn.call("GET", url("contract/etag", "k"), undefined, { "if-none-match": etag });
      assert.equal(same.status, 304);
      assert.equal(same.text, "");
      await cairn.call("PUT", url("contract/etag", "k"), { value: "b" });
      const changed = await cairn.call("GET", url("contract/etag", "k"), undefined, { "if-none-match": etag });
      assert.equal(changed.status, 200);
      assert.equal(changed.json.value, "b");
    });

    it("If-Match: matching version writes, a stale one gets 412 with the current version and changes nothing", async () => {
      await cairn.call("PUT", url("contract/ifmatch", "k"), { value: 1 });
      const ok = await cairn.call("PUT", url("contract/ifmatch", "k"), { value: 2 }, { "if-match": '"1"' });
      assert.equal(ok.status, 200);
      const stale = await cairn.call("PUT", url("contract/ifmatch", "k"), { value: 3 }, { "if-match": '"1"' });
      assert.equal(stale.status, 412);
      assert.match(String(stale.headers["content-type"]), /^application\/problem\+json/);
      assert.equal(stale.json.currentVersion, 2);
      assert.equal(stale.json.code, "precondition_failed");
      const now = await cairn.call("GET", url("contract/ifmatch", "k"));
      assert.equal(now.json.value, 2);
      const del = await cairn.call("DELETE", url("contract/ifmatch", "k"), undefined, { "if-match": '"1"' });
      assert.equal(del.status, 412);
      const rb = await cairn.call("POST", url("contract/ifmatch", "k", "/rollback"), { version: 1 }, { "if-match": '"1"' });
      assert.equal(rb.status, 412);
      assert.equal((await cairn.call("GET", url("contract/ifmatch", "k"))).json.version, 2);
      const malformed = await cairn.call("PUT", url("contract/ifmatch", "k"), { value: 4 }, { "if-match": "two" });
      assert.equal(malformed.status, 400);
      assert.match(malformed.json.detail, /If-Match/);
    });

    it("POST creates only: 201 the first time, 409 when the key exists", async () => {
      const created = await cairn.call("POST", url("contract/create", "k"), { value: "first" });
      assert.equal(created.status, 201, created.text);
      const again = await cairn.call("POST", url("contract/create", "k"), { value: "second" });
      assert.equal(again.status, 409);
      assert.equal((await cairn.call("GET", url("contract/create", "k"))).json.value, "first");
    });

    it("DELETE writes a tombstone: GET 404, history keeps every version, rollback restores", async () => {
      await cairn.call("PUT", url("contract/delete", "k"), { value: "v1" });
      await cairn.call("PUT", url("contract/delete", "k"), { value: "v2" });
      const del = await cairn.call("DELETE", url("contract/delete", "k", "?reason=retired"));
      assert.equal(del.status, 200, del.text);
      assert.equal(del.json.version, 3);
      assert.equal((await cairn.call("GET", url("contract/delete", "k"))).status, 404);
      assert.equal((await cairn.call("DELETE", url("contract/delete", "k"))).status, 404, "deleting twice is a 404");
      const history = await cairn.call("GET", url("contract/delete", "k", "/history"));
      assert.deepEqual(
        history.json.items.map((i: { version: number; changeType: string }) => [i.version, i.changeType]),
        [
          [3, "delete"],
          [2, "update"],
          [1, "create"],
        ],
      );
      assert.equal(history.json.items[0].reason, "retired");
      const restored = await cairn.call("POST", url("contract/delete", "k", "/rollback"), { version: 1 });
      assert.equal(restored.status, 200, restored.text);
      assert.equal(restored.json.version, 4);
      assert.equal((await cairn.call("GET", url("contract/delete", "k"))).json.value, "v1");
      const last = (await cairn.call("GET", url("contract/delete", "k", "/history"))).json.items[0];
      assert.equal(last.changeType, "restore");
      assert.equal(last.restoredFrom, 1);
      const toTombstone = await cairn.call("POST", url("contract/delete", "k", "/rollback"), { version: 3 });
      assert.equal(toTombstone.status, 422);
    });

    it("history lists version, changeType, actor, reason, timestamp and an RFC 6902 diff", async () => {
      await cairn.call("PUT", url("contract/history", "db"), { value: { host: "a", port: 5432 }, reason: "initial" });
      await cairn.call("PUT", url("contract/history", "db"), { value: { host: "b", port: 5432, tls: true } });
      const res = await cairn.call("GET", url("contract/history", "db", "/history"));
      assert.equal(res.status, 200);
      const [v2, v1] = res.json.items;
      assert.equal(v1.changeType, "create");
      assert.equal(v1.reason, "initial");
      assert.deepEqual(v1.diff, [{ op: "add", path: "", value: { host: "a", port: 5432 } }]);
      assert.equal(v2.changeType, "update");
      assert.deepEqual(
        [...v2.diff].sort((a: { path: string }, b: { path: string }) => a.path.localeCompare(b.path)),
        [
          { op: "replace", path: "/host", value: "b" },
          { op: "add", path: "/tls", value: true },
        ],
      );
      assert.match(v2.actor, /^key_/);
      assert.ok(!Number.isNaN(Date.parse(v2.at)));
      const limited = await cairn.call("GET", url("contract/history", "db", "/history?limit=1"));
      assert.equal(limited.json.items.length, 1);
      assert.ok(limited.json.items[0].diff.length > 0, "the diff of the oldest returned entry is still computed");
    });

    it("namespace history lists recent changes across keys and environments", async () => {
      await cairn.call("PUT", url("contract/nshistory", "a"), { value: 1 });
      await cairn.call("PUT", url("contract/nshistory", "b", "?environment=staging"), { value: 2 });
      await cairn.call("DELETE", url("contract/nshistory", "a"));
      const res = await cairn.call("GET", `/api/v1/configs/${ns("contract/nshistory")}/history`);
      assert.equal(res.status, 200, res.text);
      const seen = res.json.items.map(
        (i: { key: string; environment: string; changeType: string }) => `${i.key}@${i.environment}:${i.changeType}`,
      );
      assert.deepEqual(new Set(seen), new Set(["a@base:create", "b@staging:create", "a@base:delete"]));
    });

    it("reads resolve along base → development → staging → production and say resolvedFrom", async () => {
      await cairn.call("PUT", url("contract/chain", "timeout"), { value: 30 });
      await cairn.call("PUT", url("contract/chain", "timeout", "?environment=staging"), { value: 10 });
      const prod = await cairn.call("GET", url("contract/chain", "timeout", "?environment=production"));
      assert.equal(prod.json.value, 10);
      assert.equal(prod.json.resolvedFrom, "staging");
      assert.equal(prod.json.environment, "production");
      assert.notEqual(prod.headers.etag, '"1"', "an inherited value's ETag names where it came from");
      const dev = await cairn.call("GET", url("contract/chain", "timeout", "?environment=development"));
      assert.equal(dev.json.value, 30);
      assert.equal(dev.json.resolvedFrom, "base");
      // Removing the override falls back to the parent again.
      await cairn.call("DELETE", url("contract/chain", "timeout", "?environment=staging"));
      const after = await cairn.call("GET", url("contract/chain", "timeout", "?environment=production"));
      assert.equal(after.json.value, 30);
      assert.equal(after.json.resolvedFrom, "base");
      const unknown = await cairn.call("GET", url("contract/chain", "timeout", "?environment=nowhere"));
      assert.equal(unknown.status, 404);
      assert.match(unknown.json.detail, /environment "nowhere" does not exist/);
    });

    it("list resolves per key, filters by prefix, and renders json, yaml and dotenv", async () => {
      await cairn.call("PUT", url("contract/list", "database.url"), { value: "postgres://db/app" });
      await cairn.call("PUT", url("contract/list", "database.pool"), { value: 5 });
      await cairn.call("PUT", url("contract/list", "database.pool", "?environment=production"), { value: 50 });
      await cairn.call("PUT", url("contract/list", "feature.flags"), { value: { beta: true } });
      await cairn.call("PUT", url("contract/list", "gone"), { value: 1 });
      await cairn.call("DELETE", url("contract/list", "gone"));
      const list = await cairn.call("GET", `/api/v1/configs/${ns("contract/list")}?environment=production`);
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.json.items.map((i: { key: string; value: unknown; resolvedFrom: string }) => [i.key, i.value, i.resolvedFrom]),
        [
          ["database.pool", 50, "production"],
          ["database.url", "postgres://db/app", "base"],
          ["feature.flags", { beta: true }, "base"],
        ],
      );
      const prefixed = await cairn.call("GET", `/api/v1/configs/${ns("contract/list")}?prefix=database.`);
      assert.deepEqual(
        prefixed.json.items.map((i: { key: string }) => i.key),
        ["database.pool", "database.url"],
      );
      const yaml = await cairn.call("GET", `/api/v1/configs/${ns("contract/list")}?environment=production&format=yaml`);
      assert.match(String(yaml.headers["content-type"]), /yaml/);
      assert.match(yaml.text, /database\.pool: 50/);
      assert.match(yaml.text, /beta: true/);
      const dotenv = await cairn.call("GET", `/api/v1/configs/${ns("contract/list")}?environment=production&format=dotenv`);
      assert.match(String(dotenv.headers["content-type"]), /text\/plain/);
      assert.equal(dotenv.text, 'DATABASE_POOL=50\nDATABASE_URL=postgres://db/app\nFEATURE_FLAGS="{\\"beta\\":true}"\n');
    });

    it("?at= returns the namespace as it was at that moment", async () => {
      await cairn.call("PUT", url("contract/at", "a"), { value: "old" });
      await cairn.call("PUT", url("contract/at", "b"), { value: "kept" });
      await new Promise((r) => setTimeout(r, 30));
      const moment = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 30));
      await cairn.call("PUT", url("contract/at", "a"), { value: "new" });
      await cairn.call("DELETE", url("contract/at", "b"));
      await cairn.call("PUT", url("contract/at", "c"), { value: "later" });
      const then = await cairn.call("GET", `/api/v1/configs/${ns("contract/at")}?at=${encodeURIComponent(moment)}`);
      assert.equal(then.status, 200, then.text);
      assert.deepEqual(
        then.json.items.map((i: { key: string; value: unknown }) => [i.key, i.value]),
        [
          ["a", "old"],
          ["b", "kept"],
        ],
      );
      assert.equal(then.json.at, moment);
      const now = await cairn.call("GET", `/api/v1/configs/${ns("contract/at")}`);
      assert.deepEqual(
        now.json.items.map((i: { key: string; value: unknown }) => [i.key, i.value]),
        [
          ["a", "new"],
          ["c", "later"],
        ],
      );
      const bad = await cairn.call("GET", `/api/v1/configs/${ns("contract/at")}?at=yesterday`);
      assert.equal(bad.status, 400);
    });

    it("secrets are masked unless revealed, and every reveal is audited", async () => {
      const put = await cairn.call("PUT", url("contract/secrets", "api.token"), { value: "s3cr3t-value", secret: true });
      assert.equal(put.json.value, "••••", "a write does not echo the secret");
      const masked = await cairn.call("GET", url("contract/secrets", "api.token"));
      assert.equal(masked.json.value, "••••");
      assert.equal(masked.json.secret, true);
      const listed = await cairn.call("GET", `/api/v1/configs/${ns("contract/secrets")}`);
      assert.equal(listed.json.items[0].value, "••••");
      const history = await cairn.call("GET", url("contract/secrets", "api.token", "/history"));
      assert.equal(history.json.items[0].diff, null);
      assert.equal(history.json.items[0].value, undefined);
      const before = await auditCount(cairn, "secret.reveal");
      const revealed = await cairn.call("GET", url("contract/secrets", "api.token", "?reveal=true"));
      assert.equal(revealed.json.value, "s3cr3t-value");
      assert.equal(await auditCount(cairn, "secret.reveal"), before + 1);
      // The secret flag sticks across updates that don't mention it.
      await cairn.call("PUT", url("contract/secrets", "api.token"), { value: "rotated" });
      assert.equal((await cairn.call("GET", url("contract/secrets", "api.token"))).json.value, "••••");
    });

    it("tags are kept with each version", async () => {
      await cairn.call("PUT", url("contract/tags", "k"), { value: 1, tags: { owner: "payments" } });
      await cairn.call("PUT", url("contract/tags", "k"), { value: 2 });
      const get = await cairn.call("GET", url("contract/tags", "k"));
      assert.deepEqual(get.json.tags, { owner: "payments" });
    });

    it("every write leaves an audit event in the same transaction", async () => {
      const before = await auditCount(cairn, "config.update");
      await cairn.call("PUT", url("contract/audit", "k"), { value: 1 });
      await cairn.call("PUT", url("contract/audit", "k"), { value: 2 });
      assert.equal(await auditCount(cairn, "config.update"), before + 1);
      const failed = await cairn.call("PUT", url("contract/audit", "k"), { value: 3 }, { "if-match": '"1"' });
      assert.equal(failed.status, 412);
      assert.equal(await auditCount(cairn, "config.update"), before + 1, "a refused write leaves no success event");
    });
  });
}

async function auditCount(cairn: TestApp, eventType: string): Promise<number> {
  const row = await cairn.store.db
    .selectFrom("audit_events")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("event_type", "=", eventType)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
