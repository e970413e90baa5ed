import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import pg from "pg";
import type { Settings } from "../settings.js";
import { SettingsError } from "../settings.js";
import { closeRedis, connectRedis, type Log, redactUrl, silentLog } from "./redis.js";

/** Payloads are small JSON objects naming what changed (ids), never a secret. */
export type EventPayload = Record<string, unknown>;
export type EventHandler = (payload: EventPayload) => void;

/**
 * Fan-out of "something changed" messages between replicas, so each can drop what it cached.
 * Channels in use: `keys.changed` {keyId}, `authz.changed` {tenantId}, `tenants.changed` {tenantId}.
 */
export interface EventBus {
  readonly kind: "redis" | "postgres" | "memory";
  /**
   * Delivers to this process's subscribers at once, then to every other replica. Never throws: when the
   * transport is down the failure is logged (the other replicas' caches then expire on their own).
   */
  publish(channel: string, payload: object): Promise<void>;
  /**
   * Redis only: delivers to this process's subscribers at once and returns the message for the other
   * replicas, for a caller that PUBLISHes it itself in one Redis script with a change it must follow.
   */
  relay?(channel: string, payload: object): { channel: string; message: string };
  /** Returns the unsubscribe function. */
  subscribe(channel: string, handler: EventHandler): () => void;
  /**
   * Called when the connection to the transport came back after a loss: messages may have been missed
   * meanwhile, so whoever caches should drop everything.
   */
  onGap(handler: () => void): () => void;
  close(): Promise<void>;
}

/** The one Redis channel and the one PostgreSQL NOTIFY channel all events travel on. */
export const REDIS_CHANNEL = "cairn:events";
export const PG_CHANNEL = "cairn_events";

interface Envelope {
  /** origin: the publishing process, which has already delivered locally. */
  o: string;
  c: string;
  p: EventPayload;
}

function localDispatcher(log: Log) {
  const handlers = new Map<string, Set<EventHandler>>();
  const gapHandlers = new Set<() => void>();
  return {
    dispatch(channel: string, payload: EventPayload) {
      for (const handler of handlers.get(channel) ?? []) {
        try {
          handler(payload);
        } catch (e) {
          log.warn({ channel, error: (e as Error).message }, "an event handler failed");
        }
      }
    },
    gap() {
      for (const handler of gapHandlers) {
        try {
          handler();
        } catch (e) {
          log.warn({ error: (e as Error).message }, "an event gap handler failed");
        }
      }
    },
    subscribe(channel: string, handler: EventHandler): () => void {
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
      }
      set.add(handler);
      return () => set.delete(handler);
    },
    onGap(handler: () => void): () => void {
      gapHandlers.add(handler);
      return () => gapHandlers.delete(handler);
    },
    clear() {
      handlers.clear();
      gapHandlers.clear();
    },
  };
}

function parseEnvelope(raw: string): Envelope | undefined {
  try {
    const e = JSON.parse(raw) as Envelope;
    if (typeof e?.o === "string" && typeof e.c === "string" && e.p && typeof e.p === "object") return e;
  } catch {
    // not ours
  }
  return undefined;
}

/**
 * Redis pub/sub when REDIS_URL is set, PostgreSQL LISTEN/NOTIFY when only DATABASE_URL is, in-process
 * otherwise (the embedded store is one process's database anyway). A connection that fails at start
 * refuses the start with a clear message; a later loss is logged, retried, and reported to `onGap`.
 *
 * `redis`, when given, is used to publish (it is shared with the rate limiter); subscribing always takes
 * a connection of its own, as Redis requires.
 */
export async function createEventBus(
  settings: Pick<Settings, "redisUrl" | "databaseUrl">,
  options: { log?: Log; redis?: Redis /** Names the connections (Redis CLIENT LIST, pg_stat_activity). */; name?: string } = {},
): Promise<EventBus> {
  const log = options.log ?? silentLog;
  const name = options.name ?? "cairn-events";
  if (settings.redisUrl) return redisBus(settings.redisUrl, log, name, options.redis);
  if (settings.databaseUrl) return postgresBus(settings.databaseUrl, log, name);
  return memoryBus(log);
}

function memoryBus(log: Log): EventBus {
  const local = localDispatcher(log);
  return {
    kind: "memory",
    async publish(channel, payload) {
      local.dispatch(channel, { ...payload });
    },
    subscribe: local.subscribe,
    onGap: local.onGap,
    async close() {
      local.clear();
    },
  };
}

async function redisBus(url: string, log: Log, name: string, shared?: Redis): Promise<EventBus> {
  const origin = randomBytes(9).toString("base64url");
  const local = localDispatcher(log);
  const pub = shared ?? (await connectRedis(url, log, `${name}-pub`));
  let sub: Redis;
  try {
    sub = await connectRedis(url, log, `${name}-sub`);
  } catch (e) {
    if (!shared) await closeRedis(pub);
    throw e;
  }
  sub.on("message", (channel: string, raw: string) => {
    if (channel !== REDIS_CHANNEL) return;
    const envelope = parseEnvelope(raw);
    if (envelope && envelope.o !== origin) local.dispatch(envelope.c, envelope.p);
  });
  let lost = false;
  let closing = false;
  sub.on("close", () => {
    if (!closing) lost = true;
  });
  sub.on("ready", () => {
    if (!lost) return;
    lost = false;
    // ioredis re-subscribes on reconnect; a PING answered after that proves the subscription is live again.
    sub
      .ping()
      .catch(() => undefined)
      .finally(() => local.gap());
  });
  await sub.subscribe(REDIS_CHANNEL);

  return {
    kind: "redis",
    async publish(channel, payload) {
      local.dispatch(channel, { ...payload });
      try {
        await pub.publish(REDIS_CHANNEL, JSON.stringify({ o: origin, c: channel, p: payload as EventPayload } satisfies Envelope));
      } catch (e) {
        log.warn({ channel, error: (e as Error).message }, "could not publish an event to Redis; other replicas will expire their caches");
      }
    },
    relay(channel, payload) {
      local.dispatch(channel, { ...payload });
      return { channel: REDIS_CHANNEL, message: JSON.stringify({ o: origin, c: channel, p: payload as EventPayload } satisfies Envelope) };
    },
    subscribe: local.subscribe,
    onGap: local.onGap,
    async close() {
      closing = true;
      local.clear();
      await closeRedis(sub);
      if (!shared) await closeRedis(pub);
    },
  };
}

async function postgresBus(url: string, log: Log, name: string): Promise<EventBus> {
  const origin = randomBytes(9).toString("base64url");
  const local = localDispatcher(log);
  let client: pg.Client | undefined;
  let closing = false;
  let retry: NodeJS.Timeout | undefined;
  let attempt = 0;

  const onNotification = (msg: pg.Notification) => {
    if (msg.channel !== PG_CHANNEL || !msg.payload) return;
    const envelope = parseEnvelope(msg.payload);
    if (envelope && envelope.o !== origin) local.dispatch(envelope.c, envelope.p);
  };

  async function connect(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, application_name: name });
    c.on("error", () => {}); // reported by "end" below; an unhandled "error" would crash the process
    try {
      await c.connect();
      await c.query(`LISTEN ${PG_CHANNEL}`);
    } catch (e) {
      await c.end().catch(() => {});
      throw e;
    }
    c.on("notification", onNotification);
    c.once("end", () => {
      if (client !== c) return;
      client = undefined;
      if (closing) return;
      log.warn({ database: redactUrl(url) }, "lost the PostgreSQL event connection (LISTEN); reconnecting");
      scheduleReconnect();
    });
    return c;
  }

  function scheduleReconnect() {
    if (closing) return;
    const delay = Math.min(100 * 2 ** attempt++, 5_000);
    retry = setTimeout(async () => {
      try {
        const c = await connect();
        if (closing) {
          await c.end().catch(() => {});
          return;
        }
        client = c;
        attempt = 0;
        log.info({ database: redactUrl(url) }, "reconnected the PostgreSQL event connection");
        local.gap();
      } catch {
        scheduleReconnect();
      }
    }, delay);
    retry.unref();
  }

  /**
   * Messages waiting to be sent. One query at a time on the connection, each sending everything queued
   * meanwhile (in order, one transaction), so a burst of writes costs a few NOTIFY round trips, not one each.
   */
  const outbox: { channel: string; text: string; resolve: () => void }[] = [];
  let sending = false;
  async function pump(): Promise<void> {
    if (sending) return;
    sending = true;
    while (outbox.length > 0) {
      const batch = outbox.splice(0, 200);
      const c = client;
      try {
        if (!c) throw new Error("not connected");
        await c.query("select pg_notify($1, m) from unnest($2::text[]) with ordinality as t(m, n) order by n", [
          PG_CHANNEL,
          batch.map((b) => b.text),
        ]);
      } catch (e) {
        const channels = [...new Set(batch.map((b) => b.channel))];
        log.warn({ channels, error: (e as Error).message }, "could not NOTIFY an event; other replicas will expire their caches");
      }
      for (const b of batch) b.resolve();
    }
    sending = false;
  }

  try {
    client = await connect();
  } catch (e) {
    throw new SettingsError(`cannot open the event connection to PostgreSQL at ${redactUrl(url)} (DATABASE_URL): ${(e as Error).message}`);
  }

  return {
    kind: "postgres",
    async publish(channel, payload) {
      local.dispatch(channel, { ...payload });
      const text = JSON.stringify({ o: origin, c: channel, p: payload as EventPayload } satisfies Envelope);
      await new Promise<void>((resolve) => {
        outbox.push({ channel, text, resolve });
        void pump();
      });
    },
    subscribe: local.subscribe,
    onGap: local.onGap,
    async close() {
      closing = true;
      if (retry) clearTimeout(retry);
      local.clear();
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
