import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildApp } from "../../src/app.js";
import { loadSettings } from "../../src/settings.js";
import { backends, freshStore, inject, useApp } from "../helper.js";
import { createKey, envFor, keyHandle, label, otherTenant, use } from "./support.js";

for (const backend of backends()) {
  describe(`API keys: quotas, rate limits, usage (${label(backend)})`, () => {
    // Usage is flushed only when asked (reads flush first) or on close, so the tests can see what is pending.
    const cairn = useApp(backend, envFor(backend, { CAIRN_USAGE_FLUSH_SECONDS: "3600" }));

    it("quota: remaining 3 → three successes, then 429 saying the quota is spent", async () => {
      const k = await createKey(cairn, { remaining: 3 });
      for (let i = 0; i < 3; i++) assert.equal((await use(k)).status, 200, `use ${i + 1}`);
      for (let i = 0; i < 2; i++) {
        const res = await use(k);
        assert.equal(res.status, 429);
        assert.equal(res.json.code, "rate_limited");
        assert.match(res.json.detail, /quota is spent/);
        assert.equal(res.json.reason, "USAGE_EXCEEDED");
      }
      const shown = await cairn.call("GET", `/api/v1/keys/${k.id}`);
      assert.equal(shown.json.remaining, 0);
      assert.equal(shown.json.usageCount, 3);
    });

    it("quota: concurrent uses never overdraw it (the decrement is atomic, the cache does not bypass it)", async () => {
      const k = await createKey(cairn, { remaining: 7 });
      assert.equal((await use(k)).status, 200); // cached from here on
      const results = await Promise.all(Array.from({ length: 20 }, () => use(k)));
      assert.equal(results.filter((r) => r.status === 200).length, 6);
      assert.equal(results.filter((r) => r.status === 429).length, 14);
      const row = await cairn.store.db.selectFrom("api_keys").select("remaining").where("id", "=", k.id).executeTakeFirstOrThrow();
      assert.equal(Number(row.remaining), 0);
    });

    it("quota and rotation: during the grace the old key draws on its replacement's quota (never doubled)", async () => {
      const old = await createKey(cairn, { remaining: 5 });
      assert.equal((await use(old)).status, 200);
      const rotated = await cairn.call("POST", `/api/v1/keys/${old.id}/rotate`, { gracePeriodSeconds: 60 });
      assert.equal(rotated.json.remaining, 4);
      const fresh = keyHandle(cairn, rotated.json.id, rotated.json.key);
      assert.equal((await use(old)).status, 200);
      assert.equal((await use(fresh)).status, 200);
      assert.equal((await cairn.call("GET", `/api/v1/keys/${fresh.id}`)).json.remaining, 2);
      assert.equal((await use(old)).status, 200);
      assert.equal((await use(fresh)).status, 200);
      const spent = await use(old);
      assert.equal(spent.status, 429);
      assert.match(spent.json.detail, /quota is spent/);
      assert.equal((await use(fresh)).status, 429);
    });

    it("rate limit: 429 with Retry-After and RateLimit-* headers; successes carry the headers too", async () => {
      const k = await createKey(cairn, { rateLimit: { limit: 3, windowSeconds: 60 } });
      for (let i = 0; i < 3; i++) {
        const ok = await use(k);
        assert.equal(ok.status, 200);
        assert.equal(ok.headers["ratelimit-limit"], "3");
        assert.equal(ok.headers["ratelimit-remaining"], String(2 - i));
        assert.ok(Number(ok.headers["ratelimit-reset"]) >= 1 && Number(ok.headers["ratelimit-reset"]) <= 60);
      }
      const res = await use(k);
      assert.equal(res.status, 429);
      assert.equal(res.json.code, "rate_limited");
      assert.match(String(res.headers["content-type"]), /^application\/problem\+json/);
      const retryAfter = Number(res.headers["retry-after"]);
      assert.ok(retryAfter >= 1 && retryAfter <= 120, `Retry-After ${res.headers["retry-after"]}`);
      assert.equal(res.headers["ratelimit-limit"], "3");
      assert.equal(res.headers["ratelimit-remaining"], "0");
      assert.equal(res.headers["ratelimit-reset"], String(retryAfter));
      assert.equal(res.json.retryAfter, retryAfter);
      // a limited key does not consume anyone else's budget
      assert.equal((await cairn.call("GET", "/api/v1/environments")).status, 200);
    });

    it("rate limit and rotation: the old key in its grace and its replacement share one limit", async () => {
      const old = await createKey(cairn, { rateLimit: { limit: 3, windowSeconds: 60 } });
      assert.equal((await use(old)).status, 200);
      const rotated = await cairn.call("POST", `/api/v1/keys/${old.id}/rotate`, { gracePeriodSeconds: 60 });
      const fresh = keyHandle(cairn, rotated.json.id, rotated.json.key);
      // one window for both from the rotation on (the replacement's): 3 uses between them, not 3 each
      const statuses = [];
      for (const k of [old, fresh, old, fresh, old, fresh]) statuses.push((await use(k)).status);
      assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429]);
    });

    it("rate limit: exactly `limit` of many concurrent requests get through", async () => {
      const k = await createKey(cairn, { rateLimit: { limit: 10, windowSeconds: 60 } });
      const results = await Promise.all(Array.from({ length: 30 }, () => use(k)));
      assert.equal(results.filter((r) => r.status === 200).length, 10);
      assert.equal(results.filter((r) => r.status === 429).length, 20);
    });

    it("rate limit: a tenant's default applies to its keys without their own limit", async () => {
      const other = await otherTenant(cairn);
      await cairn.store.db
        .updateTable("tenants")
        .set({ settings: JSON.stringify({ rateLimit: { limit: 2, windowSeconds: 60 } }) })
        .where("id", "=", other.tenantId)
        .execute();
      await cairn.bus.publish("tenants.changed", { tenantId: other.tenantId });
      const created = await other.admin.call("POST", "/api/v1/keys", { name: "defaulted", roles: ["admin"] });
      assert.equal(created.status, 201, created.text);
      const call = () => inject(cairn, created.json.key, "GET", "/api/v1/environments");
      assert.equal((await call()).status, 200);
      assert.equal((await call()).status, 200);
      const refused = await call();
      assert.equal(refused.status, 429);
      assert.equal(refused.headers["ratelimit-limit"], "2");
      // its own limit wins over the tenant default
      const own = await other.admin.call("POST", "/api/v1/keys", {
        name: "own",
        roles: ["admin"],
        rateLimit: { limit: 5, windowSeconds: 60 },
      });
      const ownRes = await inject(cairn, own.json.key, "GET", "/api/v1/environments");
      assert.equal(ownRes.headers["ratelimit-limit"], "5");
      // other tenants are not affected
      const mine = await createKey(cairn);
      const res = await use(mine);
      assert.equal(res.status, 200);
      assert.equal(res.headers["ratelimit-limit"], undefined);
    });

    it("usage is batched: N requests write nothing until a flush, then one bucket row and usage_count N", async () => {
      const k = await createKey(cairn);
      const n = 40;
      for (let i = 0; i < n; i++) assert.equal((await use(k)).status, 200);
      const before = await cairn.store.db
        .selectFrom("api_keys")
        .select(["usage_count", "last_used_at"])
        .where("id", "=", k.id)
        .executeTakeFirstOrThrow();
      assert.equal(Number(before.usage_count), 0, "no write per request");
      assert.equal(before.last_used_at, null);
      assert.equal((await cairn.store.db.selectFrom("key_usage").selectAll().where("key_id", "=", k.id).execute()).length, 0);

      await cairn.authenticator.flushUsage();
      const after = await cairn.store.db
        .selectFrom("api_keys")
        .select(["usage_count", "last_used_at"])
        .where("id", "=", k.id)
        .executeTakeFirstOrThrow();
      assert.equal(Number(after.usage_count), n);
      assert.ok(after.last_used_at);
      const buckets = await cairn.store.db.selectFrom("key_usage").selectAll().where("key_id", "=", k.id).execute();
      assert.equal(buckets.length, 1, "one row per hour");
      assert.equal(Number(buckets[0]?.count), n);

      // a second batch adds to the same bucket
      for (let i = 0; i < 5; i++) await use(k);
      const usage = await cairn.call("GET", `/api/v1/keys/${k.id}/usage`);
      assert.equal(usage.json.total, n + 5);
      assert.equal(usage.json.items.length, 1);
    });
  });

  describe(`API keys: settings-wide limits and shutdown (${label(backend)})`, () => {
    const cairn = useApp(backend, envFor(backend, { CAIRN_DEFAULT_RATE_LIMIT: "4/60" }));

    it("CAIRN_DEFAULT_RATE_LIMIT limits keys of tenants without a default of their own", async () => {
      const k = await createKey(cairn);
      const results = await Promise.all(Array.from({ length: 6 }, () => use(k)));
      assert.equal(results.filter((r) => r.status === 200).length, 4);
      assert.equal(results.find((r) => r.status === 200)?.headers["ratelimit-limit"], "4");
    });

    it("pending usage is written when the server closes", async (t) => {
      const store = await freshStore(backend);
      t.after(() => store.drop());
      const settings = loadSettings({ CAIRN_LOG_LEVEL: "silent", CAIRN_USAGE_FLUSH_SECONDS: "3600", ...store.env, ...envFor(backend) });
      const first = await buildApp(settings);
      const admin = first.bootstrap.generatedAdminKey as string;
      for (let i = 0; i < 7; i++) assert.equal((await inject(first, admin, "GET", "/api/v1/environments")).status, 200);
      await first.app.close();
      const second = await buildApp(settings);
      try {
        const row = await second.store.db
          .selectFrom("api_keys")
          .select("usage_count")
          .where("name", "=", "bootstrap-admin")
          .executeTakeFirstOrThrow();
        assert.equal(Number(row.usage_count), 7);
      } finally {
        await second.app.close();
      }
    });
  });
}
