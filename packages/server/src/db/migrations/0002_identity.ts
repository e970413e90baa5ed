import { type Kysely, sql } from "kysely";

// Identity and access: users and sessions, API key lifecycle, roles, bindings, groups, usage.
const statements = [
  sql`alter table tenants add column settings jsonb not null default '{}'`,
  // Login throttling counts recent failures straight from the audit log.
  sql`create index audit_events_type_time on audit_events (event_type, occurred_at)`,
  sql`
    create table users (
      id text primary key,
      tenant_id text not null references tenants(id),
      email text not null,
      password_hash text not null,
      name text,
      created_at timestamptz not null default now(),
      disabled_at timestamptz,
      unique (email)
    )
  `,
  sql`
    create table refresh_tokens (
      id text primary key,
      tenant_id text not null references tenants(id),
      user_id text not null references users(id),
      token_hash bytea not null unique,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      revoked_at timestamptz,
      replaced_by text
    )
  `,
  sql`
    create table signing_keys (
      id text primary key,
      algorithm text not null,
      public_jwk jsonb not null,
      private_sealed bytea not null,
      created_at timestamptz not null default now()
    )
  `,
  sql`alter table api_keys add column instance_admin boolean not null default false`,
  sql`alter table api_keys add column permissions jsonb not null default '[]'`,
  sql`alter table api_keys add column expires_at timestamptz`,
  sql`alter table api_keys add column grace_until timestamptz`,
  sql`alter table api_keys add column rotated_to text`,
  sql`alter table api_keys add column rate_limit integer`,
  sql`alter table api_keys add column rate_window_seconds integer`,
  sql`alter table api_keys add column remaining bigint`,
  sql`alter table api_keys add column meta jsonb not null default '{}'`,
  sql`alter table api_keys add column created_by text`,
  sql`alter table api_keys add column last_used_at timestamptz`,
  sql`alter table api_keys add column usage_count bigint not null default 0`,
  sql`create index api_keys_tenant on api_keys (tenant_id, created_at)`,
  // When Cairn recorded that the key expired (its expiry or rotation grace passed): the key.expired audit event is written once.
  sql`alter table api_keys add column expired_at timestamptz`,
  sql`
    create index api_keys_expiring on api_keys (id)
    where expired_at is null and revoked_at is null and (expires_at is not null or grace_until is not null)
  `,
  sql`
    create table key_usage (
      key_id text not null references api_keys(id),
      hour timestamptz not null,
      count bigint not null,
      primary key (key_id, hour)
    )
  `,
  sql`
    create table roles (
      tenant_id text not null references tenants(id),
      name text not null,
      description text,
      rules jsonb not null default '[]',
      inherits jsonb not null default '[]',
      builtin boolean not null default false,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (tenant_id, name)
    )
  `,
  sql`
    create table groups (
      id text primary key,
      tenant_id text not null references tenants(id),
      name text not null,
      created_at timestamptz not null default now(),
      unique (tenant_id, name)
    )
  `,
  sql`
    create table group_members (
      group_id text not null references groups(id) on delete cascade,
      user_id text not null references users(id),
      primary key (group_id, user_id)
    )
  `,
  sql`
    create table role_bindings (
      id text primary key,
      tenant_id text not null references tenants(id),
      role text not null,
      subject_type text not null check (subject_type in ('user', 'key', 'group')),
      subject_id text not null,
      namespace_pattern text not null default '**',
      expires_at timestamptz,
      created_at timestamptz not null default now(),
      created_by text,
      foreign key (tenant_id, role) references roles(tenant_id, name)
    )
  `,
  sql`create index role_bindings_subject on role_bindings (tenant_id, subject_type, subject_id)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}
