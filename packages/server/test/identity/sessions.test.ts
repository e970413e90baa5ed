import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeProtectedHeader } from "jose";
import { backends, type TestApp, useApp } from "../helper.js";

const PASSWORD = "violet-harbour-cactus-42";

async function makeUser(cairn: TestApp, email: string, password = PASSWORD) {
  const res = await cairn.call("POST", "/api/v1/users", { email, password, name: "Test User" });
  assert.equal(res.status, 201, res.text);
  return res.json as { id: string; email: string };
}

async function login(cairn: TestApp, email: string, password: string, ip = "203.0.113.7") {
  const res = await cairn.app.inject({ method: "POST", url: "/api/v1/auth/login", payload: { email, password }, remoteAddress: ip });
  return { status: res.statusCode, json: res.json(), headers: res.headers };
}

for (const backend of backends()) {
  describe(`users and sessions (${backend})`, () => {
    const cairn = useApp(backend);

    it("creates users; refuses weak passwords (422), duplicates (409) and bad emails (400)", async () => {
      const user = await makeUser(cairn, "Ada@Example.com");
      assert.equal(user.email, "ada@example.com", "emails are normalised");
      for (const [password, why] of [
        ["short", /at least 12 characters/],
        ["password1234", /common/],
        ["aaaaaaaaaaaaaaaa", /common/],
      ] as const) {
        const res = await cairn.call("POST", "/api/v1/users", { email: `weak-${password}@example.com`, password });
        assert.equal(res.status, 422, res.text);
        assert.match(res.json.detail, why);
      }
      assert.equal((await cairn.call("POST", "/api/v1/users", { email: "ada@example.com", password: PASSWORD })).status, 409);
      assert.equal((await cairn.call("POST", "/api/v1/users", { email: "not-an-email", password: PASSWORD })).status, 400);
      const list = await cairn.call("GET", "/api/v1/users");
      assert.ok(list.json.items.some((u: { email: string }) => u.email === "ada@example.com"));
    });

    it("login gives an EdDSA session token and a refresh token; whoami says who", async () => {
      const user = await makeUser(cairn, "grace@example.com");
      const res = await login(cairn, "grace@example.com", PASSWORD);
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.equal(res.json.tokenType, "Bearer");
      assert.equal(res.json.expiresIn, 900);
      assert.equal(decodeProtectedHeader(res.json.accessToken).alg, "EdDSA");
      const me = await cairn.call("GET", "/api/v1/auth/whoami", undefined, { authorization: `Bearer ${res.json.accessToken}` });
      assert.equal(me.status, 200, me.text);
      assert.equal(me.json.id, user.id);
      assert.equal(me.json.type, "user");
      assert.equal(me.json.tenant.name, "default");
      const tampered = `${res.json.accessToken.slice(0, -4)}AAAA`;
      const bad = await cairn.call("GET", "/api/v1/auth/whoami", undefined, { authorization: `Bearer ${tampered}` });
      assert.equal(bad.status, 401);
    });

    it("wrong password and unknown email both get the same 401 and an audit event", async () => {
      await makeUser(cairn, "linus@example.com");
      const wrong = await login(cairn, "linus@example.com", "not-the-password-at-all", "198.51.100.1");
      const unknown = await login(cairn, "nobody@example.com", PASSWORD, "198.51.100.1");
      assert.equal(wrong.status, 401);
      assert.equal(unknown.status, 401);
      assert.equal(wrong.json.detail, unknown.json.detail);
      const events = await cairn.store.db
        .selectFrom("audit_events")
        .select("resource_id")
        .where("event_type", "=", "auth.login_failed")
        .execute();
      assert.ok(events.some((e) => e.resource_id === "linus@example.com"));
    });

    it("refresh rotates the pair; reusing a spent refresh token ends the session family; logout revokes", async () => {
      await makeUser(cairn, "barbara@example.com");
      const first = (await login(cairn, "barbara@example.com", PASSWORD)).json;
      const second = await cairn.call("POST", "/api/v1/auth/refresh", { refreshToken: first.refreshToken }, { authorization: "" });
      assert.equal(second.status, 200, second.text);
      assert.notEqual(second.json.refreshToken, first.refreshToken);
      const reused = await cairn.call("POST", "/api/v1/auth/refresh", { refreshToken: first.refreshToken }, { authorization: "" });
      assert.equal(reused.status, 401);
      const afterTheft = await cairn.call(
        "POST",
        "/api/v1/auth/refresh",
        { refreshToken: second.json.refreshToken },
        { authorization: "" },
      );
      assert.equal(afterTheft.status, 401, "the reuse revoked the newer token too");

      const third = (await login(cairn, "barbara@example.com", PASSWORD)).json;
      const out = await cairn.call("POST", "/api/v1/auth/logout", { refreshToken: third.refreshToken }, { authorization: "" });
      assert.equal(out.status, 204);
      assert.equal(
        (await cairn.call("POST", "/api/v1/auth/refresh", { refreshToken: third.refreshToken }, { authorization: "" })).status,
        401,
      );
    });

    it("ten failed logins for one account → 429 with Retry-After, even with the right password, and an audit event", async () => {
      await makeUser(cairn, "brute@example.com");
      for (let i = 0; i < 10; i++) {
        // Different addresses: the account limit must hold on its own.
        const res = await login(cairn, "brute@example.com", `wrong-password-${i}-xx`, `192.0.2.${i + 1}`);
        assert.equal(res.status, 401);
      }
      const locked = await login(cairn, "brute@example.com", PASSWORD, "192.0.2.200");
      assert.equal(locked.status, 429, JSON.stringify(locked.json));
      const retryAfter = Number(locked.headers["retry-after"]);
      assert.ok(retryAfter > 0 && retryAfter <= 900, `Retry-After ${retryAfter}`);
      const throttled = await cairn.store.db
        .selectFrom("audit_events")
        .select("id")
        .where("event_type", "=", "auth.login_throttled")
        .execute();
      assert.ok(throttled.length > 0);
    });

    it("ten failed logins from one address → 429 for any account from it", async () => {
      await makeUser(cairn, "victim@example.com");
      for (let i = 0; i < 10; i++) await login(cairn, `guess${i}@example.com`, "whatever-password", "203.0.113.99");
      const res = await login(cairn, "victim@example.com", PASSWORD, "203.0.113.99");
      assert.equal(res.status, 429);
      const elsewhere = await login(cairn, "victim@example.com", PASSWORD, "203.0.113.100");
      assert.equal(elsewhere.status, 200, "another address is not locked out");
    });

    it("login and refresh attempts from one address are rate limited (60 a minute) with RateLimit headers", async () => {
      let last = 0;
      let headers: Record<string, unknown> = {};
      for (let i = 0; i < 61; i++) {
        const res = await cairn.app.inject({
          method: "POST",
          url: "/api/v1/auth/refresh",
          payload: { refreshToken: `cairn_rt_not-a-token-${i}` },
          remoteAddress: "198.51.100.200",
        });
        last = res.statusCode;
        headers = res.headers;
        if (i < 60) assert.equal(res.statusCode, 401);
      }
      assert.equal(last, 429);
      assert.ok(Number(headers["retry-after"]) > 0);
      assert.equal(headers["ratelimit-limit"], "60");
    });

    it("disabling a user ends their access", async () => {
      const user = await makeUser(cairn, "leaver@example.com");
      const pair = (await login(cairn, "leaver@example.com", PASSWORD)).json;
      assert.equal((await cairn.call("DELETE", `/api/v1/users/${user.id}`)).status, 204);
      assert.equal(
        (await cairn.call("GET", "/api/v1/auth/whoami", undefined, { authorization: `Bearer ${pair.accessToken}` })).status,
        401,
      );
      assert.equal(
        (await cairn.call("POST", "/api/v1/auth/refresh", { refreshToken: pair.refreshToken }, { authorization: "" })).status,
        401,
      );
      assert.equal((await login(cairn, "leaver@example.com", PASSWORD)).status, 401);
    });

    it("stores passwords as argon2id and refresh tokens as hashes only", async () => {
      await makeUser(cairn, "secretive@example.com");
      const pair = (await login(cairn, "secretive@example.com", PASSWORD)).json;
      const users = await cairn.store.db.selectFrom("users").selectAll().execute();
      const tokens = await cairn.store.db.selectFrom("refresh_tokens").selectAll().execute();
      const audit = await cairn.store.db.selectFrom("audit_events").selectAll().execute();
      const everything = JSON.stringify([users, tokens, audit]);
      assert.ok(!everything.includes(PASSWORD));
      assert.ok(!everything.includes(pair.refreshToken));
      assert.ok(!everything.includes(pair.accessToken));
      assert.ok(users.every((u) => u.password_hash.startsWith("$argon2id$")));
    });
  });
}
