import { Redis, type RedisOptions } from "ioredis";
import { SettingsError } from "../settings.js";

/** The slice of a pino/Fastify logger the infrastructure code writes to. */
export interface Log {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export const silentLog: Log = { warn() {}, info() {} };

/** `redis://user:secret@host:6379/0` → `redis://user:***@host:6379/0`: URLs go into messages and logs without their password. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable URL)";
  }
}

const options: RedisOptions = {
  lazyConnect: true,
  connectTimeout: 5_000,
  // A command while Redis is away fails at once (callers fall back or report) instead of queueing behind a hang.
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
};

/**
 * Connects to Redis or throws a `SettingsError` saying why: a server configured with REDIS_URL must not start
 * without it. After the start, ioredis reconnects by itself; each loss and each recovery is logged once.
 */
export async function connectRedis(url: string, log: Log, name = "cairn", extra: RedisOptions = {}): Promise<Redis> {
  const client = new Redis(url, { ...options, connectionName: name, ...extra });
  let lastError: Error | undefined;
  let started = false;
  let down = false;
  client.on("error", (err: Error) => {
    lastError = err;
    if (started && !down) {
      down = true;
      log.warn({ redis: redactUrl(url), connection: name, error: err.message }, "lost the connection to Redis; reconnecting");
    }
  });
  client.on("close", () => {
    if (started && !down && client.status !== "end") {
      down = true;
      log.warn({ redis: redactUrl(url), connection: name }, "the Redis connection closed; reconnecting");
    }
  });
  client.on("ready", () => {
    if (down) log.info({ redis: redactUrl(url), connection: name }, "reconnected to Redis");
    down = false;
  });
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    client.disconnect();
    const why = lastError?.message ?? (e as Error).message;
    throw new SettingsError(
      `cannot connect to Redis at ${redactUrl(url)} (REDIS_URL): ${why}. Start Redis, fix REDIS_URL, or unset it to run without Redis.`,
    );
  }
  started = true;
  return client;
}

/** Closes a client politely, or forcibly when Redis is unreachable (QUIT would wait for it). */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === "ready") {
    await client.quit().catch(() => client.disconnect());
  } else {
    client.disconnect();
  }
}
