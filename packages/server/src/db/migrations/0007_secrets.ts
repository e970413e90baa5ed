import { type Kysely, sql } from "kysely";

// Secrets (issue 5, points 1–4): a secret is a config entry with secret = true; this table keeps what is
// not secret about it — its type, facts derived from the value (certificate expiry, fingerprints, public
// keys) and its rotation state (the previous version and when its grace period ends). Never a value.
const statements = [
  sql`
    create table secret_meta (
      tenant_id text not null references tenants(id),
      namespace_id text not null references namespaces(id),
      key text not null,
      environment text not null,
      type text not null check (type in ('generic', 'api_key', 'database_credentials', 'certificate', 'ssh_key', 'oauth_token', 'jwt_signing_key')),
      version integer not null,
      metadata jsonb not null default '{}',
      rotated_at timestamptz,
      previous_version integer,
      previous_metadata jsonb,
      previous_expires_at timestamptz,
      updated_at timestamptz not null default now(),
      primary key (tenant_id, namespace_id, key, environment)
    )
  `,
  sql`create index secret_meta_grace on secret_meta (previous_expires_at) where previous_expires_at is not null`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // One statement at a time: PGlite's extended protocol takes a single statement per query.
  for (const statement of statements) await statement.execute(db);
}
