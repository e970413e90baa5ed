/** Who is calling, resolved once per request by the auth hook and passed to every service call. */
export interface Actor {
  id: string;
  type: "api_key" | "user" | "system";
  tenantId: string;
  name: string;
  roles: string[];
}

/** The actor plus the request facts the audit log records. */
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
