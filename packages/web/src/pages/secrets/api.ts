import {
  type CairnClient,
  isNotFound,
  type PutSecretBody,
  type RotateSecretBody,
  type RotationPolicy,
  type SecretEntry,
  type SecretList,
  type SecretWriteResult,
} from "@cairn/sdk";

// The shapes of /api/v1/secrets are the server's own schemas (packages/server/src/domains/secrets/schemas.ts and
// policy-schemas.ts), via @cairn/sdk.
export type { RotationPolicy, SecretEntry, SecretList, SecretWriteResult } from "@cairn/sdk";

export type SecretType = SecretEntry["type"];
export type PreviousVersion = NonNullable<SecretEntry["previous"]>;

/** Types the server can generate a value for (a rotation without a value); the others come from their issuers. */
export const generatedTypes: readonly SecretType[] = ["generic", "api_key", "database_credentials", "ssh_key", "jwt_signing_key"];
/** Types whose value is one string; the others are JSON objects. */
export const textTypes: readonly SecretType[] = ["generic", "api_key"];

/** A label per type: a `Record` over the server's type union, so a type added there must be named here. */
export const typeLabels: Record<SecretType, string> = {
  generic: "Generic",
  api_key: "API key",
  database_credentials: "Database credentials",
  certificate: "Certificate",
  ssh_key: "SSH key",
  oauth_token: "OAuth token",
  jwt_signing_key: "JWT signing key",
};

/** Every secret type, in the order the page offers them (typeLabels' order). */
export const secretTypes = Object.keys(typeLabels) as SecretType[];

/** A JSON template per object type, to start from in the value box. */
export const valueTemplates: Partial<Record<SecretType, unknown>> = {
  database_credentials: { host: "db.internal", port: 5432, database: "app", username: "app", password: "" },
  certificate: { cert_pem: "", private_key_pem: "" },
  ssh_key: { private_key: "" },
  oauth_token: { access_token: "", token_type: "Bearer" },
  jwt_signing_key: { alg: "EdDSA", private_key_pem: "" },
};

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

/** The body of POST …/rotate. */
export type RotateOptions = RotateSecretBody;

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
  body: PutSecretBody,
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
