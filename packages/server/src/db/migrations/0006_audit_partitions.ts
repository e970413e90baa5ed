import { type Kysely, sql } from "kysely";

// Audit retention (issue 6, point 8): audit_events becomes a table partitioned by month (RANGE on
// occurred_at, UTC months), so retention can archive a whole month and then DETACH and DROP it — no
// DELETE of history, and no trigger to get around.
//
// What partitioning changes, and how it is kept:
// - Every unique constraint must contain the partition key. The primary key becomes (seq, occurred_at)
//   and the id's uniqueness (id, occurred_at): seq comes from one sequence (kept, with its values) and ids
//   are random, so both stay unique by construction.
// - The unique index on (coalesce(tenant_id, ''), leaf_index) cannot be global any more. It becomes a
//   plain index for lookups; a leaf index is still given once per log, by the one sequencer that runs at a
//   time (advisory lock) and only to events whose leaf_index is null (which the trigger enforces), so two
//   events of a log never share one. The Merkle log would expose it anyway: the subtree hashes are stored
//   once, and a duplicate breaks every proof and export verification.
// - The append-only trigger (cairn_audit_sequence_only, from 0003) is created on the partitioned table,
//   so every partition, present and future, has it.
// - Partitions: one per month that holds rows, the current month and the next two, and a DEFAULT partition
//   for anything else. The retention worker (src/audit/partitions.ts) keeps creating months ahead, and
//   moves rows out of DEFAULT when it creates their month.
//
// One statement per `sql` (PGlite). The migration runs in one transaction (Kysely on PostgreSQL and PGlite).

/** The columns of audit_events as 0001–0005 made them, in order. */
const COLUMNS = [
  "seq",
  "id",
  "tenant_id",
  "occurred_at",
  "event_type",
  "action",
  "result",
  "actor_id",
  "actor_type",
  "resource_type",
  "resource_id",
  "namespace",
  "request_id",
  "source_ip",
  "user_agent",
  "metadata",
  "leaf_index",
];

/** `2026-05` → `audit_events_y2026m05` and its bounds, UTC. */
function monthPartition(month: string): { name: string; from: string; to: string } {
  const [y, m] = month.split("-").map(Number) as [number, number];
  const next = m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, "0")}`;
  return { name: `audit_events_y${y}m${String(m).padStart(2, "0")}`, from: `${month}-01T00:00:00Z`, to: `${next}-01T00:00:00Z` };
}

function addMonths(month: string, n: number): string {
  const [y, m] = month.split("-").map(Number) as [number, number];
  const total = y * 12 + (m - 1) + n;
  return `${Math.floor(total / 12)}-${String((total % 12) + 1).padStart(2, "0")}`;
}

export async function up(db: Kysely<unknown>): Promise<void> {
  const present = (
    await sql<{ column_name: string }>`
      select column_name from information_schema.columns
      where table_schema = current_schema() and table_name = 'audit_events' order by ordinal_position`.execute(db)
  ).rows.map((r) => r.column_name);
  if ([...present].sort().join() !== [...COLUMNS].sort().join()) {
    throw new Error(`audit_events has columns ${present.join(", ")}; this migration expects ${COLUMNS.join(", ")}`);
  }
  const sequence = (await sql<{ s: string | null }>`select pg_get_serial_sequence('audit_events', 'seq') as s`.execute(db)).rows[0]?.s;
  if (!sequence) throw new Error("audit_events.seq has no sequence");

  await sql`
    create table audit_events_partitioned (
      seq bigint not null default nextval(${sql.lit(sequence)}::regclass),
      id text not null,
      tenant_id text,
      occurred_at timestamptz not null default now(),
      event_type text not null,
      action text not null,
      result text not null constraint audit_events_result_check check (result in ('success', 'failure', 'denied')),
      actor_id text,
      actor_type text,
      resource_type text,
      resource_id text,
      namespace text,
      request_id text,
      source_ip text,
      user_agent text,
      metadata jsonb not null default '{}',
      leaf_index bigint
    ) partition by range (occurred_at)
  `.execute(db);

  const months = new Set(
    (
      await sql<{ m: string }>`
        select distinct to_char(occurred_at at time zone 'UTC', 'YYYY-MM') as m from audit_events
        where occurred_at >= '1000-01-01T00:00:00Z' and occurred_at < '9999-12-01T00:00:00Z'`.execute(db)
    ).rows.map((r) => r.m),
  );
  const current = (await sql<{ m: string }>`select to_char(now() at time zone 'UTC', 'YYYY-MM') as m`.execute(db)).rows[0]?.m as string;
  for (let i = 0; i <= 2; i++) months.add(addMonths(current, i));
  for (const month of [...months].sort()) {
    const p = monthPartition(month);
    await sql`
      create table ${sql.id(p.name)} partition of audit_events_partitioned
        for values from (${sql.lit(p.from)}) to (${sql.lit(p.to)})`.execute(db);
  }
  await sql`create table audit_events_default partition of audit_events_partitioned default`.execute(db);

  const columns = sql.join(COLUMNS.map((c) => sql.id(c)));
  await sql`insert into audit_events_partitioned (${columns}) select ${columns} from audit_events order by seq`.execute(db);
  // The sequence must outlive the old table: it moves to the new column before the old table goes.
  await sql`alter sequence ${sql.raw(quoteQualified(sequence))} owned by audit_events_partitioned.seq`.execute(db);
  await sql`drop table audit_events`.execute(db);
  await sql`alter table audit_events_partitioned rename to audit_events`.execute(db);

  const statements = [
    sql`alter table audit_events add constraint audit_events_pkey primary key (seq, occurred_at)`,
    sql`alter table audit_events add constraint audit_events_id_key unique (id, occurred_at)`,
    sql`create index audit_events_tenant_time on audit_events (tenant_id, occurred_at desc)`,
    sql`create index audit_events_type_time on audit_events (event_type, occurred_at)`,
    sql`create index audit_events_unsequenced on audit_events (seq) where leaf_index is null`,
    // Not unique (see the top of this file): uniqueness per log comes from the single sequencer.
    sql`create index audit_events_leaf on audit_events (coalesce(tenant_id, ''), leaf_index) where leaf_index is not null`,
    sql`
      create trigger audit_events_append_only before update or delete on audit_events
        for each row execute function cairn_audit_sequence_only()
    `,
    // What retention archived: per log, the leaf range [start_index, end_index) of each archive file. The
    // archives of a log are contiguous from index 0, so end_index of the last one is "archived through".
    sql`
      create table audit_archives (
        log_id text not null,
        start_index bigint not null,
        end_index bigint not null,
        month text not null,
        partition_name text not null,
        file text not null,
        sha256 text not null,
        bytes bigint not null,
        created_at timestamptz not null default now(),
        primary key (log_id, start_index),
        check (end_index > start_index)
      )
    `,
    sql`
      create trigger audit_archives_append_only before update or delete on audit_archives
        for each row execute function cairn_forbid_rewrite()
    `,
  ];
  for (const statement of statements) await statement.execute(db);
}

/** `public.audit_events_seq_seq` as it came from pg_get_serial_sequence (already quoted where needed). */
function quoteQualified(name: string): string {
  if (!/^("[^"]+"|[a-z_][a-z0-9_$]*)(\.("[^"]+"|[a-z_][a-z0-9_$]*))?$/.test(name)) throw new Error(`unexpected sequence name ${name}`);
  return name;
}
