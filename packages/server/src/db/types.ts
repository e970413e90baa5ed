import type { ColumnType, Generated, Insertable, Selectable } from "kysely";

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T = unknown> = ColumnType<T, string, string>;

export interface TenantsTable {
  id: string;
  name: string;
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
}

export type ConfigRow = Selectable<ConfigsTable>;
export type ConfigVersionRow = Selectable<ConfigVersionsTable>;
export type NewConfigVersion = Insertable<ConfigVersionsTable>;
