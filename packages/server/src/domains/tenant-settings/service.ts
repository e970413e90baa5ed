import type { AuditLog } from "../../audit/log.js";
import type { CallContext } from "../../auth/actor.js";
import type { Db } from "../../db/database.js";
import type { EventBus } from "../../events/bus.js";
import type { TenantSettingsRepository } from "./repository.js";
import type { PatchTenantSettings, TenantSettings } from "./schemas.js";

const CHANGED = "tenant-settings.changed";
const DEFAULTS: TenantSettings = { leakGuard: "warn" };

/**
 * Per-tenant settings (today: the leak guard). Read on the write path, so cached in memory; a change is
 * announced on the bus and every replica drops its copy.
 */
export function createTenantSettingsService(deps: { db: Db; repo: TenantSettingsRepository; audit: AuditLog; bus: EventBus }) {
  const cache = new Map<string, TenantSettings>();
  const unsubscribe = deps.bus.subscribe(CHANGED, (payload) => {
    cache.delete(String(payload.tenantId));
  });

  const normalise = (stored: Record<string, unknown> | undefined): TenantSettings => ({
    leakGuard: stored?.leakGuard === "reject" || stored?.leakGuard === "off" ? stored.leakGuard : DEFAULTS.leakGuard,
  });

  async function get(tenantId: string): Promise<TenantSettings> {
    const hit = cache.get(tenantId);
    if (hit) return hit;
    const settings = normalise(await deps.repo.get(deps.db, tenantId));
    cache.set(tenantId, settings);
    return settings;
  }

  return {
    get,
    /** Synchronous when cached (the common case on the write path). */
    cached: (tenantId: string): TenantSettings | undefined => cache.get(tenantId),

    async update(ctx: CallContext, patch: PatchTenantSettings): Promise<TenantSettings> {
      const tenantId = ctx.actor.tenantId;
      await deps.db.transaction().execute(async (trx) => {
        await deps.repo.merge(trx, tenantId, patch);
        await deps.audit.append(trx, {
          tenantId,
          eventType: "tenant.settings_changed",
          action: "update",
          result: "success",
          ctx,
          resource: { type: "tenant", id: tenantId },
          metadata: { changed: patch },
        });
      });
      deps.audit.appended();
      cache.delete(tenantId);
      await deps.bus.publish(CHANGED, { tenantId });
      return get(tenantId);
    },

    close: unsubscribe,
  };
}

export type TenantSettingsService = ReturnType<typeof createTenantSettingsService>;
