import { type CairnClient, isNotFound } from "@cairn/sdk";

// The shapes of /api/v1/secrets (packages/server/src/domains/secrets/schemas.ts and policy-schemas.ts). The SDK
// exports no secret types yet, so the fields the page uses are named here.

export const secretTypes = [
  "generic",
  "api_key",
  "database_credentials",
  "certificate",
  "ssh_key",
  "oauth_token",
  "jwt_signing_key",
] as const;
export type SecretType = (typeof secretTypes)[number];

/** Types the server can generate a value for (a rotation without a value); the others come from their issuers. */
export const generatedTypes: readonly SecretType[] = ["generic", "api_key", "database_credentials", "ssh_key", "jwt_signing_key"];
/** Types whose value is one string; the others are JSON objects. */
export const textTypes: readonly SecretType[] = ["generic", "api_key"];

export const typeLabels: Record<SecretType, string> = {
  generic: "Generic",
  api_key: "API key",
  database_credentials: "Database credentials",
  certificate: "Certificate",
  ssh_key: "SSH key",
  oauth_token: "OAuth token",
  jwt_signing_key: "JWT signing key",
};

/** A JSON template per object type, to start from in the value box. */
export const valueTemplates: Partial<Record<SecretType, unknown>> = {
  database_credentials: { host: "db.internal", port: 5432, database: "app", username: "app", password: "" },
  certificate: { cert_pem: "", private_key_pem: "" },
  ssh_key: { private_key: "" },
  oauth_token: { access_token: "", token_type: "Bearer" },
  jwt_signing_key: { alg: "EdDSA", private_key_pem: "" },
};

export interface PreviousVersion {
  version: number;
  expiresAt: string;
  retired: boolean;
}

export interface SecretEntry {
  namespace: string;
  key: string;
  environment: string;
  resolvedFrom: string;
  type: SecretType;
  value: unknown;
  version: number;
  metadata: Record<string, unknown>;
  tags: Record<string, string>;
  rotatedAt: string | null;
  previous: PreviousVersion | null;
  updatedAt: string;
  updatedBy: string;
}

export interface SecretWriteResult extends SecretEntry {
  warnings: { path: string; message?: string; kind?: string }[];
}

export interface SecretList {
  namespace: string;
  environment: string;
  items: SecretEntry[];
}

export interface RotationPolicy {
  intervalSeconds: number;
  gracePeriodSeconds: number;
  autoRotate: boolean;
  strategy: string | null;
  nextRotationAt: string | null;
  attempts: number;
  lastError: string | null;
  lastAttemptAt: string | null;
  lastRotatedAt: string | null;
  lastRotatedVersion: number | null;
}

/** Namespaces are one path segment: `/` is sent as %2F. */
export const secretsPath = (namespace: string, key?: string) =>
  `/api/v1/secrets/${encodeURIComponent(namespace)}${key === undefined ? "" : `/${encodeURIComponent(key)}`}`;

export function listSecrets(client: CairnClient, namespace: string, environment: string): Promise<SecretList> {
  return client.call("GET", secretsPath(namespace), { query: { environment } });
}

/** The value in clear: the server records a `secret.reveal` audit event before it answers. */
export function revealSecret(
  client: CairnClient,
  entry: Pick<SecretEntry, "namespace" | "key" | "environment">,
  version: "current" | "previous" = "current",
): Promise<SecretEntry> {
  return client.call("GET", secretsPath(entry.namespace, entry.key), {
    query: { environment: entry.environment, reveal: true, version: version === "previous" ? "previous" : undefined },
  });
}

/** The secret's rotation policy, or null when it has none (404). */
export async function loadPolicy(
  client: CairnClient,
  entry: Pick<SecretEntry, "namespace" | "key" | "environment">,
): Promise<RotationPolicy | null> {
  try {
    return await client.call<RotationPolicy>("GET", `${secretsPath(entry.namespace, entry.key)}/policy`, {
      query: { environment: entry.environment },
    });
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

export interface RotateOptions {
  value?: unknown;
  type?: SecretType;
  gracePeriodSeconds?: number;
  reason?: string;
}

export function rotateSecret(
  client: CairnClient,
  address: { namespace: string; key: string; environment: string },
  options: RotateOptions,
): Promise<SecretWriteResult> {
  return client.call("POST", `${secretsPath(address.namespace, address.key)}/rotate`, {
    query: { environment: address.environment },
    body: options,
  });
}

export function putSecret(
  client: CairnClient,
  address: { namespace: string; key: string; environment: string },
  body: { type: SecretType; value: unknown; reason?: string },
): Promise<SecretWriteResult> {
  return client.call("PUT", secretsPath(address.namespace, address.key), { query: { environment: address.environment }, body });
}

/** A duration in seconds as people say it: "30 d", "1 h", "90 s" (with no-break spaces). */
export function duration(seconds: number): string {
  if (seconds % 86_400 === 0 && seconds >= 86_400) return `${seconds / 86_400}\u00a0d`;
  if (seconds % 3600 === 0 && seconds >= 3600) return `${seconds / 3600}\u00a0h`;
  if (seconds % 60 === 0 && seconds >= 60) return `${seconds / 60}\u00a0min`;
  return `${seconds}\u00a0s`;
}

/** A revealed value for display: strings as they are, anything else as indented JSON. */
export function showValue(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

/**
 * What the user typed as a value: text types keep the text as one string; object types (and generic text that
 * starts with `{` or `[` when `json` is set) are parsed as JSON. Throws a sentence when the JSON is bad.
 */
export function parseValue(type: SecretType, text: string, json: boolean): unknown {
  if (textTypes.includes(type) && !json) return text;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`The value is not valid JSON: ${(err as Error).message}`);
  }
}
