import type { ColumnType, Generated, Insertable, Selectable } from "kysely";

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T = unknown> = ColumnType<T, string, string>;

export interface TenantsTable {
  id: string;
  name: string;
  settings: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: Timestamp;
}

export interface ApiKeysTable {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  key_hash: Buffer;
  roles: Json<string[]>;
  created_at: Timestamp;
  revoked_at: Date | null;
  instance_admin: Generated<boolean>;
  permissions: ColumnType<unknown[], string | undefined, string>;
  expires_at: Date | null;
  /** While set and in the future, a rotated key still works (status `rotating`). */
  grace_until: Date | null;
  rotated_to: string | null;
  rate_limit: number | null;
  rate_window_seconds: number | null;
  /** Usage quota left; null = unlimited. */
  remaining: string | null;
  meta: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_by: string | null;
  last_used_at: Date | null;
  usage_count: ColumnType<string, string | number | undefined, string | number>;
  /** Set once the key.expired audit event has been written (expiry or rotation grace passed). */
  expired_at: Date | null;
}

export interface UsersTable {
  id: string;
  tenant_id: string;
  email: string;
  password_hash: string;
  name: string | null;
  created_at: Timestamp;
  disabled_at: Date | null;
}

export interface RefreshTokensTable {
  id: string;
  tenant_id: string;
  user_id: string;
  token_hash: Buffer;
  created_at: Timestamp;
  expires_at: Date;
  revoked_at: Date | null;
  replaced_by: string | null;
}

export interface SigningKeysTable {
  id: string;
  algorithm: string;
  public_jwk: Json<Record<string, unknown>>;
  private_sealed: Buffer;
  created_at: Timestamp;
}

export interface KeyUsageTable {
  key_id: string;
  hour: Date;
  count: ColumnType<string, string | number, string | number>;
}

export interface RolesTable {
  tenant_id: string;
  name: string;
  description: string | null;
  rules: Json<unknown[]>;
  inherits: Json<string[]>;
  builtin: Generated<boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface GroupsTable {
  id: string;
  tenant_id: string;
  name: string;
  created_at: Timestamp;
}

export interface GroupMembersTable {
  group_id: string;
  user_id: string;
}

export interface RoleBindingsTable {
  id: string;
  tenant_id: string;
  role: string;
  subject_type: "user" | "key" | "group";
  subject_id: string;
  namespace_pattern: string;
  expires_at: Date | null;
  created_at: Timestamp;
  created_by: string | null;
}

export interface EnvironmentsTable {
  tenant_id: string;
  name: string;
  parent: string | null;
  created_at: Timestamp;
  /** Writes to this environment become change requests (migration 0011). */
  require_approval: Generated<boolean>;
}

export interface NamespacesTable {
  id: string;
  tenant_id: string;
  path: string;
  parent_id: string | null;
  /** The data key new values are sealed with; older keys still open older versions. */
  active_data_key_id: string | null;
  created_at: Timestamp;
}

export interface DataKeysTable {
  id: string;
  tenant_id: string;
  namespace_id: string;
  kek_provider: string;
  wrapped_key: Buffer;
  created_at: Timestamp;
  /** Encryptions reserved under this key (migration 0009); rotated automatically before CAIRN_DATA_KEY_MAX_ENCRYPTIONS. */
  encryptions: ColumnType<string, string | number | undefined, unknown>;
  /** When a newer key replaced it as the namespace's active key. */
  rotated_at: Date | null;
  /** When no row used it any more (kept for the record; never used again to seal). */
  retired_at: Date | null;
}

/** A key rotation job (migration 0009): a master-key rewrap or a data-key re-encryption, resumable from `cursor`. */
export interface KeyRotationsTable {
  id: string;
  kind: "master" | "data";
  tenant_id: string | null;
  namespace_id: string | null;
  status: "pending" | "running" | "completed" | "failed";
  reason: string;
  total: ColumnType<string, string | number | undefined, string | number>;
  done: ColumnType<string, string | number | undefined, string | number>;
  skipped: ColumnType<string, string | number | undefined, string | number>;
  cursor: ColumnType<Record<string, unknown>, string | undefined, string>;
  new_data_key_id: string | null;
  target_kek: string | null;
  error: string | null;
  created_by: string | null;
  created_at: Timestamp;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Timestamp;
}

export interface ConfigsTable {
  id: string;
  tenant_id: string;
  namespace_id: string;
  key: string;
  environment: string;
  version: number;
  deleted: boolean;
  secret: boolean;
  data_key_id: string | null;
  value_sealed: Buffer | null;
  tags: Json<Record<string, string>>;
  updated_at: Timestamp;
  updated_by: string;
}

export interface ConfigVersionsTable {
  config_id: string;
  version: number;
  tenant_id: string;
  namespace_id: string;
  key: string;
  environment: string;
  change_type: "create" | "update" | "delete" | "restore";
  secret: boolean;
  data_key_id: string | null;
  value_sealed: Buffer | null;
  tags: Json<Record<string, string>>;
  reason: string | null;
  restored_from: number | null;
  actor: string;
  created_at: Timestamp;
}

export interface SchemasTable {
  tenant_id: string;
  namespace_id: string;
  key: string;
  schema: Json<Record<string, unknown>>;
  updated_at: Timestamp;
  updated_by: string;
}

export interface AuditEventsTable {
  seq: Generated<string>;
  id: string;
  tenant_id: string | null;
  occurred_at: Timestamp;
  event_type: string;
  action: string;
  result: "success" | "failure" | "denied";
  actor_id: string | null;
  actor_type: string | null;
  resource_type: string | null;
  resource_id: string | null;
  namespace: string | null;
  request_id: string | null;
  source_ip: string | null;
  user_agent: string | null;
  metadata: Json<Record<string, unknown>>;
  /** Position in the tenant's Merkle log; null until the sequencer gets to the event. */
  leaf_index: ColumnType<string | null, never, string>;
}

/** One Merkle log per tenant (log_id = tenant id, '' for instance-level events). */
export interface AuditLogsTable {
  log_id: string;
  size: string;
  root: Uint8Array;
  /** Hex hashes of the right-edge perfect subtrees, largest first. */
  frontier: Json<string[]>;
  /** Last watch revision given to a config change of this tenant. */
  revision: string;
  updated_at: Generated<Timestamp>;
}

/** Complete perfect subtrees: (level L, idx i) is the hash of leaves [i·2^L, (i+1)·2^L). */
export interface AuditTreeNodesTable {
  log_id: string;
  level: number;
  idx: string;
  hash: Uint8Array;
}

export interface ConfigChangesTable {
  tenant_id: string;
  revision: string;
  namespace: string;
  key: string;
  environment: string;
  version: number;
  change_type: string;
  secret: boolean;
  actor_id: string | null;
  at: Timestamp;
}

/** The Ed25519 key that signs one audit log's checkpoints; its 32-byte seed sealed by the KEK. */
export interface AuditSigningKeysTable {
  log_id: string;
  /** The key name of its signatures: the log's origin (`<host>/cairn/audit/<tenant>`). */
  key_name: string;
  public_key: Uint8Array;
  private_sealed: Buffer;
  kek_provider: string;
  created_at: Timestamp;
}

/** A signed checkpoint (C2SP tlog-checkpoint in a signed note) of one log at one size. */
export interface AuditCheckpointsTable {
  log_id: string;
  tree_size: ColumnType<string, string | number, never>;
  root: Uint8Array;
  note: string;
  created_at: Timestamp;
}

/** Retention's archive files (migration 0006): per log, leaves [start_index, end_index), contiguous from 0. */
export interface AuditArchivesTable {
  log_id: string;
  start_index: string;
  end_index: string;
  /** `YYYY-MM`: the month partition whose archiving wrote it. */
  month: string;
  partition_name: string;
  /** Absolute path of the gzip NDJSON archive. */
  file: string;
  sha256: string;
  bytes: string;
  created_at: Timestamp;
}

/** A tenant's key for HMACs of values mentioned by audit events; sealed by the KEK. */
export interface AuditHmacKeysTable {
  tenant_id: string;
  key_sealed: Buffer;
  kek_provider: string;
  created_at: Timestamp;
}

export interface AlertChannelsTable {
  id: string;
  tenant_id: string;
  name: string;
  type: "slack" | "email" | "webhook";
  enabled: Generated<boolean>;
  /** Settings that are not secret (SMTP host, recipients, the target's host name for display). */
  config: Json<Record<string, unknown>>;
  /** Names of the secret settings held in `secrets_sealed` (never their values). */
  secret_fields: Json<string[]>;
  kek_provider: string;
  /** The channel's data key, wrapped by the KEK provider. */
  wrapped_key: Buffer;
  /** AES-256-GCM of the JSON of the secret settings (webhook URL, HMAC secret, SMTP password). */
  secrets_sealed: Buffer;
  created_at: Timestamp;
  updated_at: Timestamp;
  created_by: string | null;
}

export interface AlertRulesTable {
  id: string;
  tenant_id: string;
  name: string;
  /** The built-in rule this row is (`auth-failures`, …); null for rules people made. */
  builtin: string | null;
  description: string | null;
  enabled: Generated<boolean>;
  events: Json<string[]>;
  match: Json<unknown[]>;
  min_severity: string;
  severity: string | null;
  threshold_count: number;
  window_seconds: number;
  group_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  created_by: string | null;
}

export interface AlertRuleChannelsTable {
  rule_id: string;
  channel_id: string;
}

export interface AlertCursorsTable {
  log_id: string;
  next_index: ColumnType<string, string, string>;
  updated_at: Timestamp;
}

export interface AlertWindowsTable {
  rule_id: string;
  group_key: string;
  state: Json<Record<string, unknown>>;
  updated_at: Timestamp;
}

export interface AlertsTable {
  id: string;
  tenant_id: string;
  rule_id: string;
  rule_name: string;
  severity: string;
  group_key: string | null;
  event_count: number;
  first_event_at: Timestamp;
  last_event_at: Timestamp;
  fired_at: Timestamp;
  document: Json<Record<string, unknown>>;
}

export interface AlertDeliveriesTable {
  id: string;
  tenant_id: string;
  alert_id: string;
  channel_id: string;
  channel_type: string;
  status: Generated<"pending" | "delivered" | "dead" | "cancelled">;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  locked_until: Date | null;
  last_error: string | null;
  last_attempt_at: Date | null;
  delivered_at: Date | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** Approval policies (migration 0011): which subjects need approval, from whom, how many, for how long. */
export interface ApprovalPoliciesTable {
  id: string;
  tenant_id: string;
  name: string;
  kind: "access_request" | "config_change";
  match: Json<{ provider?: string; role?: string; environment?: string; namespace?: string }>;
  auto_approve_below_seconds: number | null;
  max_duration_seconds: number | null;
  required_approvals: number;
  approver_group: string | null;
  approval_ttl_seconds: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  created_by: string | null;
}

/** One subject waiting for (or done with) approval, with the policy as it was when approval was asked. */
export interface ApprovalSubjectsTable {
  tenant_id: string;
  kind: string;
  subject_id: string;
  requested_by: string;
  policy_id: string | null;
  policy: Json<Record<string, unknown>>;
  required: number;
  state: Generated<"pending" | "approved" | "denied">;
  expires_at: Date | string;
  created_at: Timestamp;
  decided_at: Date | null;
}

export interface ApprovalDecisionsTable {
  tenant_id: string;
  kind: string;
  subject_id: string;
  approver: string;
  decision: "approve" | "deny";
  comment: string | null;
  at: Timestamp;
}

/** A proposed write to a protected environment; the values (and their diffs) are sealed, never plaintext. */
export interface ChangeRequestsTable {
  id: string;
  tenant_id: string;
  status: "pending" | "approved" | "rejected" | "applied" | "expired";
  /** What it touches (namespace, key, environment, op, baseVersion, secret): never a value. */
  targets: Json<unknown[]>;
  environments: Json<string[]>;
  namespaces: Json<string[]>;
  proposed_by: string;
  /** The proposer as an actor (id, type, name, roles, permissions), to apply the write as them. */
  proposer: Json<Record<string, unknown>>;
  reason: string | null;
  kek_provider: string;
  wrapped_key: Buffer;
  payload_sealed: Buffer;
  created_at: Timestamp;
  updated_at: Timestamp;
  expires_at: Date | string;
  applied_at: Date | null;
  applied_by: string | null;
  result: ColumnType<unknown, string | null | undefined, string | null>;
}

export interface SecretRotationPoliciesTable {
  id: string;
  tenant_id: string;
  namespace: string;
  key: string;
  environment: string;
  interval_seconds: number;
  grace_period_seconds: number;
  auto_rotate: boolean;
  /** `true`, `false`, or alert channel names. */
  notify: ColumnType<boolean | string[], string, string>;
  strategy: "postgres-alternating-users" | null;
  /** `ns/key` of the admin credentials a strategy connects with; null = the secret's own credentials. */
  admin_secret: string | null;
  next_rotation_at: Date | null;
  attempts: Generated<number>;
  last_error: string | null;
  last_attempt_at: Date | null;
  last_rotated_at: Date | null;
  last_rotated_version: number | null;
  locked_until: Date | null;
  claim_id: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  created_by: string | null;
  updated_by: string | null;
}

/** Access requests (migration 0010): seed 003's requests table plus grants, sealed credentials and revocation. */
export interface RequestsTable {
  correlation_id: string;
  tenant_id: string;
  status: string;
  cloud_provider: string;
  request_payload: Json<Record<string, unknown>>;
  principal: string;
  role: string | null;
  duration_seconds: number;
  requested_by: string;
  received_at: Timestamp;
  updated_at: Timestamp;
  completed_at: Date | null;
  error_details: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  version: Generated<number>;
  idempotency_key: string | null;
  idempotency_hash: string | null;
  approval_expires_at: Date | null;
  attempts: Generated<number>;
  expires_at: Date | null;
  grant_ref: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  credentials_kek: string | null;
  credentials_wrapped: Buffer | null;
  credentials_sealed: Buffer | null;
  credentials_revealed_at: Date | null;
  revoke_at: Date | null;
  revoke_reason: string | null;
  revoke_attempts: Generated<number>;
  revoke_locked_until: Date | null;
  revoked_at: Date | null;
}

/** The PostgreSQL-backed job queue (migration 0010), used when REDIS_URL is not set. */
export interface QueueJobsTable {
  id: string;
  queue: string;
  data: Json<Record<string, unknown>>;
  attempts: Generated<number>;
  run_at: Timestamp;
  locked_until: Date | null;
  last_error: string | null;
  created_at: Timestamp;
}

/** Secrets (migration 0007): type, non-secret facts and rotation state of a secret config entry; never a value. */
export interface SecretMetaTable {
  tenant_id: string;
  namespace_id: string;
  key: string;
  environment: string;
  type: string;
  /** The config version `metadata` describes. */
  version: number;
  metadata: Json<Record<string, unknown>>;
  rotated_at: Date | null;
  previous_version: number | null;
  previous_metadata: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  previous_expires_at: Date | null;
  updated_at: Timestamp;
}

export interface Database {
  secret_meta: SecretMetaTable;
  tenants: TenantsTable;
  api_keys: ApiKeysTable;
  environments: EnvironmentsTable;
  namespaces: NamespacesTable;
  data_keys: DataKeysTable;
  key_rotations: KeyRotationsTable;
  configs: ConfigsTable;
  config_versions: ConfigVersionsTable;
  schemas: SchemasTable;
  audit_events: AuditEventsTable;
  alert_channels: AlertChannelsTable;
  alert_rules: AlertRulesTable;
  alert_rule_channels: AlertRuleChannelsTable;
  alert_cursors: AlertCursorsTable;
  alert_windows: AlertWindowsTable;
  alerts: AlertsTable;
  alert_deliveries: AlertDeliveriesTable;
  audit_logs: AuditLogsTable;
  audit_tree_nodes: AuditTreeNodesTable;
  audit_signing_keys: AuditSigningKeysTable;
  audit_checkpoints: AuditCheckpointsTable;
  audit_hmac_keys: AuditHmacKeysTable;
  audit_archives: AuditArchivesTable;
  config_changes: ConfigChangesTable;
  users: UsersTable;
  refresh_tokens: RefreshTokensTable;
  signing_keys: SigningKeysTable;
  key_usage: KeyUsageTable;
  roles: RolesTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  role_bindings: RoleBindingsTable;
  secret_rotation_policies: SecretRotationPoliciesTable;
  approval_policies: ApprovalPoliciesTable;
  approval_subjects: ApprovalSubjectsTable;
  approval_decisions: ApprovalDecisionsTable;
  change_requests: ChangeRequestsTable;
  requests: RequestsTable;
  queue_jobs: QueueJobsTable;
}

export type ConfigRow = Selectable<ConfigsTable>;
export type ConfigVersionRow = Selectable<ConfigVersionsTable>;
export type NewConfigVersion = Insertable<ConfigVersionsTable>;
