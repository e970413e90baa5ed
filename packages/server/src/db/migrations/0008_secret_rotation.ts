import { type Kysely, sql } from "kysely";

// Secret rotation policies (issue 5, point 4): one row per secret (tenant, namespace, key, environment).
// The row is also the durable schedule: the scheduler claims due rows with FOR UPDATE SKIP LOCKED and a
// lease (`locked_until`, fenced by `claim_id`), so a rotation runs once across replicas and survives restarts.
const statements = [
  sql`
    create table secret_rotation_policies (
      id text primary key,
      tenant_id text not null references tenants(id),
      namespace text not null,
      key text not null,
      environment text not null default 'base',
      interval_seconds integer not null check (interval_seconds > 0),
      grace_period_seconds integer not null default 0 check (grace_period_seconds >= 0),
      auto_rotate boolean not null default true,
      notify jsonb not null default 'true',
      strategy text check (strategy in ('postgres-alternating-users')),
      admin_secret text,
      next_rotation_at timestamptz,
      attempts integer not null default 0,
      last_error text,
      last_attempt_at timestamptz,
      last_rotated_at timestamptz,
      last_rotated_version integer,
      locked_until timestamptz,
      claim_id text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      created_by text,
      updated_by text,
      unique (tenant_id, namespace, key, environment)
    )
  `,
  sql`create index secret_rotation_policies_due on secret_rotation_policies (next_rotation_at) where auto_rotate`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // One statement at a time: PGlite's extended protocol takes a single statement per query.
  for (const statement of statements) await statement.execute(db);
}
