import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { loadSettings } from "../../src/settings.js";
import { startKmsServer } from "../fixtures/kms-server.js";
import { startVaultServer } from "../fixtures/vault-server.js";
import { backends, ns } from "../helper.js";
import { dumpTables, session, waitForRotation } from "./support.js";

const NS = "payments/api";

test("KEK settings: a remote provider without what it needs is refused at boot, saying what to set", () => {
  assert.throws(() => loadSettings({ CAIRN_KEK_PROVIDER: "aws-kms" }), /CAIRN_KEK_PROVIDER=aws-kms needs CAIRN_AWS_KMS_KEY_ID/);
  assert.throws(() => loadSettings({ CAIRN_KEK_PROVIDER: "vault-transit", CAIRN_VAULT_TRANSIT_KEY: "k" }), /needs CAIRN_VAULT_ADDR/);
  assert.throws(() => loadSettings({ CAIRN_KEK_PROVIDER: "hsm" }), /must be local, aws-kms or vault-transit/);
  assert.throws(() => loadSettings({ CAIRN_DATA_KEY_MAX_ENCRYPTIONS: "0" }), /CAIRN_DATA_KEY_MAX_ENCRYPTIONS must be an integer/);
  const s = loadSettings({
    CAIRN_KEK_PROVIDER: "vault-transit",
    CAIRN_VAULT_ADDR: "http://v:8200/",
    CAIRN_VAULT_TOKEN: "t",
    CAIRN_VAULT_TRANSIT_KEY: "cairn",
  });
  assert.deepEqual(s.vaultTransit, {
    addr: "http://v:8200",
    token: "t",
    mount: "transit",
    key: "cairn",
    derived: false,
    namespace: undefined,
  });
});

for (const backend of backends()) {
  describe(`aws-kms KEK provider through a local KMS (${backend})`, () => {
    let kms: Awaited<ReturnType<typeof startKmsServer>>;
    let s: Awaited<ReturnType<typeof session>>;
    const env = (keyId: string) => ({
      CAIRN_KEK_PROVIDER: "aws-kms",
      CAIRN_AWS_KMS_KEY_ID: keyId,
      CAIRN_AWS_KMS_ENDPOINT: kms.url,
      AWS_REGION: "eu-west-1",
      AWS_ACCESS_KEY_ID: "AKIACAIRNTEST",
      AWS_SECRET_ACCESS_KEY: "kms-secret-access-key-never-stored",
    });
    before(async () => {
      kms = await startKmsServer(["alias/cairn-a", "alias/cairn-b"]);
      s = await session(backend, env("alias/cairn-a"));
    });
    after(async () => {
      await s?.end();
      await kms?.close();
    });

    test("data keys come from GenerateDataKey with the encryption context; a restart unwraps them with Decrypt", async () => {
      const put = await s.app.call("PUT", `/api/v1/configs/${ns(NS)}/db.password`, { value: "hunter2", secret: true });
      assert.equal(put.status, 200, put.text);
      const dek = await s.app.store.db
        .selectFrom("data_keys as d")
        .innerJoin("namespaces as n", "n.id", "d.namespace_id")
        .select(["d.id", "d.tenant_id", "d.namespace_id", "d.kek_provider"])
        .where("n.path", "=", NS)
        .executeTakeFirstOrThrow();
      assert.equal(dek.kek_provider, "aws-kms");
      const generated = kms.calls.filter((c) => c.target === "TrentService.GenerateDataKey");
      const mine = generated.find((c) => c.body.EncryptionContext?.["cairn:context"] === `${dek.tenant_id}/${dek.namespace_id}/${dek.id}`);
      assert.ok(mine, "GenerateDataKey named the data key's place as encryption context");
      assert.equal(mine.body.KeyId, "alias/cairn-a");
      assert.equal(mine.body.KeySpec, "AES_256");
      assert.equal(mine.credential, "AKIACAIRNTEST", "signed with SigV4 by the configured credentials");
      // Other keys (the tenant's audit HMAC key) are wrapped with Encrypt.
      assert.ok(
        kms.calls.some(
          (c) => c.target === "TrentService.Encrypt" && c.body.EncryptionContext["cairn:context"].startsWith("audit-hmac-key/"),
        ),
      );

      await s.restart();
      kms.calls.length = 0;
      const got = await s.app.call("GET", `/api/v1/configs/${ns(NS)}/db.password?reveal=true`);
      assert.equal(got.status, 200, got.text);
      assert.equal(got.json.value, "hunter2");
      const decrypt = kms.calls.find(
        (c) => c.target === "TrentService.Decrypt" && c.body.EncryptionContext["cairn:context"].endsWith(`/${dek.id}`),
      );
      assert.ok(decrypt, "the data key was unwrapped by Decrypt");
      assert.equal(decrypt.body.KeyId, "alias/cairn-a");
    });

    test("moving to another KMS key: a master-key rotation re-encrypts every wrapped key under it", async () => {
      await s.restart(env("alias/cairn-b"));
      // Still readable before the rotation: Decrypt names the old key.
      assert.equal((await s.app.call("GET", `/api/v1/configs/${ns(NS)}/db.password?reveal=true`)).json.value, "hunter2");
      const started = await s.app.call("POST", "/api/v1/admin/key-rotations", { kind: "master" });
      assert.equal(started.status, 202, started.text);
      const done = await waitForRotation(s.app, started.json.id);
      assert.equal(done.status, "completed");
      assert.equal(done.targetKek, "aws-kms:alias/cairn-b");
      assert.ok(done.total >= 2 && done.done === done.total, JSON.stringify(done));
      const blobs = await s.app.store.db.selectFrom("data_keys").select("wrapped_key").execute();
      for (const b of blobs) assert.ok(Buffer.from(b.wrapped_key).includes(Buffer.from("aws-kms:alias/cairn-b")));
      assert.ok(kms.calls.some((c) => c.target === "TrentService.Encrypt" && c.body.KeyId === "alias/cairn-b"));
      assert.equal((await s.app.call("GET", `/api/v1/configs/${ns(NS)}/db.password?reveal=true`)).json.value, "hunter2");
      assert.ok(!(await dumpTables(s.app)).includes("kms-secret-access-key-never-stored"));
    });
  });

  describe(`vault-transit KEK provider through a local Vault (${backend})`, () => {
    const TOKEN = "hvs.cairn-test-token-never-stored";
    let vault: Awaited<ReturnType<typeof startVaultServer>>;
    let s: Awaited<ReturnType<typeof session>>;
    const env = (token = TOKEN) => ({
      CAIRN_KEK_PROVIDER: "vault-transit",
      CAIRN_VAULT_ADDR: vault.url,
      CAIRN_VAULT_TOKEN: token,
      CAIRN_VAULT_TRANSIT_KEY: "cairn",
      CAIRN_VAULT_TRANSIT_DERIVED: "true",
    });
    before(async () => {
      vault = await startVaultServer({ token: TOKEN, keys: ["cairn"] });
      s = await session(backend, env());
    });
    after(async () => {
      await s?.end();
      await vault?.close();
    });

    test("keys are wrapped by transit encrypt with the token and a derivation context, and unwrapped by decrypt", async () => {
      assert.equal((await s.app.call("PUT", `/api/v1/configs/${ns(NS)}/api.token`, { value: { a: 1 } })).status, 200);
      const dek = await s.app.store.db
        .selectFrom("data_keys as d")
        .innerJoin("namespaces as n", "n.id", "d.namespace_id")
        .select(["d.id", "d.tenant_id", "d.namespace_id", "d.wrapped_key"])
        .where("n.path", "=", NS)
        .executeTakeFirstOrThrow();
      const context = Buffer.from(`${dek.tenant_id}/${dek.namespace_id}/${dek.id}`).toString("base64");
      const enc = vault.calls.find((c) => c.path === "/v1/transit/encrypt/cairn" && c.body.context === context);
      assert.ok(enc, "POST /v1/transit/encrypt/cairn with the data key's context");
      assert.equal(enc.token, TOKEN);
      assert.equal(Buffer.from(enc.body.plaintext, "base64").length, 32);
      assert.match(Buffer.from(dek.wrapped_key).toString("latin1"), /vault-transit:transit\/cairnvault:v1:/);

      await s.restart();
      vault.calls.length = 0;
      assert.deepEqual((await s.app.call("GET", `/api/v1/configs/${ns(NS)}/api.token`)).json.value, { a: 1 });
      const dec = vault.calls.find((c) => c.path === "/v1/transit/decrypt/cairn" && c.body.context === context);
      assert.ok(dec && dec.token === TOKEN && dec.body.ciphertext.startsWith("vault:v1:"));
      assert.ok(!(await dumpTables(s.app)).includes(TOKEN), "the Vault token is never stored");
    });

    test("a token Vault refuses: reads answer 503, never garbage", async () => {
      await s.restart(env("hvs.wrong"));
      const res = await s.app.call("GET", `/api/v1/configs/${ns(NS)}/api.token`);
      assert.equal(res.status, 503, res.text);
      assert.equal(res.json.code, "unavailable");
      assert.match(res.json.detail, /Vault transit decrypt failed with HTTP 403: permission denied/);
    });

    test("after rotating the key inside Vault, rotate-master-key --all rewraps everything under its newest version", async () => {
      await s.restart(env());
      await fetch(`${vault.url}/v1/transit/keys/cairn/rotate`, { method: "POST", headers: { "x-vault-token": TOKEN } });
      const started = await s.app.call("POST", "/api/v1/admin/key-rotations", { kind: "master", all: true });
      assert.equal(started.status, 202, started.text);
      const done = await waitForRotation(s.app, started.json.id);
      assert.equal(done.status, "completed");
      for (const b of await s.app.store.db.selectFrom("data_keys").select("wrapped_key").execute()) {
        assert.match(Buffer.from(b.wrapped_key).toString("latin1"), /vault:v2:/);
      }
      assert.deepEqual((await s.app.call("GET", `/api/v1/configs/${ns(NS)}/api.token`)).json.value, { a: 1 });
    });
  });
}
