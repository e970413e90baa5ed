import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { type Settings, SettingsError } from "../settings.js";
import { associatedData, open, seal } from "./envelope.js";

/**
 * A key-encryption-key provider wraps and unwraps data keys. `local` keeps the master key in memory,
 * from CAIRN_MASTER_KEY, CAIRN_MASTER_KEY_FILE, or (embedded mode only) `<data-dir>/master.key`.
 * Cloud KMS providers plug in behind the same interface.
 */
export interface KekProvider {
  readonly id: string;
  wrap(dataKey: Buffer, context: string): Promise<Buffer>;
  unwrap(wrapped: Buffer, context: string): Promise<Buffer>;
}

function decodeMasterKey(raw: string, source: string): Buffer {
  const key = Buffer.from(raw.trim(), "base64");
  if (key.length !== 32 || key.toString("base64") !== raw.trim()) {
    throw new SettingsError(`${source} must be base64 of exactly 32 bytes. Make one with: openssl rand -base64 32`);
  }
  return key;
}

export async function loadMasterKey(settings: Settings): Promise<{ key: Buffer; generatedAt?: string }> {
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
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
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

export function localKekProvider(masterKey: Buffer): KekProvider {
  return {
    id: "local",
    async wrap(dataKey, context) {
      return seal(masterKey, dataKey, associatedData("dek", context));
    },
    async unwrap(wrapped, context) {
      return open(masterKey, wrapped, associatedData("dek", context));
    },
  };
}
