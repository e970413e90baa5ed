/** The wire shapes, as types only, for the SDK and CLI: derived from the same TypeBox schemas the routes use. */
export type { Action, Conditions, Resource, Rule } from "./authz/types.js";
export type { KeyRotation, KeyRotationList, StartKeyRotationBody } from "./domains/admin/schemas.js";
export type {
  AlertChannel,
  AlertChannelList,
  AlertQuery,
  AlertRule,
  AlertRuleList,
  ChannelTestResult,
  CreateChannelBody,
  CreateRuleBody,
  Delivery,
  DeliveryList,
  DeliveryQuery,
  FiredAlert,
  FiredAlertList,
  RuleFilter,
  SeverityTable,
  UpdateChannelBody,
  UpdateRuleBody,
} from "./domains/alerts/schemas.js";
export type {
  AuditCheckpoint,
  AuditCheckpointList,
  AuditEvent,
  AuditEventList,
  AuditPublicKey,
  AuditVerification,
  ConsistencyProof,
  HashResult as AuditHashResult,
  InclusionProof,
  ListAuditQuery,
} from "./domains/audit/schemas.js";
export type { RetentionRun as AuditRetentionRun } from "./domains/audit-retention/schemas.js";
export type {
  BulkBody,
  BulkOperation,
  BulkResult,
  ChangeType,
  ConfigEntry,
  ConfigList,
  HistoryEntry,
  KeyHistory,
  ListQuery,
  NamespaceHistory,
  PutConfigBody,
  ResolvedConfig,
  RollbackBody,
  ValidateResult,
} from "./domains/configs/schemas.js";
export type { CreateEnvironment, Environment, EnvironmentList } from "./domains/environments/schemas.js";
export type { KeySchema, PutKeySchemaBody } from "./domains/key-schemas/schemas.js";
export type {
  CreatedKey,
  CreateKeyBody,
  KeyList,
  KeyStatus,
  KeyUsage,
  KeyView,
  ListKeysQuery,
  RateLimit,
  RotatedKey,
  RotateKeyBody,
  VerifyResult,
} from "./domains/keys/schemas.js";
export type {
  Accepted as AcceptedRequest,
  CreateRequestBody,
  Credentials as AccessCredentials,
  DecisionResult,
  ListRequestsQuery,
  RequestCounts,
  RequestList,
  RequestView as AccessRequest,
} from "./domains/requests/schemas.js";
export type {
  Binding,
  BindingQuery,
  CheckBody,
  CheckResult,
  CreateBindingBody,
  CreateRoleBody,
  Group,
  PutRoleBody,
  Role,
  Subject,
} from "./domains/roles/schemas.js";
export type { PutPolicyBody as PutRotationPolicyBody, RotationPolicy } from "./domains/secrets/policy-schemas.js";
export type {
  PutSecretBody,
  RotateBody as RotateSecretBody,
  SecretEntry,
  SecretList,
  SecretWriteResult,
} from "./domains/secrets/schemas.js";
export type { LoginBody, TokenPair, WhoAmI } from "./domains/sessions/schemas.js";
export type { CreatedTenant, CreateTenant, Tenant } from "./domains/tenants/schemas.js";
export type { CreateUser, User } from "./domains/users/schemas.js";
export type { WatchChange, WatchPosition, WatchQuery, WatchReconnect, WatchResync } from "./domains/watch/schemas.js";
export type { ErrorCode } from "./errors.js";
export type { Problem } from "./http/problem.js";
