import { createHmac, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { type Settings, SettingsError } from "../settings.js";
import { associatedData, DecryptionError, open, seal } from "./envelope.js";

/**
 * A key-encryption-key (KEK) provider wraps and unwraps data keys and the other keys Cairn keeps sealed
 * (audit HMAC and signing keys, session signing keys, alert channel keys). `context` names where the
 * wrapped key lives; a wrapped key moved elsewhere does not unwrap.
 */
export interface KekProvider {
  /** The provider that wraps new keys: `local`, `aws-kms` or `vault-transit` (stored in `kek_provider` columns). */
  readonly id: string;
  wrap(dataKey: Buffer, context: string): Promise<Buffer>;
  unwrap(wrapped: Buffer, context: string): Promise<Buffer>;
  /** A fresh 32-byte data key and its wrapped form in one call (KMS GenerateDataKey), when the provider has it. */
  generate?(context: string): Promise<{ plaintext: Buffer; wrapped: Buffer }>;
}

/** One wrapping key of one provider, producing raw ciphertexts (the ring adds the header naming the key). */
export interface KekBackend {
  readonly kind: "local" | "aws-kms" | "vault-transit";
  /** Names the key inside its provider: a fingerprint, a KMS key id, a transit mount/key. */
  readonly ref: string;
  wrap(plaintext: Buffer, context: string): Promise<Buffer>;
  /** Unwraps what the key `ref` of this provider wrapped (remote providers can name other keys than their own). */
  unwrap(ref: string, raw: Buffer, context: string): Promise<Buffer>;
  canUnwrap(ref: string): boolean;
  generate?(context: string): Promise<{ plaintext: Buffer; wrapped: Buffer }>;
}

/**
 * The current KEK plus the ones that still unwrap. Every wrapped blob starts with a header naming the KEK
 * that wrapped it — `0x4B 0x01 <len> "<provider>:<ref>"` — so unwrapping picks the right key during a
 * rotation, and the rotation job finds what is not yet under the current key with one SQL prefix test.
 * Blobs from before headers existed (`0x01 …`, local master key) still unwrap with any local key.
 */
export interface KekRing extends KekProvider {
  /** The header every blob wrapped now starts with. */
  readonly header: Buffer;
  /** `<provider>:<ref>` of the current KEK. */
  readonly currentKek: string;
  isCurrent(wrapped: Buffer): boolean;
  /** `<provider>:<ref>` that wrapped this blob (`local:legacy` for header-less blobs). */
  kekOf(wrapped: Buffer): string;
}

const MAGIC = 0x4b;
const HEADER_VERSION = 1;

function headerOf(backend: KekBackend): Buffer {
  const id = Buffer.from(`${backend.kind}:${backend.ref}`, "utf8");
  if (id.length > 255) throw new SettingsError(`the KEK name ${backend.kind}:${backend.ref} is too long (255 bytes at most)`);
  return Buffer.concat([Buffer.of(MAGIC, HEADER_VERSION, id.length), id]);
}

/** Drivers hand bytea back as Buffer (pg) or plain Uint8Array (PGlite), whose toString is not Buffer's. */
const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function parse(blob: Uint8Array): { kind: string; ref: string; raw: Buffer } | { legacy: true; raw: Buffer } {
  const wrapped = asBuffer(blob);
  if (wrapped[0] === 1) return { legacy: true, raw: wrapped };
  if (wrapped.length < 4 || wrapped[0] !== MAGIC || wrapped[1] !== HEADER_VERSION || wrapped.length < 3 + (wrapped[2] ?? 0)) {
    throw new DecryptionError("wrapped key has an unknown format");
  }
  const id = wrapped.subarray(3, 3 + (wrapped[2] ?? 0)).toString("utf8");
  const colon = id.indexOf(":");
  if (colon < 1) throw new DecryptionError("wrapped key names no KEK");
  return { kind: id.slice(0, colon), ref: id.slice(colon + 1), raw: wrapped.subarray(3 + (wrapped[2] ?? 0)) };
}

export function createKekRing(current: KekBackend, others: KekBackend[] = []): KekRing {
  const header = headerOf(current);
  const all = [current, ...others];
  const locals = all.filter((b) => b.kind === "local");

  async function unwrapLocal(ref: string | undefined, raw: Buffer, context: string): Promise<Buffer> {
    // The named key first; a header whose fingerprint matches none (or a legacy blob) tries them all.
    const ordered = [...locals.filter((b) => b.ref === ref), ...locals.filter((b) => b.ref !== ref)];
    for (const b of ordered) {
      try {
        return await b.unwrap(b.ref, raw, context);
      } catch (e) {
        if (!(e instanceof DecryptionError)) throw e;
      }
    }
    throw new DecryptionError(
      "wrapped key does not open with any configured master key (tampered, moved, or wrapped by a master key missing from CAIRN_MASTER_KEYS_PREVIOUS)",
    );
  }

  const withHeader = (raw: Buffer) => Buffer.concat([header, raw]);

  return {
    id: current.kind,
    header,
    currentKek: `${current.kind}:${current.ref}`,
    async wrap(dataKey, context) {
      return withHeader(await current.wrap(dataKey, context));
    },
    async unwrap(wrapped, context) {
      const p = parse(wrapped);
      if ("legacy" in p) return unwrapLocal(undefined, p.raw, context);
      if (p.kind === "local") return unwrapLocal(p.ref, p.raw, context);
      const backend = all.find((b) => b.kind === p.kind && b.canUnwrap(p.ref));
      if (!backend) {
        throw new SettingsError(
          `a stored key was wrapped by ${p.kind}:${p.ref}, which this server is not configured for; configure that provider (CAIRN_KEK_PROVIDER) until a master-key rotation moved everything off it`,
        );
      }
      return backend.unwrap(p.ref, p.raw, context);
    },
    ...(current.generate
      ? {
          async generate(context: string) {
            const made = await current.generate!(context);
            return { plaintext: made.plaintext, wrapped: withHeader(made.wrapped) };
          },
        }
      : {}),
    isCurrent: (wrapped) => wrapped.length >= header.length && asBuffer(wrapped).subarray(0, header.length).equals(header),
    kekOf(wrapped) {
      try {
        const p = parse(wrapped);
        return "legacy" in p ? "local:legacy" : `${p.kind}:${p.ref}`;
      } catch {
        return "unknown";
      }
    },
  };
}

function decodeMasterKey(raw: string, source: string): Buffer {
  const key = Buffer.from(raw.trim(), "base64");
  if (key.length !== 32 || key.toString("base64") !== raw.trim()) {
    throw new SettingsError(`${source} must be base64 of exactly 32 bytes. Make one with: openssl rand -base64 32`);
  }
  return key;
}

export async function loadMasterKey(
  settings: Settings,
  options: { create?: boolean } = {},
): Promise<{ key: Buffer; generatedAt?: string }> {
  const create = options.create ?? true;
  if (settings.masterKey) return { key: decodeMasterKey(settings.masterKey, "CAIRN_MASTER_KEY") };
  if (settings.masterKeyFile) {
    let raw: string;
    try {
      raw = await readFile(settings.masterKeyFile, "utf8");
    } catch {
      throw new SettingsError(`CAIRN_MASTER_KEY_FILE ${settings.masterKeyFile} cannot be read`);
    }
    return { key: decodeMasterKey(raw, `the master key file ${settings.masterKeyFile}`) };
  }
  if (settings.databaseUrl) {
    throw new SettingsError(
      "DATABASE_URL is set but no master key is configured. Cairn will not invent a key for a shared database: " +
        "make one with `openssl rand -base64 32` and pass it as CAIRN_MASTER_KEY (or put it in a file named by " +
        "CAIRN_MASTER_KEY_FILE). Keep it safe: without it nothing stored can be decrypted.",
    );
  }
  const file = path.join(settings.dataDir, "master.key");
  try {
    return { key: decodeMasterKey(await readFile(file, "utf8"), `the master key file ${file}`) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT" || !create) throw e;
  }
  await mkdir(settings.dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  // `wx` fails if another process created it first; then we read theirs.
  try {
    await writeFile(file, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return loadMasterKey(settings);
    throw e;
  }
  await chmod(file, 0o600);
  return { key, generatedAt: file };
}

/** A master key's public name: 8 bytes of an HMAC under it (reveals nothing about the key). */
export const masterKeyFingerprint = (masterKey: Buffer) =>
  createHmac("sha256", masterKey).update("cairn/kek-fingerprint").digest().subarray(0, 8).toString("hex");

/** The `local` provider's key: AES-256-GCM under the master key, the context as associated data. */
export function localKekBackend(masterKey: Buffer): KekBackend {
  const ref = masterKeyFingerprint(masterKey);
  return {
    kind: "local",
    ref,
    canUnwrap: (r) => r === ref,
    async wrap(dataKey, context) {
      return seal(masterKey, dataKey, associatedData("dek", context));
    },
    async unwrap(_ref, raw, context) {
      return open(masterKey, raw, associatedData("dek", context));
    },
  };
}

/** A ring of one local master key (tests, tools). */
export const localKekProvider = (masterKey: Buffer): KekRing => createKekRing(localKekBackend(masterKey));

/**
 * The KEK ring from settings: the configured provider wraps; older master keys (CAIRN_MASTER_KEYS_PREVIOUS,
 * and CAIRN_MASTER_KEY / the data dir's master.key when a remote provider is configured) still unwrap.
 */
export async function loadKek(settings: Settings): Promise<{ kek: KekRing; generatedMasterKeyFile?: string }> {
  const previous = settings.masterKeysPrevious.map((k, i) =>
    localKekBackend(decodeMasterKey(k, `CAIRN_MASTER_KEYS_PREVIOUS entry ${i + 1}`)),
  );
  if (settings.kekProvider === "local") {
    const master = await loadMasterKey(settings);
    return { kek: createKekRing(localKekBackend(master.key), previous), generatedMasterKeyFile: master.generatedAt };
  }
  let current: KekBackend;
  if (settings.kekProvider === "aws-kms") {
    const { awsKmsKekBackend } = await import("./kek-aws-kms.js");
    current = awsKmsKekBackend(settings.awsKms!);
  } else {
    const { vaultTransitKekBackend } = await import("./kek-vault.js");
    current = vaultTransitKekBackend(settings.vaultTransit!);
  }
  // A master key still around (moving from local to a remote provider) keeps unwrapping what it wrapped.
  const old: KekBackend[] = [];
  if (settings.masterKey || settings.masterKeyFile || !settings.databaseUrl) {
    const master = await loadMasterKey(settings, { create: false }).catch((e) => {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    });
    if (master) old.push(localKekBackend(master.key));
  }
  return { kek: createKekRing(current, [...old, ...previous]) };
}
