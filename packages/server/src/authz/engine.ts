import { type CompiledConditions, ConditionError, compileConditions, evaluateConditions } from "./conditions.js";
import {
  inScope,
  matchPermission,
  type NamespacePattern,
  type Permission,
  PermissionError,
  parsePermission,
  permissionOf,
} from "./permissions.js";
import type { AccessRequest, Decision, Rule } from "./types.js";

/**
 * The pure decision engine: no database, no clock, no cache. Given every rule that could apply to a
 * subject (its grants) and a request, it answers allowed or not and names the rule that decided.
 * Deny wins over allow; nothing allowing is a denial.
 */
export interface CompiledRule {
  rule: Rule;
  permission: Permission;
  conditions?: CompiledConditions;
}

/** One effective rule of a subject and where it came from. */
export interface Grant {
  rule: CompiledRule;
  source: "key" | "role";
  /** The role that defines the rule. */
  role?: string;
  /** Assigned role → … → defining role, when the rule is inherited. */
  path?: string[];
  /** The role binding that brought the role in (absent for a key's direct roles and permissions). */
  bindingId?: string;
  /** The binding's namespace scope: the rule applies only inside it. */
  scope?: NamespacePattern;
  /** The binding's expiry: at or after it the rule no longer applies. */
  expiresAt?: Date;
}

export interface EvaluationRequest extends AccessRequest {
  sourceIp?: string;
  at: Date;
}

export class RuleError extends Error {
  override name = "RuleError";
  constructor(
    /** JSON pointer relative to the rule, e.g. `/permission`, `/conditions/sourceIps/0`. */
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/** Validates and compiles one rule as written by a user; throws `RuleError` naming the field. */
export function compileRule(rule: Rule): CompiledRule {
  if (typeof rule !== "object" || rule === null) throw new RuleError("", "a rule must be {effect, permission, conditions?}");
  for (const key of Object.keys(rule)) {
    if (!["effect", "permission", "conditions"].includes(key)) throw new RuleError(`/${key}`, `unknown field "${key}" in a rule`);
  }
  if (rule.effect !== "allow" && rule.effect !== "deny") throw new RuleError("/effect", `effect must be "allow" or "deny"`);
  let permission: Permission;
  try {
    permission = parsePermission(rule.permission);
  } catch (e) {
    if (e instanceof PermissionError) throw new RuleError("/permission", `invalid permission: ${e.message}`);
    throw e;
  }
  try {
    const conditions = compileConditions(rule.conditions);
    const stored: Rule = { effect: rule.effect, permission: rule.permission };
    if (rule.conditions !== undefined) stored.conditions = rule.conditions;
    return conditions ? { rule: stored, permission, conditions } : { rule: stored, permission };
  } catch (e) {
    if (e instanceof ConditionError) throw new RuleError(`/conditions${e.path}`, `invalid condition in "${rule.permission}": ${e.message}`);
    throw e;
  }
}

const DENY_ALL = parsePermission("*:**:*");

/**
 * A rule read back from storage. Rules are validated on the way in, so this only matters when a row was
 * edited by hand: a broken allow rule grants nothing, a broken deny rule denies everything (fail safe).
 */
export function compileStoredRule(rule: Rule): CompiledRule | undefined {
  try {
    return compileRule(rule);
  } catch {
    return rule?.effect === "deny" ? { rule, permission: DENY_ALL } : undefined;
  }
}

function describe(g: Grant): string {
  const text = `${g.rule.rule.effect} rule "${g.rule.rule.permission}"`;
  if (g.source === "key") return `${text} of the key's own permissions`;
  let where = `${text} of role "${g.role}"`;
  if (g.path && g.path.length > 1) where += ` (inherited via ${g.path.join(" → ")})`;
  if (g.bindingId) where += ` bound by ${g.bindingId}${g.scope && !g.scope.universal ? ` on ${g.scope.source}` : ""}`;
  return where;
}

function decidedBy(g: Grant): NonNullable<Decision["decidedBy"]> {
  const by: NonNullable<Decision["decidedBy"]> = { rule: g.rule.rule, source: g.source };
  if (g.role !== undefined) by.role = g.role;
  if (g.bindingId !== undefined) by.bindingId = g.bindingId;
  if (g.path && g.path.length > 1) by.path = g.path;
  return by;
}

export function decide(grants: readonly Grant[], req: EvaluationRequest): Decision {
  const needed = permissionOf(req.resource, req.namespace, req.action);
  const facts = { environment: req.environment, sourceIp: req.sourceIp, at: req.at };
  let allow: Grant | undefined;
  let nearMiss: string | undefined;
  for (const g of grants) {
    if (!matchPermission(g.rule.permission, req.resource, req.namespace, req.action)) continue;
    if (g.scope && !inScope(g.scope, req.resource, req.namespace)) {
      if (g.rule.rule.effect === "allow") nearMiss ??= `${describe(g)} does not reach outside its binding's scope`;
      continue;
    }
    if (g.expiresAt && g.expiresAt.getTime() <= req.at.getTime()) {
      if (g.rule.rule.effect === "allow")
        nearMiss ??= `${describe(g)} no longer applies: the binding expired at ${g.expiresAt.toISOString()}`;
      continue;
    }
    const cond = evaluateConditions(g.rule.conditions, facts);
    if (g.rule.rule.effect === "deny") {
      if (cond.truth === "false") continue;
      const failSafe = cond.truth === "unknown" ? ` (its condition cannot be evaluated — ${cond.why} — so it applies)` : "";
      return { allowed: false, reason: `${needed} denied by ${describe(g)}${failSafe}`, decidedBy: decidedBy(g) };
    }
    if (cond.truth === "true") allow ??= g;
    else nearMiss ??= `${describe(g)} matches, but ${cond.why}`;
  }
  if (allow) return { allowed: true, reason: `${needed} allowed by ${describe(allow)}`, decidedBy: decidedBy(allow) };
  return { allowed: false, reason: `no rule allows ${needed}${nearMiss ? `: ${nearMiss}` : ""}` };
}

/** A role as the engine needs it: its own rules and the roles it inherits. */
export interface RoleDefinition {
  name: string;
  rules: CompiledRule[];
  inherits: string[];
}

/**
 * A role's rules including everything it inherits, each with the role that defines it and the path to
 * it. Cycles are refused when roles are written; the visited set guards anyway (and de-duplicates diamonds).
 */
export function expandRole(
  roles: ReadonlyMap<string, RoleDefinition>,
  name: string,
): { rule: CompiledRule; role: string; path: string[] }[] {
  const out: { rule: CompiledRule; role: string; path: string[] }[] = [];
  const visited = new Set<string>();
  const visit = (role: string, path: string[]) => {
    if (visited.has(role)) return;
    visited.add(role);
    const def = roles.get(role);
    if (!def) return;
    const here = [...path, role];
    for (const rule of def.rules) out.push({ rule, role, path: here });
    for (const parent of def.inherits) visit(parent, here);
  };
  visit(name, []);
  return out;
}

/** A cycle reachable from `start` through `inherits`, as a path `a → b → a`, or undefined (checked when roles are written). */
export function findCycle(roles: ReadonlyMap<string, { inherits: string[] }>, start: string): string[] | undefined {
  const stack: string[] = [];
  const done = new Set<string>();
  const visit = (role: string): string[] | undefined => {
    const at = stack.indexOf(role);
    if (at !== -1) return [...stack.slice(at), role];
    if (done.has(role)) return undefined;
    stack.push(role);
    for (const parent of roles.get(role)?.inherits ?? []) {
      const cycle = visit(parent);
      if (cycle) return cycle;
    }
    stack.pop();
    done.add(role);
    return undefined;
  };
  return visit(start);
}
