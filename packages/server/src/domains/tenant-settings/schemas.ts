import { type Static, Type } from "typebox";

export const LeakGuard = Type.Union([Type.Literal("warn"), Type.Literal("reject"), Type.Literal("off")], {
  description: "what a plain (non-secret) write that looks like a credential gets: a warning (default), a 422, or nothing",
});

export const TenantSettings = Type.Object({ leakGuard: LeakGuard });
export type TenantSettings = Static<typeof TenantSettings>;

export const PatchTenantSettings = Type.Partial(TenantSettings, { additionalProperties: false, minProperties: 1 });
export type PatchTenantSettings = Static<typeof PatchTenantSettings>;
