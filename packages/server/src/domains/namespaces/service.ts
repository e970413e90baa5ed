import type { Keyring } from "../../crypto/keyring.js";
import type { Conn, Db } from "../../db/database.js";
import { CairnError } from "../../errors.js";
import { newId } from "../../ids.js";
import { checkNamespace } from "../names.js";
import type { NamespaceRepository } from "./repository.js";

export interface NamespaceRef {
  id: string;
  path: string;
  /** The data key that seals new values in this namespace. */
  dataKeyId: string;
}

/**
 * Namespaces are hierarchical paths (`production/ml-service`), created by the first write into them
 * together with every missing ancestor, each with its own data key. A namespace never moves, so a
 * committed path → id lookup is cached for good. Lookups run outside transactions (`find`) and
 * creation inside the writer's transaction (`ensure`), so the cache never holds a rolled-back row.
 */
export function createNamespaceService(deps: { db: Db; repo: NamespaceRepository; keyring: Keyring }) {
  const committed = new Map<string, NamespaceRef>();
  const cacheKey = (tenantId: string, path: string) => `${tenantId}\u0000${path}`;

  async function lookup(conn: Conn, tenantId: string, path: string): Promise<NamespaceRef | undefined> {
    const row = await deps.repo.find(conn, tenantId, path);
    return row?.active_data_key_id ? { id: row.id, path: row.path, dataKeyId: row.active_data_key_id } : undefined;
  }

  return {
    async find(tenantId: string, path: string): Promise<NamespaceRef | undefined> {
      checkNamespace(path);
      const key = cacheKey(tenantId, path);
      const cached = committed.get(key);
      if (cached) return cached;
      const ref = await lookup(deps.db, tenantId, path);
      if (ref) committed.set(key, ref);
      return ref;
    },

    async require(tenantId: string, path: string): Promise<NamespaceRef> {
      const ns = await this.find(tenantId, path);
      if (!ns) throw new CairnError("not_found", `namespace "${path}" does not exist (the first write into it creates it)`);
      return ns;
    },

    /** Drops cached lookups of a namespace whose active data key changed (key rotation); all of them without an id. */
    forget(namespaceId?: string): void {
      for (const [key, ref] of committed) if (namespaceId === undefined || ref.id === namespaceId) committed.delete(key);
    },

    /** Creates the namespace, its ancestors and their data keys inside the caller's transaction. */
    async ensure(trx: Conn, tenantId: string, path: string): Promise<NamespaceRef> {
      checkNamespace(path);
      const segments = path.split("/");
      let parentId: string | null = null;
      let ref: NamespaceRef | undefined;
      for (let i = 1; i <= segments.length; i++) {
        const sub = segments.slice(0, i).join("/");
        const id = newId("namespace");
        if (await deps.repo.insertIfAbsent(trx, { id, tenantId, path: sub, parentId })) {
          const dataKeyId = await deps.keyring.createDataKey(trx, tenantId, id);
          await deps.repo.setActiveDataKey(trx, id, dataKeyId);
          ref = { id, path: sub, dataKeyId };
        } else {
          ref = await lookup(trx, tenantId, sub);
          if (!ref) throw new Error(`namespace ${sub} exists without a data key`);
        }
        parentId = ref.id;
      }
      return ref as NamespaceRef;
    },
  };
}

export type NamespaceService = ReturnType<typeof createNamespaceService>;
