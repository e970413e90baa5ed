import type { CallContext } from "../../auth/actor.js";
import type { Authorizer } from "../../authz/types.js";
import type { Keyring } from "../../crypto/keyring.js";
import type { Conn, Db } from "../../db/database.js";
import { CairnError } from "../../errors.js";
import { newId } from "../../ids.js";
import { checkNamespace } from "../names.js";
import type { NamespaceRepository } from "./repository.js";
import type { NamespaceList } from "./schemas.js";

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
    /**
     * The namespaces the caller may list configs in (`configs:<ns>:list`), for browsing (the console's tree).
     * Checked without recording a denial per hidden namespace: not seeing one is not an attempt to read it.
     */
    async list(ctx: CallContext, authz: Authorizer): Promise<NamespaceList> {
      const rows = await deps.repo.list(deps.db, ctx.actor.tenantId);
      const visible = await Promise.all(
        rows.map(async (row) => (await authz.check(ctx, { resource: "configs", namespace: row.path, action: "list" })).allowed),
      );
      return {
        items: rows
          .filter((_, i) => visible[i])
          .map((row) => ({ path: row.path, keys: Number(row.keys), createdAt: new Date(row.created_at).toISOString() })),
      };
    },

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
