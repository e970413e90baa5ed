import { sql } from "kysely";
import type { AuditLog } from "./audit/log.js";
import { generateApiKey, hashApiKey, looksLikeApiKey } from "./auth/api-key.js";
import type { ApiKeyRepository } from "./auth/repository.js";
import type { Db } from "./db/database.js";
import { DEFAULT_ENVIRONMENTS } from "./domains/environments/service.js";
import { newId } from "./ids.js";
import { SettingsError } from "./settings.js";

export interface BootstrapResult {
  tenantId: string;
  /** Set only on the very first start when Cairn generated the key: print it once, then it is gone. */
  generatedAdminKey?: string;
}

// Any constant works; it only has to be the same on every replica.
const BOOTSTRAP_LOCK = 0x636169726e; // "cairn"

/**
 * First start: if there is no tenant yet, create tenant `default`, its environments
 * (base → development → staging → production) and an admin API key, all in one transaction under an
 * advisory lock, so two replicas starting together create exactly one of each.
 */
export async function bootstrap(deps: { db: Db; keys: ApiKeyRepository; audit: AuditLog; adminKey?: string }): Promise<BootstrapResult> {
  if (deps.adminKey && !looksLikeApiKey(deps.adminKey)) {
    throw new SettingsError("CAIRN_BOOTSTRAP_ADMIN_KEY must look like a Cairn key: cairn_<8 letters or digits>_<30–44 letters or digits>");
  }
  return deps.db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`.execute(trx);
    const existing = await trx.selectFrom("tenants").select("id").orderBy("created_at").limit(1).executeTakeFirst();
    if (existing) return { tenantId: existing.id };

    const tenantId = newId("tenant");
    await trx.insertInto("tenants").values({ id: tenantId, name: "default" }).execute();
    for (const [name, parent] of DEFAULT_ENVIRONMENTS) {
      await trx.insertInto("environments").values({ tenant_id: tenantId, name, parent }).execute();
    }
    const generated = deps.adminKey ? undefined : generateApiKey();
    const key = deps.adminKey ?? (generated as { key: string }).key;
    const keyId = newId("apiKey");
    await deps.keys.insert(trx, {
      id: keyId,
      tenantId,
      name: "bootstrap-admin",
      prefix: key.split("_")[1] as string,
      hash: hashApiKey(key),
      roles: ["admin"],
    });
    await deps.audit.append(trx, {
      tenantId,
      eventType: "tenant.bootstrapped",
      action: "create",
      result: "success",
      ctx: { actor: { id: "system", type: "system", tenantId, name: "system", roles: [] }, requestId: "bootstrap" },
      resource: { type: "api_key", id: keyId },
      metadata: { tenant: "default", environments: DEFAULT_ENVIRONMENTS.map(([n]) => n) },
    });
    return { tenantId, generatedAdminKey: generated?.key };
  });
}
