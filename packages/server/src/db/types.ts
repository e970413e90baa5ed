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

export interface Database {
  tenants: TenantsTable;
  api_keys: ApiKeysTable;
  environments: EnvironmentsTable;
  namespaces: NamespacesTable;
  data_keys: DataKeysTable;
  configs: ConfigsTable;
  config_versions: ConfigVersionsTable;
  schemas: SchemasTable;
  audit_events: AuditEventsTable;
  audit_logs: AuditLogsTable;
  audit_tree_nodes: AuditTreeNodesTable;
  config_changes: ConfigChangesTable;
  users: UsersTable;
  refresh_tokens: RefreshTokensTable;
  signing_keys: SigningKeysTable;
  key_usage: KeyUsageTable;
  roles: RolesTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  role_bindings: RoleBindingsTable;
}

export type ConfigRow = Selectable<ConfigsTable>;
export type ConfigVersionRow = Selectable<ConfigVersionsTable>;
export type NewConfigVersion = Insertable<ConfigVersionsTable>;
