import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { generateApiKey } from "../../src/auth/api-key.js";
import { backends, useApp } from "../helper.js";
import { createKey, envFor, label, otherTenant, sleep, until, use } from "./support.js";

const KEY_FORMAT = /^cairn_[0-9A-Za-z]{8}_[0-9A-Za-z]{30,44}$/;

for (const backend of backends()) {
  describe(`API keys: lifecycle (${label(backend)})`, () => {
    const cairn = useApp(backend, envFor(backend));

    it("POST /keys returns the key once, in the cairn_<prefix>_<secret> format, with its settings", async () => {
      const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
      const res = await cairn.call("POST", "/api/v1/keys", {
        name: "billing-service",
        roles: ["developer"],
        permissions: [{ effect: "allow", permission: "configs:billing/**:read" }],
        expiresAt,
        rateLimit: { limit: 100, windowSeconds: 60 },
        remaining: 1000,
        meta: { team: "billing", owner: "ana" },
      });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.headers["cache-control"], "no-store");
      const k = res.json;
      assert.match(k.key, KEY_FORMAT);
      assert.match(k.id, /^key_/);
      assert.equal(k.prefix, k.key.split("_")[1]);
      assert.equal(k.name, "billing-service");
      assert.equal(k.status, "active");
      assert.deepEqual(k.roles, ["developer"]);
      assert.deepEqual(k.permissions, [{ effect: "allow", permission: "configs:billing/**:read" }]);
      assert.equal(k.expiresAt, expiresAt);
      assert.deepEqual(k.rateLimit, { limit: 100, windowSeconds: 60 });
      assert.equal(k.remaining, 1000);
      assert.deepEqual(k.meta, { team: "billing", owner: "ana" });
      assert.equal(k.usageCount, 0);
      assert.equal(k.lastUsedAt, null);

      // shown once: neither show nor list ever returns it (nor its hash)
      const shown = await cairn.call("GET", `/api/v1/keys/${k.id}`);
      assert.equal(shown.status, 200);
      assert.equal(shown.json.key, undefined);
      const { key: _key, ...view } = k;
      assert.deepEqual(shown.json, view);
      const list = await cairn.call("GET", "/api/v1/keys");
      assert.equal(list.status, 200);
      assert.ok(list.json.items.some((i: any) => i.id === k.id));
      for (const text of [shown.text, list.text]) {
        assert.ok(!text.includes(k.key.split("_")[2]));
        assert.ok(!/hash/i.test(text));
      }

      // the new key authenticates
      const again = await cairn.call("GET", "/api/v1/environments", undefined, { authorization: `Bearer ${k.key}` });
      assert.equal(again.status, 200);
    });

    it("a created key is stored as SHA-256 + prefix, and the audit event names it without the key", async () => {
      const k = await createKey(cairn, { name: "audited" });
      const row = await cairn.store.db.selectFrom("api_keys").selectAll().where("id", "=", k.id).executeTakeFirstOrThrow();
      assert.equal(Buffer.from(row.key_hash).length, 32);
      assert.ok(!JSON.stringify(row).includes(k.key.split("_")[2] as string));
      const events = await cairn.store.db
        .selectFrom("audit_events")
        .selectAll()
        .where("resource_id", "=", k.id)
        .where("event_type", "=", "key.created")
        .execute();
      assert.equal(events.length, 1);
      assert.equal(events[0]?.actor_type, "api_key");
      assert.ok(!JSON.stringify(events).includes(k.key.split("_")[2] as string));
    });

    it("GET /keys pages with limit and after", async () => {
      for (let i = 0; i < 3; i++) await createKey(cairn, { name: `page-${i}` });
      const seen: string[] = [];
      let after: string | undefined;
      for (let page = 0; page < 100; page++) {
        const res = await cairn.call("GET", `/api/v1/keys?limit=2${after ? `&after=${after}` : ""}`);
        assert.equal(res.status, 200, res.text);
        assert.ok(res.json.items.length <= 2);
        seen.push(...res.json.items.map((i: any) => i.id));
        after = res.json.nextCursor;
        if (!after) break;
      }
      const all = await cairn.call("GET", "/api/v1/keys?limit=1000");
      assert.deepEqual(
        seen,
        all.json.items.map((i: any) => i.id),
      );
      assert.equal(new Set(seen).size, seen.length);
    });

    it("revoke: 401 at once, status revoked, audited once; revoking again changes nothing", async () => {
      const k = await createKey(cairn);
      assert.equal((await use(k)).status, 200);
      const res = await cairn.call("POST", `/api/v1/keys/${k.id}/revoke`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.status, "revoked");
      assert.ok(res.json.revokedAt);
      const refused = await use(k);
      assert.equal(refused.status, 401);
      assert.match(refused.json.detail, /revoked/);
      const twice = await cairn.call("POST", `/api/v1/keys/${k.id}/revoke`);
      assert.equal(twice.status, 200);
      assert.equal(twice.json.revokedAt, res.json.revokedAt);
      const events = await cairn.store.db.selectFrom("audit_events").select("event_type").where("resource_id", "=", k.id).execute();
      assert.deepEqual(events.map((e) => e.event_type).sort(), ["auth.failed", "key.created", "key.revoked"]);
    });

    it("rotate: a new key with the same settings; the old one works (rotating) until the grace ends, then 401", async () => {
      const old = await createKey(cairn, {
        name: "rotated",
        roles: ["viewer", "developer"],
        rateLimit: { limit: 50, windowSeconds: 10 },
        remaining: 500,
        meta: { app: "x" },
      });
      assert.equal((await use(old)).status, 200);
      const res = await cairn.call("POST", `/api/v1/keys/${old.id}/rotate`, { gracePeriodSeconds: 2 });
      assert.equal(res.status, 200, res.text);
      const fresh = res.json;
      assert.match(fresh.key, KEY_FORMAT);
      assert.notEqual(fresh.id, old.id);
      assert.notEqual(fresh.key, old.key);
      assert.equal(fresh.status, "active");
      assert.equal(fresh.name, "rotated");
      assert.deepEqual(fresh.roles, ["viewer", "developer"]);
      assert.deepEqual(fresh.rateLimit, { limit: 50, windowSeconds: 10 });
      assert.equal(fresh.remaining, 499, "the quota left carries over");
      assert.deepEqual(fresh.meta, { app: "x" });
      assert.equal(fresh.rotatedFrom.id, old.id);
      assert.equal(fresh.rotatedFrom.status, "rotating");
      assert.equal(fresh.rotatedFrom.rotatedTo, fresh.id);
      const graceUntil = Date.parse(fresh.rotatedFrom.graceUntil);

      // before the grace ends: both keys work
      assert.equal((await use(old)).status, 200);
      const withNew = await cairn.call("GET", "/api/v1/environments", undefined, { authorization: `Bearer ${fresh.key}` });
      assert.equal(withNew.status, 200);
      assert.equal((await cairn.call("GET", `/api/v1/keys/${old.id}`)).json.status, "rotating");
      // only an active key rotates
      assert.equal((await cairn.call("POST", `/api/v1/keys/${old.id}/rotate`, { gracePeriodSeconds: 1 })).status, 409);

      await sleep(Math.max(0, graceUntil - Date.now()) + 50);
      const refused = await use(old);
      assert.equal(refused.status, 401);
      assert.match(refused.json.detail, /rotated/);
      assert.equal((await cairn.call("GET", `/api/v1/keys/${old.id}`)).json.status, "expired");
      const stillNew = await cairn.call("GET", "/api/v1/environments", undefined, { authorization: `Bearer ${fresh.key}` });
      assert.equal(stillNew.status, 200);

      const kinds = async () =>
        (await cairn.store.db.selectFrom("audit_events").select("event_type").where("resource_id", "=", old.id).execute()).map(
          (e) => e.event_type,
        );
      await until("key.expired is recorded", async () => (await kinds()).includes("key.expired"));
      const events = await kinds();
      assert.equal(events.filter((e) => e === "key.rotated").length, 1);
      assert.equal(events.filter((e) => e === "key.expired").length, 1);
      const audit = await cairn.store.db.selectFrom("audit_events").selectAll().where("resource_id", "=", old.id).execute();
      assert.ok(!JSON.stringify(audit).includes(fresh.key.split("_")[2]));
    });

    it("rotate without a body (grace 0): the old key fails at once", async () => {
      const old = await createKey(cairn);
      assert.equal((await use(old)).status, 200);
      const res = await cairn.call("POST", `/api/v1/keys/${old.id}/rotate`);
      assert.equal(res.status, 200, res.text);
      assert.equal((await use(old)).status, 401);
    });

    it("expiry: the key works until expiresAt, then 401 (status expired, key.expired audited once)", async () => {
      const expiresAt = new Date(Date.now() + 1_500).toISOString();
      const k = await createKey(cairn, { expiresAt });
      assert.equal((await use(k)).status, 200);
      await sleep(Math.max(0, Date.parse(expiresAt) - Date.now()) + 50);
      const refused = await use(k);
      assert.equal(refused.status, 401);
      assert.match(refused.json.detail, /expired/);
      assert.equal((await cairn.call("GET", `/api/v1/keys/${k.id}`)).json.status, "expired");
      const expired = () =>
        cairn.store.db
          .selectFrom("audit_events")
          .select("event_type")
          .where("resource_id", "=", k.id)
          .where("event_type", "=", "key.expired")
          .execute();
      await until("key.expired is recorded", async () => (await expired()).length > 0);
      await cairn.keys.sweepExpired();
      assert.equal((await expired()).length, 1);
      assert.equal((await cairn.call("POST", `/api/v1/keys/${k.id}/rotate`, {})).status, 409);
    });

    it("verify: VALID with the key's tenant, roles, permissions, quota and limit; the use counts", async () => {
      const k = await createKey(cairn, {
        roles: ["viewer"],
        permissions: [{ effect: "deny", permission: "secrets:**:reveal" }],
        remaining: 5,
        rateLimit: { limit: 10, windowSeconds: 60 },
        meta: { plan: "pro" },
      });
      const res = await cairn.call("POST", "/api/v1/keys/verify", { key: k.key });
      assert.equal(res.status, 200, res.text);
      const v = res.json;
      assert.equal(v.valid, true);
      assert.equal(v.code, "VALID");
      assert.equal(v.keyId, k.id);
      assert.equal(v.tenant, cairn.bootstrap.tenantId);
      assert.deepEqual(v.roles, ["viewer"]);
      assert.deepEqual(v.permissions, [{ effect: "deny", permission: "secrets:**:reveal" }]);
      assert.equal(v.remaining, 4);
      assert.equal(v.ratelimit.limit, 10);
      assert.equal(v.ratelimit.remaining, 9);
      assert.ok(v.ratelimit.reset > Date.now() - 1000);
      assert.deepEqual(v.meta, { plan: "pro" });
      const second = await cairn.call("POST", "/api/v1/keys/verify", { key: k.key });
      assert.equal(second.json.remaining, 3);
    });

    it("verify: NOT_FOUND, REVOKED, EXPIRED, USAGE_EXCEEDED, RATE_LIMITED — never a 4xx for the verified key", async () => {
      const code = async (key: string) => {
        const res = await cairn.call("POST", "/api/v1/keys/verify", { key });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.valid, res.json.code === "VALID");
        return res.json.code;
      };
      assert.equal(await code(generateApiKey().key), "NOT_FOUND");
      assert.equal(await code("not-a-key"), "NOT_FOUND");
      assert.equal(await code(`${cairn.adminKey.slice(0, -1)}${cairn.adminKey.endsWith("a") ? "b" : "a"}`), "NOT_FOUND");

      const revoked = await createKey(cairn);
      await cairn.call("POST", `/api/v1/keys/${revoked.id}/revoke`);
      assert.equal(await code(revoked.key), "REVOKED");

      const expiring = await createKey(cairn, { expiresAt: new Date(Date.now() + 600).toISOString() });
      assert.equal(await code(expiring.key), "VALID");
      await sleep(700);
      assert.equal(await code(expiring.key), "EXPIRED");

      const quota = await createKey(cairn, { remaining: 1 });
      assert.equal(await code(quota.key), "VALID");
      assert.equal(await code(quota.key), "USAGE_EXCEEDED");

      const limited = await createKey(cairn, { rateLimit: { limit: 1, windowSeconds: 60 } });
      assert.equal(await code(limited.key), "VALID");
      const res = await cairn.call("POST", "/api/v1/keys/verify", { key: limited.key });
      assert.equal(res.json.code, "RATE_LIMITED");
      assert.equal(res.json.ratelimit.remaining, 0);
    });

    it("verify needs an authenticated caller", async () => {
      const k = await createKey(cairn);
      for (const authorization of ["", "Bearer nope", `Bearer ${generateApiKey().key}`]) {
        const res = await cairn.call("POST", "/api/v1/keys/verify", { key: k.key }, { authorization });
        assert.equal(res.status, 401);
      }
    });

    it("usage: hourly buckets since a moment", async () => {
      const k = await createKey(cairn);
      for (let i = 0; i < 4; i++) assert.equal((await use(k)).status, 200);
      const res = await cairn.call("GET", `/api/v1/keys/${k.id}/usage`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.keyId, k.id);
      assert.equal(res.json.total, 4);
      assert.equal(res.json.items.length, 1);
      const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString();
      assert.deepEqual(res.json.items, [{ hour, count: 4 }]);
      const future = await cairn.call(
        "GET",
        `/api/v1/keys/${k.id}/usage?since=${encodeURIComponent(new Date(Date.now() + 7_200_000).toISOString())}`,
      );
      assert.equal(future.status, 200);
      assert.deepEqual(future.json.items, []);
      const shown = await cairn.call("GET", `/api/v1/keys/${k.id}`);
      assert.equal(shown.json.usageCount, 4);
      assert.ok(Date.now() - Date.parse(shown.json.lastUsedAt) < 60_000);
    });

    it("bad input: 400 for malformed bodies and ids, 422 for what only the service can judge; nothing is created", async () => {
      const before = (await cairn.call("GET", "/api/v1/keys?limit=1000")).json.items.length;
      const bad400: [string, string, unknown][] = [
        ["POST", "/api/v1/keys", {}],
        ["POST", "/api/v1/keys", { name: "" }],
        ["POST", "/api/v1/keys", { name: "x", roles: "admin" }],
        ["POST", "/api/v1/keys", { name: "x", extra: 1 }],
        ["POST", "/api/v1/keys", { name: "x", expiresAt: "tomorrow" }],
        ["POST", "/api/v1/keys", { name: "x", rateLimit: { limit: 0, windowSeconds: 60 } }],
        ["POST", "/api/v1/keys", { name: "x", rateLimit: { limit: 10 } }],
        ["POST", "/api/v1/keys", { name: "x", remaining: -1 }],
        ["POST", "/api/v1/keys", { name: "x", permissions: [{ effect: "maybe", permission: "configs:**:read" }] }],
        ["POST", "/api/v1/keys", { name: "x", permissions: [{ effect: "allow", permission: "configs-read" }] }],
        ["POST", "/api/v1/keys", "not json"],
        ["GET", "/api/v1/keys/not-an-id", undefined],
        ["POST", "/api/v1/keys/key_123/rotate", { gracePeriodSeconds: -1 }],
        ["POST", "/api/v1/keys/verify", {}],
        ["GET", "/api/v1/keys/key_123/usage?since=yesterday", undefined],
      ];
      for (const [method, url, body] of bad400) {
        const res = await cairn.call(method, url, body, typeof body === "string" ? { "content-type": "application/json" } : {});
        assert.equal(res.status, 400, `${method} ${url} ${JSON.stringify(body)}: ${res.text}`);
        assert.match(String(res.headers["content-type"]), /^application\/problem\+json/);
      }
      const bad422: unknown[] = [
        { name: "x", expiresAt: new Date(Date.now() - 1000).toISOString() },
        { name: "x", roles: ["no-such-role"] },
        { name: "x", permissions: [{ effect: "allow", permission: "planets:**:read" }] },
        { name: "x", permissions: [{ effect: "allow", permission: "configs:**:fly" }] },
        { name: "x", permissions: [{ effect: "allow", permission: "configs:a//b:read" }] },
        { name: "x", permissions: [{ effect: "allow", permission: "configs:**:read", conditions: { sourceIps: ["10.0.0.0/33"] } }] },
        { name: "x", meta: { blob: "x".repeat(9000) } },
      ];
      for (const body of bad422) {
        const res = await cairn.call("POST", "/api/v1/keys", body);
        assert.equal(res.status, 422, `${JSON.stringify(body).slice(0, 120)}: ${res.text}`);
        assert.equal(res.json.code, "validation_failed");
        assert.ok(res.json.errors.length > 0);
      }
      const after = (await cairn.call("GET", "/api/v1/keys?limit=1000")).json.items.length;
      assert.equal(after, before);
    });

    it("unknown ids answer 404", async () => {
      for (const [method, url, body] of [
        ["GET", "/api/v1/keys/key_0000000000000000000000000a", undefined],
        ["POST", "/api/v1/keys/key_0000000000000000000000000a/rotate", {}],
        ["POST", "/api/v1/keys/key_0000000000000000000000000a/revoke", undefined],
        ["GET", "/api/v1/keys/key_0000000000000000000000000a/usage", undefined],
      ] as const) {
        const res = await cairn.call(method, url, body);
        assert.equal(res.status, 404, `${method} ${url}: ${res.text}`);
      }
    });

    it("tenant walls: another tenant's key is 404 on every route, NOT_FOUND to verify, and nothing changes", async () => {
      const mine = await createKey(cairn, { name: "tenant-a" });
      const other = await otherTenant(cairn);
      const routes: [string, string, unknown][] = [
        ["GET", `/api/v1/keys/${mine.id}`, undefined],
        ["POST", `/api/v1/keys/${mine.id}/rotate`, { gracePeriodSeconds: 10 }],
        ["POST", `/api/v1/keys/${mine.id}/revoke`, undefined],
        ["GET", `/api/v1/keys/${mine.id}/usage`, undefined],
      ];
      for (const [method, url, body] of routes) {
        const res = await other.admin.call(method, url, body);
        assert.equal(res.status, 404, `${method} ${url}: ${res.text}`);
        assert.ok(!res.text.includes("tenant-a"));
      }
      const list = await other.admin.call("GET", "/api/v1/keys?limit=1000");
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.json.items.map((i: any) => i.id),
        [other.admin.id],
      );
      const verified = await other.admin.call("POST", "/api/v1/keys/verify", { key: mine.key });
      assert.equal(verified.status, 200);
      assert.deepEqual(verified.json, { valid: false, code: "NOT_FOUND", roles: [], permissions: [], remaining: null });
      // and the other way round
      const back = await cairn.call("POST", "/api/v1/keys/verify", { key: other.admin.key });
      assert.equal(back.json.code, "NOT_FOUND");

      const shown = await cairn.call("GET", `/api/v1/keys/${mine.id}`);
      assert.equal(shown.json.status, "active");
      assert.equal(shown.json.rotatedTo, null);
      assert.equal((await use(mine)).status, 200);
      // roles are checked against the creating tenant's roles
      const created = await other.admin.call("POST", "/api/v1/keys", { name: "b", roles: ["viewer"] });
      assert.equal(created.status, 201, created.text);
      assert.equal((await cairn.call("GET", `/api/v1/keys/${created.json.id}`)).status, 404);
    });
  });
}
