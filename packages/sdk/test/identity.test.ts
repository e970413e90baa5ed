import assert from "node:assert/strict";
import { after, before, test } from "node:test";
// A real server, started through the built CLI (shared with the CLI tests).
import { type RunningServer, startServer } from "../../cli/test/support/cairn.js";
import { type CairnClient, createClient, isForbidden, isUnauthorized, type TokenPair } from "../src/index.js";

const PASSWORD = "granite-kettle-orbit-42";

let server: RunningServer;
let admin: CairnClient;

before(async () => {
  server = await startServer();
  admin = createClient({ url: server.url, token: server.token });
});
after(() => server?.stop());

test("keys: create returns the key once; verify, rotate, revoke, usage are typed round trips", async () => {
  const created = await admin.keys.create({ name: "sdk-key", roles: ["viewer"], remaining: 10, meta: { team: "sdk" } });
  assert.match(created.key, /^cairn_[0-9A-Za-z]{8}_[0-9A-Za-z]+$/);
  assert.equal(created.status, "active");

  const shown = await admin.keys.get(created.id);
  assert.equal(shown.name, "sdk-key");
  assert.equal("key" in shown, false, "only create and rotate carry the key");
  assert.ok((await admin.keys.list()).items.some((k) => k.id === created.id));

  const verified = await admin.keys.verify(created.key);
  assert.equal(verified.valid, true);
  assert.equal(verified.code, "VALID");
  assert.equal(verified.keyId, created.id);
  assert.equal(verified.remaining, 9);

  const rotated = await admin.keys.rotate(created.id, { gracePeriodSeconds: 3600 });
  assert.equal(rotated.rotatedFrom.id, created.id);
  assert.equal(rotated.rotatedFrom.status, "rotating");
  assert.notEqual(rotated.key, created.key);

  const revoked = await admin.keys.revoke(rotated.id);
  assert.equal(revoked.status, "revoked");
  const refused = await admin.keys.verify(rotated.key);
  assert.equal(refused.valid, false, "an invalid key is an answer, not an error");
  assert.equal(refused.code, "REVOKED");

  const usage = await admin.keys.usage(created.id, { since: new Date(Date.now() - 3_600_000) });
  assert.equal(usage.keyId, created.id);
});

test("roles, bindings, groups, users and authz.check", async () => {
  const role = await admin.roles.create({ name: "sdk-reader", rules: [{ effect: "allow", permission: "configs:sdk/**:read" }] });
  assert.equal(role.builtin, false);
  const replaced = await admin.roles.put("sdk-reader", { rules: [...role.rules, { effect: "allow", permission: "configs:sdk/**:list" }] });
  assert.equal(replaced.rules.length, 2);
  assert.ok((await admin.roles.list()).items.some((r) => r.name === "viewer" && r.builtin));

  const user = await admin.users.create({ email: "sdk-user@example.com", password: PASSWORD, name: "SDK" });
  assert.equal((await admin.users.get(user.id)).email, "sdk-user@example.com");
  const group = await admin.groups.create("sdk-team");
  assert.deepEqual((await admin.groups.addMember(group.id, user.id)).members, [user.id]);

  const binding = await admin.bindings.create({ role: "sdk-reader", subject: { type: "group", id: group.id }, namespacePattern: "sdk/**" });
  assert.equal((await admin.bindings.get(binding.id)).role, "sdk-reader");
  const allowed = await admin.authz.check({
    subject: { type: "user", id: user.id },
    resource: "configs",
    namespace: "sdk/app",
    action: "read",
  });
  assert.equal(allowed.allowed, true);
  assert.equal(allowed.decidedBy?.rule.permission, "configs:sdk/**:read");
  const denied = await admin.authz.check({
    subject: { type: "user", id: user.id },
    resource: "configs",
    namespace: "sdk/app",
    action: "write",
  });
  assert.equal(denied.allowed, false);

  await admin.groups.removeMember(group.id, user.id);
  await admin.bindings.delete(binding.id);
  await admin.groups.delete(group.id);
  await admin.roles.delete("sdk-reader");
  assert.ok(!(await admin.bindings.list({ role: "sdk-reader" })).items.length);
});

test("auth.login signs the client in; a 401 is renewed once with the refresh token, shared by concurrent requests", async () => {
  await admin.users.create({ email: "session@example.com", password: PASSWORD });
  const seen: TokenPair[] = [];
  const client = createClient({ url: server.url, onTokens: (pair) => void seen.push(pair) });
  const pair = await client.auth.login("session@example.com", PASSWORD);
  assert.equal(pair.tokenType, "Bearer");
  assert.equal(pair.user.email, "session@example.com");
  assert.equal(client.token, pair.accessToken);
  assert.equal(client.refreshToken, pair.refreshToken);
  assert.deepEqual(seen, [pair]);
  const me = await client.auth.whoami();
  assert.equal(me.type, "user");
  assert.equal(me.id, pair.user.id);

  // A client holding a refused access token and a good refresh token: three requests at once, ONE refresh
  // (a second use of the same refresh token would end the whole session).
  const renewed: TokenPair[] = [];
  const stale = createClient({
    url: server.url,
    token: "not-a-valid-session-token",
    refreshToken: pair.refreshToken,
    onTokens: (p) => void renewed.push(p),
  });
  const answers = await Promise.all([stale.auth.whoami(), stale.auth.whoami(), stale.auth.whoami()]);
  assert.equal(answers[0].id, pair.user.id);
  assert.equal(renewed.length, 1);
  assert.equal(stale.refreshToken, renewed[0]?.refreshToken);
  assert.notEqual(stale.refreshToken, pair.refreshToken);

  // The first client's refresh token is spent now: using it again ends the session family.
  await assert.rejects(client.auth.refresh(), isUnauthorized);

  const fresh = createClient({ url: server.url });
  await fresh.auth.login("session@example.com", PASSWORD);
  await fresh.auth.logout();
  assert.equal(fresh.token, undefined);
  assert.equal(fresh.refreshToken, undefined);
});

test("an API key client does not try to refresh: its 401 and 403 come straight back", async () => {
  const bad = createClient({ url: server.url, token: "cairn_AAAAAAAA_notarealsecretnotarealsecret12" });
  await assert.rejects(bad.auth.whoami(), isUnauthorized);
  const tenantAdmin = await admin.tenants.create("sdk-tenant");
  const other = createClient({ url: server.url, token: tenantAdmin.adminKey });
  assert.equal((await other.auth.whoami()).tenant.name, "sdk-tenant");
  await assert.rejects(other.tenants.list(), isForbidden);
  assert.ok((await admin.tenants.list()).items.some((t) => t.name === "sdk-tenant"));
});
