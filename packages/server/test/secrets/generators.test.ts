import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { generatePassword, generateSecret, generateToken } from "../../src/secrets/generators.js";
import { parseOpenSshPrivateKey, parsePublicKeyLine } from "../../src/secrets/openssh.js";
import { validateSecret } from "../../src/secrets/types.js";
import { has } from "./core-support.js";

/** What `ssh-keygen -y` derives from a private key file: the public line, proving OpenSSH reads it. */
function sshKeygenPublic(privateKey: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "cairn-ssh-"));
  try {
    const file = path.join(dir, "id");
    writeFileSync(file, privateKey, { mode: 0o600 });
    return execFileSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" }).trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("secret generators (node:crypto)", () => {
  it("passwords follow the policy: length, alphabet, every class present", () => {
    for (let i = 0; i < 20; i++) {
      const p = generatePassword();
      assert.equal(p.length, 32);
      assert.match(p, /^[A-Za-z0-9]+$/);
      assert.match(p, /[a-z]/);
      assert.match(p, /[A-Z]/);
      assert.match(p, /[0-9]/);
    }
    assert.match(generatePassword({ length: 64, charset: "hex" }), /^[0-9a-f]{64}$/);
    const sym = generatePassword({ length: 40, charset: "alphanumeric-symbols" });
    assert.match(sym, /[!#%*+,\-.:=?@^_~]/);
    assert.match(generatePassword({ length: 12, charset: "custom", characters: "ab" }), /^[ab]{12}$/);
    assert.throws(() => generatePassword({ length: 4 }), /policy.length/);
    assert.throws(() => generatePassword({ charset: "custom", characters: "a" }), /at least 2/);
    assert.notEqual(generatePassword(), generatePassword());
  });

  it("tokens and API keys: random, base64url, optional prefix", () => {
    assert.match(generateToken(), /^[A-Za-z0-9_-]{43}$/);
    const key = generateSecret("api_key", undefined, { prefix: "sk_live_" }) as string;
    assert.match(key, /^sk_live_[A-Za-z0-9_-]{43}$/);
    validateSecret("api_key", key);
  });

  it("database credentials keep host, port, database and user; only the password changes", () => {
    const current = { host: "db", port: 5432, database: "app", username: "app_a", password: "old" };
    const next = generateSecret("database_credentials", current, { length: 24 }) as typeof current;
    assert.deepEqual({ ...next, password: "old" }, current);
    assert.equal(next.password.length, 24);
    validateSecret("database_credentials", next);
  });

  for (const algorithm of ["ed25519", "rsa"] as const) {
    it(`SSH keys (${algorithm}): OpenSSH private key and authorized_keys line that parse back`, () => {
      const key = generateSecret("ssh_key", undefined, { algorithm, rsaBits: 2048 }) as { private_key: string; public_key: string };
      assert.match(key.private_key, /^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END OPENSSH PRIVATE KEY-----\n$/);
      const line = parsePublicKeyLine(key.public_key);
      assert.equal(line.type, algorithm === "rsa" ? "ssh-rsa" : "ssh-ed25519");
      const parsed = parseOpenSshPrivateKey(key.private_key);
      assert.ok(parsed.key, "unencrypted, and the private key is read back");
      assert.ok(parsed.blob.equals(line.blob), "the private key file names the same public key");
      // The key really signs: the public half from the line verifies.
      const data = Buffer.from("cairn");
      const signature = sign(algorithm === "rsa" ? "sha256" : null, data, parsed.key);
      assert.ok(verify(algorithm === "rsa" ? "sha256" : null, data, createPublicKey(parsed.key), signature));
      if (has("ssh-keygen")) assert.equal(sshKeygenPublic(key.private_key).split(" ").slice(0, 2).join(" "), key.public_key);
      // Rotation keeps the algorithm and the comment.
      const next = generateSecret("ssh_key", { ...key, public_key: `${key.public_key} ops@cairn` }) as { public_key: string };
      assert.ok(next.public_key.startsWith(line.type) && next.public_key.endsWith(" ops@cairn"), next.public_key);
    });
  }

  it("JWT signing keys: Ed25519 (default) or RSA, PEM + JWK, kid = RFC 7638 thumbprint", () => {
    const ed = generateSecret("jwt_signing_key", undefined) as Record<string, any>;
    assert.equal(ed.alg, "EdDSA");
    assert.equal(ed.public_jwk.kid, ed.kid);
    assert.equal(ed.public_jwk.d, undefined);
    const key = createPrivateKey(ed.private_key_pem);
    assert.equal(key.asymmetricKeyType, "ed25519");
    assert.ok(createPublicKey(ed.public_key_pem).equals(createPublicKey(key)));
    assert.ok(createPublicKey({ key: ed.public_jwk, format: "jwk" }).equals(createPublicKey(key)));
    assert.match(ed.kid, /^[A-Za-z0-9_-]{43}$/);
    const rsa = generateSecret("jwt_signing_key", { alg: "RS256" }, { rsaBits: 2048 }) as Record<string, any>;
    assert.equal(rsa.alg, "RS256");
    assert.equal(createPrivateKey(rsa.private_key_pem).asymmetricKeyType, "rsa");
    validateSecret("jwt_signing_key", rsa);
  });

  it("certificates and OAuth tokens cannot be generated: the caller supplies them", () => {
    for (const type of ["certificate", "oauth_token"] as const) {
      assert.throws(() => generateSecret(type, undefined), /cannot be generated .*supply the next value/);
    }
  });
});
