import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "./files.js";
import type { Snapshot } from "./snapshot.js";

/**
 * The agent's disk cache: the last snapshot, sealed with AES-256-GCM so the file holds no value in clear.
 *
 * The key is derived with HKDF-SHA256 from a secret the agent already holds — its API key, or `--cache-key`
 * — with a fresh random salt per write, and bound (HKDF info and GCM associated data) to the server URL,
 * namespace and environment, so a file copied to another agent's slot does not open. The file is written
 * atomically with mode 0600 in a 0700 directory. A file that does not open (another key, tampering, an old
 * format) is ignored and replaced on the next write.
 */
export interface DiskCache {
  readonly path: string;
  load(): Promise<Snapshot | undefined>;
  save(snapshot: Snapshot): Promise<void>;
}

const FORMAT = "cairn-agent-cache";
const VERSION = 1;

interface SealedFile {
  format: typeof FORMAT;
  version: typeof VERSION;
  kdf: "hkdf-sha256";
  cipher: "aes-256-gcm";
  salt: string;
  iv: string;
  tag: string;
  data: string;
}

export interface CacheScope {
  url: string;
  namespace: string;
  environment: string;
}

/** `$XDG_CACHE_HOME/cairn/agent`, else `~/.cache/cairn/agent`. */
export function defaultCacheDir(env = process.env): string {
  const base = env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "cairn", "agent");
}

export class CacheUnreadableError extends Error {
  override name = "CacheUnreadableError";
}

export function createDiskCache(dir: string, secret: string, scope: CacheScope): DiskCache {
  const binding = ["cairn-agent-cache/v1", scope.url, scope.namespace, scope.environment].join("\0");
  // One file per server + namespace + environment; the name says nothing of them.
  const name = createHash("sha256").update(binding).digest("hex").slice(0, 32);
  const path = join(dir, `${name}.cache`);
  const keyFor = (salt: Buffer) => Buffer.from(hkdfSync("sha256", Buffer.from(secret, "utf8"), salt, binding, 32));
  const aad = Buffer.from(binding, "utf8");

  return {
    path,

    async load() {
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw e;
      }
      try {
        const sealed = JSON.parse(text) as SealedFile;
        if (sealed.format !== FORMAT || sealed.version !== VERSION) throw new Error("not a cache file of this version");
        const salt = Buffer.from(sealed.salt, "base64");
        const decipher = createDecipheriv("aes-256-gcm", keyFor(salt), Buffer.from(sealed.iv, "base64"));
        decipher.setAAD(aad);
        decipher.setAuthTag(Buffer.from(sealed.tag, "base64"));
        const plain = Buffer.concat([decipher.update(Buffer.from(sealed.data, "base64")), decipher.final()]);
        const snapshot = JSON.parse(plain.toString("utf8")) as Snapshot;
        if (snapshot.namespace !== scope.namespace || snapshot.environment !== scope.environment || !Array.isArray(snapshot.items)) {
          throw new Error("the cache is for another namespace or environment");
        }
        return snapshot;
      } catch (e) {
        throw new CacheUnreadableError(
          `the disk cache ${path} does not open (${(e as Error).message || "authentication failed"}): a different token or --cache-key, or a damaged file; it will be replaced`,
        );
      }
    },

    async save(snapshot) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await chmod(dir, 0o700).catch(() => undefined);
      const salt = randomBytes(16);
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", keyFor(salt), iv);
      cipher.setAAD(aad);
      const data = Buffer.concat([cipher.update(Buffer.from(JSON.stringify(snapshot), "utf8")), cipher.final()]);
      const sealed: SealedFile = {
        format: FORMAT,
        version: VERSION,
        kdf: "hkdf-sha256",
        cipher: "aes-256-gcm",
        salt: salt.toString("base64"),
        iv: iv.toString("base64"),
        tag: cipher.getAuthTag().toString("base64"),
        data: data.toString("base64"),
      };
      await writeFileAtomic(path, `${JSON.stringify(sealed)}\n`, { mode: 0o600, keepMode: false });
    },
  };
}
