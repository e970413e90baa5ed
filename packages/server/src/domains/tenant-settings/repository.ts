import type { Conn } from "../../db/database.js";

/** Tenant settings live in tenants.settings (JSON); only the known fields are read back. */
export function createTenantSettingsRepository() {
  return {
    async get(conn: Conn, tenantId: string): Promise<Record<string, unknown> | undefined> {
      const row = await conn.selectFrom("tenants").select("settings").where("id", "=", tenantId).executeTakeFirst();
      return row ? (row.settings ?? {}) : undefined;
    },
    async merge(conn: Conn, tenantId: string, patch: Record<string, unknown>): Promise<void> {
      const current = (await this.get(conn, tenantId)) ?? {};
      await conn
        .updateTable("tenants")
        .set({ settings: JSON.stringify({ ...current, ...patch }) })
        .where("id", "=", tenantId)
        .execute();
    },
  };
}

export type TenantSettingsRepository = ReturnType<typeof createTenantSettingsRepository>;
