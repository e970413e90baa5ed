import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { scanForCredentials } from "../../src/domains/configs/leak-guard.js";
import { backends, ns, type TestApp, useApp } from "../helper.js";

async function keyWith(cairn: TestApp, body: Record<string, unknown>): Promise<Record<string, string>> {
  const res = await cairn.call("POST", "/api/v1/keys", { name: `k-${Math.random().toString(36).slice(2, 8)}`, ...body });
  assert.equal(res.status, 201, res.text);
  return { authorization: `Bearer ${res.json.key}` };
}

const url = (path: string, key: string, q = "") => `/api/v1/configs/${ns(path)}/${key}${q}`;

describe("leak guard: what looks like a credential", () => {
  const flagged = [
    ["-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----", /private key/],
    ["-----BEGIN RSA PRIVATE KEY-----\nMIIE…", /private key/],
    ["AKIAIOSFODNN7EXAMPLE", /AWS access key id/],
    ["ghp_0123456789abcdefghijABCDEFGHIJ0123456789", /GitHub/],
    ["sk_live_51H8xYzAbCdEfGhIjKlMnOp", /Stripe/],
    ["xoxb-123456789012-abcdefABCDEF", /Slack/],
    ["Zk9uV2x3aEtQcm1ZdE5aQjd4UXo4dk1h", /high-entropy/],
    ["postgres://app:hunter2pass@db.internal:5432/app", /URL with a password/],
  ] as const;
  for (const [value, why] of flagged) {
    it(`flags ${value.slice(0, 24)}…`, () => {
      const [warning] = scanForCredentials({ nested: [value] });
      assert.ok(warning, `expected a warning for ${value}`);
      assert.equal(warning.path, "/nested/0");
      assert.match(warning.message, why);
      assert.ok(!warning.message.includes(value), "the warning never echoes the value");
    });
  }
  const plain = [
    "https://api.example.com/v1/things",
    "3f2b8c1e-9a4d-4c2e-8f7a-1b2c3d4e5f60",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "the quick brown fox jumps over the lazy dog",
    "feature-flag-new-checkout-enabled",
    "/var/lib/cairn/data/something/deep",
    "postgres://db.internal:5432/app",
  ];
  for (const value of plain) {
    it(`leaves ${value.slice(0, 24)}… alone`, () => assert.deepEqual(scanForCredentials({ v: value, n: 42 }), []));
  }
});

for (const backend of backends()) {
  describe(`secret references and the leak guard (${backend})`, () => {
    const cairn = useApp(backend, { CAIRN_CACHE_MB: "8" });

    it("resolves ${ref:ns/key} and ${ref:ns/key#field} on read with ?resolve=true, and only then", async () => {
      await cairn.call("PUT", url("refs/db", "creds"), { value: { host: "db.internal", port: 5432, password: "pw-1" }, secret: true });
      await cairn.call("PUT", url("refs/db", "port"), { value: 5432 });
      await cairn.call("PUT", url("refs/app", "db_port"), { value: "${ref:refs/db/port}" });
      await cairn.call("PUT", url("refs/app", "dsn"), {
        value: "postgres://app:${ref:refs/db/creds#password}@${ref:refs/db/creds#host}:${ref:refs/db/port}/app",
      });

      const raw = await cairn.call("GET", url("refs/app", "db_port"));
      assert.equal(raw.json.value, "${ref:refs/db/port}", "without resolve the reference is returned as written");
      const port = await cairn.call("GET", url("refs/app", "db_port", "?resolve=true"));
      assert.equal(port.status, 200, port.text);
      assert.equal(port.json.value, 5432, "a whole-string reference takes the referenced JSON value");

      const masked = await cairn.call("GET", url("refs/app", "dsn", "?resolve=true"));
      assert.equal(masked.json.value, "postgres://app:••••@••••:5432/app", "a referenced secret stays masked without reveal");
      const before = await cairn.store.db.selectFrom("audit_events").select("id").where("event_type", "=", "secret.reveal").execute();
      const revealed = await cairn.call("GET", url("refs/app", "dsn", "?resolve=true&reveal=true"));
      assert.equal(revealed.json.value, "postgres://app:pw-1@db.internal:5432/app");
      const after = await cairn.store.db.selectFrom("audit_events").select("id").where("event_type", "=", "secret.reveal").execute();
      assert.ok(after.length > before.length, "resolving a secret with reveal is an audited reveal");

      // The list resolves the same way; a change to the referenced key shows at once.
      await cairn.call("PUT", url("refs/db", "port"), { value: 6432 });
      const list = await cairn.call("GET", `/api/v1/configs/${ns("refs/app")}?resolve=true`);
      assert.equal(list.status, 200, list.text);
      assert.deepEqual(Object.fromEntries(list.json.items.map((i: { key: string; value: unknown }) => [i.key, i.value])), {
        db_port: 6432,
        dsn: "postgres://app:••••@••••:6432/app",
      });
    });

    it("checks the caller's permission on every referenced key", async () => {
      await cairn.call("PUT", url("refs-private/vault", "token"), { value: "tok-123", secret: true });
      await cairn.call("PUT", url("refs-private/vault", "region"), { value: "eu-west-1" });
      await cairn.call("PUT", url("refs-public/app", "region"), { value: "${ref:refs-private/vault/region}" });
      await cairn.call("PUT", url("refs-public/app", "token"), { value: "${ref:refs-private/vault/token}" });
      const scoped = await keyWith(cairn, {
        permissions: ["configs:refs-public/**:read", "configs:refs-public/**:list", "secrets:**:reveal"].map((permission) => ({
          effect: "allow",
          permission,
        })),
      });
      const plain = await cairn.call("GET", url("refs-public/app", "region"), undefined, scoped);
      assert.equal(plain.json.value, "${ref:refs-private/vault/region}");
      const denied = await cairn.call("GET", url("refs-public/app", "region", "?resolve=true"), undefined, scoped);
      assert.equal(denied.status, 403, denied.text);
      assert.match(denied.json.detail, /refs-private/);
      const secret = await cairn.call("GET", url("refs-public/app", "token", "?resolve=true&reveal=true"), undefined, scoped);
      assert.equal(secret.status, 403);
      assert.ok(!secret.text.includes("tok-123"));
    });

    it("refuses a reference cycle on write (422) and reports a dangling reference on read", async () => {
      await cairn.call("PUT", url("refs/cycle", "a"), { value: "x" });
      assert.equal((await cairn.call("PUT", url("refs/cycle", "b"), { value: "${ref:refs/cycle/a}" })).status, 200);
      const cycle = await cairn.call("PUT", url("refs/cycle", "a"), { value: "prefix-${ref:refs/cycle/b}" });
      assert.equal(cycle.status, 422, cycle.text);
      assert.match(cycle.json.detail, /refs\/cycle\/a → refs\/cycle\/b → refs\/cycle\/a/);
      const self = await cairn.call("PUT", url("refs/cycle", "c"), { value: "${ref:refs/cycle/c}" });
      assert.equal(self.status, 422);
      assert.equal((await cairn.call("GET", url("refs/cycle", "a"))).json.value, "x", "nothing changed");
      assert.equal((await cairn.call("GET", url("refs/cycle", "c"))).status, 404);

      await cairn.call("PUT", url("refs/cycle", "dangling"), { value: "${ref:refs/nowhere/missing}" });
      const dangling = await cairn.call("GET", url("refs/cycle", "dangling", "?resolve=true"));
      assert.equal(dangling.status, 422);
      assert.match(dangling.json.detail, /refs\/nowhere\/missing/);
    });

    it("warns about a plain value that looks like a credential, and a tenant can make it a 422", async () => {
      const warned = await cairn.call("PUT", url("leaks/app", "aws"), { value: { id: "AKIAIOSFODNN7EXAMPLE", region: "eu" } });
      assert.equal(warned.status, 200, warned.text);
      assert.equal(warned.json.warnings.length, 1);
      assert.equal(warned.json.warnings[0].path, "/id");
      assert.match(warned.json.warnings[0].message, /secret": true/);
      const read = await cairn.call("GET", url("leaks/app", "aws"));
      assert.equal(read.json.warnings, undefined, "warnings belong to the write, not to reads");
      const asSecret = await cairn.call("PUT", url("leaks/app", "aws2"), { value: "AKIAIOSFODNN7EXAMPLE", secret: true });
      assert.equal(asSecret.json.warnings, undefined, "a secret is where a credential belongs");

      const viewer = await keyWith(cairn, { roles: ["viewer"] });
      assert.equal((await cairn.call("PATCH", "/api/v1/settings", { leakGuard: "reject" }, viewer)).status, 403);
      assert.equal((await cairn.call("PATCH", "/api/v1/settings", { leakGuard: "sometimes" })).status, 400);
      assert.equal((await cairn.call("PATCH", "/api/v1/settings", {})).status, 400);
      const set = await cairn.call("PATCH", "/api/v1/settings", { leakGuard: "reject" });
      assert.equal(set.status, 200, set.text);
      assert.deepEqual((await cairn.call("GET", "/api/v1/settings")).json, { leakGuard: "reject" });
      const refused = await cairn.call("PUT", url("leaks/app", "key"), {
        value: "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----",
      });
      assert.equal(refused.status, 422, refused.text);
      assert.equal(refused.json.errors[0].path, "/value");
      assert.ok(!refused.text.includes("MIIEvQ"));
      assert.equal((await cairn.call("GET", url("leaks/app", "key"))).status, 404, "nothing was written");
      const bulk = await cairn.call("POST", "/api/v1/configs/bulk", {
        operations: [
          { op: "set", namespace: "leaks/app", key: "fine", value: 1 },
          { op: "set", namespace: "leaks/app", key: "token", value: "AKIAIOSFODNN7EXAMPLE" },
        ],
      });
      assert.equal(bulk.status, 422, bulk.text);
      assert.equal((await cairn.call("GET", url("leaks/app", "fine"))).status, 404, "the bulk write applied nothing");
      assert.equal((await cairn.call("PUT", url("leaks/app", "token"), { value: "AKIAIOSFODNN7EXAMPLE", secret: true })).status, 200);
      await cairn.call("PATCH", "/api/v1/settings", { leakGuard: "warn" });
      const events = await cairn.store.db
        .selectFrom("audit_events")
        .select("event_type")
        .where("event_type", "=", "tenant.settings_changed")
        .execute();
      assert.equal(events.length, 2);
    });
  });
}
