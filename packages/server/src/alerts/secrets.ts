import { randomBytes } from "node:crypto";
import { associatedData, open, seal } from "../crypto/envelope.js";
import type { KekProvider } from "../crypto/kek.js";

export type ChannelSecrets = Record<string, string>;

export interface SealedSecrets {
  kekProvider: string;
  wrappedKey: Buffer;
  sealed: Buffer;
}

/**
 * Channel secrets (webhook URLs, HMAC secrets, SMTP passwords) are sealed like config values: a fresh
 * AES-256-GCM data key per channel version, wrapped by the KEK provider; the associated data binds the
 * blob to its tenant and channel, so a row copied elsewhere does not open.
 */
export function createChannelSealer(kek: KekProvider) {
  const kekContext = (tenantId: string, channelId: string) => `alert-channel/${tenantId}/${channelId}`;
  const aad = (tenantId: string, channelId: string) => associatedData("alert-channel", tenantId, channelId);
  return {
    async seal(tenantId: string, channelId: string, secrets: ChannelSecrets): Promise<SealedSecrets> {
      const dataKey = randomBytes(32);
      try {
        const sealed = seal(dataKey, Buffer.from(JSON.stringify(secrets), "utf8"), aad(tenantId, channelId));
        return { kekProvider: kek.id, wrappedKey: await kek.wrap(dataKey, kekContext(tenantId, channelId)), sealed };
      } finally {
        dataKey.fill(0);
      }
    },
    async open(tenantId: string, channelId: string, row: { wrapped_key: Buffer; secrets_sealed: Buffer }): Promise<ChannelSecrets> {
      const dataKey = await kek.unwrap(row.wrapped_key, kekContext(tenantId, channelId));
      try {
        return JSON.parse(open(dataKey, row.secrets_sealed, aad(tenantId, channelId)).toString("utf8")) as ChannelSecrets;
      } finally {
        dataKey.fill(0);
      }
    },
  };
}

export type ChannelSealer = ReturnType<typeof createChannelSealer>;
