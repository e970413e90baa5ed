import { type Kysely, sql } from "kysely";

// Alerts (issue 6, point 9): rules evaluated over the sequenced audit log, channels whose secrets are
// sealed like any secret, and a durable outbox of deliveries claimed with FOR UPDATE SKIP LOCKED.
const statements = [
  sql`
    create table alert_channels (
      id text primary key,
      tenant_id text not null references tenants(id),
      name text not null,
      type text not null check (type in ('slack', 'email', 'webhook')),
      enabled boolean not null default true,
      config jsonb not null default '{}',
      secret_fields jsonb not null default '[]',
      kek_provider text not null,
      wrapped_key bytea not null,
      secrets_sealed bytea not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      created_by text,
      unique (tenant_id, name)
    )
  `,
  sql`
    create table alert_rules (
      id text primary key,
      tenant_id text not null references tenants(id),
      name text not null,
      builtin text,
      description text,
      enabled boolean not null default true,
      events jsonb not null,
      match jsonb not null default '[]',
      min_severity text not null default 'info',
      severity text,
      threshold_count integer not null default 1 check (threshold_count between 1 and 1000),
      window_seconds integer not null default 60 check (window_seconds between 1 and 86400),
      group_by text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      created_by text,
      unique (tenant_id, name),
      unique (tenant_id, builtin)
    )
  `,
  sql`
    create table alert_rule_channels (
      rule_id text not null references alert_rules(id) on delete cascade,
      channel_id text not null references alert_channels(id),
      primary key (rule_id, channel_id)
    )
  `,
  sql`create index alert_rule_channels_channel on alert_rule_channels (channel_id)`,
  // Where the evaluator is in each audit log: the next leaf index to read.
  sql`
    create table alert_cursors (
      log_id text primary key,
      next_index bigint not null default 0,
      updated_at timestamptz not null default now()
    )
  `,
  // Threshold windows per rule and group (e.g. per source IP): recent matching events, quiet period.
  sql`
    create table alert_windows (
      rule_id text not null references alert_rules(id) on delete cascade,
      group_key text not null,
      state jsonb not null,
      updated_at timestamptz not null default now(),
      primary key (rule_id, group_key)
    )
  `,
  sql`
    create table alerts (
      id text primary key,
      tenant_id text not null,
      rule_id text not null,
      rule_name text not null,
      severity text not null,
      group_key text,
      event_count integer not null,
      first_event_at timestamptz not null,
      last_event_at timestamptz not null,
      fired_at timestamptz not null default now(),
      document json not null
    )
  `,
  sql`create index alerts_tenant on alerts (tenant_id, id desc)`,
  sql`
    create table alert_deliveries (
      id text primary key,
      tenant_id text not null,
      alert_id text not null references alerts(id),
      channel_id text not null,
      channel_type text not null,
      status text not null default 'pending' check (status in ('pending', 'delivered', 'dead', 'cancelled')),
      attempts integer not null default 0,
      next_attempt_at timestamptz not null default now(),
      locked_until timestamptz,
      last_error text,
      last_attempt_at timestamptz,
      delivered_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )
  `,
  sql`create index alert_deliveries_due on alert_deliveries (next_attempt_at) where status = 'pending'`,
  sql`create index alert_deliveries_tenant on alert_deliveries (tenant_id, id desc)`,
  sql`create index alert_deliveries_alert on alert_deliveries (alert_id)`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // One statement at a time: PGlite's extended protocol takes a single statement per query.
  for (const statement of statements) await statement.execute(db);
}
