import { sql } from "kysely";
import type { AuditLog } from "./audit/log.js";
import { looksLikeApiKey } from "./auth/api-key.js";
import type { Db } from "./db/database.js";
import { createTenantRecords, type TenantInitializer } from "./domains/tenants/service.js";
import { SettingsError } from "./settings.js";

export interface BootstrapResult {
  tenantId: string;
  /** Set only on the very first start when Cairn generated the key: print it once, then it is gone. */
  generatedAdminKey?: string;
}

// Any constant works; it only has to be the same on every replica.
const BOOTSTRAP_LOCK = 0x636169726e; // "cairn"

/**
 * First start: if there is no tenant yet, create tenant `default` (environments, built-in roles) and
 * the instance admin's API key, in one transaction under an advisory lock, so two replicas starting
 * together create exactly one of each. Later starts run each initializer again (they are idempotent),
 * so tenants made before a new domain existed get its defaults too.
 */
export async function bootstrap(deps: {
  db: Db;
  audit: AuditLog;
  initializers: TenantInitializer[];
  adminKey?: string;
}): Promise<BootstrapResult> {
  if (deps.adminKey && !looksLikeApiKey(deps.adminKey)) {
    throw new SettingsError("CAIRN_BOOTSTRAP_ADMIN_KEY must look like a Cairn key: cairn_<8 letters or digits>_<30–44 letters or digits>");
  }
  return deps.db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`.execute(trx);
    const tenants = await trx.selectFrom("tenants").select("id").orderBy("created_at").execute();
    if (tenants.length > 0) {
      for (const t of tenants) for (const init of deps.initializers) await init(trx, t.id);
      return { tenantId: (tenants[0] as { id: string }).id };
    }
    const made = await createTenantRecords(trx, deps, { name: "default", adminKey: deps.adminKey, instanceAdmin: true });
    return { tenantId: made.tenantId, generatedAdminKey: deps.adminKey ? undefined : made.adminKey };
  });
}
