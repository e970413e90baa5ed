import type { Selectable } from "kysely";
import type { Conn, Db } from "../../db/database.js";
import type { SecretMetaTable } from "../../db/types.js";

export type SecretMetaRow = Selectable<SecretMetaTable>;

interface Where {
  tenantId: string;
  namespaceId: string;
  key: string;
  environment: string;
}

/** SQL for `secret_meta`: a secret's type, non-secret facts and rotation state. Every method takes the connection. */
export function createSecretRepository(db: Db) {
  return {
    get(w: Where, conn: Conn = db): Promise<SecretMetaRow | undefined> {
      return conn
        .selectFrom("secret_meta")
        .selectAll()
        .where("tenant_id", "=", w.tenantId)
        .where("namespace_id", "=", w.namespaceId)
        .where("key", "=", w.key)
        .where("environment", "=", w.environment)
        .executeTakeFirst();
    },

    list(tenantId: string, namespaceId: string, conn: Conn = db): Promise<SecretMetaRow[]> {
      return conn.selectFrom("secret_meta").selectAll().where("tenant_id", "=", tenantId).where("namespace_id", "=", namespaceId).execute();
    },

    /** After a plain write: the new type and facts; the rotation state stays as it was. */
    async describe(trx: Conn, w: Where, fields: { type: string; version: number; metadata: Record<string, unknown> }): Promise<void> {
      const row = { type: fields.type, version: fields.version, metadata: JSON.stringify(fields.metadata), updated_at: new Date() };
      await trx
        .insertInto("secret_meta")
        .values({ tenant_id: w.tenantId, namespace_id: w.namespaceId, key: w.key, environment: w.environment, ...row })
        .onConflict((oc) => oc.columns(["tenant_id", "namespace_id", "key", "environment"]).doUpdateSet(row))
        .execute();
    },

    /** After a rotation: the new version's facts, and the previous version with the end of its grace period. */
    async rotated(
      trx: Conn,
      w: Where,
      fields: {
        type: string;
        version: number;
        metadata: Record<string, unknown>;
        rotatedAt: Date;
        previousVersion: number | null;
        previousMetadata: Record<string, unknown> | null;
        previousExpiresAt: Date | null;
      },
    ): Promise<void> {
      const row = {
        type: fields.type,
        version: fields.version,
        metadata: JSON.stringify(fields.metadata),
        rotated_at: fields.rotatedAt,
        previous_version: fields.previousVersion,
        previous_metadata: fields.previousMetadata === null ? null : JSON.stringify(fields.previousMetadata),
        previous_expires_at: fields.previousExpiresAt,
        updated_at: fields.rotatedAt,
      };
      await trx
        .insertInto("secret_meta")
        .values({ tenant_id: w.tenantId, namespace_id: w.namespaceId, key: w.key, environment: w.environment, ...row })
        .onConflict((oc) => oc.columns(["tenant_id", "namespace_id", "key", "environment"]).doUpdateSet(row))
        .execute();
    },

    async remove(trx: Conn, w: Where): Promise<void> {
      await trx
        .deleteFrom("secret_meta")
        .where("tenant_id", "=", w.tenantId)
        .where("namespace_id", "=", w.namespaceId)
        .where("key", "=", w.key)
        .where("environment", "=", w.environment)
        .execute();
    },
  };
}

export type SecretRepository = ReturnType<typeof createSecretRepository>;
