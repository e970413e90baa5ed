import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { before, describe, it } from "node:test";
import { CairnError } from "../../src/errors.js";
import { generateJwtSigningKey, generateSshKey } from "../../src/secrets/generators.js";
import { type SecretType, validateSecret } from "../../src/secrets/types.js";
import { has, makeCertificate } from "./core-support.js";

/** The field paths a 422 names, or a failure when the value is accepted. */
function errorsOf(type: SecretType, value: unknown, now?: Date): string[] {
  try {
    validateSecret(type, value, now);
  } catch (e) {
    assert.ok(e instanceof CairnError, String(e));
    assert.equal(e.code, "validation_failed");
    assert.match(e.message, new RegExp(`not a valid ${type} secret`));
    return (e.errors ?? []).map((f) => f.path);
  }
  assert.fail(`${type} accepted ${JSON.stringify(value).slice(0, 80)}`);
}

const db = { host: "db.internal", port: 5432, database: "app", username: "app", password: "pw" };

describe("secret types: validation on write", () => {
  it("generic and api_key", () => {
    assert.deepEqual(validateSecret("generic", { any: ["json"] }).warnings, []);
    assert.deepEqual(errorsOf("generic", null), ["/value"]);
    validateSecret("api_key", "sk_live_0123456789");
    assert.deepEqual(errorsOf("api_key", "short"), ["/value"]);
    assert.deepEqual(errorsOf("api_key", { key: "x" }), ["/value"]);
  });

  it("database_credentials names every bad field", () => {
    validateSecret("database_credentials", db);
    validateSecret("database_credentials", { ...db, sslmode: "require" });
    assert.deepEqual(errorsOf("database_credentials", { ...db, port: "5432" }), ["/value/port"]);
    assert.deepEqual(errorsOf("database_credentials", { ...db, port: 70000 }), ["/value/port"]);
    assert.deepEqual(errorsOf("database_credentials", { host: "h", port: 1 }), ["/value/database", "/value/username", "/value/password"]);
    assert.deepEqual(errorsOf("database_credentials", "postgres://u:p@h/d"), ["/value"]);
  });

  const certOk = has("openssl");
  describe("certificate", { skip: !certOk && "openssl is not installed" }, () => {
    let longLived: { cert_pem: string; private_key_pem: string };
    let soon: { cert_pem: string; private_key_pem: string };
    before(() => {
      longLived = makeCertificate(400, "long");
      soon = makeCertificate(10, "soon");
    });

    it("parses, extracts expiry and fingerprint, checks the key matches", () => {
      const facts = validateSecret("certificate", { ...longLived, ca_chain: [soon.cert_pem] });
      assert.deepEqual(facts.warnings, []);
      assert.equal(facts.metadata.subject, "CN=long");
      assert.ok(new Date(String(facts.metadata.notAfter)).getTime() > Date.now() + 300 * 86_400_000);
      assert.match(String(facts.metadata.fingerprint256), /^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/);
      assert.equal(facts.metadata.caChainLength, 1);
      assert.ok(!JSON.stringify(facts.metadata).includes("PRIVATE KEY"), "no key material in the metadata");
      assert.deepEqual(errorsOf("certificate", { ...longLived, private_key_pem: soon.private_key_pem }), ["/value/private_key_pem"]);
      assert.deepEqual(
        errorsOf("certificate", { ...longLived, cert_pem: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----" }),
        ["/value/cert_pem"],
      );
      assert.deepEqual(errorsOf("certificate", { cert_pem: longLived.cert_pem }), ["/value/private_key_pem"]);
      assert.deepEqual(errorsOf("certificate", { ...longLived, ca_chain: ["garbage"] }), ["/value/ca_chain/0"]);
    });

    it("warns when the expiry is within 30 days, or past", () => {
      const soonFacts = validateSecret("certificate", soon);
      assert.deepEqual(
        soonFacts.warnings.map((w) => [w.code, w.path]),
        [["expires_soon", "/value/cert_pem"]],
      );
      assert.match(soonFacts.warnings[0]?.message ?? "", /expires in 1?\d day/);
      const later = new Date(Date.now() + 20 * 86_400_000);
      assert.equal(validateSecret("certificate", soon, later).warnings[0]?.code, "expired");
    });
  });

  it("ssh_key: OpenSSH private key, public line that matches it", () => {
    const key = generateSshKey({}, "me@host");
    const facts = validateSecret("ssh_key", key);
    assert.equal(facts.metadata.keyType, "ssh-ed25519");
    assert.match(String(facts.metadata.fingerprint), /^SHA256:[A-Za-z0-9+/]{43}$/);
    assert.equal(facts.metadata.publicKey, key.public_key);
    const other = generateSshKey();
    assert.deepEqual(errorsOf("ssh_key", { ...key, public_key: other.public_key }), ["/value/public_key"]);
    assert.deepEqual(errorsOf("ssh_key", { ...key, public_key: "ssh-ed25519 not-base64!" }), ["/value/public_key"]);
    const tampered = key.private_key.replace(/\n(.)(.)/, (_m, a, b) => `\n${b}${a}`);
    assert.deepEqual(errorsOf("ssh_key", { private_key: tampered }), ["/value/private_key"]);
    assert.deepEqual(errorsOf("ssh_key", { public_key: key.public_key }), ["/value/private_key"]);
    // A PEM (PKCS#8) key is an SSH key too; its public line must still match.
    const pem = generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    assert.deepEqual(errorsOf("ssh_key", { private_key: pem, public_key: key.public_key }), ["/value/public_key"]);
  });

  it("oauth_token", () => {
    const facts = validateSecret("oauth_token", {
      access_token: "at",
      refresh_token: "rt",
      expires_at: "2999-01-01T00:00:00Z",
      scope: "read",
    });
    assert.equal(facts.metadata.expiresAt, "2999-01-01T00:00:00.000Z");
    assert.equal(facts.metadata.hasRefreshToken, true);
    assert.equal(validateSecret("oauth_token", { access_token: "at", expires_at: "2001-01-01T00:00:00Z" }).warnings[0]?.code, "expired");
    assert.deepEqual(errorsOf("oauth_token", { refresh_token: "rt", expires_at: "tomorrow" }), [
      "/value/access_token",
      "/value/expires_at",
    ]);
  });

  it("jwt_signing_key: key parses, alg fits it, kid defaults to the thumbprint", () => {
    const jwt = generateJwtSigningKey();
    const facts = validateSecret("jwt_signing_key", jwt);
    assert.equal(facts.metadata.kid, jwt.kid);
    assert.equal(facts.metadata.alg, "EdDSA");
    assert.equal((facts.metadata.publicJwk as { d?: string }).d, undefined, "the public JWK has no private part");
    const bare = validateSecret("jwt_signing_key", { private_key_pem: jwt.private_key_pem });
    assert.equal(bare.metadata.kid, jwt.kid);
    assert.deepEqual(errorsOf("jwt_signing_key", { ...jwt, alg: "RS256" }), ["/value/alg"]);
    assert.deepEqual(errorsOf("jwt_signing_key", { alg: "EdDSA" }), ["/value/private_key_pem"]);
    assert.deepEqual(errorsOf("jwt_signing_key", { private_key_pem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----" }), [
      "/value/private_key_pem",
    ]);
    const other = generateJwtSigningKey();
    assert.deepEqual(errorsOf("jwt_signing_key", { ...jwt, public_key_pem: other.public_key_pem }), ["/value/public_key_pem"]);
  });
});
