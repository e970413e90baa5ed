import { sql } from "kysely";
import { serialRunner } from "../background.js";
import type { Conn, Db } from "../db/database.js";
import type { EventBus } from "../events/bus.js";
import type { Log } from "../events/redis.js";
import { silentLog } from "../events/redis.js";
import { AUDIT_DOCUMENT_COLUMNS, type AuditDocumentRow, eventDocument, Frontier, leafHash, logIdOf, type TreeNode } from "./tree.js";

/** One sequencer at a time across every replica sharing the database. */
const SEQUENCER_LOCK = 0x63616972_01; // "cair" · 1

/** A config change as watchers see it: names and numbers, never a value. */
export interface ConfigChange {
  revision: number;
  namespace: string;
  key: string;
  environment: string;
  version: number;
  changeType: string;
  secret: boolean;
  actorId: string | null;
  at: string;
}

/** Bus payloads published after each committed batch. */
export const AUDIT_APPENDED = "audit.appended";
export const CONFIG_CHANGES = "config.changes";
/** Changes travel inline up to this many per message; beyond, receivers read them by revision. */
export const INLINE_CHANGES = 20;

const CONFIG_CHANGE_TYPES = new Set(["config.create", "config.update", "config.delete", "config.restore"]);

interface LogState {
  frontier: Frontier;
  revision: number;
  touched: boolean;
}

export interface SequencerOptions {
  db: Db;
  bus: EventBus;
  log?: Log;
  /** Events per transaction. */
  batchSize?: number;
  /** Safety-net poll for events whose writer died before kicking. */
  intervalMs?: number;
  /**
   * How long a kick waits before sequencing, so the events of concurrent writes go into one transaction
   * (and one message to every consumer) instead of one each.
   */
  coalesceMs?: number;
  /** Called after each committed batch (metrics: how long events waited). */
  onBatch?: (info: { events: number; oldestCommittedAt: Date | undefined }) => void;
}

/**
 * Gives each committed audit event its gapless leaf index in its tenant's Merkle log, stores the subtrees
 * the new leaves complete and the new root, and numbers config changes per tenant (watch revisions) — all
 * in one transaction, under an advisory lock so exactly one replica sequences at a time.
 *
 * Writers only insert events (in the transaction of their change) and kick the sequencer afterwards; the
 * order of the log is the order in which the sequencer found events committed. A replica that finds the
 * lock taken retries shortly: the holder's snapshot may predate its events.
 */
export function createSequencer(options: SequencerOptions) {
  const { db, bus } = options;
  const log = options.log ?? silentLog;
  const batchSize = options.batchSize ?? 1000;
  const intervalMs = options.intervalMs ?? 250;
  const coalesceMs = options.coalesceMs ?? 5;
  let scheduled: NodeJS.Timeout | undefined;

  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  async function sequenceBatch(): Promise<{ busy: boolean; events: number }> {
    const published: Array<() => Promise<void>> = [];
    let oldest: Date | undefined;
    const outcome = await db.transaction().execute(async (trx) => {
      const lock = await sql<{ ok: boolean }>`select pg_try_advisory_xact_lock(${SEQUENCER_LOCK}) as ok`.execute(trx);
      if (!lock.rows[0]?.ok) return { busy: true, events: 0 };
      const rows = (
        await sql<AuditDocumentRow & { committed_at: Date }>`
          select ${AUDIT_DOCUMENT_COLUMNS}, occurred_at as committed_at from audit_events
          where leaf_index is null order by seq limit ${batchSize}`.execute(trx)
      ).rows;
      if (rows.length === 0) return { busy: false, events: 0 };
      oldest = rows.reduce<Date | undefined>((min, r) => (!min || r.committed_at < min ? r.committed_at : min), undefined);

      const states = await loadStates(trx, [...new Set(rows.map((r) => logIdOf(r.tenant_id)))]);
      const assigned: Array<[string, number]> = [];
      const nodes: Array<TreeNode & { logId: string }> = [];
      const changes: Array<ConfigChange & { tenantId: string }> = [];
      for (const row of rows) {
        const logId = logIdOf(row.tenant_id);
        const state = states.get(logId) as LogState;
        state.touched = true;
        const index = state.frontier.size;
        for (const node of state.frontier.append(leafHash(eventDocument(row, index)))) nodes.push({ ...node, logId });
        assigned.push([row.seq, index]);
        const change = row.tenant_id && row.result === "success" ? changeOf(row, state.revision + 1) : undefined;
        if (change && row.tenant_id) {
          state.revision = change.revision;
          changes.push({ ...change, tenantId: row.tenant_id });
        }
      }

      for (const chunk of chunks(assigned, 2000)) {
        const values = sql.join(chunk.map(([seq, idx]) => sql`(${seq}::bigint, ${String(idx)}::bigint)`));
        await sql`update audit_events set leaf_index = v.idx from (values ${values}) as v(seq, idx)
                  where audit_events.seq = v.seq and audit_events.leaf_index is null`.execute(trx);
      }
      for (const chunk of chunks(nodes, 2000)) {
        await trx
          .insertInto("audit_tree_nodes")
          .values(chunk.map((n) => ({ log_id: n.logId, level: n.level, idx: String(n.idx), hash: n.hash })))
          .execute();
      }
      for (const chunk of chunks(changes, 1000)) {
        await trx
          .insertInto("config_changes")
          .values(
            chunk.map((c) => ({
              tenant_id: c.tenantId,
              revision: String(c.revision),
              namespace: c.namespace,
              key: c.key,
              environment: c.environment,
              version: c.version,
              change_type: c.changeType,
              secret: c.secret,
              actor_id: c.actorId,
              at: c.at,
            })),
          )
          .execute();
      }
      for (const [logId, state] of states) {
        if (!state.touched) continue;
        const row = {
          size: String(state.frontier.size),
          root: state.frontier.root(),
          frontier: JSON.stringify(state.frontier.toJSON()),
          revision: String(state.revision),
        };
        await trx
          .insertInto("audit_logs")
          .values({ log_id: logId, ...row })
          .onConflict((oc) => oc.column("log_id").doUpdateSet({ ...row, updated_at: sql`now()` as unknown as Date }))
          .execute();
        const size = state.frontier.size;
        published.push(() => bus.publish(AUDIT_APPENDED, { logId, size }));
      }
      const byTenant = new Map<string, ConfigChange[]>();
      for (const { tenantId, ...change } of changes) {
        const list = byTenant.get(tenantId) ?? [];
        list.push(change);
        byTenant.set(tenantId, list);
      }
      for (const [tenantId, list] of byTenant) {
        const revision = (list[list.length - 1] as ConfigChange).revision;
        const payload = list.length <= INLINE_CHANGES ? { tenantId, revision, changes: list } : { tenantId, revision };
        published.push(() => bus.publish(CONFIG_CHANGES, payload));
      }
      return { busy: false, events: rows.length };
    });
    // After commit only: a receiver reading the tables must find what the message announces.
    for (const publish of published) await publish();
    if (outcome.events > 0) options.onBatch?.({ events: outcome.events, oldestCommittedAt: oldest });
    return outcome;
  }

  async function loadStates(trx: Conn, logIds: string[]): Promise<Map<string, LogState>> {
    const rows = await trx.selectFrom("audit_logs").selectAll().where("log_id", "in", logIds).execute();
    const states = new Map<string, LogState>();
    for (const row of rows) {
      states.set(row.log_id, {
        frontier: Frontier.restore(Number(row.size), row.frontier as unknown as string[]),
        revision: Number(row.revision),
        touched: false,
      });
    }
    for (const id of logIds) if (!states.has(id)) states.set(id, { frontier: Frontier.empty(), revision: 0, touched: false });
    return states;
  }

  /** Sequences until nothing is left; waits its turn while another replica holds the lock. */
  async function drain(): Promise<void> {
    let waits = 0;
    for (;;) {
      const { busy, events } = await sequenceBatch();
      if (busy) {
        if (stopped || ++waits > 2000) return; // the holder (or the next poll) takes what is left
        await sleep(2 + Math.random() * 3);
        continue;
      }
      waits = 0;
      if (events < batchSize) return;
    }
  }

  const runner = serialRunner(drain, { log, what: "audit sequencing", stopped: () => stopped, again: () => schedule() });
  const run = runner.run;

  function schedule(): void {
    if (stopped) return;
    if (runner.busy) {
      runner.later();
      return;
    }
    if (scheduled) return;
    scheduled = setTimeout(() => {
      scheduled = undefined;
      void run();
    }, coalesceMs);
  }

  return {
    /** Something was appended: sequence it within a few milliseconds. Cheap to call after every write. */
    kick: schedule,
    /** Sequences everything committed so far (tests, shutdown): a fresh pass after any one in flight. */
    async flush(): Promise<void> {
      if (scheduled) {
        clearTimeout(scheduled);
        scheduled = undefined;
      }
      await runner.idle();
      await run();
      await runner.idle();
    },
    start(): void {
      stopped = false;
      timer = setInterval(() => void run(), intervalMs);
      timer.unref();
      void run();
    },
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearInterval(timer);
      if (scheduled) clearTimeout(scheduled);
      await runner.idle();
    },
  };
}

export type Sequencer = ReturnType<typeof createSequencer>;

/** A successful config write event → its watch change (the key is the resource id after the namespace). */
function changeOf(row: AuditDocumentRow, revision: number): ConfigChange | undefined {
  if (!CONFIG_CHANGE_TYPES.has(row.event_type) || !row.namespace || !row.resource_id) return undefined;
  const metadata = typeof row.metadata === "string" ? (JSON.parse(row.metadata) as Record<string, unknown>) : row.metadata;
  const prefix = `${row.namespace}/`;
  const key = row.resource_id.startsWith(prefix) ? row.resource_id.slice(prefix.length) : row.resource_id;
  return {
    revision,
    namespace: row.namespace,
    key,
    environment: String(metadata.environment ?? "base"),
    version: Number(metadata.version ?? 0),
    changeType: row.event_type.slice("config.".length),
    secret: metadata.secret === true,
    actorId: row.actor_id,
    at: row.timestamp,
  };
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
