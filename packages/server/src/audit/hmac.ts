import { createHmac, randomBytes } from "node:crypto";
import type { KekProvider } from "../crypto/kek.js";
import type { Conn } from "../db/database.js";
import { canonicalJson } from "./tree.js";

/** How an HMAC appears in audit events and in `POST /audit/hash` answers (as Vault writes its audit hashes). */
export const HMAC_PREFIX = "hmac-sha256:";

/**
 * Values never enter the audit log; an event about a value carries `valueHmac`, the HMAC-SHA256 of the
 * value's canonical JSON (RFC 8785) under the tenant's audit HMAC key. Someone allowed to ask the server
 * (`POST /audit/hash`) can then check "was this value written?" without the log holding it.
 *
 * One 32-byte key per tenant, made on first use, stored sealed by the KEK; unsealed keys are kept in
 * memory, so a write pays for the key once per process, not once per write.
 */
export function createAuditHmac(deps: { kek: KekProvider }) {
  const keys = new Map<string, Buffer>();
  const context = (tenantId: string) => `audit-hmac-key/${tenantId}`;

  async function load(conn: Conn, tenantId: string): Promise<Buffer> {
    let row = await conn.selectFrom("audit_hmac_keys").selectAll().where("tenant_id", "=", tenantId).executeTakeFirst();
    if (!row) {
      await conn
        .insertInto("audit_hmac_keys")
        .values({ tenant_id: tenantId, key_sealed: await deps.kek.wrap(randomBytes(32), context(tenantId)), kek_provider: deps.kek.id })
        .onConflict((oc) => oc.column("tenant_id").doNothing())
        .execute();
      // Two replicas may race to make it: whichever row landed is the key.
      row = await conn.selectFrom("audit_hmac_keys").selectAll().where("tenant_id", "=", tenantId).executeTakeFirstOrThrow();
    }
    return deps.kek.unwrap(row.key_sealed, context(tenantId));
  }

  /** The tenant's key: from memory, else from the database on `conn` (the caller's transaction, if any). */
  async function keyOf(conn: Conn, tenantId: string): Promise<Buffer> {
    const hit = keys.get(tenantId);
    if (hit) return hit;
    // Not shared between callers: each loads on its own connection (a transaction on the embedded store
    // holds the only one, so waiting for another caller's load could wait forever). Loads are idempotent.
    const key = await load(conn, tenantId);
    // Remembered only when read outside a transaction: one that made the key may still roll back, and a
    // remembered key that was never committed would HMAC everything after differently from the database's.
    if (!conn.isTransaction) keys.set(tenantId, key);
    return key;
  }

  const hmacWith = (key: Buffer, value: unknown) =>
    `${HMAC_PREFIX}${createHmac("sha256", key).update(canonicalJson(value), "utf8").digest("hex")}`;

  return {
    /** `hmac-sha256:<hex>` of the value's canonical JSON under the tenant's audit key. */
    async of(conn: Conn, tenantId: string, value: unknown): Promise<string> {
      return hmacWith(await keyOf(conn, tenantId), value);
    },
  };
}

export type AuditHmac = ReturnType<typeof createAuditHmac>;
