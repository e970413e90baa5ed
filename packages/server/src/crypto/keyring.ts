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
 * keyed by id. Key loads take the caller's connection: inside a transaction on the embedded store there is
 * no other connection to use.
 *
 * Encryptions per data key are counted in `data_keys.encryptions` ahead of use: a process reserves a
 * block, uses it from memory, and reserves the next before it runs out. A crash loses the unused part of
 * a block (an over-count); only encryptions made on credit inside transactions (see `count`) can go
 * uncounted, a handful, far inside the margin below 2^32 — so the NIST SP 800-38D limit of 2^32
 * random-nonce encryptions per key is kept: at `maxEncryptions` the key-rotation service is told to rotate it.
 */
export function createKeyring(deps: {
  db: Db;
  kek: KekProvider;
  audit?: AuditLog;
  log?: Log;
  /** `CAIRN_DATA_KEY_MAX_ENCRYPTIONS`. */
  maxEncryptions?: number;
}) {
  const unwrapped = new Map<string, Buffer>();
  const kekContext = (tenantId: string, namespaceId: string, id: string) => `${tenantId}/${namespaceId}/${id}`;
  const maxEncryptions = deps.maxEncryptions ?? 2 ** 32 - 2 ** 28;
  const block = Math.max(1, Math.min(1024, Math.floor(maxEncryptions / 4096)));
  /** Encryptions reserved in the database and not used yet, per data key. */
  const leases = new Map<string, number>();
  /** The reservation in flight per data key: concurrent writers share it instead of queueing on the row. */
  const refilling = new Map<string, Promise<void>>();
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

  /** Tops the lease up on the pool, one reservation at a time per key (on the embedded store it queues behind any open transaction). */
  function refill(id: string): Promise<void> {
    const inFlight = refilling.get(id);
    if (inFlight) return inFlight;
    if (closed) return Promise.resolve();
    const done = reserve(deps.db, id, block)
      .then((row) => {
        if (row) leases.set(id, (leases.get(id) ?? 0) + block);
        checkLimit(row);
      })
      .catch((e: unknown) => deps.log?.warn({ error: (e as Error).message }, "reserving data key encryptions failed; will retry"))
      .finally(() => refilling.delete(id));
    refilling.set(id, done);
    return done;
  }

  function take(id: string): boolean {
    const left = leases.get(id) ?? 0;
    if (left <= 0) return false;
    leases.set(id, left - 1);
    if (left - 1 <= block / 2) void refill(id);
    return true;
  }

  /** Counts one encryption under `id` before it happens. */
  async function count(conn: Conn, id: string): Promise<void> {
    if (take(id)) return;
    if (conn.isTransaction) {
      // Never touch data_keys inside the caller's transaction (row locks there deadlock concurrent writers),
      // nor wait for a second pool connection while it holds locks: count on credit, and the reservation
      // started here pays it back. A crash before it lands under-counts by at most that credit, far inside
      // the margin CAIRN_DATA_KEY_MAX_ENCRYPTIONS keeps below 2^32.
      leases.set(id, (leases.get(id) ?? 0) - 1);
      void refill(id);
      return;
    }
    // No lease: wait for the (shared) reservation; if others used it up meanwhile, take part in the next.
    for (let attempt = 0; attempt < 3; attempt++) {
      await refill(id);
      if (take(id)) return;
    }
    checkLimit(await reserve(deps.db, id, 1));
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
      // Born with its first block of encryptions reserved: nothing else can count it before it commits.
      await conn
        .insertInto("data_keys")
        .values({ id, tenant_id: tenantId, namespace_id: namespaceId, kek_provider: deps.kek.id, wrapped_key: wrapped, encryptions: block })
        .execute();
      leases.set(id, block);
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
