import { rm, stat } from "node:fs/promises";
import { sql } from "kysely";
import { type CallContext, systemContext } from "../auth/actor.js";
import type { Db } from "../db/database.js";
import type { AuditRepository } from "../domains/audit/repository.js";
import { CairnError } from "../errors.js";
import { type Log, silentLog } from "../events/redis.js";
import { type ArchiveRange, archiveFileOf, archiveLines, verifyArchiveFile, writeArchiveFile } from "./archive.js";
import type { Checkpointer } from "./checkpoints.js";
import type { AuditLog } from "./log.js";
import { ensurePartitions, listPartitions, type MonthPartition } from "./partitions.js";
import type { AuditKeys } from "./signing.js";
import { describeVerification } from "./verify.js";

/** One retention run at a time across every replica (session-level advisory lock on PostgreSQL). */
const RETENTION_LOCK = 0x63616972_0a; // "cair" · archive

export interface ArchiveWritten {
  logId: string;
  origin: string;
  fromIndex: number;
  /** Exclusive. */
  toIndex: number;
  events: number;
  file: string;
  sha256: string;
  bytes: number;
}

export interface PartitionOutcome {
  partition: string;
  month: string;
  /** `archived`: written, verified, detached and dropped. `waiting`: kept for a later run (see reason). `failed`: kept, see reason. */
  status: "archived" | "waiting" | "failed";
  reason?: string;
  /** Rows the partition held. */
  events: number;
  archives: ArchiveWritten[];
}

export interface RetentionRun {
  retentionDays: number | null;
  /** Month partitions that ended before this instant are due. */
  cutoff: string | null;
  archiveDir: string;
  /** Partitions created ahead of time (or to take rows out of DEFAULT) by this run. */
  created: string[];
  partitions: PartitionOutcome[];
}

export interface ArchivedRange {
  /** Leaves [0, end) of the log were archived (some may still be in the database, see below). */
  end: number;
  archives: { fromIndex: number; toIndex: number; month: string; file: string; sha256: string }[];
}

export interface RetentionOptions {
  db: Db;
  kind: "postgres" | "pglite";
  repo: AuditRepository;
  keys: AuditKeys;
  checkpointer: Pick<Checkpointer, "checkpointNow">;
  audit: AuditLog;
  /** `CAIRN_AUDIT_RETENTION_DAYS`; undefined = keep forever (partitions are still created ahead). */
  retentionDays?: number;
  archiveDir: string;
  log?: Log;
  /** Between two runs of the timer. */
  intervalMs?: number;
  /** The clock (tests). */
  now?: () => Date;
}

/**
 * Audit retention. Every run (at start, on a timer, `POST /audit/retention/run`, `cairn audit archive`):
 *
 * 1. creates the month partitions ahead of time (src/audit/partitions.ts);
 * 2. for each month partition whose whole month ended more than `retentionDays` ago, oldest first, per log
 *    of its events: writes the archive of the leaves [archived so far, last leaf of the partition + 1) —
 *    gzip NDJSON in the export format, fsynced — reads it back from disk and verifies it with the offline
 *    verifier against the log's own key, and records it (audit_archives, and an `audit.archived` event in
 *    the log itself). Only when every log of the partition is archived through its last leaf is the
 *    partition DETACHed and DROPped. Nothing is dropped on any failure: the run says why and the next retries.
 *
 * Month boundaries: events are sequenced after they commit, so a log's last leaves of a month can come
 * after its first leaves of the next month. An archive is always a contiguous leaf range (that is what
 * makes it verifiable alone), so it takes those few events of the next month too; they stay in the
 * database with their partition until it is archived, which then starts after them. A partition with
 * events not yet sequenced waits for the sequencer.
 *
 * The Merkle tree (audit_tree_nodes, audit_logs) and the checkpoints are never archived: proofs and
 * checkpoints keep working for archived leaves, and the export of a log starts where its archives end.
 */
export function createAuditRetention(options: RetentionOptions) {
  const { db } = options;
  const log = options.log ?? silentLog;
  const now = options.now ?? (() => new Date());
  const intervalMs = options.intervalMs ?? 3_600_000;
  let queue: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  /** Runs `fn` holding the retention lock; undefined when another replica holds it. */
  async function locked<T>(fn: () => Promise<T>): Promise<T | undefined> {
    // Embedded PGlite belongs to one process (the data directory's lock file): the in-process queue suffices.
    if (options.kind === "pglite") return fn();
    return db.connection().execute(async (conn) => {
      const got = await sql<{ ok: boolean }>`select pg_try_advisory_lock(${RETENTION_LOCK}) as ok`.execute(conn);
      if (!got.rows[0]?.ok) return undefined;
      try {
        return await fn();
      } finally {
        await sql`select pg_advisory_unlock(${RETENTION_LOCK})`.execute(conn).catch(() => {});
      }
    });
  }

  /** In-process: one run after the other. */
  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = queue.then(fn, fn);
    queue = next.catch(() => {});
    return next;
  }

  async function archivedThrough(logId: string): Promise<number> {
    const row = await db
      .selectFrom("audit_archives")
      .select((eb) => eb.fn.max("end_index").as("end"))
      .where("log_id", "=", logId)
      .executeTakeFirst();
    return row?.end == null ? 0 : Number(row.end);
  }

  async function archivePartition(p: MonthPartition, ctx: CallContext | undefined): Promise<PartitionOutcome> {
    const outcome: PartitionOutcome = { partition: p.name, month: p.month, status: "waiting", events: 0, archives: [] };
    const logs = (
      await sql<{ log_id: string; events: string; max_leaf: string | null; unsequenced: string }>`
        select coalesce(tenant_id, '') as log_id, count(*) as events, max(leaf_index) as max_leaf,
               count(*) filter (where leaf_index is null) as unsequenced
        from ${sql.id(p.name)} group by 1 order by 1`.execute(db)
    ).rows;
    outcome.events = logs.reduce((n, l) => n + Number(l.events), 0);
    const unsequenced = logs.reduce((n, l) => n + Number(l.unsequenced), 0);
    if (unsequenced > 0) {
      outcome.reason = `${unsequenced} of its events are not sequenced into the Merkle log yet; archived once they are`;
      log.warn({ partition: p.name, unsequenced }, "audit retention: partition waits for the sequencer");
      return outcome;
    }
    for (const l of logs) {
      const through = await archivedThrough(l.log_id);
      const end = Number(l.max_leaf) + 1;
      if (end <= through) continue; // every event of this log in the partition is in earlier archives already
      const range: ArchiveRange = { logId: l.log_id, start: through, end, month: p.month, partition: p.name };
      try {
        outcome.archives.push(await archiveRange(range, Number(l.events), ctx));
      } catch (e) {
        outcome.status = "failed";
        outcome.reason = `archive of log "${l.log_id}" leaves ${range.start}..${range.end - 1} failed: ${(e as Error).message}`;
        log.warn({ partition: p.name, logId: l.log_id, error: (e as Error).message }, "audit retention: archive failed, nothing dropped");
        return outcome;
      }
    }
    // Every event of the partition is in a written, verified archive: only now may the partition go.
    for (const l of logs) {
      const through = await archivedThrough(l.log_id);
      if (Number(l.max_leaf) >= through) {
        outcome.status = "failed";
        outcome.reason = `log "${l.log_id}" is archived through leaf ${through - 1} only, the partition holds leaf ${l.max_leaf}`;
        return outcome;
      }
    }
    const files = await db.selectFrom("audit_archives").select("file").where("partition_name", "=", p.name).execute();
    for (const { file } of files) {
      if (!(await stat(file).catch(() => undefined))) {
        outcome.status = "failed";
        outcome.reason = `the archive ${file} recorded for this partition is missing from disk; nothing dropped`;
        log.warn({ partition: p.name, file }, "audit retention: recorded archive missing, nothing dropped");
        return outcome;
      }
    }
    try {
      await db.transaction().execute(async (trx) => {
        await sql`set local lock_timeout = '10s'`.execute(trx);
        await sql`alter table audit_events detach partition ${sql.id(p.name)}`.execute(trx);
        // Rows are never deleted (trigger) and all were sequenced: the same count means the same rows as checked above.
        const { rows } = await sql<{ n: string }>`select count(*) as n from ${sql.id(p.name)}`.execute(trx);
        if (Number(rows[0]?.n) !== outcome.events) {
          throw new Error(`the partition changed while it was archived (${outcome.events} → ${rows[0]?.n} events)`);
        }
        await sql`drop table ${sql.id(p.name)}`.execute(trx);
      });
    } catch (e) {
      outcome.status = "failed";
      outcome.reason = `detach/drop failed: ${(e as Error).message}; kept, retried on the next run`;
      log.warn({ partition: p.name, error: (e as Error).message }, "audit retention: drop failed");
      return outcome;
    }
    outcome.status = "archived";
    log.info(
      { partition: p.name, events: outcome.events, archives: outcome.archives.map((a) => a.file) },
      "audit retention: partition archived and dropped",
    );
    return outcome;
  }

  /** Writes, reads back, verifies and records one archive. Throws (recording nothing) when any step fails. */
  async function archiveRange(range: ArchiveRange, inPartition: number, ctx: CallContext | undefined): Promise<ArchiveWritten> {
    const file = archiveFileOf(options.archiveDir, range);
    const key = await options.keys.keyOf(db, range.logId);
    await writeArchiveFile(file, await archiveLines(options, range));
    const { result, sha256, bytes } = await verifyArchiveFile(file, { publicKey: key.verifierKey, origin: key.origin });
    const events = range.end - range.start;
    if (!result.ok) {
      // What the database holds does not verify against the log's own signatures: tampering, or a broken log.
      // The file is no archive; the alert rule audit-verify-failed hears about it.
      await rm(file, { force: true });
      await options.audit.append(db, {
        tenantId: range.logId === "" ? null : range.logId,
        eventType: "audit.verify_failed",
        action: "verify",
        result: "failure",
        ctx: ctx ?? systemContext(range.logId),
        resource: { type: "audit", id: range.logId },
        metadata: {
          source: "retention",
          fromIndex: range.start,
          toIndex: range.end,
          index: result.failure?.index ?? null,
          checkpoint: result.failure?.checkpoint ?? null,
          reason: result.failure?.reason ?? null,
        },
      });
      throw new Error(`the archive of the log as stored does not verify (${describeVerification(result)}); nothing dropped`);
    }
    if (result.events !== events || result.treeSize !== range.end || result.signedSize !== range.end) {
      throw new Error(
        `the archive written to ${file} verifies ${result.events} events up to ${result.treeSize} (signed up to ${result.signedSize}), not ${events} up to ${range.end}`,
      );
    }
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto("audit_archives")
        .values({
          log_id: range.logId,
          start_index: String(range.start),
          end_index: String(range.end),
          month: range.month,
          partition_name: range.partition,
          file,
          sha256,
          bytes: String(bytes),
        })
        .execute();
      // The log records its own archiving: which leaves, which file, which hash.
      await options.audit.append(trx, {
        tenantId: range.logId === "" ? null : range.logId,
        eventType: "audit.archived",
        action: "archive",
        result: "success",
        ctx: ctx ?? systemContext(range.logId),
        resource: { type: "audit", id: range.logId },
        metadata: { fromIndex: range.start, toIndex: range.end, month: range.month, file, sha256, bytes },
      });
    });
    if (events !== inPartition) {
      log.info(
        { partition: range.partition, logId: range.logId, fromIndex: range.start, toIndex: range.end, events, inPartition },
        "audit retention: the archive's leaf range interleaves with neighbouring months (events are sequenced after commit); the events of other months stay in the database with their own partition",
      );
    }
    return { logId: range.logId, origin: key.origin, fromIndex: range.start, toIndex: range.end, events, file, sha256, bytes };
  }

  async function runLocked(retentionDays: number | undefined, ctx: CallContext | undefined): Promise<RetentionRun> {
    const at = now();
    const created = await ensurePartitions(db, { now: at });
    if (created.length > 0) log.info({ created }, "audit retention: partitions created");
    const run: RetentionRun = {
      retentionDays: retentionDays ?? null,
      cutoff: null,
      archiveDir: options.archiveDir,
      created,
      partitions: [],
    };
    if (retentionDays === undefined) return run;
    const cutoff = new Date(at.getTime() - retentionDays * 86_400_000);
    run.cutoff = cutoff.toISOString();
    const { months } = await listPartitions(db);
    for (const p of months.filter((m) => m.to.getTime() <= cutoff.getTime())) {
      if (stopped) break;
      run.partitions.push(await archivePartition(p, ctx));
    }
    return run;
  }

  /**
   * One run: partitions ahead, then archive what is due (`retentionDays` overrides the setting; `ctx` is who
   * asked, recorded in the `audit.archived` events). Throws `RetentionBusy` when another replica runs one.
   */
  function run(override: { retentionDays?: number; ctx?: CallContext } = {}): Promise<RetentionRun> {
    return serial(async () => {
      const result = await locked(() => runLocked(override.retentionDays ?? options.retentionDays, override.ctx));
      if (!result) throw new RetentionBusy();
      return result;
    });
  }

  return {
    run,

    /** Leaves of the log that retention archived, and where. */
    async archived(logId: string): Promise<ArchivedRange> {
      const rows = await db
        .selectFrom("audit_archives")
        .select(["start_index", "end_index", "month", "file", "sha256"])
        .where("log_id", "=", logId)
        .orderBy("start_index")
        .execute();
      return {
        end: rows.length === 0 ? 0 : Number(rows[rows.length - 1]?.end_index),
        archives: rows.map((r) => ({
          fromIndex: Number(r.start_index),
          toIndex: Number(r.end_index),
          month: r.month,
          file: r.file,
          sha256: r.sha256,
        })),
      };
    },

    /** Runs at start (partitions ahead, then what is due) and then every `intervalMs`. */
    start(): void {
      stopped = false;
      const tick = () =>
        void run().catch((e: unknown) => {
          if (e instanceof RetentionBusy) return;
          log.warn({ error: (e as Error).message }, "audit retention run failed; will retry");
        });
      tick();
      timer = setInterval(tick, intervalMs);
      timer.unref();
    },

    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearInterval(timer);
      await queue;
    },
  };
}

export class RetentionBusy extends Error {
  override name = "RetentionBusy";
  constructor() {
    super("an audit retention run is in progress on another replica");
  }
}

export type AuditRetention = ReturnType<typeof createAuditRetention>;

/**
 * What the export (`GET /audit/export`, and so `cairn audit verify` against a server) does about leaves that
 * retention archived: unless a start index is given it starts where the archives end (a `from` time too:
 * the header then says which leaves are archived and in which files); a start index or an end inside the
 * archived leaves is refused with 410, naming the archives.
 */
export function exportAfterArchives(
  archived: ArchivedRange,
  request: { start: number; end: number; explicitStart: boolean },
): { start: number; archived?: ArchivedRange } {
  if (archived.end === 0) return { start: request.start };
  const files = archived.archives.map((a) => `leaves ${a.fromIndex}..${a.toIndex - 1} (${a.month}) in ${a.file}`).join("; ");
  const gone = () =>
    new CairnError(
      "gone",
      `leaves 0..${archived.end - 1} of this log were archived by audit retention (their months dropped from the database): ${files}. ` +
        `Export from index ${archived.end} (the default start), and verify the archives offline with \`cairn audit verify --file <archive> --public-key <key>\`.`,
      { extensions: { archived } },
    );
  if ((request.explicitStart && request.start < archived.end) || request.end < archived.end) throw gone();
  return { start: Math.max(request.start, archived.end), archived };
}
