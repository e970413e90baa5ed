import type { AuditLog } from "../../audit/log.js";
import type { CallContext } from "../../auth/actor.js";
import type { Subject as AuthzSubject, CairnAuthorizer } from "../../authz/authorizer.js";
import { builtinRoleNames } from "../../authz/builtin.js";
import { parseIp } from "../../authz/cidr.js";
import { compileRule, findCycle, RuleError } from "../../authz/engine.js";
import { namespacedResources, PermissionError, parsePattern } from "../../authz/permissions.js";
import type { Rule } from "../../authz/types.js";
import type { Conn, Db } from "../../db/database.js";
import { CairnError, type FieldError } from "../../errors.js";
import { newId } from "../../ids.js";
import { checkEnvironmentName, checkNamespace } from "../names.js";
import type { RoleRepository } from "./repository.js";
import type { Binding, BindingQuery, CheckBody, CheckResult, CreateBindingBody, CreateRoleBody, PutRoleBody, Role } from "./schemas.js";

export const NAME_RULE = "role and group names are 1–64 characters of A–Z, a–z, 0–9, '_', '-', '.', starting with a letter or digit";
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function checkName(name: string, field: string, what = "name"): string {
  if (!NAME.test(name))
    throw new CairnError("bad_request", `invalid ${what} "${name.slice(0, 80)}": ${NAME_RULE}`, {
      errors: [{ path: field, message: NAME_RULE }],
    });
  return name;
}

/** Validates every rule and reports all problems at once, each naming the permission and the field. */
export function validateRules(rules: Rule[], field = "/rules"): Rule[] {
  const errors: FieldError[] = [];
  const out: Rule[] = [];
  rules.forEach((rule, i) => {
    try {
      out.push(compileRule(rule).rule);
    } catch (e) {
      if (!(e instanceof RuleError)) throw e;
      errors.push({ path: `${field}/${i}${e.path}`, message: e.message });
    }
  });
  if (errors.length > 0) {
    throw new CairnError("validation_failed", errors.map((e) => e.message).join("; "), { errors });
  }
  return out;
}

type RoleRow = NonNullable<Awaited<ReturnType<RoleRepository["getRole"]>>>;
type BindingRow = NonNullable<Awaited<ReturnType<RoleRepository["getBinding"]>>>;

const iso = (d: Date | string) => new Date(d).toISOString();

const roleView = (r: RoleRow): Role => ({
  name: r.name,
  description: r.description,
  rules: r.rules as Rule[],
  inherits: r.inherits,
  builtin: r.builtin,
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
});

const bindingView = (b: BindingRow, now: Date): Binding => ({
  id: b.id,
  role: b.role,
  subject: { type: b.subject_type, id: b.subject_id },
  namespacePattern: b.namespace_pattern,
  expiresAt: b.expires_at ? iso(b.expires_at) : null,
  expired: b.expires_at !== null && new Date(b.expires_at).getTime() <= now.getTime(),
  createdAt: iso(b.created_at),
  createdBy: b.created_by,
});

const builtinRefusal = (name: string) =>
  new CairnError("conflict", `role "${name}" is built in and cannot be changed or deleted; create your own role that inherits from it`);

/**
 * Roles and role bindings. Every change and its audit event commit in one transaction; afterwards the
 * authorizer is told (`authz.changed`), so cached decisions on every replica are dropped.
 */
export function createRoleService(deps: {
  db: Db;
  repo: RoleRepository;
  audit: AuditLog;
  authorizer: CairnAuthorizer;
  clock?: () => Date;
}) {
  const { repo } = deps;
  const clock = deps.clock ?? (() => new Date());

  /** Inherited roles must exist, and the new edge set must not close a cycle (checked under the roles lock). */
  async function checkInherits(trx: Conn, tenantId: string, name: string, inherits: string[]) {
    const roles = await repo.listRoles(trx, tenantId);
    const graph = new Map(roles.map((r) => [r.name, { inherits: r.inherits }]));
    const errors: FieldError[] = [];
    inherits.forEach((parent, i) => {
      checkName(parent, `/inherits/${i}`, "role name");
      if (parent === name) errors.push({ path: `/inherits/${i}`, message: `role "${name}" cannot inherit from itself (a cycle)` });
      else if (!graph.has(parent)) errors.push({ path: `/inherits/${i}`, message: `inherited role "${parent}" does not exist` });
    });
    if (errors.length > 0) throw new CairnError("validation_failed", errors.map((e) => e.message).join("; "), { errors });
    graph.set(name, { inherits });
    const cycle = findCycle(graph, name);
    if (cycle) {
      throw new CairnError("validation_failed", `inheritance cycle: ${cycle.join(" → ")}`, {
        errors: [{ path: "/inherits", message: `would create the cycle ${cycle.join(" → ")}` }],
      });
    }
  }

  const dedupe = (names: string[] | undefined) => [...new Set(names ?? [])];

  async function write(
    ctx: CallContext,
    name: string,
    body: PutRoleBody,
    mode: "create" | "put",
  ): Promise<{ role: Role; created: boolean }> {
    const tenantId = ctx.actor.tenantId;
    checkName(name, mode === "create" ? "/name" : "name", "role name");
    const rules = validateRules(body.rules);
    const inherits = dedupe(body.inherits);
    const result = await deps.db.transaction().execute(async (trx) => {
      await repo.lockRoles(trx, tenantId);
      const existing = await repo.getRole(trx, tenantId, name);
      if (existing?.builtin || (!existing && builtinRoleNames.has(name))) throw builtinRefusal(name);
      if (existing && mode === "create")
        throw new CairnError("conflict", `role "${name}" already exists; change it with PUT /api/v1/roles/${name}`);
      await checkInherits(trx, tenantId, name, inherits);
      const values = { name, description: body.description ?? null, rules, inherits };
      const row = existing ? await repo.updateRole(trx, tenantId, values) : await repo.insertRole(trx, tenantId, values);
      if (!row) throw new CairnError("conflict", `role "${name}" was changed concurrently; try again`);
      await deps.audit.append(trx, {
        tenantId,
        eventType: existing ? "role.updated" : "role.created",
        action: existing ? "update" : "create",
        result: "success",
        ctx,
        resource: { type: "role", id: name },
        metadata: { rules: rules.map((r) => `${r.effect} ${r.permission}`), inherits },
      });
      return { role: roleView(row), created: !existing };
    });
    await deps.authorizer.changed(tenantId);
    return result;
  }

  async function resolveSubject(
    conn: Conn,
    tenantId: string,
    subject: { type: "user" | "key" | "group"; id: string },
    field: string,
  ): Promise<AuthzSubject> {
    const unknown = () =>
      new CairnError("validation_failed", `${subject.type} "${subject.id.slice(0, 128)}" does not exist in this tenant`, {
        errors: [{ path: field, message: `unknown ${subject.type}` }],
      });
    if (subject.type === "key") {
      const key = await repo.findKey(conn, tenantId, subject.id);
      if (!key) throw unknown();
      return {
        tenantId,
        type: "key",
        id: key.id,
        roles: key.roles ?? [],
        permissions: (key.permissions ?? []) as Rule[],
        instanceAdmin: key.instance_admin,
      };
    }
    const found =
      subject.type === "user" ? await repo.findUser(conn, tenantId, subject.id) : await repo.getGroup(conn, tenantId, subject.id);
    if (!found) throw unknown();
    return { tenantId, type: subject.type, id: found.id, roles: [], permissions: [], instanceAdmin: false };
  }

  return {
    async listRoles(ctx: CallContext): Promise<Role[]> {
      return (await repo.listRoles(deps.db, ctx.actor.tenantId)).map(roleView);
    },

    async getRole(ctx: CallContext, name: string): Promise<Role> {
      const row = await repo.getRole(deps.db, ctx.actor.tenantId, name);
      if (!row) throw new CairnError("not_found", `role "${name.slice(0, 80)}" does not exist`);
      return roleView(row);
    },

    createRole: (ctx: CallContext, body: CreateRoleBody) => write(ctx, body.name, body, "create").then((r) => r.role),

    /** Creates or replaces a role (built-in ones excepted). */
    putRole: (ctx: CallContext, name: string, body: PutRoleBody) => write(ctx, name, body, "put"),

    async deleteRole(ctx: CallContext, name: string): Promise<void> {
      const tenantId = ctx.actor.tenantId;
      await deps.db.transaction().execute(async (trx) => {
        await repo.lockRoles(trx, tenantId);
        const existing = await repo.getRole(trx, tenantId, name);
        if (!existing) throw new CairnError("not_found", `role "${name.slice(0, 80)}" does not exist`);
        if (existing.builtin) throw builtinRefusal(name);
        const bindings = await repo.countBindingsOfRole(trx, tenantId, name);
        if (bindings > 0) {
          throw new CairnError(
            "conflict",
            `role "${name}" is still bound by ${bindings} role binding(s); delete them first (GET /api/v1/role-bindings?role=${name})`,
          );
        }
        const heirs = await repo.rolesInheriting(trx, tenantId, name);
        if (heirs.length > 0)
          throw new CairnError("conflict", `role "${name}" is inherited by ${heirs.map((h) => `"${h}"`).join(", ")}; change those first`);
        const keys = await repo.countKeysWithRole(trx, tenantId, name);
        if (keys > 0)
          throw new CairnError("conflict", `role "${name}" is still given directly to ${keys} API key(s); revoke or change them first`);
        await repo.deleteRole(trx, tenantId, name);
        await deps.audit.append(trx, {
          tenantId,
          eventType: "role.deleted",
          action: "delete",
          result: "success",
          ctx,
          resource: { type: "role", id: name },
        });
      });
      await deps.authorizer.changed(tenantId);
    },

    async listBindings(ctx: CallContext, query: BindingQuery): Promise<Binding[]> {
      const now = clock();
      return (await repo.listBindings(deps.db, ctx.actor.tenantId, query)).map((b) => bindingView(b, now));
    },

    async getBinding(ctx: CallContext, id: string): Promise<Binding> {
      const row = await repo.getBinding(deps.db, ctx.actor.tenantId, id);
      if (!row) throw new CairnError("not_found", `role binding "${id.slice(0, 128)}" does not exist`);
      return bindingView(row, clock());
    },

    async createBinding(ctx: CallContext, body: CreateBindingBody): Promise<Binding> {
      const tenantId = ctx.actor.tenantId;
      const now = clock();
      const namespacePattern = body.namespacePattern ?? "**";
      try {
        parsePattern(namespacePattern);
      } catch (e) {
        if (!(e instanceof PermissionError)) throw e;
        throw new CairnError("validation_failed", `invalid namespacePattern: ${e.message}`, {
          errors: [{ path: "/namespacePattern", message: e.message }],
        });
      }
      const expiresAt = body.expiresAt === undefined ? null : new Date(body.expiresAt);
      if (expiresAt && expiresAt.getTime() <= now.getTime()) {
        throw new CairnError("validation_failed", `expiresAt ${body.expiresAt} is in the past`, {
          errors: [{ path: "/expiresAt", message: "in the past" }],
        });
      }
      checkName(body.role, "/role", "role name");
      const row = await deps.db.transaction().execute(async (trx) => {
        await repo.lockRoles(trx, tenantId);
        await resolveSubject(trx, tenantId, body.subject, "/subject/id");
        if (!(await repo.getRole(trx, tenantId, body.role))) {
          throw new CairnError("validation_failed", `role "${body.role}" does not exist`, {
            errors: [{ path: "/role", message: "unknown role" }],
          });
        }
        const inserted = await repo.insertBinding(trx, {
          id: newId("roleBinding"),
          tenantId,
          role: body.role,
          subjectType: body.subject.type,
          subjectId: body.subject.id,
          namespacePattern,
          expiresAt,
          createdBy: ctx.actor.id,
        });
        await deps.audit.append(trx, {
          tenantId,
          eventType: "binding.created",
          action: "create",
          result: "success",
          ctx,
          resource: { type: "role_binding", id: inserted.id },
          metadata: { role: body.role, subject: body.subject, namespacePattern, expiresAt: expiresAt?.toISOString() ?? null },
        });
        return inserted;
      });
      await deps.authorizer.changed(tenantId);
      return bindingView(row, now);
    },

    async deleteBinding(ctx: CallContext, id: string): Promise<void> {
      const tenantId = ctx.actor.tenantId;
      await deps.db.transaction().execute(async (trx) => {
        const existing = await repo.getBinding(trx, tenantId, id);
        if (!existing || !(await repo.deleteBinding(trx, tenantId, id)))
          throw new CairnError("not_found", `role binding "${id.slice(0, 128)}" does not exist`);
        await deps.audit.append(trx, {
          tenantId,
          eventType: "binding.deleted",
          action: "delete",
          result: "success",
          ctx,
          resource: { type: "role_binding", id },
          metadata: {
            role: existing.role,
            subject: { type: existing.subject_type, id: existing.subject_id },
            namespacePattern: existing.namespace_pattern,
          },
        });
      });
      await deps.authorizer.changed(tenantId);
    },

    /** `POST /authz/check`: the decision for the caller or a named subject, and the rule that made it. */
    async check(ctx: CallContext, body: CheckBody): Promise<CheckResult> {
      const tenantId = ctx.actor.tenantId;
      const namespaced = namespacedResources.has(body.resource);
      const namespace = namespaced && body.namespace !== undefined ? checkNamespace(body.namespace, "/namespace") : undefined;
      if (body.environment !== undefined) checkEnvironmentName(body.environment, "/environment");
      if (body.sourceIp !== undefined && !parseIp(body.sourceIp)) {
        throw new CairnError("bad_request", `sourceIp "${body.sourceIp}" is not an IPv4 or IPv6 address`, {
          errors: [{ path: "/sourceIp", message: "not an IP address" }],
        });
      }
      const self = !body.subject;
      const subject = body.subject
        ? await resolveSubject(deps.db, tenantId, body.subject, "/subject/id")
        : deps.authorizer.subjectOf(ctx.actor);
      const decision = await deps.authorizer.explain(subject, {
        resource: body.resource,
        namespace,
        action: body.action,
        environment: body.environment,
        sourceIp: body.sourceIp ?? (self ? ctx.sourceIp : undefined),
        at: body.at ? new Date(body.at) : clock(),
      });
      return {
        allowed: decision.allowed,
        reason: decision.reason,
        permission: decision.permission,
        subject: { type: subject.type, id: subject.id },
        decidedBy: decision.decidedBy ?? null,
      };
    },
  };
}

export type RoleService = ReturnType<typeof createRoleService>;
