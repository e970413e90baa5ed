import type { AuditLog } from "../../audit/log.js";
import type { CallContext } from "../../auth/actor.js";
import { generateApiKey, hashApiKey } from "../../auth/api-key.js";
import type { Conn, Db } from "../../db/database.js";
import { CairnError } from "../../errors.js";
import { newId } from "../../ids.js";
import { DEFAULT_ENVIRONMENTS } from "../environments/service.js";
import type { CreatedTenant, Tenant } from "./schemas.js";

/** Extra set-up a new tenant needs from other domains (built-in roles), inside the same transaction. */
export type TenantInitializer = (conn: Conn, tenantId: string) => Promise<void>;

/**
 * Creates a tenant with its environments (base → development → staging → production), whatever other
 * domains add (built-in roles), and its first admin API key — one transaction. Used by first-start
 * bootstrap and by `POST /tenants`.
 */
export async function createTenantRecords(
  conn: Conn,
  deps: { audit: AuditLog; initializers: TenantInitializer[] },
  input: { name: string; adminKey?: string; instanceAdmin: boolean; ctx?: CallContext },
): Promise<{ tenantId: string; adminKey: string; adminKeyId: string; createdAt: Date }> {
  const tenantId = newId("tenant");
  const inserted = await conn
    .insertInto("tenants")
    .values({ id: tenantId, name: input.name })
    .onConflict((oc) => oc.column("name").doNothing())
    .returning("created_at")
    .executeTakeFirst();
  if (!inserted) throw new CairnError("conflict", `a tenant named "${input.name}" already exists`);
  for (const [name, parent] of DEFAULT_ENVIRONMENTS) {
    await conn.insertInto("environments").values({ tenant_id: tenantId, name, parent }).execute();
  }
  for (const init of deps.initializers) await init(conn, tenantId);
  const key = input.adminKey ?? generateApiKey().key;
  const adminKeyId = newId("apiKey");
  await conn
    .insertInto("api_keys")
    .values({
      id: adminKeyId,
      tenant_id: tenantId,
      name: input.instanceAdmin ? "bootstrap-admin" : `${input.name}-admin`,
      prefix: key.split("_")[1] as string,
      key_hash: hashApiKey(key),
      roles: JSON.stringify(["admin"]),
      instance_admin: input.instanceAdmin,
      created_by: input.ctx?.actor.id ?? "system",
    })
    .execute();
  await deps.audit.append(conn, {
    tenantId,
    eventType: "tenant.created",
    action: "create",
    result: "success",
    ctx: input.ctx ?? { actor: { id: "system", type: "system", tenantId, name: "system", roles: [] }, requestId: "bootstrap" },
    resource: { type: "tenant", id: tenantId },
    metadata: { name: input.name, adminKeyId, environments: DEFAULT_ENVIRONMENTS.map(([n]) => n) },
  });
  return { tenantId, adminKey: key, adminKeyId, createdAt: new Date(inserted.created_at) };
}

/** Tenants are hard walls; only the instance admin (the bootstrap key) manages them. */
export function createTenantService(deps: { db: Db; audit: AuditLog; initializers: TenantInitializer[] }) {
  const requireInstanceAdmin = (ctx: CallContext) => {
    if (!ctx.actor.instanceAdmin) throw new CairnError("forbidden", "only the instance admin (the bootstrap admin key) manages tenants");
  };
  return {
    async create(ctx: CallContext, name: string): Promise<CreatedTenant> {
      requireInstanceAdmin(ctx);
      const made = await deps.db.transaction().execute((trx) => createTenantRecords(trx, deps, { name, instanceAdmin: false, ctx }));
      return {
        tenant: { id: made.tenantId, name, createdAt: made.createdAt.toISOString() },
        adminKey: made.adminKey,
        adminKeyId: made.adminKeyId,
      };
    },
    async list(ctx: CallContext): Promise<Tenant[]> {
      requireInstanceAdmin(ctx);
      const rows = await deps.db.selectFrom("tenants").select(["id", "name", "created_at"]).orderBy("created_at").execute();
      return rows.map((r) => ({ id: r.id, name: r.name, createdAt: new Date(r.created_at).toISOString() }));
    },
  };
}

export type TenantService = ReturnType<typeof createTenantService>;
