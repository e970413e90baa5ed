import path from "node:path";
import { fileURLToPath } from "node:url";
import { type KekSettings, parseKekSettings } from "./crypto/kek-settings.js";

/**
 * Everything the server reads from its environment, parsed and checked once at boot.
 * Flags given to `cairn serve` override the environment (see `SettingsOverrides`).
 * KEK provider, previous master keys and data-key limits: `KekSettings` (src/crypto/kek-settings.ts).
 */
export interface Settings extends KekSettings {
  host: string;
  port: number;
  /** Embedded mode: where PGlite keeps its files and where a generated master key lives. */
  dataDir: string;
  /** Unset → embedded PGlite in `dataDir`. */
  databaseUrl?: string;
  redisUrl?: string;
  /** The built web console served at `/` (`CAIRN_CONSOLE_DIR`, default packages/web/dist; `off` serves none). */
  consoleDir: string | undefined;
  /** Base64 of 32 bytes, from CAIRN_MASTER_KEY. */
  masterKey?: string;
  /** A file holding the base64 master key, from CAIRN_MASTER_KEY_FILE. */
  masterKeyFile?: string;
  bootstrapAdminKey?: string;
  maxValueBytes: number;
  maxBodyBytes: number;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** Pool size for `pg`. */
  databasePoolSize: number;
  /** Send the config write as a named prepared statement (`CAIRN_DATABASE_PREPARED_STATEMENTS`, default on); turn off behind a
   * connection pooler that cannot keep prepared statements (PgBouncer before 1.21 in transaction mode). */
  databasePreparedStatements: boolean;
  /** Seconds a verified API key stays in the in-process cache. */
  keyCacheSeconds: number;
  /** Megabytes of resolved config reads kept in memory per process (`CAIRN_CACHE_MB`; 0 = no L1 cache). */
  cacheMegabytes: number;
  /** Seconds between flushes of API key usage counters (last used, counts per hour) to the database. */
  usageFlushSeconds: number;
  /** The default per-key rate limit of a tenant without its own (`CAIRN_DEFAULT_RATE_LIMIT=<limit>/<seconds>`); unset = unlimited. */
  defaultRateLimit?: { limit: number; windowSeconds: number };
  /** Audit: sign a checkpoint once a log has grown by this many events (`CAIRN_AUDIT_CHECKPOINT_EVENTS`). */
  auditCheckpointEvents: number;
  /** Audit: …or once its last checkpoint is this many seconds old and it grew at all (`CAIRN_AUDIT_CHECKPOINT_SECONDS`). */
  auditCheckpointSeconds: number;
  /** Audit: host part of each log's origin, `<host>/cairn/audit/<tenant>` (`CAIRN_AUDIT_ORIGIN_HOST`); fixed per log once its key exists. */
  auditOriginHost: string;
  /** Audit retention: archive and drop month partitions older than this many days (`CAIRN_AUDIT_RETENTION_DAYS`); unset = keep forever. */
  auditRetentionDays?: number;
  /** Audit retention: where archives (gzip NDJSON) are written (`CAIRN_AUDIT_ARCHIVE_DIR`, default `<data dir>/audit-archive`). */
  auditArchiveDir: string;
  /** Alerts: deliver to webhook/Slack targets in private, loopback or link-local ranges (`CAIRN_ALERTS_ALLOW_PRIVATE_TARGETS`). */
  alertsAllowPrivateTargets: boolean;
  /** Alerts: ms between the evaluator's and the outbox worker's polls (`CAIRN_ALERTS_POLL_MS`). */
  alertsPollMs: number;
  /** Alerts: delivery attempts before a delivery is dead (`CAIRN_ALERTS_MAX_ATTEMPTS`). */
  alertsMaxAttempts: number;
  /** Alerts: first retry delay in ms, doubled per attempt, with jitter (`CAIRN_ALERTS_RETRY_BASE_MS`). */
  alertsRetryBaseMs: number;
  /** Alerts: the longest retry delay in ms (`CAIRN_ALERTS_RETRY_MAX_MS`). */
  alertsRetryMaxMs: number;
  /** Alerts: ms one delivery attempt may take (`CAIRN_ALERTS_TIMEOUT_MS`). */
  alertsTimeoutMs: number;
  /** Watch: config change revisions kept per tenant for resuming (`CAIRN_WATCH_RETENTION`); older → 410. */
  watchRetention: number;
  /** Watch: seconds between heartbeats on an idle stream (`CAIRN_WATCH_HEARTBEAT_SECONDS`). */
  watchHeartbeatSeconds: number;
  /** How long a rotated secret's previous value stays readable (`?version=previous`) unless the rotation says otherwise. */
  secretGraceSeconds: number;
  /** Watch: bytes a stream may have unsent before the slow client is dropped (`CAIRN_WATCH_MAX_BUFFER_BYTES`). */
  watchMaxBufferBytes: number;
  /** `CAIRN_METRICS_TOKEN`: when set, GET /metrics needs `Authorization: Bearer <it>`; unset = open, like /health. */
  metricsToken?: string;
  /** Secret rotation: seconds between the scheduler's polls for due rotations (`CAIRN_ROTATION_POLL_SECONDS`). */
  rotationPollSeconds: number;
  /** Secret rotation: first retry delay after a failed rotation, doubled per attempt (`CAIRN_ROTATION_RETRY_BASE_SECONDS`). */
  rotationRetryBaseSeconds: number;
  /** Secret rotation: the longest retry delay (`CAIRN_ROTATION_RETRY_MAX_SECONDS`). */
  rotationRetryMaxSeconds: number;
  /** Secret rotation: how long a claimed rotation is this replica's before another may take it over (`CAIRN_ROTATION_LEASE_SECONDS`). */
  rotationLeaseSeconds: number;
  /** OTLP endpoint for traces (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`); unset = no tracing. */
  otlpEndpoint?: string;
  /** `cairn serve --role` / `CAIRN_ROLE`: `api` answers HTTP only, `worker` also runs the access-request queues and revocations, `all` (default) both. */
  role: "api" | "worker" | "all";
  /** Access requests: the PostgreSQL the `postgres` provider issues temporary logins on (`CAIRN_ACCESS_POSTGRES_URL`); unset = provider off. */
  accessPostgresUrl?: string;
  /** Access requests: the longest `durationSeconds` anyone may ask for (`CAIRN_ACCESS_MAX_DURATION_SECONDS`); policies may lower it. */
  accessMaxDurationSeconds: number;
  /** Access requests: tries of a grant failing with a transient error before the request is FAILED (`CAIRN_ACCESS_MAX_ATTEMPTS`). */
  accessMaxAttempts: number;
  /** Access requests: first retry delay in ms, doubled per try (`CAIRN_ACCESS_RETRY_BASE_MS`). */
  accessRetryBaseMs: number;
  /** Access requests: ms between the worker's polls for due revocations, expired approvals and queued jobs (`CAIRN_ACCESS_POLL_MS`). */
  accessPollMs: number;
  /** Access provider aws: IAM endpoint override (`CAIRN_AWS_IAM_ENDPOINT`). */
  awsIamEndpoint?: string;
  /** Access provider aws: signing region (`AWS_REGION`, default us-east-1; IAM is global). */
  awsRegion: string;
  /** Access provider aws: static keys (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); unset = the SDK's chain. */
  awsAccessKeyId?: string;
  awsSecretAccessKey?: string;
  awsSessionToken?: string;
  /** Access provider aws offered (`CAIRN_AWS_ENABLED`; default: on when an endpoint, keys, a profile or web identity is set). */
  awsEnabled: boolean;
  /** Access provider azure: ARM endpoint (`CAIRN_AZURE_ENDPOINT`, default https://management.azure.com). */
  azureEndpoint: string;
  /** Access provider azure: token host (`CAIRN_AZURE_AUTHORITY_HOST` or `AZURE_AUTHORITY_HOST`, default https://login.microsoftonline.com). */
  azureAuthorityHost: string;
  /** Access provider azure: service principal (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`). */
  azureTenantId?: string;
  azureClientId?: string;
  azureClientSecret?: string;
  /** Access provider azure: scope `/subscriptions/<id>` for requests without a `resource` (`AZURE_SUBSCRIPTION_ID`). */
  azureSubscriptionId?: string;
  /** Access provider gcp: Resource Manager endpoint (`CAIRN_GCP_ENDPOINT`, default https://cloudresourcemanager.googleapis.com). */
  gcpEndpoint: string;
  /** Access provider gcp: service-account key file (`CAIRN_GCP_CREDENTIALS_FILE` or `GOOGLE_APPLICATION_CREDENTIALS`). */
  gcpCredentialsFile?: string;
  /** Access provider gcp: a ready OAuth access token instead of a key file (`CAIRN_GCP_ACCESS_TOKEN`). */
  gcpAccessToken?: string;
  /** Access provider gcp: project for requests without a `resource` (`CAIRN_GCP_PROJECT`). */
  gcpProject?: string;
}

export type SettingsOverrides = Partial<Settings>;

export class SettingsError extends Error {
  override name = "SettingsError";
}

const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new SettingsError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return n;
}

/** `600/60` → 600 requests per 60 s; `600` alone → per 60 s. */
function rateLimit(env: NodeJS.ProcessEnv, name: string): Settings["defaultRateLimit"] {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  const m = /^(\d{1,9})(?:\s*\/\s*(\d{1,6})s?)?$/.exec(raw);
  const limit = Number(m?.[1]);
  const windowSeconds = Number(m?.[2] ?? 60);
  if (!m || limit < 1 || windowSeconds < 1 || windowSeconds > 86_400) {
    throw new SettingsError(`${name} must look like <limit>/<seconds>, e.g. 600/60 (1 ≤ seconds ≤ 86400), got "${raw}"`);
  }
  return { limit, windowSeconds };
}

/** `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off` (any case); unset or empty → `fallback`. */
function bool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = str(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (["true", "1", "yes", "on"].includes(raw)) return true;
  if (["false", "0", "no", "off"].includes(raw)) return false;
  throw new SettingsError(`${name} must be true or false, got "${raw}"`);
}

/** A schema-less host (optionally with a path) for audit origins: no spaces, no '+', as signed notes require. */
function auditOriginHost(env: NodeJS.ProcessEnv): string {
  const raw = str(env, "CAIRN_AUDIT_ORIGIN_HOST") ?? "cairn.local";
  if (!/^[A-Za-z0-9][A-Za-z0-9.:_~/-]{0,199}$/.test(raw) || raw.endsWith("/")) {
    throw new SettingsError(`CAIRN_AUDIT_ORIGIN_HOST must be a host name like audit.example.com (no scheme, spaces or '+'), got "${raw}"`);
  }
  return raw;
}

/** An http(s) URL without a trailing slash, for provider endpoints. */
function httpUrl(env: NodeJS.ProcessEnv, names: string[], fallback: string): string {
  const name = names.find((n) => str(env, n) !== undefined);
  const raw = (name && str(env, name)) ?? fallback;
  if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(raw)) throw new SettingsError(`${name} must be an http(s) URL, got "${raw}"`);
  return raw.replace(/\/+$/, "");
}

const serveRoles = ["api", "worker", "all"] as const;
function serveRole(env: NodeJS.ProcessEnv): Settings["role"] {
  const raw = (str(env, "CAIRN_ROLE") ?? "all") as Settings["role"];
  if (!serveRoles.includes(raw)) throw new SettingsError(`CAIRN_ROLE must be one of ${serveRoles.join(", ")}, got "${raw}"`);
  return raw;
}

/** packages/web/dist beside this package: the same two levels up from src/ (tsx) and dist/ (compiled). */
const bundledConsoleDir = fileURLToPath(new URL("../../web/dist", import.meta.url));

function consoleDir(env: NodeJS.ProcessEnv): string | undefined {
  const raw = str(env, "CAIRN_CONSOLE_DIR");
  if (raw === "off") return undefined;
  return raw ? path.resolve(raw) : bundledConsoleDir;
}

function str(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === "" ? undefined : v.trim();
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env, overrides: SettingsOverrides = {}): Settings {
  const logLevel = (str(env, "CAIRN_LOG_LEVEL") ?? "info") as Settings["logLevel"];
  if (!logLevels.includes(logLevel)) {
    throw new SettingsError(`CAIRN_LOG_LEVEL must be one of ${logLevels.join(", ")}, got "${logLevel}"`);
  }
  const maxValueBytes = int(env, "CAIRN_MAX_VALUE_BYTES", 1024 * 1024, 1, 64 * 1024 * 1024);
  const settings: Settings = {
    host: str(env, "CAIRN_HOST") ?? "127.0.0.1",
    port: int(env, "CAIRN_PORT", int(env, "PORT", 8080, 0, 65535), 0, 65535),
    dataDir: str(env, "CAIRN_DATA_DIR") ?? ".cairn/data",
    consoleDir: consoleDir(env),
    databaseUrl: str(env, "DATABASE_URL"),
    redisUrl: str(env, "REDIS_URL"),
    masterKey: str(env, "CAIRN_MASTER_KEY"),
    masterKeyFile: str(env, "CAIRN_MASTER_KEY_FILE"),
    bootstrapAdminKey: str(env, "CAIRN_BOOTSTRAP_ADMIN_KEY"),
    maxValueBytes,
    // A request carries at least one value plus its envelope; bulk requests carry many.
    maxBodyBytes: int(env, "CAIRN_MAX_BODY_BYTES", Math.max(8 * 1024 * 1024, maxValueBytes * 2), 1024, 512 * 1024 * 1024),
    logLevel,
    databasePoolSize: int(env, "CAIRN_DATABASE_POOL_SIZE", 20, 1, 1000),
    databasePreparedStatements: bool(env, "CAIRN_DATABASE_PREPARED_STATEMENTS", true),
    keyCacheSeconds: int(env, "CAIRN_KEY_CACHE_SECONDS", 10, 0, 3600),
    cacheMegabytes: int(env, "CAIRN_CACHE_MB", 64, 0, 65536),
    usageFlushSeconds: int(env, "CAIRN_USAGE_FLUSH_SECONDS", 5, 1, 3600),
    defaultRateLimit: rateLimit(env, "CAIRN_DEFAULT_RATE_LIMIT"),
    auditCheckpointEvents: int(env, "CAIRN_AUDIT_CHECKPOINT_EVENTS", 1000, 1, 10_000_000),
    auditCheckpointSeconds: int(env, "CAIRN_AUDIT_CHECKPOINT_SECONDS", 60, 1, 86_400),
    auditOriginHost: auditOriginHost(env),
    auditRetentionDays:
      str(env, "CAIRN_AUDIT_RETENTION_DAYS") === undefined ? undefined : int(env, "CAIRN_AUDIT_RETENTION_DAYS", 0, 1, 36_500),
    auditArchiveDir: str(env, "CAIRN_AUDIT_ARCHIVE_DIR") ?? "",
    metricsToken: str(env, "CAIRN_METRICS_TOKEN"),
    otlpEndpoint: /^true$/i.test(str(env, "OTEL_SDK_DISABLED") ?? "")
      ? undefined
      : (str(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") ?? str(env, "OTEL_EXPORTER_OTLP_ENDPOINT")),
    alertsAllowPrivateTargets: bool(env, "CAIRN_ALERTS_ALLOW_PRIVATE_TARGETS", false),
    alertsPollMs: int(env, "CAIRN_ALERTS_POLL_MS", 1000, 10, 3_600_000),
    alertsMaxAttempts: int(env, "CAIRN_ALERTS_MAX_ATTEMPTS", 20, 1, 1000),
    alertsRetryBaseMs: int(env, "CAIRN_ALERTS_RETRY_BASE_MS", 5000, 1, 86_400_000),
    alertsRetryMaxMs: int(env, "CAIRN_ALERTS_RETRY_MAX_MS", 3_600_000, 1, 7 * 86_400_000),
    alertsTimeoutMs: int(env, "CAIRN_ALERTS_TIMEOUT_MS", 10_000, 100, 300_000),
    rotationPollSeconds: int(env, "CAIRN_ROTATION_POLL_SECONDS", 30, 1, 86_400),
    rotationRetryBaseSeconds: int(env, "CAIRN_ROTATION_RETRY_BASE_SECONDS", 60, 1, 86_400),
    rotationRetryMaxSeconds: int(env, "CAIRN_ROTATION_RETRY_MAX_SECONDS", 6 * 3600, 1, 7 * 86_400),
    rotationLeaseSeconds: int(env, "CAIRN_ROTATION_LEASE_SECONDS", 300, 5, 86_400),
    watchRetention: int(env, "CAIRN_WATCH_RETENTION", 100_000, 1, 1_000_000_000),
    watchHeartbeatSeconds: int(env, "CAIRN_WATCH_HEARTBEAT_SECONDS", 15, 1, 3600),
    secretGraceSeconds: int(env, "CAIRN_SECRET_GRACE_SECONDS", 86_400, 0, 31_536_000),
    watchMaxBufferBytes: int(env, "CAIRN_WATCH_MAX_BUFFER_BYTES", 1024 * 1024, 1024, 1024 * 1024 * 1024),
    ...parseKekSettings(env),
    role: serveRole(env),
    accessPostgresUrl: str(env, "CAIRN_ACCESS_POSTGRES_URL"),
    accessMaxDurationSeconds: int(env, "CAIRN_ACCESS_MAX_DURATION_SECONDS", 43_200, 1, 30 * 86_400),
    accessMaxAttempts: int(env, "CAIRN_ACCESS_MAX_ATTEMPTS", 5, 1, 100),
    accessRetryBaseMs: int(env, "CAIRN_ACCESS_RETRY_BASE_MS", 1000, 1, 3_600_000),
    accessPollMs: int(env, "CAIRN_ACCESS_POLL_MS", 1000, 10, 60_000),
    awsIamEndpoint: str(env, "CAIRN_AWS_IAM_ENDPOINT") && httpUrl(env, ["CAIRN_AWS_IAM_ENDPOINT"], ""),
    awsRegion: str(env, "AWS_REGION") ?? str(env, "AWS_DEFAULT_REGION") ?? "us-east-1",
    awsAccessKeyId: str(env, "AWS_ACCESS_KEY_ID"),
    awsSecretAccessKey: str(env, "AWS_SECRET_ACCESS_KEY"),
    awsSessionToken: str(env, "AWS_SESSION_TOKEN"),
    awsEnabled: bool(
      env,
      "CAIRN_AWS_ENABLED",
      [
        "CAIRN_AWS_IAM_ENDPOINT",
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
      ].some((name) => str(env, name) !== undefined),
    ),
    azureEndpoint: httpUrl(env, ["CAIRN_AZURE_ENDPOINT"], "https://management.azure.com"),
    azureAuthorityHost: httpUrl(env, ["CAIRN_AZURE_AUTHORITY_HOST", "AZURE_AUTHORITY_HOST"], "https://login.microsoftonline.com"),
    azureTenantId: str(env, "AZURE_TENANT_ID"),
    azureClientId: str(env, "AZURE_CLIENT_ID"),
    azureClientSecret: str(env, "AZURE_CLIENT_SECRET"),
    azureSubscriptionId: str(env, "AZURE_SUBSCRIPTION_ID"),
    gcpEndpoint: httpUrl(env, ["CAIRN_GCP_ENDPOINT"], "https://cloudresourcemanager.googleapis.com"),
    gcpCredentialsFile: str(env, "CAIRN_GCP_CREDENTIALS_FILE") ?? str(env, "GOOGLE_APPLICATION_CREDENTIALS"),
    gcpAccessToken: str(env, "CAIRN_GCP_ACCESS_TOKEN"),
    gcpProject: str(env, "CAIRN_GCP_PROJECT"),
  };
  for (const [k, v] of Object.entries(overrides)) {
    if (v !== undefined) (settings as unknown as Record<string, unknown>)[k] = v;
  }
  settings.dataDir = path.resolve(settings.dataDir);
  settings.auditArchiveDir = path.resolve(settings.auditArchiveDir || path.join(settings.dataDir, "audit-archive"));
  if (settings.masterKeyFile) settings.masterKeyFile = path.resolve(settings.masterKeyFile);
  return settings;
}
