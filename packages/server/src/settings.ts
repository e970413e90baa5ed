import path from "node:path";

/**
 * Everything the server reads from its environment, parsed and checked once at boot.
 * Flags given to `cairn serve` override the environment (see `SettingsOverrides`).
 */
export interface Settings {
  host: string;
  port: number;
  /** Embedded mode: where PGlite keeps its files and where a generated master key lives. */
  dataDir: string;
  /** Unset → embedded PGlite in `dataDir`. */
  databaseUrl?: string;
  redisUrl?: string;
  /** Base64 of 32 bytes, from CAIRN_MASTER_KEY. */
  masterKey?: string;
  /** A file holding the base64 master key, from CAIRN_MASTER_KEY_FILE. */
  masterKeyFile?: string;
  bootstrapAdminKey?: string;
  maxValueBytes: number;
  maxBodyBytes: number;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** Pool size for `pg`. */
  databasePoolSize: number;
  /** Seconds a verified API key stays in the in-process cache. */
  keyCacheSeconds: number;
  /** Seconds between flushes of API key usage counters (last used, counts per hour) to the database. */
  usageFlushSeconds: number;
  /** The default per-key rate limit of a tenant without its own (`CAIRN_DEFAULT_RATE_LIMIT=<limit>/<seconds>`); unset = unlimited. */
  defaultRateLimit?: { limit: number; windowSeconds: number };
}

export type SettingsOverrides = Partial<Settings>;

export class SettingsError extends Error {
  override name = "SettingsError";
}

const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new SettingsError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return n;
}

/** `600/60` → 600 requests per 60 s; `600` alone → per 60 s. */
function rateLimit(env: NodeJS.ProcessEnv, name: string): Settings["defaultRateLimit"] {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  const m = /^(\d{1,9})(?:\s*\/\s*(\d{1,6})s?)?$/.exec(raw);
  const limit = Number(m?.[1]);
  const windowSeconds = Number(m?.[2] ?? 60);
  if (!m || limit < 1 || windowSeconds < 1 || windowSeconds > 86_400) {
    throw new SettingsError(`${name} must look like <limit>/<seconds>, e.g. 600/60 (1 ≤ seconds ≤ 86400), got "${raw}"`);
  }
  return { limit, windowSeconds };
}

function str(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === "" ? undefined : v.trim();
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env, overrides: SettingsOverrides = {}): Settings {
  const logLevel = (str(env, "CAIRN_LOG_LEVEL") ?? "info") as Settings["logLevel"];
  if (!logLevels.includes(logLevel)) {
    throw new SettingsError(`CAIRN_LOG_LEVEL must be one of ${logLevels.join(", ")}, got "${logLevel}"`);
  }
  const maxValueBytes = int(env, "CAIRN_MAX_VALUE_BYTES", 1024 * 1024, 1, 64 * 1024 * 1024);
  const settings: Settings = {
    host: str(env, "CAIRN_HOST") ?? "127.0.0.1",
    port: int(env, "CAIRN_PORT", int(env, "PORT", 8080, 0, 65535), 0, 65535),
    dataDir: str(env, "CAIRN_DATA_DIR") ?? ".cairn/data",
    databaseUrl: str(env, "DATABASE_URL"),
    redisUrl: str(env, "REDIS_URL"),
    masterKey: str(env, "CAIRN_MASTER_KEY"),
    masterKeyFile: str(env, "CAIRN_MASTER_KEY_FILE"),
    bootstrapAdminKey: str(env, "CAIRN_BOOTSTRAP_ADMIN_KEY"),
    maxValueBytes,
    // A request carries at least one value plus its envelope; bulk requests carry many.
    maxBodyBytes: int(env, "CAIRN_MAX_BODY_BYTES", Math.max(8 * 1024 * 1024, maxValueBytes * 2), 1024, 512 * 1024 * 1024),
    logLevel,
    databasePoolSize: int(env, "CAIRN_DATABASE_POOL_SIZE", 20, 1, 1000),
    keyCacheSeconds: int(env, "CAIRN_KEY_CACHE_SECONDS", 10, 0, 3600),
    usageFlushSeconds: int(env, "CAIRN_USAGE_FLUSH_SECONDS", 5, 1, 3600),
    defaultRateLimit: rateLimit(env, "CAIRN_DEFAULT_RATE_LIMIT"),
  };
  for (const [k, v] of Object.entries(overrides)) {
    if (v !== undefined) (settings as unknown as Record<string, unknown>)[k] = v;
  }
  settings.dataDir = path.resolve(settings.dataDir);
  if (settings.masterKeyFile) settings.masterKeyFile = path.resolve(settings.masterKeyFile);
  return settings;
}
