import { createHash, generateKeyPairSync, type KeyObject, randomBytes, randomInt } from "node:crypto";
import { CairnError } from "../errors.js";
import { privateKeyPem, publicKeyLine } from "./openssh.js";
import type { SecretType } from "./types.js";

/** How a generated value is made: password length and alphabet, key algorithm, API key prefix. */
export interface GeneratorPolicy {
  /** Password / token length in characters (default 32). */
  length?: number;
  /** Password alphabet (default alphanumeric); `custom` uses `characters`. */
  charset?: "alphanumeric" | "alphanumeric-symbols" | "hex" | "base64url" | "custom";
  characters?: string;
  /** Key algorithm for ssh_key and jwt_signing_key (default ed25519, or the current key's). */
  algorithm?: "ed25519" | "rsa";
  /** RSA modulus size (default 3072). */
  rsaBits?: 2048 | 3072 | 4096;
  /** api_key: put in front of the random part, e.g. `sk_live_`. */
  prefix?: string;
}

const LOWER = "abcdefghijklmnopqrstuvwxyz";
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS = "0123456789";
const SYMBOLS = "!#%*+,-.:=?@^_~";
const CLASSES: Record<Exclude<NonNullable<GeneratorPolicy["charset"]>, "custom">, string[]> = {
  alphanumeric: [LOWER, UPPER, DIGITS],
  "alphanumeric-symbols": [LOWER, UPPER, DIGITS, SYMBOLS],
  hex: ["0123456789abcdef"],
  base64url: [`${LOWER}${UPPER}${DIGITS}-_`],
};

/**
 * A password from the policy's alphabet, uniformly (crypto.randomInt, no modulo bias). When the alphabet
 * is made of classes (lower, upper, digits, symbols) and the length allows, every class appears.
 */
export function generatePassword(policy: GeneratorPolicy = {}): string {
  const length = policy.length ?? 32;
  if (!Number.isInteger(length) || length < 8 || length > 4096) {
    throw new CairnError("validation_failed", "policy.length must be an integer from 8 to 4096", {
      errors: [{ path: "/policy/length", message: "must be 8–4096" }],
    });
  }
  const charset = policy.charset ?? "alphanumeric";
  let classes: string[];
  if (charset === "custom") {
    const chars = [...new Set(policy.characters ?? "")].join("");
    if (chars.length < 2) {
      throw new CairnError("validation_failed", 'policy.charset "custom" needs policy.characters with at least 2 distinct characters', {
        errors: [{ path: "/policy/characters", message: "at least 2 distinct characters" }],
      });
    }
    classes = [chars];
  } else {
    classes = CLASSES[charset];
  }
  const alphabet = classes.join("");
  for (;;) {
    let out = "";
    for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
    if (length < classes.length * 2 || classes.every((c) => [...out].some((ch) => c.includes(ch)))) return out;
  }
}

/** An RFC 7638 JWK thumbprint: the key id of a generated signing key. */
export function jwkThumbprint(jwk: { kty?: string; crv?: string; x?: string; n?: string; e?: string; y?: string }): string {
  const members =
    jwk.kty === "RSA"
      ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
      : jwk.kty === "EC"
        ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
        : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash("sha256").update(JSON.stringify(members)).digest("base64url");
}

function keyPair(policy: GeneratorPolicy, fallback: "ed25519" | "rsa"): { privateKey: KeyObject; publicKey: KeyObject } {
  const algorithm = policy.algorithm ?? fallback;
  if (algorithm === "rsa") return generateKeyPairSync("rsa", { modulusLength: policy.rsaBits ?? 3072 });
  return generateKeyPairSync("ed25519");
}

/** An SSH key pair: OpenSSH private key block and `authorized_keys` line. */
export function generateSshKey(policy: GeneratorPolicy = {}, comment = ""): { private_key: string; public_key: string } {
  const { privateKey } = keyPair(policy, "ed25519");
  return { private_key: privateKeyPem(privateKey, comment), public_key: publicKeyLine(privateKey, comment) };
}

/** A JWT signing key: PEM and JWK forms, `kid` = RFC 7638 thumbprint, alg EdDSA (Ed25519) or RS256 (RSA). */
export function generateJwtSigningKey(policy: GeneratorPolicy = {}) {
  const { privateKey, publicKey } = keyPair(policy, "ed25519");
  const alg = publicKey.asymmetricKeyType === "rsa" ? "RS256" : "EdDSA";
  const publicJwk = publicKey.export({ format: "jwk" });
  const kid = jwkThumbprint(publicJwk);
  return {
    kid,
    alg,
    private_key_pem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    public_key_pem: publicKey.export({ format: "pem", type: "spki" }).toString(),
    private_jwk: { ...privateKey.export({ format: "jwk" }), kid, alg, use: "sig" },
    public_jwk: { ...publicJwk, kid, alg, use: "sig" },
  };
}

/** A random token: `length` bytes of entropy (default 32) in base64url, after an optional prefix. */
export const generateToken = (policy: GeneratorPolicy = {}) =>
  `${policy.prefix ?? ""}${randomBytes(policy.length ?? 32).toString("base64url")}`;

const cannot = (type: SecretType, why: string) =>
  new CairnError("validation_failed", `a ${type} secret cannot be generated (${why}): supply the next value in "value"`, {
    errors: [{ path: "/value", message: `required for ${type}` }],
  });

/**
 * The next value of a secret of `type`, made with node:crypto. `current` (the value being replaced, if
 * any) keeps what is not secret: a database's host, port and user; a key's algorithm.
 */
export function generateSecret(type: SecretType, current: unknown, policy: GeneratorPolicy = {}): unknown {
  const was = (current && typeof current === "object" ? current : {}) as Record<string, unknown>;
  switch (type) {
    case "generic":
      return generateToken({ length: policy.length });
    case "api_key":
      return generateToken(policy);
    case "database_credentials":
      if (!current) throw cannot(type, "there is no current host, port, database and username to keep");
      return { ...was, password: generatePassword(policy) };
    case "ssh_key": {
      const algorithm = policy.algorithm ?? (String(was.public_key ?? "").startsWith("ssh-rsa") ? "rsa" : "ed25519");
      return generateSshKey(
        { ...policy, algorithm },
        String(was.public_key ?? "")
          .trim()
          .split(/\s+/)
          .slice(2)
          .join(" "),
      );
    }
    case "jwt_signing_key": {
      const algorithm = policy.algorithm ?? (typeof was.alg === "string" && /^(RS|PS)/.test(was.alg) ? "rsa" : "ed25519");
      return generateJwtSigningKey({ ...policy, algorithm });
    }
    case "certificate":
      throw cannot(type, "certificates are issued by a CA");
    case "oauth_token":
      throw cannot(type, "tokens are issued by the authorization server");
  }
}
