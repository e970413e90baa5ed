/**
 * @cairn/sdk: a typed client for the Cairn HTTP API. Response shapes are the server's own
 * TypeBox schemas (type-only import, erased at runtime), so they are never restated here.
 */
export type {
  BulkOperation,
  BulkResult,
  ConfigEntry,
  ConfigList,
  Environment,
  EnvironmentList,
  HistoryEntry,
  KeyHistory,
  KeySchema,
  NamespaceHistory,
  Problem,
  ResolvedConfig,
  ValidateResult,
} from "@cairn/server/contract";
export {
  CairnClient,
  type CreateEnvironmentOptions,
  createClient,
  type DeleteOptions,
  type EnvironmentOption,
  type ExportOptions,
  type GetOptions,
  type HealthStatus,
  type HistoryOptions,
  type ListOptions,
  type NamespaceHistoryOptions,
  type RollbackOptions,
  type SetOptions,
  type WriteOptions,
} from "./client.js";
export {
  CairnApiError,
  type CairnApiErrorOf,
  CairnConnectionError,
  isApiError,
  isConflict,
  isForbidden,
  isNotFound,
  isPreconditionFailed,
  isRateLimited,
  isUnauthorized,
  isValidationFailed,
  type ProblemCode,
  type ProblemFieldError,
} from "./errors.js";
export type { ClientOptions } from "./transport.js";
