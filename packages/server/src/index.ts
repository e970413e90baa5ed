export { buildApp, type CairnApp } from "./app.js";
export {
  AuditVerifier,
  type AuditVerifyFailure,
  type AuditVerifyResult,
  describeVerification,
  EXPORT_FORMAT as AUDIT_EXPORT_FORMAT,
  parseTrustedKey,
  verifyAuditExport,
} from "./audit/verify.js";
export { generateApiKey } from "./auth/api-key.js";
export { CairnError, type ErrorCode } from "./errors.js";
export { runServer } from "./server.js";
export { loadSettings, type Settings, SettingsError, type SettingsOverrides } from "./settings.js";
