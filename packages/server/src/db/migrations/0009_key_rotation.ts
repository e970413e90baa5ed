import { type Kysely, sql } from "kysely";

// Key rotation (issue 5, points 9–10): encryptions counted per data key (reserved ahead, so never
// under-counted), data keys retired once no row uses them, and durable rotation jobs (master-key
// rewraps, data-key re-encryptions) whose progress survives restarts.
const statements = [
  sql`alter table data_keys add column encryptions bigint not null default 0`,
  sql`alter table data_keys add column rotated_at timestamptz`,
  sql`alter table data_keys add column retired_at timestamptz`,
  sql`
    create table key_rotations (
      id text primary key,
      kind text not null check (kind in ('master', 'data')),
      tenant_id text references tenants(id),
      namespace_id text references namespaces(id),
      status text not null check (status in ('pending', 'running', 'completed', 'failed')),
      reason text not null,
      total bigint not null default 0,
      done bigint not null default 0,
      skipped bigint not null default 0,
      cursor jsonb not null default '{}',
      new_data_key_id text references data_keys(id),
      target_kek text,
      error text,
      created_by text,
      created_at timestamptz not null default now(),
      started_at timestamptz,
      finished_at timestamptz,
      updated_at timestamptz not null default now()
    )
  `,
  // One rotation in flight per namespace, and one master-key rotation at a time.
  sql`create unique index key_rotations_one_active on key_rotations ((coalesce(namespace_id, ''))) where status in ('pending', 'running')`,
  sql`create index key_rotations_created on key_rotations (created_at)`,
  // Versions stay append-only, with one exception: a data-key rotation re-encrypts a value under a new key
  // (data_key_id and value_sealed change together, nothing else does; the value itself is the same).
  sql`
    create function cairn_versions_reencrypt_only() returns trigger language plpgsql as $$
    begin
      if tg_op = 'UPDATE' and new.data_key_id is distinct from old.data_key_id and new.data_key_id is not null
         and old.value_sealed is not null and new.value_sealed is not null
         and (to_jsonb(new) - 'data_key_id' - 'value_sealed') = (to_jsonb(old) - 'data_key_id' - 'value_sealed') then
        return new;
      end if;
      raise exception '% is append-only', tg_table_name;
    end $$
  `,
  sql`drop trigger config_versions_append_only on config_versions`,
  sql`
    create trigger config_versions_append_only before update or delete on config_versions
      for each row execute function cairn_versions_reencrypt_only()
  `,
  sql`create index configs_data_key on configs (data_key_id)`,
  sql`create index config_versions_data_key on config_versions (data_key_id)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // One statement at a time: PGlite's extended protocol takes a single statement per query.
  for (const statement of statements) await statement.execute(db);
}
