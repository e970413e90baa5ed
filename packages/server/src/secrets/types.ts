import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { CairnError, type FieldError } from "../errors.js";
import { jwkThumbprint } from "./generators.js";
import { fingerprintOf, parseOpenSshPrivateKey, parsePublicKeyLine, publicBlob } from "./openssh.js";

export const secretTypes = [
  "generic",
  "api_key",
  "database_credentials",
  "certificate",
  "ssh_key",
  "oauth_token",
  "jwt_signing_key",
] as const;
export type SecretType = (typeof secretTypes)[number];

/** What a valid secret says about itself that is not secret (expiry, fingerprints, public keys), and what to warn about. */
export interface SecretFacts {
  metadata: Record<string, unknown>;
  warnings: SecretWarning[];
}

/** A write warning, shaped like the configs domain's (`code`, JSON pointer `path`, `message`). */
export interface SecretWarning {
  code: string;
  path: string;
  message: string;
}

/** Certificates expiring within this many days get a warning on every write. */
export const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

/** Collects field errors under `/value`; `fail()` throws them all as one 422. */
class Problems {
  readonly errors: FieldError[] = [];
  add(field: string, message: string) {
    this.errors.push({ path: field ? `/value/${field}` : "/value", message });
  }
  fail(type: SecretType): never {
    const first = this.errors[0] as FieldError;
    throw new CairnError("validation_failed", `not a valid ${type} secret: ${first.path}: ${first.message}`, { errors: this.errors });
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.trim().length > 0;

/** Required (or optional) non-empty string fields of an object value. */
function strings(p: Problems, value: Record<string, unknown>, required: string[], optional: string[] = []) {
  for (const f of required) if (!nonEmpty(value[f])) p.add(f, value[f] === undefined ? "required" : "must be a non-empty string");
  for (const f of optional) if (value[f] !== undefined && !nonEmpty(value[f])) p.add(f, "must be a non-empty string");
}

function expiryWarning(what: string, path: string, at: Date, now: Date): SecretWarning | undefined {
  const days = (at.getTime() - now.getTime()) / DAY_MS;
  if (days <= 0) return { code: "expired", path, message: `${what} expired at ${at.toISOString()}` };
  if (days <= EXPIRY_WARNING_DAYS)
    return { code: "expires_soon", path, message: `${what} expires in ${Math.ceil(days)} day(s), at ${at.toISOString()}` };
  return undefined;
}

function privateKeyOf(p: Problems, field: string, pem: unknown): KeyObject | undefined {
  if (!nonEmpty(pem)) return undefined;
  try {
    return createPrivateKey(pem);
  } catch {
    p.add(field, "is not a PEM private key (PKCS#8, PKCS#1 or SEC1, unencrypted)");
    return undefined;
  }
}

function certificate(p: Problems, value: Record<string, unknown>, now: Date, facts: SecretFacts) {
  strings(p, value, ["cert_pem", "private_key_pem"]);
  let cert: X509Certificate | undefined;
  if (nonEmpty(value.cert_pem)) {
    try {
      cert = new X509Certificate(value.cert_pem);
    } catch {
      p.add("cert_pem", "is not a PEM X.509 certificate");
    }
  }
  const key = privateKeyOf(p, "private_key_pem", value.private_key_pem);
  if (cert && key && !cert.checkPrivateKey(key)) p.add("private_key_pem", "does not match the certificate's public key");
  const chain = value.ca_chain;
  let chainLength = 0;
  if (chain !== undefined) {
    const pems = typeof chain === "string" ? (chain.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []) : chain;
    if (!Array.isArray(pems) || pems.length === 0) p.add("ca_chain", "must be PEM certificates (one string, or an array of strings)");
    else
      pems.forEach((pem, i) => {
        try {
          new X509Certificate(String(pem));
          chainLength++;
        } catch {
          p.add(Array.isArray(chain) ? `ca_chain/${i}` : "ca_chain", `certificate ${i + 1} is not a PEM X.509 certificate`);
        }
      });
  }
  if (!cert) return;
  const notAfter = new Date(cert.validTo);
  const notBefore = new Date(cert.validFrom);
  Object.assign(facts.metadata, {
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    fingerprint256: cert.fingerprint256,
    ...(cert.subjectAltName ? { subjectAltName: cert.subjectAltName } : {}),
    ...(chain !== undefined ? { caChainLength: chainLength } : {}),
  });
  const warning = expiryWarning("the certificate", "/value/cert_pem", notAfter, now);
  if (warning) facts.warnings.push(warning);
  if (notBefore > now)
    facts.warnings.push({
      code: "not_yet_valid",
      path: "/value/cert_pem",
      message: `the certificate is not valid before ${notBefore.toISOString()}`,
    });
}

function sshKey(p: Problems, value: Record<string, unknown>, facts: SecretFacts) {
  strings(p, value, ["private_key"], ["public_key"]);
  let blob: Buffer | undefined;
  if (nonEmpty(value.private_key)) {
    try {
      if (value.private_key.includes("BEGIN OPENSSH PRIVATE KEY")) {
        const parsed = parseOpenSshPrivateKey(value.private_key);
        blob = parsed.blob;
        facts.metadata.keyType = parsed.type;
        if (parsed.encrypted) facts.metadata.encrypted = true;
      } else {
        const key = createPrivateKey(value.private_key);
        facts.metadata.keyType = key.asymmetricKeyType;
        if (key.asymmetricKeyType === "ed25519" || key.asymmetricKeyType === "rsa") blob = publicBlob(key).blob;
      }
    } catch (e) {
      p.add("private_key", `is not an OpenSSH or PEM private key: ${(e as Error).message}`);
    }
  }
  if (nonEmpty(value.public_key)) {
    try {
      const pub = parsePublicKeyLine(value.public_key);
      if (blob && !pub.blob.equals(blob)) p.add("public_key", "does not match private_key");
      blob ??= pub.blob;
      facts.metadata.publicKey = `${pub.type} ${pub.blob.toString("base64")}${pub.comment ? ` ${pub.comment}` : ""}`;
    } catch (e) {
      p.add("public_key", (e as Error).message);
    }
  }
  if (blob) facts.metadata.fingerprint = fingerprintOf(blob);
}

const ALGS: Record<string, (k: KeyObject) => boolean> = {
  EdDSA: (k) => k.asymmetricKeyType === "ed25519" || k.asymmetricKeyType === "ed448",
  RS256: (k) => k.asymmetricKeyType === "rsa",
  RS384: (k) => k.asymmetricKeyType === "rsa",
  RS512: (k) => k.asymmetricKeyType === "rsa",
  PS256: (k) => k.asymmetricKeyType === "rsa" || k.asymmetricKeyType === "rsa-pss",
  ES256: (k) => k.asymmetricKeyDetails?.namedCurve === "prime256v1",
  ES384: (k) => k.asymmetricKeyDetails?.namedCurve === "secp384r1",
  ES512: (k) => k.asymmetricKeyDetails?.namedCurve === "secp521r1",
};
const defaultAlg = (k: KeyObject) =>
  k.asymmetricKeyType === "rsa"
    ? "RS256"
    : k.asymmetricKeyType === "ec"
      ? ({ prime256v1: "ES256", secp384r1: "ES384", secp521r1: "ES512" } as Record<string, string>)[
          k.asymmetricKeyDetails?.namedCurve ?? ""
        ]
      : "EdDSA";

function jwtSigningKey(p: Problems, value: Record<string, unknown>, facts: SecretFacts) {
  strings(p, value, [], ["kid", "alg", "private_key_pem", "public_key_pem"]);
  if (value.private_key_pem === undefined && value.private_jwk === undefined) p.add("private_key_pem", "required (or private_jwk)");
  let key = privateKeyOf(p, "private_key_pem", value.private_key_pem);
  if (value.private_jwk !== undefined) {
    try {
      const fromJwk = createPrivateKey({ key: value.private_jwk as never, format: "jwk" });
      if (key && !createPublicKey(key).equals(createPublicKey(fromJwk))) p.add("private_jwk", "is not the same key as private_key_pem");
      key ??= fromJwk;
    } catch {
      p.add("private_jwk", "is not a private JWK");
    }
  }
  if (nonEmpty(value.public_key_pem) && key) {
    try {
      if (!createPublicKey(value.public_key_pem).equals(createPublicKey(key))) p.add("public_key_pem", "does not match the private key");
    } catch {
      p.add("public_key_pem", "is not a PEM public key");
    }
  }
  if (!key) return;
  const alg = nonEmpty(value.alg) ? value.alg : defaultAlg(key);
  const fits = alg ? ALGS[alg] : undefined;
  if (!alg || !fits) p.add("alg", `must be one of ${Object.keys(ALGS).join(", ")}`);
  else if (!fits(key)) p.add("alg", `${alg} does not fit a ${key.asymmetricKeyType} key`);
  const publicJwk = createPublicKey(key).export({ format: "jwk" });
  const kid = nonEmpty(value.kid) ? value.kid : jwkThumbprint(publicJwk);
  Object.assign(facts.metadata, { kid, alg, keyType: key.asymmetricKeyType, publicJwk: { ...publicJwk, kid, alg, use: "sig" } });
}

function oauthToken(p: Problems, value: Record<string, unknown>, now: Date, facts: SecretFacts) {
  strings(p, value, ["access_token"], ["refresh_token", "token_type", "scope"]);
  if (value.expires_at !== undefined) {
    const at = typeof value.expires_at === "string" ? new Date(value.expires_at) : new Date(Number.NaN);
    if (Number.isNaN(at.getTime())) p.add("expires_at", "must be an RFC 3339 timestamp, e.g. 2026-01-31T12:00:00Z");
    else {
      facts.metadata.expiresAt = at.toISOString();
      const warning = expiryWarning("the access token", "/value/expires_at", at, now);
      if (warning?.code === "expired") facts.warnings.push(warning);
    }
  }
  if (nonEmpty(value.token_type)) facts.metadata.tokenType = value.token_type;
  if (nonEmpty(value.scope)) facts.metadata.scope = value.scope;
  facts.metadata.hasRefreshToken = nonEmpty(value.refresh_token);
}

/**
 * Checks a secret value against its type. Throws a 422 naming every bad field (`/value/port`); returns
 * the facts worth keeping in clear (never secret material) and warnings for the response.
 */
export function validateSecret(type: SecretType, value: unknown, now: Date = new Date()): SecretFacts {
  const p = new Problems();
  const facts: SecretFacts = { metadata: {}, warnings: [] };
  if (value === undefined || value === null) {
    p.add("", "required");
    p.fail(type);
  }
  const expectObject = type !== "generic" && type !== "api_key";
  if (expectObject && !isObject(value)) {
    p.add("", `a ${type} secret is an object, e.g. ${EXAMPLES[type]}`);
    p.fail(type);
  }
  const obj = value as Record<string, unknown>;
  switch (type) {
    case "generic":
      break;
    case "api_key":
      if (typeof value !== "string" || value.length < 8 || /\s/.test(value))
        p.add("", "must be a string of at least 8 characters without spaces");
      break;
    case "database_credentials":
      strings(p, obj, ["host", "database", "username", "password"]);
      if (obj.port === undefined) p.add("port", "required");
      else if (!Number.isInteger(obj.port) || (obj.port as number) < 1 || (obj.port as number) > 65535)
        p.add("port", "must be an integer from 1 to 65535");
      break;
    case "certificate":
      certificate(p, obj, now, facts);
      break;
    case "ssh_key":
      sshKey(p, obj, facts);
      break;
    case "oauth_token":
      oauthToken(p, obj, now, facts);
      break;
    case "jwt_signing_key":
      jwtSigningKey(p, obj, facts);
      break;
  }
  if (p.errors.length > 0) p.fail(type);
  return facts;
}

const EXAMPLES: Record<SecretType, string> = {
  generic: '"any JSON"',
  api_key: '"sk_live_…"',
  database_credentials: '{"host":"db","port":5432,"database":"app","username":"app","password":"…"}',
  certificate: '{"cert_pem":"-----BEGIN CERTIFICATE-----…","private_key_pem":"-----BEGIN PRIVATE KEY-----…","ca_chain":"…"}',
  ssh_key: '{"private_key":"-----BEGIN OPENSSH PRIVATE KEY-----…","public_key":"ssh-ed25519 AAAA…"}',
  oauth_token: '{"access_token":"…","refresh_token":"…","expires_at":"2026-01-31T12:00:00Z"}',
  jwt_signing_key: '{"kid":"…","alg":"EdDSA","private_key_pem":"-----BEGIN PRIVATE KEY-----…"}',
};
