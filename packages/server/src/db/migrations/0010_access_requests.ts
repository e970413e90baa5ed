import { type Kysely, sql } from "kysely";

// Access requests (issue 8): the `requests` table of seed 003 (correlation_id, status, cloud_provider,
// request_payload, received_at, completed_at, error_details) plus what intake, approvals, grants and
// revocation need; and `queue_jobs`, the PostgreSQL-backed job queue used when Redis is not configured.
const statements = [
  sql`
    create table requests (
      correlation_id text primary key,
      tenant_id text not null references tenants(id),
      status text not null check (status in
        ('PENDING', 'AWAITING_APPROVAL', 'APPROVED', 'DENIED', 'PROCESSING', 'SUCCESS', 'FAILED', 'REVOKED', 'EXPIRED')),
      cloud_provider text not null check (cloud_provider in ('aws', 'azure', 'gcp', 'postgres')),
      request_payload jsonb not null,
      principal text not null,
      role text,
      duration_seconds integer not null check (duration_seconds > 0),
      requested_by text not null,
      received_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      completed_at timestamptz,
      error_details jsonb,
      version integer not null default 1,
      idempotency_key text,
      idempotency_hash text,
      approval_expires_at timestamptz,
      attempts integer not null default 0,
      expires_at timestamptz,
      grant_ref jsonb,
      credentials_kek text,
      credentials_wrapped bytea,
      credentials_sealed bytea,
      credentials_revealed_at timestamptz,
      revoke_at timestamptz,
      revoke_reason text,
      revoke_attempts integer not null default 0,
      revoke_locked_until timestamptz,
      revoked_at timestamptz
    )
  `,
  sql`create index requests_tenant_received on requests (tenant_id, received_at desc, correlation_id desc)`,
  sql`create index requests_status on requests (status)`,
  sql`create unique index requests_idempotency on requests (tenant_id, requested_by, idempotency_key) where idempotency_key is not null`,
  sql`create index requests_revoke_due on requests (coalesce(revoke_at, expires_at)) where status = 'SUCCESS'`,
  sql`create index requests_approval_due on requests (approval_expires_at) where status = 'AWAITING_APPROVAL'`,
  sql`
    create table queue_jobs (
      id text primary key,
      queue text not null,
      data jsonb not null,
      attempts integer not null default 0,
      run_at timestamptz not null default now(),
      locked_until timestamptz,
      last_error text,
      created_at timestamptz not null default now()
    )
  `,
  sql`create index queue_jobs_due on queue_jobs (queue, run_at)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // One statement at a time: PGlite's extended protocol takes a single statement per query.
  for (const statement of statements) await statement.execute(db);
}
