import { randomBytes } from "node:crypto";
import { associatedData, open, seal } from "../../crypto/envelope.js";
import type { KekProvider } from "../../crypto/kek.js";

export interface SealedCredentials {
  kekProvider: string;
  wrapped: Buffer;
  sealed: Buffer;
}

/**
 * Credentials a provider issued (a PostgreSQL password) are sealed like config values until the requester
 * reveals them once: a fresh AES-256-GCM data key per request, wrapped by the KEK provider; the associated
 * data binds the blob to its tenant and request, so a blob copied to another row does not open.
 */
export function createCredentialSealer(kek: KekProvider) {
  const context = (tenantId: string, id: string) => `access-request/${tenantId}/${id}`;
  const aad = (tenantId: string, id: string) => associatedData("access-request", tenantId, id);
  return {
    async seal(tenantId: string, id: string, credentials: Record<string, unknown>): Promise<SealedCredentials> {
      const dataKey = randomBytes(32);
      try {
        const sealed = seal(dataKey, Buffer.from(JSON.stringify(credentials), "utf8"), aad(tenantId, id));
        return { kekProvider: kek.id, wrapped: await kek.wrap(dataKey, context(tenantId, id)), sealed };
      } finally {
        dataKey.fill(0);
      }
    },
    async open(tenantId: string, id: string, wrapped: Buffer, sealed: Buffer): Promise<Record<string, unknown>> {
      const dataKey = await kek.unwrap(wrapped, context(tenantId, id));
      try {
        return JSON.parse(open(dataKey, sealed, aad(tenantId, id)).toString("utf8")) as Record<string, unknown>;
      } finally {
        dataKey.fill(0);
      }
    },
  };
}

export type CredentialSealer = ReturnType<typeof createCredentialSealer>;
