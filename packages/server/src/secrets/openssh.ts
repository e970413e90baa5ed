import { createHash, createPrivateKey, createPublicKey, type KeyObject, randomBytes } from "node:crypto";

/**
 * The OpenSSH key formats (RFC 4253 wire encoding; PROTOCOL.key for private keys): enough to write
 * Ed25519 and RSA key pairs as `ssh-keygen` does, and to read back an unencrypted private key to check it.
 */

const MAGIC = Buffer.from("openssh-key-v1\0", "latin1");
const PEM_LABEL = "OPENSSH PRIVATE KEY";

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const str = (data: Buffer | string) => {
  const b = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  return Buffer.concat([u32(b.length), b]);
};
/** An mpint: big-endian two's complement, a leading zero when the top bit is set, nothing for zero. */
const mpint = (unsigned: Buffer) => {
  let i = 0;
  while (i < unsigned.length && unsigned[i] === 0) i++;
  const trimmed = unsigned.subarray(i);
  const first = trimmed[0];
  return str(first !== undefined && first & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
};
const b64u = (s: string | undefined) => Buffer.from(s ?? "", "base64url");

/** The public key blob (`string type, …`) of an Ed25519 or RSA key. */
export function publicBlob(key: KeyObject): { type: string; blob: Buffer } {
  const jwk = (key.type === "private" ? createPublicKey(key) : key).export({ format: "jwk" });
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519")
    return { type: "ssh-ed25519", blob: Buffer.concat([str("ssh-ed25519"), str(b64u(jwk.x))]) };
  if (jwk.kty === "RSA") return { type: "ssh-rsa", blob: Buffer.concat([str("ssh-rsa"), mpint(b64u(jwk.e)), mpint(b64u(jwk.n))]) };
  throw new Error(`unsupported SSH key type ${jwk.kty}${jwk.crv ? `/${jwk.crv}` : ""}`);
}

/** `SHA256:…` as `ssh-keygen -l` prints it. */
export const fingerprintOf = (blob: Buffer) => `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;

/** The `authorized_keys` line: `ssh-ed25519 AAAA… comment`. */
export function publicKeyLine(key: KeyObject, comment = ""): string {
  const { type, blob } = publicBlob(key);
  return `${type} ${blob.toString("base64")}${comment ? ` ${comment}` : ""}`;
}

/** The private key as `-----BEGIN OPENSSH PRIVATE KEY-----`, unencrypted (the store encrypts it). */
export function privateKeyPem(key: KeyObject, comment = ""): string {
  const jwk = key.export({ format: "jwk" });
  const { type, blob } = publicBlob(key);
  let fields: Buffer;
  if (type === "ssh-ed25519") {
    const pub = b64u(jwk.x);
    fields = Buffer.concat([str(pub), str(Buffer.concat([b64u(jwk.d), pub]))]);
  } else {
    fields = Buffer.concat([b64u(jwk.n), b64u(jwk.e), b64u(jwk.d), b64u(jwk.qi), b64u(jwk.p), b64u(jwk.q)].map(mpint));
  }
  const check = randomBytes(4);
  let priv = Buffer.concat([check, check, str(type), fields, str(comment)]);
  const pad = (8 - (priv.length % 8)) % 8;
  priv = Buffer.concat([priv, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([MAGIC, str("none"), str("none"), str(""), u32(1), str(blob), str(priv)]).toString("base64");
  return `-----BEGIN ${PEM_LABEL}-----\n${body.match(/.{1,70}/g)?.join("\n")}\n-----END ${PEM_LABEL}-----\n`;
}

/** Reads RFC 4253 fields one after another; throws on a short buffer. */
class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  u32(): number {
    if (this.at + 4 > this.buf.length) throw new Error("truncated");
    const n = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return n;
  }
  bytes(): Buffer {
    const n = this.u32();
    if (this.at + n > this.buf.length) throw new Error("truncated");
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  text(): string {
    return this.bytes().toString("utf8");
  }
}

export interface ParsedPublicKey {
  type: string;
  blob: Buffer;
  comment: string;
}

const PUBLIC_TYPES =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;

/** An `authorized_keys`-style line; throws with a reason when it is not one. */
export function parsePublicKeyLine(line: string): ParsedPublicKey {
  const parts = line.trim().split(/\s+/);
  const [type, data] = parts;
  if (!type || !data || !PUBLIC_TYPES.test(type)) throw new Error('expected "<type> <base64> [comment]", e.g. "ssh-ed25519 AAAA… me@host"');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data)) throw new Error("the key data is not base64");
  const blob = Buffer.from(data, "base64");
  let inner: string;
  try {
    inner = new Reader(blob).text();
  } catch {
    throw new Error("the key data is truncated");
  }
  if (inner !== type) throw new Error(`the key data is a ${inner || "?"} key, not ${type}`);
  return { type, blob, comment: parts.slice(2).join(" ") };
}

export interface ParsedPrivateKey {
  type: string;
  /** The public blob the file names. */
  blob: Buffer;
  encrypted: boolean;
  /** The key itself, when unencrypted and Ed25519 or RSA. */
  key?: KeyObject;
}

/** A `-----BEGIN OPENSSH PRIVATE KEY-----` block; checks structure and (unencrypted) that the halves agree. */
export function parseOpenSshPrivateKey(pem: string): ParsedPrivateKey {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(pem);
  if (!m?.[1]) throw new Error("not an OpenSSH private key block");
  const raw = Buffer.from(m[1].replace(/\s+/g, ""), "base64");
  if (!raw.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error("missing the openssh-key-v1 header");
  const r = new Reader(raw.subarray(MAGIC.length));
  const cipher = r.text();
  r.text(); // kdf name
  r.bytes(); // kdf options
  if (r.u32() !== 1) throw new Error("expected exactly one key");
  const blob = r.bytes();
  const type = new Reader(blob).text();
  const priv = r.bytes();
  if (cipher !== "none") return { type, blob, encrypted: true };
  const p = new Reader(priv);
  const [check1, check2] = [p.u32(), p.u32()];
  if (check1 !== check2) throw new Error("the check integers differ (corrupt key)");
  if (p.text() !== type) throw new Error("the private part is not the same key type as the public part");
  let key: KeyObject | undefined;
  if (type === "ssh-ed25519") {
    const pub = p.bytes();
    const both = p.bytes();
    if (pub.length !== 32 || both.length !== 64 || !both.subarray(32).equals(pub)) throw new Error("malformed Ed25519 key");
    key = createPrivateKey({
      key: { kty: "OKP", crv: "Ed25519", d: both.subarray(0, 32).toString("base64url"), x: pub.toString("base64url") },
      format: "jwk",
    });
  } else if (type === "ssh-rsa") {
    const [n, e, d, qi, pp, q] = Array.from({ length: 6 }, () => p.bytes());
    const big = (b: Buffer | undefined) => BigInt(`0x${b?.toString("hex") || "0"}`);
    const [bn, bd, bp, bq] = [big(n), big(d), big(pp), big(q)];
    if (bp * bq !== bn) throw new Error("malformed RSA key: p·q ≠ n");
    const enc = (v: bigint) => {
      const hex = v.toString(16);
      return Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex").toString("base64url");
    };
    const strip = (b: Buffer | undefined) => enc(big(b));
    key = createPrivateKey({
      key: {
        kty: "RSA",
        n: strip(n),
        e: strip(e),
        d: strip(d),
        p: strip(pp),
        q: strip(q),
        dp: enc(bd % (bp - 1n)),
        dq: enc(bd % (bq - 1n)),
        qi: strip(qi),
      },
      format: "jwk",
    });
  }
  if (key && !publicBlob(key).blob.equals(blob)) throw new Error("the private key does not belong to the public key in the file");
  return { type, blob, encrypted: false, key };
}
