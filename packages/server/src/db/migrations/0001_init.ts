import { type Kysely, sql } from "kysely";

// Forward-only. Never edit a migration that has shipped: add the next one.
const statements = [
  sql`
    create table tenants (
      id text primary key,
      name text not null unique,
      created_at timestamptz not null default now()
    )
  `,
  sql`
    create table api_keys (
      id text primary key,
      tenant_id text not null references tenants(id),
      name text not null,
      prefix text not null unique,
      key_hash bytea not null,
      roles jsonb not null default '[]',
      created_at timestamptz not null default now(),
      revoked_at timestamptz
    )
  `,
  sql`
    create table environments (
      tenant_id text not null references tenants(id),
      name text not null,
      parent text,
      created_at timestamptz not null default now(),
      primary key (tenant_id, name),
      foreign key (tenant_id, parent) references environments(tenant_id, name)
    )
  `,
  sql`
    create table namespaces (
      id text primary key,
      tenant_id text not null references tenants(id),
      path text not null,
      parent_id text references namespaces(id),
      active_data_key_id text,
      created_at timestamptz not null default now(),
      unique (tenant_id, path)
    )
  `,
  sql`
    create table data_keys (
      id text primary key,
      tenant_id text not null references tenants(id),
      namespace_id text not null references namespaces(id),
      kek_provider text not null,
      wrapped_key bytea not null,
      created_at timestamptz not null default now()
    )
  `,
  sql`
    create index data_keys_namespace on data_keys (namespace_id, created_at desc)
  `,
  sql`
    create table configs (
      id text primary key,
      tenant_id text not null references tenants(id),
      namespace_id text not null references namespaces(id),
      key text not null,
      environment text not null,
      version integer not null,
      deleted boolean not null default false,
      secret boolean not null default false,
      data_key_id text references data_keys(id),
      value_sealed bytea,
      tags jsonb not null default '{}',
      updated_at timestamptz not null default now(),
      updated_by text not null,
      unique (tenant_id, namespace_id, key, environment),
      foreign key (tenant_id, environment) references environments(tenant_id, name)
    )
  `,
  sql`
    create table config_versions (
      config_id text not null references configs(id),
      version integer not null,
      tenant_id text not null,
      namespace_id text not null,
      key text not null,
      environment text not null,
      change_type text not null check (change_type in ('create', 'update', 'delete', 'restore')),
      secret boolean not null,
      data_key_id text references data_keys(id),
      value_sealed bytea,
      tags jsonb not null default '{}',
      reason text,
      restored_from integer,
      actor text not null,
      created_at timestamptz not null default now(),
      primary key (config_id, version)
    )
  `,
  sql`
    create index config_versions_namespace_time on config_versions (tenant_id, namespace_id, created_at desc)
  `,
  sql`
    create table schemas (
      tenant_id text not null references tenants(id),
      namespace_id text not null references namespaces(id),
      key text not null,
      schema jsonb not null,
      updated_at timestamptz not null default now(),
      updated_by text not null,
      primary key (tenant_id, namespace_id, key)
    )
  `,
  sql`
    create table audit_events (
      seq bigserial primary key,
      id text not null unique,
      tenant_id text,
      occurred_at timestamptz not null default now(),
      event_type text not null,
      action text not null,
      result text not null check (result in ('success', 'failure', 'denied')),
      actor_id text,
      actor_type text,
      resource_type text,
      resource_id text,
      namespace text,
      request_id text,
      source_ip text,
      user_agent text,
      metadata jsonb not null default '{}'
    )
  `,
  sql`
    create index audit_events_tenant_time on audit_events (tenant_id, occurred_at desc)
  `,
  // Versions and audit events are history: nobody rewrites them, not even by accident.
  sql`
    create function cairn_forbid_rewrite() returns trigger language plpgsql as $$
    begin
      raise exception '% is append-only', tg_table_name;
    end $$
  `,
  sql`
    create trigger config_versions_append_only before update or delete on config_versions
      for each row execute function cairn_forbid_rewrite()
  `,
  sql`
    create trigger audit_events_append_only before update or delete on audit_events
      for each row execute function cairn_forbid_rewrite()
  `,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // One statement at a time: PGlite's extended protocol takes a single statement per query.
  for (const statement of statements) await statement.execute(db);
}
