import type { CallContext } from "../auth/actor.js";

/**
 * The authorization vocabulary. A permission is `resource:namespacePattern:action`, e.g.
 * `configs:payments/**:write`, `secrets:*:reveal`, `keys:**:admin`. In patterns `*` is one namespace
 * segment and `**` any depth (including none); `*` as resource or action means all of them.
 */
export const resources = [
  "configs",
  "secrets",
  "keys",
  "audit",
  "alerts",
  "roles",
  "environments",
  "requests",
  "users",
  "tenants",
] as const;
export type Resource = (typeof resources)[number];

export const actions = ["read", "write", "delete", "list", "reveal", "rotate", "approve", "admin"] as const;
export type Action = (typeof actions)[number];

export interface Conditions {
  /** The request's environment must be one of these. */
  environments?: string[];
  /** The caller's IP must fall in one of these CIDR blocks (IPv4 or IPv6). */
  sourceIps?: string[];
  /** UTC window, `HH:MM`–`HH:MM` (may wrap midnight), optionally on ISO weekdays 1 (Mon)–7 (Sun). */
  timeWindow?: { start: string; end: string; days?: number[] };
}

export interface Rule {
  effect: "allow" | "deny";
  permission: string;
  conditions?: Conditions;
}

export interface AccessRequest {
  resource: Resource;
  /** Namespace path for namespaced resources (configs, secrets); omitted for the others. */
  namespace?: string;
  action: Action;
  environment?: string;
}

export interface Decision {
  allowed: boolean;
  /** Human-readable: which rule decided, or that nothing allowed it. */
  reason: string;
  decidedBy?: {
    rule: Rule;
    /** `instance_admin` / `system`: allowed without a rule (the instance admin key, internal calls). */
    source: "key" | "role" | "instance_admin" | "system";
    role?: string;
    bindingId?: string;
    /** For an inherited rule: the assigned role → … → the role that defines the rule. */
    path?: string[];
  };
}

export interface Authorizer {
  /** The decision with the rule that made it (for `POST /authz/check` and explanations). */
  check(ctx: CallContext, request: AccessRequest): Promise<Decision>;
  /** Throws `forbidden` (and records the denial in the audit log) unless allowed. */
  require(ctx: CallContext, request: AccessRequest): Promise<void>;
}
