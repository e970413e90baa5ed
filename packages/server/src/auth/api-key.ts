import { hash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * API keys look like `cairn_<prefix>_<secret>`: the prefix (8 base62 chars) is public and finds the row,
 * the secret (24 random bytes, 192 bits, base62) is only ever stored as part of a SHA-256 of the whole key.
 * High-entropy keys need no slow hash: nobody can guess 192 bits, and SHA-256 keeps verification fast.
 */
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const KEY_PATTERN = /^cairn_([0-9A-Za-z]{8})_([0-9A-Za-z]{30,44})$/;

function base62(bytes: Buffer, length: number): string {
  let n = BigInt(`0x${bytes.toString("hex")}`);
  let out = "";
  while (out.length < length) {
    out = BASE62[Number(n % 62n)] + out;
    n /= 62n;
  }
  return out;
}

export interface ParsedKey {
  prefix: string;
  hash: Buffer;
}

export function generateApiKey(): { key: string; prefix: string; hash: Buffer } {
  const prefix = base62(randomBytes(8), 8);
  const secret = base62(randomBytes(24), 33);
  const key = `cairn_${prefix}_${secret}`;
  return { key, prefix, hash: hashApiKey(key) };
}

export const hashApiKey = (key: string): Buffer => hash("sha256", key, "buffer");

export const looksLikeApiKey = (key: string): boolean => KEY_PATTERN.test(key);

export function parseApiKey(key: string): ParsedKey | undefined {
  const m = KEY_PATTERN.exec(key);
  if (!m?.[1]) return undefined;
  return { prefix: m[1], hash: hashApiKey(key) };
}

export const sameHash = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);
