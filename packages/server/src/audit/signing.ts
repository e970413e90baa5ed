import { createHash, createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, verify } from "node:crypto";
import type { KekProvider } from "../crypto/kek.js";
import type { Conn } from "../db/database.js";

/**
 * Signed checkpoints of the audit log in the transparency-log formats auditors already have tools for:
 * a C2SP signed note (https://c2sp.org/signed-note) whose text is a C2SP tlog checkpoint
 * (https://c2sp.org/tlog-checkpoint): origin line, tree size, base64 root hash. Ed25519 only.
 *
 *     example.com/cairn/audit/ten_01jq…
 *     1000
 *     pZ3…=
 *
 *     — example.com/cairn/audit/ten_01jq… Kx7…(base64 of key ID ‖ signature)
 *
 * The formatting and verification here are pure (no database), so the offline verifier uses them too.
 */

/** Signature type byte of Ed25519 in signed notes. */
const ED25519 = 0x01;
const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519 = Buffer.from("302a300506032b6570032100", "hex");
const SIG_PREFIX = "\u2014 ";

export class NoteError extends Error {
  override name = "NoteError";
}

/** What verifies a note: the key's name, its 4-byte ID and the Ed25519 public key. */
export interface NoteVerifier {
  name: string;
  keyId: Buffer;
  publicKey: Buffer;
}

export interface NoteSigner extends NoteVerifier {
  privateKey: KeyObject;
}

const KEY_NAME = /^[^\s+]+$/u;

export function checkKeyName(name: string): string {
  if (!name || !KEY_NAME.test(name)) throw new NoteError(`"${name}" is not a key name: it must be non-empty, without spaces or '+'`);
  return name;
}

/** key ID = SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)[:4] (C2SP signed-note). */
export function keyIdOf(name: string, publicKey: Uint8Array): Buffer {
  return createHash("sha256")
    .update(Buffer.from(`${name}\n`, "utf8"))
    .update(Buffer.of(ED25519))
    .update(publicKey)
    .digest()
    .subarray(0, 4);
}

/** The verifier key string of Go's sumdb/note and C2SP tools: `<name>+<hex key ID>+<base64(0x01 ‖ public key)>`. */
export function verifierKeyString(v: Pick<NoteVerifier, "name" | "publicKey">): string {
  return `${v.name}+${keyIdOf(v.name, v.publicKey).toString("hex")}+${Buffer.concat([Buffer.of(ED25519), v.publicKey]).toString("base64")}`;
}

export function verifierOf(name: string, publicKey: Uint8Array): NoteVerifier {
  checkKeyName(name);
  if (publicKey.length !== 32) throw new NoteError("an Ed25519 public key is 32 bytes");
  return { name, keyId: keyIdOf(name, publicKey), publicKey: Buffer.from(publicKey) };
}

/** Parses `<name>+<hex key ID>+<base64(0x01 ‖ public key)>`, checking that the ID matches. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const text = vkey.trim();
  const first = text.indexOf("+");
  const second = text.indexOf("+", first + 1);
  if (first < 1 || second < 0) throw new NoteError("a verifier key looks like <name>+<8 hex digits>+<base64 key>");
  const name = text.slice(0, first);
  const hash = text.slice(first + 1, second);
  const material = Buffer.from(text.slice(second + 1), "base64");
  if (!/^[0-9a-f]{8}$/.test(hash)) throw new NoteError("the key ID of a verifier key is 8 lower-case hex digits");
  if (material.length !== 33 || material[0] !== ED25519)
    throw new NoteError("the verifier key is not an Ed25519 key (type 0x01, 32 bytes)");
  const verifier = verifierOf(name, material.subarray(1));
  if (verifier.keyId.toString("hex") !== hash) throw new NoteError("the verifier key's ID does not match its name and key");
  return verifier;
}

export function signerFromSeed(name: string, seed: Uint8Array): NoteSigner {
  if (seed.length !== 32) throw new NoteError("an Ed25519 private key (seed) is 32 bytes");
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: "der", type: "pkcs8" });
  const publicKey = createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(SPKI_ED25519.length);
  return { ...verifierOf(name, publicKey), privateKey };
}

/** Go's signer key `PRIVATE+KEY+<name>+<hex ID>+<base64(0x01 ‖ seed)>`, for interop and test vectors. */
export function parseSignerKey(skey: string): NoteSigner {
  const parts = skey.trim().split("+");
  if (parts.length < 5 || parts[0] !== "PRIVATE" || parts[1] !== "KEY") throw new NoteError("a signer key starts with PRIVATE+KEY+");
  const material = Buffer.from(parts.slice(4).join("+"), "base64");
  if (material.length !== 33 || material[0] !== ED25519) throw new NoteError("the signer key is not an Ed25519 key");
  const signer = signerFromSeed(parts[2] as string, material.subarray(1));
  if (signer.keyId.toString("hex") !== parts[3]) throw new NoteError("the signer key's ID does not match its name and key");
  return signer;
}

/** A signed note: the text (ending in a newline), a blank line, one signature line. */
export function signNote(text: string, signer: NoteSigner): string {
  checkText(text);
  const signature = sign(null, Buffer.from(text, "utf8"), signer.privateKey);
  return `${text}\n${SIG_PREFIX}${signer.name} ${Buffer.concat([signer.keyId, signature]).toString("base64")}\n`;
}

function checkText(text: string) {
  if (!text.endsWith("\n")) throw new NoteError("a note's text ends with a newline");
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) throw new NoteError("a note must not contain control characters other than newline");
}

export interface NoteSignature {
  name: string;
  keyId: Buffer;
  signature: Buffer;
}

/** Splits a signed note into its text and signature lines (nothing verified yet). */
export function splitNote(note: string): { text: string; signatures: NoteSignature[] } {
  const cut = note.lastIndexOf("\n\n");
  if (cut < 0 || !note.endsWith("\n")) throw new NoteError("malformed note: no blank line before the signatures");
  const text = note.slice(0, cut + 1);
  checkText(text);
  const lines = note.slice(cut + 2, -1).split("\n");
  if (lines.length === 0 || lines.length > 100) throw new NoteError("malformed note: no signatures, or too many");
  const signatures = lines.map((line) => {
    if (!line.startsWith(SIG_PREFIX)) throw new NoteError(`malformed signature line "${line.slice(0, 80)}"`);
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.lastIndexOf(" ");
    const name = rest.slice(0, space);
    const blob = Buffer.from(rest.slice(space + 1), "base64");
    if (space < 1 || !KEY_NAME.test(name) || blob.length < 5) throw new NoteError(`malformed signature line "${line.slice(0, 80)}"`);
    return { name, keyId: blob.subarray(0, 4), signature: blob.subarray(4) };
  });
  return { text, signatures };
}

/**
 * Verifies a signed note with one trusted key: signatures by other keys are ignored, one by this key
 * must verify. Returns the note's text; throws NoteError saying why not.
 */
export function openNote(note: string, verifier: NoteVerifier): string {
  const { text, signatures } = splitNote(note);
  const mine = signatures.filter((s) => s.name === verifier.name && s.keyId.equals(verifier.keyId));
  if (mine.length === 0) {
    const by = signatures.map((s) => `${s.name} (key ID ${s.keyId.toString("hex")})`).join(", ");
    throw new NoteError(`not signed by the trusted key ${verifier.name} (key ID ${verifier.keyId.toString("hex")}); signed by ${by}`);
  }
  const publicKey = createPublicKey({ key: Buffer.concat([SPKI_ED25519, verifier.publicKey]), format: "der", type: "spki" });
  for (const s of mine) {
    if (!verify(null, Buffer.from(text, "utf8"), publicKey, s.signature)) {
      throw new NoteError(`the signature by ${verifier.name} does not verify: the note was changed or forged`);
    }
  }
  return text;
}

export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
  /** Optional extension lines after the root hash (none are written by Cairn). */
  extensions: string[];
}

/** The checkpoint's note text: origin, decimal tree size, base64 root hash, each on its line. */
export function checkpointText(origin: string, size: number, root: Uint8Array): string {
  return `${origin}\n${size}\n${Buffer.from(root).toString("base64")}\n`;
}

export function parseCheckpoint(text: string): Checkpoint {
  const lines = text.split("\n");
  if (lines.length < 4 || lines.at(-1) !== "") throw new NoteError("a checkpoint has an origin, a tree size and a root hash, one per line");
  const [origin, sizeText, rootText] = lines as [string, string, string];
  if (!origin) throw new NoteError("the checkpoint's origin line is empty");
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    throw new NoteError(`the checkpoint's tree size "${sizeText.slice(0, 40)}" is not a decimal number`);
  }
  const root = Buffer.from(rootText, "base64");
  if (root.length !== 32 || root.toString("base64") !== rootText)
    throw new NoteError("the checkpoint's root hash is not base64 of 32 bytes");
  return { origin, size: Number(sizeText), root, extensions: lines.slice(3, -1) };
}

/** The key that signs one log's checkpoints: key name = the log's origin. */
export interface LogKey {
  logId: string;
  origin: string;
  signer: NoteSigner;
  verifierKey: string;
}

/**
 * One Ed25519 key per log (per tenant, and one for instance-level events), made on first use. The 32-byte
 * private seed is stored sealed by the KEK (AES-256-GCM, associated data naming the log), like every
 * secret; unsealed keys live in memory only.
 */
export function createAuditKeys(deps: { kek: KekProvider; originHost: string }) {
  const cache = new Map<string, LogKey>();
  const context = (logId: string) => `audit-signing-key/${logId}`;

  /** `<host>/cairn/audit/<tenant id>`; `<host>/cairn/audit/instance` for events without a tenant. */
  const originOf = (logId: string) => `${deps.originHost}/cairn/audit/${logId === "" ? "instance" : logId}`;

  async function keyOf(conn: Conn, logId: string): Promise<LogKey> {
    const hit = cache.get(logId);
    if (hit) return hit;
    let row = await conn.selectFrom("audit_signing_keys").selectAll().where("log_id", "=", logId).executeTakeFirst();
    if (!row) {
      const seed = randomBytes(32);
      const origin = originOf(logId);
      const signer = signerFromSeed(origin, seed);
      await conn
        .insertInto("audit_signing_keys")
        .values({
          log_id: logId,
          key_name: origin,
          public_key: signer.publicKey,
          private_sealed: await deps.kek.wrap(seed, context(logId)),
          kek_provider: deps.kek.id,
        })
        .onConflict((oc) => oc.column("log_id").doNothing())
        .execute();
      // Two replicas may race to make it: whichever row landed is the key.
      row = await conn.selectFrom("audit_signing_keys").selectAll().where("log_id", "=", logId).executeTakeFirstOrThrow();
    }
    const seed = await deps.kek.unwrap(row.private_sealed, context(logId));
    const signer = signerFromSeed(row.key_name, seed);
    if (!signer.publicKey.equals(Buffer.from(row.public_key)))
      throw new Error(`the stored audit signing key of log "${logId}" is inconsistent`);
    const key = { logId, origin: row.key_name, signer, verifierKey: verifierKeyString(signer) };
    // Remembered only when read outside a transaction: a transaction that made the key may still roll back.
    if (!conn.isTransaction) cache.set(logId, key);
    return key;
  }

  return { keyOf, originOf };
}

export type AuditKeys = ReturnType<typeof createAuditKeys>;
