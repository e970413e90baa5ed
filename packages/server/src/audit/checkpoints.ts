import { sql } from "kysely";
import { serialRunner } from "../background.js";
import type { Conn, Db } from "../db/database.js";
import type { EventBus } from "../events/bus.js";
import { type Log, silentLog } from "../events/redis.js";
import { AUDIT_APPENDED } from "./sequencer.js";
import { type AuditKeys, checkpointText, signNote } from "./signing.js";

/** One checkpointer at a time across every replica sharing the database (the sequencer holds …_01). */
const CHECKPOINT_LOCK = 0x63616972_0c; // "cair" · checkpoint

export interface CheckpointerOptions {
  db: Db;
  keys: AuditKeys;
  bus: EventBus;
  /** Sign when a log has grown by this many events since its last checkpoint (CAIRN_AUDIT_CHECKPOINT_EVENTS). */
  everyEvents: number;
  /** …or when its last checkpoint is this old and it has grown at all (CAIRN_AUDIT_CHECKPOINT_SECONDS). */
  everySeconds: number;
  log?: Log;
}

interface DueLog {
  log_id: string;
  size: string;
  root: Uint8Array;
  last_size: string | null;
  stale: boolean;
}

/**
 * Signs checkpoints of the audit logs: a log that grew by `everyEvents` since its last checkpoint is signed
 * at once (the sequencer announces growth on the bus, `audit.appended`); one that grew at all is signed
 * when its last checkpoint is `everySeconds` old (a timer). Every replica runs one; a pass runs under an
 * advisory lock, and whoever holds it signs every log that is due, so they never sign twice.
 *
 * A checkpoint signs the size and root the sequencer stored for the log (`audit_logs`), which it updates
 * in the same transaction as the leaf indexes and subtree hashes.
 */
export function createCheckpointer(options: CheckpointerOptions) {
  const { db, keys, bus } = options;
  const log = options.log ?? silentLog;
  /** Size of each log's latest checkpoint, as far as this replica knows. */
  const signed = new Map<string, number>();
  const tickMs = Math.min(options.everySeconds, 5) * 1000;

  let stopped = true;
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;

  /** Signs the due logs (or `only` this one, whatever its age) inside a transaction holding the lock. */
  async function pass(only?: string): Promise<number> {
    return db.transaction().execute(async (trx) => {
      if (only !== undefined) await sql`select pg_advisory_xact_lock(${CHECKPOINT_LOCK})`.execute(trx);
      else if (!(await sql<{ ok: boolean }>`select pg_try_advisory_xact_lock(${CHECKPOINT_LOCK}) as ok`.execute(trx)).rows[0]?.ok) return 0;
      const due = (
        await sql<DueLog>`
          select l.log_id, l.size, l.root, c.tree_size as last_size,
                 (c.created_at is null or c.created_at <= now() - ${options.everySeconds} * interval '1 second') as stale
          from audit_logs l
          left join lateral (
            select tree_size, created_at from audit_checkpoints c where c.log_id = l.log_id order by tree_size desc limit 1
          ) c on true
          where l.size > coalesce(c.tree_size, 0) ${only !== undefined ? sql`and l.log_id = ${only}` : sql``}`.execute(trx)
      ).rows;
      let count = 0;
      for (const row of due) {
        const size = Number(row.size);
        const last = Number(row.last_size ?? 0);
        signed.set(row.log_id, last);
        if (only === undefined && !row.stale && size - last < options.everyEvents) continue;
        await sign(trx, row.log_id, size, Buffer.from(row.root));
        signed.set(row.log_id, size);
        count++;
      }
      return count;
    });
  }

  async function sign(trx: Conn, logId: string, size: number, root: Buffer) {
    const key = await keys.keyOf(trx, logId);
    const note = signNote(checkpointText(key.origin, size, root), key.signer);
    await trx
      .insertInto("audit_checkpoints")
      .values({ log_id: logId, tree_size: String(size), root, note })
      .onConflict((oc) => oc.columns(["log_id", "tree_size"]).doNothing())
      .execute();
  }

  const runner = serialRunner(async () => void (await pass()), { log, what: "audit checkpointing", stopped: () => stopped });
  const run = runner.run;

  return {
    start(): void {
      stopped = false;
      unsubscribe = bus.subscribe(AUDIT_APPENDED, (payload) => {
        const logId = typeof payload.logId === "string" ? payload.logId : undefined;
        const size = Number(payload.size);
        if (logId === undefined || !Number.isSafeInteger(size)) return;
        if (size - (signed.get(logId) ?? 0) >= options.everyEvents) void run();
      });
      timer = setInterval(() => void run(), tickMs);
      timer.unref();
    },

    /** Signs the log's current state now if it grew since its last checkpoint (waits for the lock). */
    async checkpointNow(logId: string): Promise<void> {
      await pass(logId);
    },

    async stop(): Promise<void> {
      stopped = true;
      unsubscribe?.();
      if (timer) clearInterval(timer);
      await runner.idle();
    },
  };
}

export type Checkpointer = ReturnType<typeof createCheckpointer>;
