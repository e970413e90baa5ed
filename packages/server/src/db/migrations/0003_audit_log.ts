import { type Kysely, sql } from "kysely";

// The audit log becomes a Merkle log (RFC 6962), one per tenant, and config writes get watch revisions.
// Writers keep inserting audit_events as before (in the transaction of the change); the sequencer then
// gives each committed event its gapless leaf index, stores the tree's complete subtrees, and numbers
// config changes per tenant. Doing it after commit keeps concurrent writers from queueing on one counter
// row (measured: a counter in every write transaction cut PostgreSQL writes/s to a third).
const statements = [
  sql`alter table audit_events add column leaf_index bigint`,
  sql`create index audit_events_unsequenced on audit_events (seq) where leaf_index is null`,
  sql`create unique index audit_events_leaf on audit_events (coalesce(tenant_id, ''), leaf_index) where leaf_index is not null`,
  // History stays history: the only change ever allowed to an event is its leaf index, once.
  sql`
    create function cairn_audit_sequence_only() returns trigger language plpgsql as $$
    begin
      if tg_op = 'UPDATE' and old.leaf_index is null and new.leaf_index is not null
         and (to_jsonb(new) - 'leaf_index') = (to_jsonb(old) - 'leaf_index') then
        return new;
      end if;
      raise exception '% is append-only', tg_table_name;
    end $$
  `,
  sql`drop trigger audit_events_append_only on audit_events`,
  sql`
    create trigger audit_events_append_only before update or delete on audit_events
      for each row execute function cairn_audit_sequence_only()
  `,
  sql`
    create table audit_logs (
      log_id text primary key,
      size bigint not null default 0,
      root bytea not null,
      frontier jsonb not null default '[]',
      revision bigint not null default 0,
      updated_at timestamptz not null default now()
    )
  `,
  sql`
    create table audit_tree_nodes (
      log_id text not null,
      level smallint not null,
      idx bigint not null,
      hash bytea not null,
      primary key (log_id, level, idx)
    )
  `,
  sql`
    create trigger audit_tree_nodes_append_only before update or delete on audit_tree_nodes
      for each row execute function cairn_forbid_rewrite()
  `,
  sql`
    create table config_changes (
      tenant_id text not null,
      revision bigint not null,
      namespace text not null,
      key text not null,
      environment text not null,
      version integer not null,
      change_type text not null,
      secret boolean not null,
      actor_id text,
      at timestamptz not null,
      primary key (tenant_id, revision)
    )
  `,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}
