import { type Kysely, sql } from "kysely";

// Signed checkpoints of the audit logs (C2SP tlog-checkpoint notes), the Ed25519 key of each log, and the
// per-tenant key that HMACs values mentioned by audit events. Private key material is stored sealed by the KEK.
const statements = [
  sql`
    create table audit_signing_keys (
      log_id text primary key,
      key_name text not null,
      public_key bytea not null,
      private_sealed bytea not null,
      kek_provider text not null,
      created_at timestamptz not null default now()
    )
  `,
  sql`
    create table audit_checkpoints (
      log_id text not null,
      tree_size bigint not null,
      root bytea not null,
      note text not null,
      created_at timestamptz not null default now(),
      primary key (log_id, tree_size)
    )
  `,
  sql`
    create trigger audit_checkpoints_append_only before update or delete on audit_checkpoints
      for each row execute function cairn_forbid_rewrite()
  `,
  sql`
    create table audit_hmac_keys (
      tenant_id text primary key references tenants(id),
      key_sealed bytea not null,
      kek_provider text not null,
      created_at timestamptz not null default now()
    )
  `,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}
