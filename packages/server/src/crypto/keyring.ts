import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import type { AuditLog } from "../audit/log.js";
import type { Conn, Db } from "../db/database.js";
import type { Log } from "../events/redis.js";
import { newId } from "../ids.js";
import { associatedData, DecryptionError, open, seal } from "./envelope.js";
import { type IntegrityWhere, integrityError, reportIntegrityFailure } from "./integrity.js";
import type { KekProvider } from "./kek.js";

/** A data key reached its encryption limit: who rotates it (the key-rotation service) is told. */
export type LimitHandler = (key: { id: string; tenantId: string; namespaceId: string; encryptions: number }) => void;

/**
 * Per-namespace data keys (DEKs), wrapped by the KEK provider. Unwrapped DEKs live in memory only,
 * keyed by id. Every database call takes the caller's connection: inside a transaction on the embedded
 * store there is no other connection to use.
 *
 * Encryptions per data key are counted in `data_keys.encryptions` ahead of use: a process reserves a
 * block, uses it from memory, and reserves the next before it runs out. A crash loses the unused part of
 * a block (an over-count), never a count — so the NIST SP 800-38D limit of 2^32 random-nonce
 * encryptions per key is kept: at `maxEncryptions` the key-rotation service is told to rotate the key.
 */
export function createKeyring(deps: {
  db: Db;
  kek: KekProvider;
  audit?: AuditLog;
  log?: Log;
  /** `CAIRN_DATA_KEY_MAX_ENCRYPTIONS`. */
  maxEncryptions?: number;
  /** The embedded store has one connection: a count inside a transaction must use that transaction. */
  singleConnection?: boolean;
}) {
  const unwrapped = new Map<string, Buffer>();
  const kekContext = (tenantId: string, namespaceId: string, id: string) => `${tenantId}/${namespaceId}/${id}`;
  const maxEncryptions = deps.maxEncryptions ?? 2 ** 32 - 2 ** 28;
  const block = Math.max(1, Math.min(1024, Math.floor(maxEncryptions / 4096)));
  /** Encryptions reserved in the database and not used yet, per data key. */
  const leases = new Map<string, number>();
  const refilling = new Set<string>();
  const limitHandlers: LimitHandler[] = [];
  let closed = false;

  async function failed(conn: Conn, where: IntegrityWhere, cause: unknown): Promise<never> {
    if (deps.audit) await reportIntegrityFailure({ db: deps.db, audit: deps.audit, log: deps.log }, conn, where);
    throw integrityError(where, cause);
  }

  async function loadKey(conn: Conn, id: string, where: () => IntegrityWhere): Promise<Buffer> {
    const hit = unwrapped.get(id);
    if (hit) return hit;
    const row = await conn.selectFrom("data_keys").selectAll().where("id", "=", id).executeTakeFirst();
    if (!row) return failed(conn, { ...where(), dataKeyId: id, part: "data key (missing)" }, undefined);
    let key: Buffer;
    try {
      key = await deps.kek.unwrap(row.wrapped_key, kekContext(row.tenant_id, row.namespace_id, row.id));
    } catch (e) {
      if (e instanceof DecryptionError) return failed(conn, { ...where(), dataKeyId: id, part: "data key" }, e);
      throw e;
    }
    unwrapped.set(id, key);
    return key;
  }

  type Counted = { id: string; tenant_id: string; namespace_id: string; encryptions: string | number };
  const reserve = (conn: Conn, id: string, n: number) =>
    conn
      .updateTable("data_keys")
      .set({ encryptions: sql`encryptions + ${n}` })
      .where("id", "=", id)
      .returning(["id", "tenant_id", "namespace_id", "encryptions"])
      .executeTakeFirst() as Promise<Counted | undefined>;

  function checkLimit(row: Counted | undefined) {
    if (!row || Number(row.encryptions) < maxEncryptions) return;
    const key = { id: row.id, tenantId: row.tenant_id, namespaceId: row.namespace_id, encryptions: Number(row.encryptions) };
    for (const handler of limitHandlers) handler(key);
  }

  /** Tops the lease up in the background, on the pool (on the embedded store it queues behind any open transaction). */
  function refill(id: string) {
    if (refilling.has(id) || closed) return;
    refilling.add(id);
    reserve(deps.db, id, block)
      .then((row) => {
        if (row) leases.set(id, (leases.get(id) ?? 0) + block);
        checkLimit(row);
      })
      .catch((e: unknown) => deps.log?.warn({ error: (e as Error).message }, "reserving data key encryptions failed; will retry"))
      .finally(() => refilling.delete(id));
  }

  /** Counts one encryption under `id` before it happens. */
  async function count(conn: Conn, id: string): Promise<void> {
    const left = leases.get(id) ?? 0;
    if (left > 0) {
      leases.set(id, left - 1);
      if (left - 1 <= block / 2) refill(id);
      return;
    }
    if (conn.isTransaction && deps.singleConnection) {
      // Counted in the caller's transaction: should it roll back, the ciphertext is gone with the count.
      checkLimit(await reserve(conn, id, 1));
      refill(id);
      return;
    }
    const row = await reserve(deps.db, id, block);
    if (row) leases.set(id, (leases.get(id) ?? 0) + block - 1);
    checkLimit(row);
  }

  return {
    kekProvider: deps.kek.id,

    async createDataKey(conn: Conn, tenantId: string, namespaceId: string): Promise<string> {
      const id = newId("dataKey");
      const context = kekContext(tenantId, namespaceId, id);
      let key: Buffer;
      let wrapped: Buffer;
      if (deps.kek.generate) {
        ({ plaintext: key, wrapped } = await deps.kek.generate(context));
      } else {
        key = randomBytes(32);
        wrapped = await deps.kek.wrap(key, context);
      }
      await conn
        .insertInto("data_keys")
        .values({ id, tenant_id: tenantId, namespace_id: namespaceId, kek_provider: deps.kek.id, wrapped_key: wrapped })
        .execute();
      unwrapped.set(id, key);
      return id;
    },

    async seal(conn: Conn, dataKeyId: string, plaintext: Buffer, aad: (string | number)[]): Promise<Buffer> {
      const key = await loadKey(conn, dataKeyId, () => whereOf(aad));
      await count(conn, dataKeyId);
      return seal(key, plaintext, associatedData(...aad));
    },

    /**
     * Opens a sealed value. A blob that fails authentication (a flipped byte, a blob copied from another
     * row) is an `integrity_failure`: recorded in the audit log (where, never the value), never returned.
     */
    async open(conn: Conn, dataKeyId: string, sealed: Buffer, aad: (string | number)[]): Promise<Buffer> {
      const key = await loadKey(conn, dataKeyId, () => whereOf(aad));
      try {
        return open(key, sealed, associatedData(...aad));
      } catch (e) {
        if (e instanceof DecryptionError) return failed(conn, { ...whereOf(aad), dataKeyId, part: "value" }, e);
        throw e;
      }
    },

    /** Called when a data key reaches CAIRN_DATA_KEY_MAX_ENCRYPTIONS (more than once; handlers deduplicate). */
    onLimit(handler: LimitHandler): void {
      limitHandlers.push(handler);
    },

    /** Unused reservations are simply dropped (an over-count); no more background reservations. */
    close(): void {
      closed = true;
    },
  };
}

/** Where a sealed blob lives, from its associated data (`valueAad`: config, tenant, namespace, key, environment, version). */
function whereOf(aad: (string | number)[]): IntegrityWhere {
  const [kind, tenantId, namespaceId, key, environment, version] = aad;
  if (kind === "config") {
    return {
      kind: "config",
      tenantId: String(tenantId),
      namespaceId: String(namespaceId),
      key: String(key),
      environment: String(environment),
      version: Number(version),
    };
  }
  return { kind: String(kind), tenantId: typeof tenantId === "string" ? tenantId : undefined };
}

export type Keyring = ReturnType<typeof createKeyring>;
