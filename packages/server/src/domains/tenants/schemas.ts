import { type Static, Type } from "typebox";

export const CreateTenant = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 64, pattern: "^[a-z0-9][a-z0-9-]{0,63}$", description: "a–z, 0–9, '-'" }) },
  { additionalProperties: false },
);
export type CreateTenant = Static<typeof CreateTenant>;

export const Tenant = Type.Object({ id: Type.String(), name: Type.String(), createdAt: Type.String({ format: "date-time" }) });
export type Tenant = Static<typeof Tenant>;

export const CreatedTenant = Type.Object({
  tenant: Tenant,
  adminKey: Type.String({ description: "the new tenant's admin API key: shown once" }),
  adminKeyId: Type.String(),
});
export type CreatedTenant = Static<typeof CreatedTenant>;

export const TenantList = Type.Object({ items: Type.Array(Tenant) });
