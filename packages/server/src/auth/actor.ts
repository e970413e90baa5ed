import type { Rule } from "../authz/types.js";

/** Who is calling, resolved once per request by the auth hook and passed to every service call. */
export interface Actor {
  /** `key_…` for API keys, `usr_…` for users, `system`. */
  id: string;
  type: "api_key" | "user" | "system";
  tenantId: string;
  name: string;
  /** Roles attached directly to the credential (more come from role bindings). */
  roles: string[];
  /** Rules attached directly to an API key (`POST /keys {permissions}`). */
  permissions?: Rule[];
  /** May manage tenants (the bootstrap admin key). */
  instanceAdmin?: boolean;
}

/** The actor plus the request facts the audit log and ABAC conditions use. */
export interface CallContext {
  actor: Actor;
  requestId: string;
  sourceIp?: string;
  userAgent?: string;
}

export const systemContext = (tenantId: string): CallContext => ({
  actor: { id: "system", type: "system", tenantId, name: "system", roles: ["admin"] },
  requestId: "system",
});
