import { sql } from "kysely";
import { serialRunner } from "../background.js";
import type { Db } from "../db/database.js";
import type { Log } from "../events/redis.js";
import { silentLog } from "../events/redis.js";
import { type AlertDocument, type ChannelType, type OpenChannel, sendAlert } from "./channels.js";
import type { ChannelSealer } from "./secrets.js";

export interface OutboxOptions {
  db: Db;
  sealer: ChannelSealer;
  log?: Log;
  allowPrivateTargets: boolean;
  /** Attempts before a delivery is `dead` (visible in the API, retried only by hand). */
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  timeoutMs: number;
  /** Poll for due deliveries this often (retries become due on their own). */
  intervalMs: number;
  /** Deliveries sent at once by this replica. */
  concurrency?: number;
  /** Replaces the sender (tests of the worker alone). */
  send?: typeof sendAlert;
}

interface Claimed {
  id: string;
  tenant_id: string;
  alert_id: string;
  channel_id: string;
  attempts: number;
}

/** Exponential backoff with "equal jitter": half the delay fixed, half random, so retries of a shared outage spread out. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/**
 * Sends queued alert deliveries. A delivery row is claimed with FOR UPDATE SKIP LOCKED and leased
 * (`locked_until`), so every replica can run a worker and each delivery goes out once; the attempt is
 * counted at the claim, the network call happens outside any transaction, and the outcome is written
 * back only if the lease is still ours (same attempt number). A failure schedules the next attempt with
 * backoff and jitter and records the error; a target that stays down delays a delivery, never drops it,
 * until `maxAttempts`, when it becomes `dead` — listed by the API and re-queued by hand.
 */
export function createOutbox(options: OutboxOptions) {
  const { db } = options;
  const log = options.log ?? silentLog;
  const send = options.send ?? sendAlert;
  const concurrency = options.concurrency ?? 4;
  const leaseSeconds = Math.ceil((options.timeoutMs * 2) / 1000) + 30;
  let started = false;
  let closing = false;
  let timer: NodeJS.Timeout | undefined;

  async function claim(limit: number): Promise<Claimed[]> {
    const result = await sql<Claimed>`
      update alert_deliveries d
      set locked_until = now() + make_interval(secs => ${leaseSeconds}), attempts = d.attempts + 1,
          last_attempt_at = now(), updated_at = now()
      where d.id in (
        select id from alert_deliveries
        where status = 'pending' and next_attempt_at <= now() and (locked_until is null or locked_until < now())
        order by next_attempt_at, id
        limit ${limit}
        for update skip locked)
      returning d.id, d.tenant_id, d.alert_id, d.channel_id, d.attempts`.execute(db);
    return result.rows;
  }

  /** Writes an outcome unless another worker has since re-claimed the delivery (its lease ran out). */
  async function settle(d: Claimed, outcome: { delivered: true } | { delivered: false; error: string; final?: "cancelled" }) {
    const now = sql`now()` as unknown as Date;
    let set: Record<string, unknown>;
    if (outcome.delivered) set = { status: "delivered", delivered_at: now, last_error: null, locked_until: null, updated_at: now };
    else if (outcome.final === "cancelled") set = { status: "cancelled", last_error: outcome.error, locked_until: null, updated_at: now };
    else if (d.attempts >= options.maxAttempts) set = { status: "dead", last_error: outcome.error, locked_until: null, updated_at: now };
    else {
      const delay = retryDelayMs(d.attempts, options.retryBaseMs, options.retryMaxMs);
      set = {
        last_error: outcome.error,
        locked_until: null,
        next_attempt_at: sql`now() + make_interval(secs => ${delay / 1000})` as unknown as Date,
        updated_at: now,
      };
    }
    await db
      .updateTable("alert_deliveries")
      .set(set)
      .where("id", "=", d.id)
      .where("attempts", "=", d.attempts)
      .where("status", "=", "pending")
      .execute();
  }

  async function deliver(d: Claimed): Promise<void> {
    const channel = await db
      .selectFrom("alert_channels")
      .selectAll()
      .where("tenant_id", "=", d.tenant_id)
      .where("id", "=", d.channel_id)
      .executeTakeFirst();
    if (!channel) return settle(d, { delivered: false, error: "the channel was deleted", final: "cancelled" });
    if (!channel.enabled) return settle(d, { delivered: false, error: "the channel is disabled", final: "cancelled" });
    const alert = await db.selectFrom("alerts").select("document").where("id", "=", d.alert_id).executeTakeFirst();
    if (!alert) return settle(d, { delivered: false, error: "the alert no longer exists", final: "cancelled" });
    const doc = (typeof alert.document === "string" ? JSON.parse(alert.document) : alert.document) as AlertDocument;
    let open: OpenChannel;
    try {
      open = {
        id: channel.id,
        type: channel.type as ChannelType,
        config: (typeof channel.config === "string" ? JSON.parse(channel.config) : channel.config) as Record<string, unknown>,
        secrets: await options.sealer.open(channel.tenant_id, channel.id, channel),
      };
    } catch {
      return settle(d, { delivered: false, error: "the channel's secrets cannot be decrypted (wrong master key?)" });
    }
    try {
      await send(open, doc, {
        deliveryId: d.id,
        allowPrivate: options.allowPrivateTargets,
        timeoutMs: options.timeoutMs,
      });
    } catch (e) {
      const error = (e as Error).message;
      log.warn({ deliveryId: d.id, channelId: d.channel_id, attempt: d.attempts, error }, "alert delivery failed; will retry");
      return settle(d, { delivered: false, error });
    }
    log.info({ deliveryId: d.id, channelId: d.channel_id, attempt: d.attempts }, "alert delivered");
    return settle(d, { delivered: true });
  }

  async function drain(): Promise<void> {
    for (;;) {
      if (closing) return;
      const batch = await claim(concurrency);
      if (batch.length === 0) return;
      await Promise.all(
        batch.map((d) =>
          deliver(d).catch((e: unknown) => {
            // The lease runs out and another attempt follows; nothing is lost.
            log.warn({ deliveryId: d.id, error: (e as Error).message }, "could not record an alert delivery's outcome");
          }),
        ),
      );
    }
  }

  const runner = serialRunner(drain, { log, what: "alert outbox", stopped: () => closing });
  const run = runner.run;

  return {
    /** Deliveries were queued: send them now rather than at the next poll. */
    kick(): void {
      if (started && !closing) void run();
    },
    /** Sends everything due now (tests). */
    async flush(): Promise<void> {
      await run();
      await runner.idle();
    },
    start(): void {
      started = true;
      timer = setInterval(() => void run(), options.intervalMs);
      timer.unref();
      void run();
    },
    async stop(): Promise<void> {
      closing = true;
      if (timer) clearInterval(timer);
      await runner.idle();
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;
