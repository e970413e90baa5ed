/** The wire shapes, as types only, for the SDK and CLI: derived from the same TypeBox schemas the routes use. */
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
export type { ErrorCode } from "./errors.js";
export type { Problem } from "./http/problem.js";
