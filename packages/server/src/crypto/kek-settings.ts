import { SettingsError } from "../settings.js";

/** How keys are wrapped: which KEK provider, its connection, and the data-key limits (parsed once at boot). */
export interface KekSettings {
  /** `CAIRN_KEK_PROVIDER`: local (a master key, the default), aws-kms, vault-transit. */
  kekProvider: "local" | "aws-kms" | "vault-transit";
  /**
   * `CAIRN_MASTER_KEYS_PREVIOUS`: comma-separated base64 master keys that still unwrap (never wrap) during a
   * master-key rotation or a move to a remote provider; drop them once `cairn admin rotate-master-key` finished.
   */
  masterKeysPrevious: string[];
  /** aws-kms: `CAIRN_AWS_KMS_KEY_ID` (id, ARN or alias), `CAIRN_AWS_KMS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN` (else the SDK's default chain). */
  awsKms?: {
    keyId: string;
    endpoint?: string;
    region?: string;
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  };
  /** vault-transit: `CAIRN_VAULT_ADDR`, `CAIRN_VAULT_TOKEN`, `CAIRN_VAULT_TRANSIT_MOUNT` (transit), `CAIRN_VAULT_TRANSIT_KEY`, `CAIRN_VAULT_TRANSIT_DERIVED`, `CAIRN_VAULT_NAMESPACE`. */
  vaultTransit?: { addr: string; token: string; mount: string; key: string; derived: boolean; namespace?: string };
  /** `CAIRN_DATA_KEY_MAX_ENCRYPTIONS`: a data key is rotated automatically once it sealed this many values (below 2^32, NIST SP 800-38D). */
  dataKeyMaxEncryptions: number;
  /** `CAIRN_KEY_ROTATION_BATCH_SIZE`: rows rewrapped or re-encrypted per transaction by a key rotation. */
  keyRotationBatchSize: number;
}

const str = (env: NodeJS.ProcessEnv, name: string): string | undefined => {
  const v = env[name];
  return v === undefined || v.trim() === "" ? undefined : v.trim();
};

function need(env: NodeJS.ProcessEnv, name: string, provider: string, example: string): string {
  const v = str(env, name);
  if (!v) throw new SettingsError(`CAIRN_KEK_PROVIDER=${provider} needs ${name} (e.g. ${example})`);
  return v;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new SettingsError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  return n;
}

function url(raw: string, name: string): string {
  try {
    const u = new URL(raw);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
    return u.toString().replace(/\/$/, "");
  } catch {
    throw new SettingsError(`${name} must be an http(s) URL like https://vault.example.com:8200, got "${raw}"`);
  }
}

/** 2^32 − 2^28: room for blocks of encryptions reserved by every replica before the limit is seen. */
export const DEFAULT_DATA_KEY_MAX_ENCRYPTIONS = 2 ** 32 - 2 ** 28;

export function parseKekSettings(env: NodeJS.ProcessEnv): KekSettings {
  const provider = (str(env, "CAIRN_KEK_PROVIDER") ?? "local").toLowerCase();
  if (provider !== "local" && provider !== "aws-kms" && provider !== "vault-transit") {
    throw new SettingsError(`CAIRN_KEK_PROVIDER must be local, aws-kms or vault-transit, got "${provider}"`);
  }
  const settings: KekSettings = {
    kekProvider: provider,
    masterKeysPrevious: (str(env, "CAIRN_MASTER_KEYS_PREVIOUS") ?? "")
      .split(",")
      .map((k) => k.trim())
      .filter(Boolean),
    dataKeyMaxEncryptions: integer(env, "CAIRN_DATA_KEY_MAX_ENCRYPTIONS", DEFAULT_DATA_KEY_MAX_ENCRYPTIONS, 1, 2 ** 32),
    keyRotationBatchSize: integer(env, "CAIRN_KEY_ROTATION_BATCH_SIZE", 200, 1, 10_000),
  };
  if (provider === "aws-kms") {
    const accessKeyId = str(env, "AWS_ACCESS_KEY_ID");
    const secretAccessKey = str(env, "AWS_SECRET_ACCESS_KEY");
    if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) {
      throw new SettingsError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: set both, or neither (the SDK's default chain)");
    }
    const endpoint = str(env, "CAIRN_AWS_KMS_ENDPOINT");
    settings.awsKms = {
      keyId: need(env, "CAIRN_AWS_KMS_KEY_ID", provider, "alias/cairn or an key ARN"),
      endpoint: endpoint ? url(endpoint, "CAIRN_AWS_KMS_ENDPOINT") : undefined,
      region: str(env, "AWS_REGION") ?? str(env, "AWS_DEFAULT_REGION"),
      credentials:
        accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, sessionToken: str(env, "AWS_SESSION_TOKEN") } : undefined,
    };
  }
  if (provider === "vault-transit") {
    const mount = str(env, "CAIRN_VAULT_TRANSIT_MOUNT") ?? "transit";
    const key = need(env, "CAIRN_VAULT_TRANSIT_KEY", provider, "cairn");
    for (const [name, v] of [
      ["CAIRN_VAULT_TRANSIT_MOUNT", mount],
      ["CAIRN_VAULT_TRANSIT_KEY", key],
    ]) {
      if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(v as string))
        throw new SettingsError(`${name} must be a Vault path segment, got "${v}"`);
    }
    const derived = (str(env, "CAIRN_VAULT_TRANSIT_DERIVED") ?? "false").toLowerCase();
    if (!["true", "false", "1", "0"].includes(derived))
      throw new SettingsError(`CAIRN_VAULT_TRANSIT_DERIVED must be true or false, got "${derived}"`);
    settings.vaultTransit = {
      addr: url(need(env, "CAIRN_VAULT_ADDR", provider, "https://vault.example.com:8200"), "CAIRN_VAULT_ADDR"),
      token: need(env, "CAIRN_VAULT_TOKEN", provider, "a token allowed to use transit/encrypt and transit/decrypt"),
      mount,
      key,
      derived: derived === "true" || derived === "1",
      namespace: str(env, "CAIRN_VAULT_NAMESPACE"),
    };
  }
  return settings;
}
