import { type Kysely, sql } from "kysely";

// Approvals (issue 8, point 4): policies, the approval record of each subject that needs one (with the
// policy as it was when asked), one decision per approver, and change requests for protected environments.
const statements = [
  sql`
    create table approval_policies (
      id text primary key,
      tenant_id text not null references tenants(id),
      name text not null,
      kind text not null check (kind in ('access_request', 'config_change')),
      match jsonb not null default '{}',
      auto_approve_below_seconds integer check (auto_approve_below_seconds >= 0),
      max_duration_seconds integer check (max_duration_seconds > 0),
      required_approvals integer not null check (required_approvals between 1 and 100),
      approver_group text,
      approval_ttl_seconds integer not null check (approval_ttl_seconds > 0),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      created_by text,
      unique (tenant_id, name)
    )
  `,
  sql`
    create table approval_subjects (
      tenant_id text not null references tenants(id),
      kind text not null,
      subject_id text not null,
      requested_by text not null,
      policy_id text,
      policy jsonb not null,
      required integer not null,
      state text not null default 'pending' check (state in ('pending', 'approved', 'denied')),
      expires_at timestamptz not null,
      created_at timestamptz not null default now(),
      decided_at timestamptz,
      primary key (tenant_id, kind, subject_id)
    )
  `,
  sql`
    create table approval_decisions (
      tenant_id text not null,
      kind text not null,
      subject_id text not null,
      approver text not null,
      decision text not null check (decision in ('approve', 'deny')),
      comment text,
      at timestamptz not null default now(),
      primary key (tenant_id, kind, subject_id, approver),
      foreign key (tenant_id, kind, subject_id) references approval_subjects (tenant_id, kind, subject_id) on delete cascade
    )
  `,
  sql`
    create table change_requests (
      id text primary key,
      tenant_id text not null references tenants(id),
      status text not null check (status in ('pending', 'approved', 'rejected', 'applied', 'expired')),
      targets jsonb not null,
      environments jsonb not null,
      namespaces jsonb not null,
      proposed_by text not null,
      proposer jsonb not null,
      reason text,
      kek_provider text not null,
      wrapped_key bytea not null,
      payload_sealed bytea not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      expires_at timestamptz not null,
      applied_at timestamptz,
      applied_by text,
      result jsonb
    )
  `,
  sql`create index change_requests_tenant_status on change_requests (tenant_id, status, created_at)`,
  sql`alter table environments add column require_approval boolean not null default false`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const s of statements) await s.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table environments drop column require_approval`.execute(db);
  for (const t of ["change_requests", "approval_decisions", "approval_subjects", "approval_policies"]) {
    await sql`drop table if exists ${sql.raw(t)}`.execute(db);
  }
}
