import type { AuditLog } from "../audit/log.js";
import type { Actor, CallContext } from "../auth/actor.js";
import type { Db } from "../db/database.js";
import { CairnError } from "../errors.js";
import { type CompiledRule, compileStoredRule, decide, expandRole, type Grant, type RoleDefinition } from "./engine.js";
import { parsePattern, permissionOf } from "./permissions.js";
import type { AccessRequest, Authorizer, Decision, Rule } from "./types.js";

/** The slice of the event bus (src/events/bus.ts) the authorizer uses. */
export interface AuthzBus {
  publish(channel: string, payload: object): unknown;
  subscribe(channel: string, handler: (payload: unknown) => void): () => void;
  /** The transport reconnected after a loss: messages may have been missed, so drop everything. */
  onGap?(handler: () => void): () => void;
}

/** Published after a role, binding or group change commits: every replica drops that tenant's cached rules. */
export const AUTHZ_CHANGED = "authz.changed";

/** Who a decision is about: the caller, or the subject named in `POST /authz/check`. */
export interface Subject {
  tenantId: string;
  type: "key" | "user" | "group" | "system";
  id: string;
  /** Roles attached directly (API keys). */
  roles: string[];
  /** Rules attached directly (API keys). */
  permissions: Rule[];
  instanceAdmin: boolean;
}

export interface CheckInput extends AccessRequest {
  sourceIp?: string;
  at?: Date;
}

export interface Explained extends Decision {
  /** The permission the request needed, e.g. `configs:payments/api:read`. */
  permission: string;
}

interface TenantCache {
  roles?: { at: number; value: Promise<Map<string, RoleDefinition>> };
  grants: Map<string, { at: number; value: Promise<Grant[]> }>;
}

const subjectOfActor = (actor: Actor): Subject => ({
  tenantId: actor.tenantId,
  type: actor.type === "api_key" ? "key" : actor.type,
  id: actor.id,
  roles: actor.roles ?? [],
  permissions: actor.permissions ?? [],
  instanceAdmin: actor.instanceAdmin === true,
});

const EVERYTHING: Rule = { effect: "allow", permission: "*:**:*" };
const MAX_CACHED_SUBJECTS = 10_000;

/**
 * Decides access for a caller from its key's own permissions, its direct roles and its role bindings.
 * Role definitions and each subject's bindings are cached per tenant (for `cacheSeconds` at most, as a
 * safety net) and dropped the moment `authz.changed` arrives for the tenant — from this replica or,
 * over the event bus, from any other. Binding expiry is checked on every decision, so an expired binding
 * stops working at once, cached or not.
 */
export function createAuthorizer(deps: { db: Db; audit: AuditLog; bus?: AuthzBus; clock?: () => Date; cacheSeconds?: number }) {
  const clock = deps.clock ?? (() => new Date());
  const ttl = (deps.cacheSeconds ?? 30) * 1000;
  const tenants = new Map<string, TenantCache>();
  const compiledPermissions = new WeakMap<Rule[], CompiledRule[]>();

  const invalidate = (tenantId: string) => {
    tenants.delete(tenantId);
  };
  const unsubscribe = deps.bus?.subscribe(AUTHZ_CHANGED, (payload) => {
    const tenantId = (payload as { tenantId?: unknown })?.tenantId;
    if (typeof tenantId === "string") invalidate(tenantId);
    else tenants.clear();
  });
  const unsubscribeGap = deps.bus?.onGap?.(() => tenants.clear());

  function tenantCache(tenantId: string): TenantCache {
    let t = tenants.get(tenantId);
    if (!t) {
      t = { grants: new Map() };
      tenants.set(tenantId, t);
    }
    return t;
  }

  /** A cached promise that forgets itself when it fails, so one database hiccup is not remembered. */
  function cached<T>(
    get: () => { at: number; value: Promise<T> } | undefined,
    set: (e: { at: number; value: Promise<T> } | undefined) => void,
    load: () => Promise<T>,
  ) {
    const hit = get();
    const now = Date.now();
    if (hit && now - hit.at < ttl) return hit.value;
    const entry = { at: now, value: load() };
    set(entry);
    entry.value.catch(() => {
      if (get() === entry) set(undefined);
    });
    return entry.value;
  }

  async function loadRoles(tenantId: string): Promise<Map<string, RoleDefinition>> {
    const rows = await deps.db.selectFrom("roles").select(["name", "rules", "inherits"]).where("tenant_id", "=", tenantId).execute();
    return new Map(
      rows.map((r) => [
        r.name,
        {
          name: r.name,
          rules: ((r.rules ?? []) as Rule[]).map(compileStoredRule).filter((x): x is CompiledRule => x !== undefined),
          inherits: (r.inherits ?? []) as string[],
        },
      ]),
    );
  }

  function rolesOf(tenantId: string): Promise<Map<string, RoleDefinition>> {
    const t = tenantCache(tenantId);
    return cached(
      () => t.roles,
      (e) => {
        t.roles = e;
      },
      () => loadRoles(tenantId),
    );
  }

  async function bindingsOf(subject: Subject) {
    const now = clock();
    let q = deps.db
      .selectFrom("role_bindings")
      .select(["id", "role", "namespace_pattern", "expires_at"])
      .where("tenant_id", "=", subject.tenantId)
      .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]));
    if (subject.type === "user") {
      const groups = deps.db
        .selectFrom("group_members")
        .innerJoin("groups", "groups.id", "group_members.group_id")
        .select("group_members.group_id")
        .where("groups.tenant_id", "=", subject.tenantId)
        .where("group_members.user_id", "=", subject.id);
      q = q.where((eb) =>
        eb.or([
          eb.and([eb("subject_type", "=", "user"), eb("subject_id", "=", subject.id)]),
          eb.and([eb("subject_type", "=", "group"), eb("subject_id", "in", groups)]),
        ]),
      );
    } else if (subject.type === "key" || subject.type === "group") {
      q = q.where("subject_type", "=", subject.type).where("subject_id", "=", subject.id);
    } else return [];
    return q.orderBy("created_at").orderBy("id").execute();
  }

  /** Rules from direct roles and role bindings (not the key's own permissions, which come with the actor). */
  async function loadGrants(subject: Subject): Promise<Grant[]> {
    const [roles, bindings] = await Promise.all([rolesOf(subject.tenantId), bindingsOf(subject)]);
    const grants: Grant[] = [];
    for (const name of subject.roles) {
      for (const { rule, role, path } of expandRole(roles, name)) grants.push({ rule, source: "role", role, path });
    }
    for (const b of bindings) {
      let scope: Grant["scope"];
      try {
        scope = parsePattern(b.namespace_pattern);
      } catch {
        continue; // validated on the way in; a hand-edited bad scope grants nothing
      }
      const expiresAt = b.expires_at ? new Date(b.expires_at) : undefined;
      for (const { rule, role, path } of expandRole(roles, b.role)) {
        grants.push({ rule, source: "role", role, path, bindingId: b.id, scope, expiresAt });
      }
    }
    return grants;
  }

  function grantsOf(subject: Subject): Promise<Grant[]> {
    const t = tenantCache(subject.tenantId);
    const key = `${subject.type}:${subject.id}:${subject.roles.join(",")}`;
    if (t.grants.size >= MAX_CACHED_SUBJECTS) t.grants.clear();
    return cached(
      () => t.grants.get(key),
      (e) => {
        if (e) t.grants.set(key, e);
        else t.grants.delete(key);
      },
      () => loadGrants(subject),
    );
  }

  function ownPermissions(permissions: Rule[]): Grant[] {
    let compiled = compiledPermissions.get(permissions);
    if (!compiled) {
      compiled = permissions.map(compileStoredRule).filter((x): x is CompiledRule => x !== undefined);
      compiledPermissions.set(permissions, compiled);
    }
    return compiled.map((rule) => ({ rule, source: "key" as const }));
  }

  async function evaluate(subject: Subject, input: CheckInput): Promise<Explained> {
    const permission = permissionOf(input.resource, input.namespace, input.action);
    if (subject.type === "system" || subject.instanceAdmin) {
      const source = subject.type === "system" ? "system" : "instance_admin";
      const who = source === "system" ? "an internal call" : "the instance admin";
      return {
        allowed: true,
        permission,
        reason: `${permission} allowed: ${who} may do everything in its tenant`,
        decidedBy: { rule: EVERYTHING, source },
      };
    }
    const grants = [...ownPermissions(subject.permissions), ...(await grantsOf(subject))];
    const decision = decide(grants, {
      resource: input.resource,
      namespace: input.namespace,
      action: input.action,
      environment: input.environment,
      sourceIp: input.sourceIp,
      at: input.at ?? clock(),
    });
    return { ...decision, permission };
  }

  const authorizer = {
    async check(ctx: CallContext, request: AccessRequest): Promise<Decision> {
      const { permission: _, ...decision } = await evaluate(subjectOfActor(ctx.actor), { ...request, sourceIp: ctx.sourceIp });
      return decision;
    },

    async require(ctx: CallContext, request: AccessRequest): Promise<void> {
      const decision = await evaluate(subjectOfActor(ctx.actor), { ...request, sourceIp: ctx.sourceIp });
      if (decision.allowed) return;
      await deps.audit.append(deps.db, {
        tenantId: ctx.actor.tenantId,
        eventType: "authz.denied",
        action: request.action,
        result: "denied",
        ctx,
        resource: { type: request.resource, id: request.namespace ?? request.resource, namespace: request.namespace },
        metadata: {
          permission: decision.permission,
          reason: decision.reason,
          ...(request.environment ? { environment: request.environment } : {}),
          ...(decision.decidedBy ? { rule: decision.decidedBy.rule.permission, role: decision.decidedBy.role } : {}),
        },
      });
      throw new CairnError("forbidden", decision.reason, { extensions: { permission: decision.permission } });
    },

    /** The decision for any subject of a tenant, with the request's facts given explicitly (`POST /authz/check`). */
    explain(subject: Subject, input: CheckInput): Promise<Explained> {
      return evaluate(subject, input);
    },

    subjectOf: subjectOfActor,

    /** Drops this replica's cached rules of a tenant. */
    invalidate,

    /** After a role, binding or group change committed: drop the cache here now, and on every replica via the bus. */
    async changed(tenantId: string): Promise<void> {
      invalidate(tenantId);
      // The change is committed; a bus outage must not turn it into an error. Other replicas then
      // catch up when their cache entries age out (cacheSeconds).
      if (deps.bus) await Promise.resolve(deps.bus.publish(AUTHZ_CHANGED, { tenantId })).catch(() => {});
    },

    close() {
      unsubscribe?.();
      unsubscribeGap?.();
      tenants.clear();
    },
  };
  const _isAnAuthorizer: Authorizer = authorizer;
  return authorizer;
}

export type CairnAuthorizer = ReturnType<typeof createAuthorizer>;
