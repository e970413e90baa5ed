import { randomBytes } from "node:crypto";

/** Every id prefix in one place, so an id says what it names. */
export const idPrefix = {
  tenant: "ten",
  apiKey: "key",
  namespace: "ns",
  config: "cfg",
  dataKey: "dek",
  keyRotation: "krot",
  audit: "evt",
  request: "req",
  group: "grp",
  roleBinding: "rb",
  user: "usr",
  refreshToken: "rtk",
  signingKey: "sig",
  session: "ses",
  alertRule: "alr",
  alertChannel: "alc",
  alert: "alt",
  alertDelivery: "ald",
  rotationPolicy: "rot",
  rotationClaim: "rcl",
  approvalPolicy: "apol",
  changeRequest: "chr",
} as const;

export type IdKind = keyof typeof idPrefix;

const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32, lower case

function base32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

// Random bytes come from a pool refilled 4 KiB at a time: one syscall per ~400 ids instead of one per id.
const POOL_BYTES = 4096;
let pool = randomBytes(POOL_BYTES);
let offset = 0;
function random10(): Buffer {
  if (offset + 10 > POOL_BYTES) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  offset += 10;
  return pool.subarray(offset - 10, offset);
}

/** `newId('config')` → `cfg_…`: 48-bit millisecond timestamp then 80 random bits, so ids sort by creation time. */
export function newId(kind: IdKind, now = Date.now()): string {
  const bytes = new Uint8Array(16);
  let t = now;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = t % 256;
    t = Math.floor(t / 256);
  }
  bytes.set(random10(), 6);
  return `${idPrefix[kind]}_${base32(bytes)}`;
}
