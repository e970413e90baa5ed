import { sql } from "kysely";
import type { Conn, Db } from "../db/database.js";

/**
 * The monthly partitions of audit_events (migration 0006): `audit_events_y2026m05` holds the events that
 * occurred in May 2026 (UTC), `audit_events_default` anything without a month partition.
 *
 * `ensurePartitions` keeps the current month and the next ones created ahead of time. A month is never
 * created while DEFAULT holds rows of it (PostgreSQL would refuse, and the rows would be stranded): then
 * DEFAULT is detached and its rows are re-inserted through the parent, so they land in their new month
 * partitions — one transaction, no DELETE (the append-only trigger stays untouched), the old DEFAULT is dropped.
 */

const NAME = /^audit_events_y(\d{4})m(\d{2})$/;
export const DEFAULT_PARTITION = "audit_events_default";

export interface MonthPartition {
  /** `audit_events_y2026m05` */
  name: string;
  /** `2026-05` (UTC) */
  month: string;
  /** First instant of the month (inclusive). */
  from: Date;
  /** First instant of the next month (exclusive). */
  to: Date;
}

/** `YYYY-MM` of an instant, in UTC. */
export function monthOf(at: Date): string {
  return at.toISOString().slice(0, 7);
}

export function addMonths(month: string, n: number): string {
  const [y, m] = month.split("-").map(Number) as [number, number];
  const total = y * 12 + (m - 1) + n;
  return `${String(Math.floor(total / 12)).padStart(4, "0")}-${String((total % 12) + 1).padStart(2, "0")}`;
}

export function monthPartition(month: string): MonthPartition {
  const m = /^(\d{4})-(\d{2})$/.exec(month);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 12) throw new Error(`"${month}" is not a month (YYYY-MM)`);
  return {
    name: `audit_events_y${m[1]}m${m[2]}`,
    month,
    from: new Date(`${month}-01T00:00:00Z`),
    to: new Date(`${addMonths(month, 1)}-01T00:00:00Z`),
  };
}

/** The month partitions attached to audit_events (oldest first), and whether DEFAULT is there. */
export async function listPartitions(db: Conn): Promise<{ months: MonthPartition[]; hasDefault: boolean }> {
  const { rows } = await sql<{ name: string }>`
    select c.relname as name from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'audit_events'::regclass`.execute(db);
  const months: MonthPartition[] = [];
  for (const { name } of rows) {
    const m = NAME.exec(name);
    if (m) months.push(monthPartition(`${m[1]}-${m[2]}`));
  }
  months.sort((a, b) => a.month.localeCompare(b.month));
  return { months, hasDefault: rows.some((r) => r.name === DEFAULT_PARTITION) };
}

/** The columns of audit_events, for statements that copy rows whole. */
async function columnsOf(db: Conn): Promise<string[]> {
  const { rows } = await sql<{ column_name: string }>`
    select column_name from information_schema.columns
    where table_schema = current_schema() and table_name = 'audit_events' order by ordinal_position`.execute(db);
  return rows.map((r) => r.column_name);
}

const createMonth = (p: MonthPartition) =>
  sql`create table if not exists ${sql.id(p.name)} partition of audit_events
        for values from (${sql.lit(p.from.toISOString())}) to (${sql.lit(p.to.toISOString())})`;

/**
 * Creates the partitions of the current month and the `ahead` next ones that are missing, and a month
 * partition for every month that has rows in DEFAULT (moving them there). Returns the partitions created.
 * Callers run one at a time (the retention lock).
 */
export async function ensurePartitions(db: Db, options: { now?: Date; ahead?: number } = {}): Promise<string[]> {
  const now = options.now ?? new Date();
  const ahead = options.ahead ?? 2;
  const { months, hasDefault } = await listPartitions(db);
  const existing = new Set(months.map((p) => p.month));
  const wanted = new Set<string>();
  for (let i = 0; i <= ahead; i++) wanted.add(addMonths(monthOf(now), i));
  // Rows of months that have no partition (clock skew, or rows of a month that was archived): 4-digit years only.
  const stray = hasDefault
    ? (
        await sql<{ m: string }>`
          select distinct to_char(occurred_at at time zone 'UTC', 'YYYY-MM') as m from ${sql.id(DEFAULT_PARTITION)}
          where occurred_at >= '1000-01-01T00:00:00Z' and occurred_at < '9999-12-01T00:00:00Z'`.execute(db)
      ).rows.map((r) => r.m)
    : [];
  const missing = [...new Set([...wanted, ...stray])].filter((m) => !existing.has(m)).sort();
  if (missing.length === 0 && hasDefault) return [];

  if (stray.length === 0 && hasDefault) {
    for (const month of missing) await createMonth(monthPartition(month)).execute(db);
    return missing.map((m) => monthPartition(m).name);
  }

  // DEFAULT holds rows of months to create (or is missing): rebuild it around them.
  const columns = sql.join((await columnsOf(db)).map((c) => sql.id(c)));
  await db.transaction().execute(async (trx) => {
    // Writers wait while DEFAULT is detached; never make them wait long.
    await sql`set local lock_timeout = '10s'`.execute(trx);
    if (hasDefault) {
      await sql`alter table audit_events detach partition ${sql.id(DEFAULT_PARTITION)}`.execute(trx);
      await sql`alter table ${sql.id(DEFAULT_PARTITION)} rename to audit_events_default_moving`.execute(trx);
    }
    for (const month of missing) await createMonth(monthPartition(month)).execute(trx);
    await sql`create table ${sql.id(DEFAULT_PARTITION)} partition of audit_events default`.execute(trx);
    if (hasDefault) {
      // Through the parent: each row lands in its partition. Inserts only; the old table is then dropped whole.
      await sql`insert into audit_events (${columns}) select ${columns} from audit_events_default_moving order by seq`.execute(trx);
      await sql`drop table audit_events_default_moving`.execute(trx);
    }
  });
  return missing.map((m) => monthPartition(m).name);
}
