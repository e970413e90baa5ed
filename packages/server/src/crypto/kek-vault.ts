import { CairnError } from "../errors.js";
import { DecryptionError } from "./envelope.js";
import type { KekBackend } from "./kek.js";
import type { KekSettings } from "./kek-settings.js";

const TIMEOUT_MS = 10_000;

interface VaultAnswer {
  data?: { ciphertext?: unknown; plaintext?: unknown };
  errors?: unknown;
}

/**
 * `vault-transit`: keys are wrapped by Vault's (or OpenBao's) transit engine over its HTTP API —
 * `POST /v1/<mount>/encrypt/<key>` and `/decrypt/<key>`, base64 plaintext, the token in `X-Vault-Token`.
 * With a derived key (`CAIRN_VAULT_TRANSIT_DERIVED=true`) the wrapping context is sent as `context`, so a
 * wrapped key only opens where it was made. The ciphertext (`vault:vN:…`) is stored as its UTF-8 bytes.
 */
export function vaultTransitKekBackend(settings: NonNullable<KekSettings["vaultTransit"]>, fetchFn: typeof fetch = fetch): KekBackend {
  const ref = `${settings.mount}/${settings.key}`;
  const contextOf = (context: string) => (settings.derived ? { context: Buffer.from(context, "utf8").toString("base64") } : {});

  async function post(path: string, body: Record<string, unknown>): Promise<{ status: number; json: VaultAnswer }> {
    let res: Response;
    try {
      res = await fetchFn(`${settings.addr}/v1/${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-vault-token": settings.token,
          ...(settings.namespace ? { "x-vault-namespace": settings.namespace } : {}),
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (e) {
      throw new CairnError("unavailable", `Vault at ${settings.addr} cannot be reached (${(e as Error).message}); retry shortly`, {
        headers: { "Retry-After": "1" },
      });
    }
    const json = (await res.json().catch(() => ({}))) as VaultAnswer;
    return { status: res.status, json };
  }

  const failed = (what: string, r: { status: number; json: VaultAnswer }) => {
    const errors = Array.isArray(r.json.errors) ? r.json.errors.map(String).join("; ") : "";
    return new CairnError("unavailable", `Vault transit ${what} failed with HTTP ${r.status}${errors ? `: ${errors}` : ""}`, {
      headers: { "Retry-After": "1" },
    });
  };

  return {
    kind: "vault-transit",
    ref,
    canUnwrap: () => true,
    async wrap(plaintext, context) {
      const r = await post(`${settings.mount}/encrypt/${settings.key}`, { plaintext: plaintext.toString("base64"), ...contextOf(context) });
      const ciphertext = r.json.data?.ciphertext;
      if (r.status !== 200 || typeof ciphertext !== "string") throw failed("encrypt", r);
      return Buffer.from(ciphertext, "utf8");
    },
    async unwrap(keyRef, raw, context) {
      const ciphertext = raw.toString("utf8");
      if (!/^vault:v\d+:[A-Za-z0-9+/=]+$/.test(ciphertext)) throw new DecryptionError("wrapped key is not a Vault transit ciphertext");
      const r = await post(`${keyRef.replace(/\/([^/]+)$/, "/decrypt/$1")}`, { ciphertext, ...contextOf(context) });
      const plaintext = r.json.data?.plaintext;
      // Vault answers 400 for a ciphertext that fails authentication (tampered, moved, other context).
      if (r.status === 400) throw new DecryptionError("Vault transit refused to decrypt a wrapped key");
      if (r.status !== 200 || typeof plaintext !== "string") throw failed("decrypt", r);
      return Buffer.from(plaintext, "base64");
    },
  };
}
