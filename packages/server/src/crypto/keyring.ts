import { randomBytes } from "node:crypto";
import type { Conn, Db } from "../db/database.js";
import { newId } from "../ids.js";
import { associatedData, open, seal } from "./envelope.js";
import type { KekProvider } from "./kek.js";

/**
 * Per-namespace data keys (DEKs), wrapped by the KEK provider. Unwrapped DEKs live in memory only,
 * keyed by id. Every database call takes the caller's connection: inside a transaction on the embedded
 * store there is no other connection to use.
 */
export function createKeyring(deps: { db: Db; kek: KekProvider }) {
  const unwrapped = new Map<string, Buffer>();
  const kekContext = (tenantId: string, namespaceId: string, id: string) => `${tenantId}/${namespaceId}/${id}`;

  async function loadKey(conn: Conn, id: string): Promise<Buffer> {
    const hit = unwrapped.get(id);
    if (hit) return hit;
    const row = await conn.selectFrom("data_keys").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
    const key = await deps.kek.unwrap(row.wrapped_key, kekContext(row.tenant_id, row.namespace_id, row.id));
    unwrapped.set(id, key);
    return key;
  }

  return {
    kekProvider: deps.kek.id,

    async createDataKey(conn: Conn, tenantId: string, namespaceId: string): Promise<string> {
      const id = newId("dataKey");
      const key = randomBytes(32);
      const wrapped = await deps.kek.wrap(key, kekContext(tenantId, namespaceId, id));
      await conn
        .insertInto("data_keys")
        .values({ id, tenant_id: tenantId, namespace_id: namespaceId, kek_provider: deps.kek.id, wrapped_key: wrapped })
        .execute();
      unwrapped.set(id, key);
      return id;
    },

    async seal(conn: Conn, dataKeyId: string, plaintext: Buffer, aad: (string | number)[]): Promise<Buffer> {
      return seal(await loadKey(conn, dataKeyId), plaintext, associatedData(...aad));
    },

    async open(conn: Conn, dataKeyId: string, sealed: Buffer, aad: (string | number)[]): Promise<Buffer> {
      return open(await loadKey(conn, dataKeyId), sealed, associatedData(...aad));
    },
  };
}

export type Keyring = ReturnType<typeof createKeyring>;
