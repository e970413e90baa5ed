import { CairnApiError, type Conditions, type Role, type Rule } from "@cairn/sdk";

/** One rule as the editor holds it: plain strings, turned into the API's shape on save. */
export interface RuleDraft {
  effect: "allow" | "deny";
  permission: string;
  /** Comma-separated environment names. */
  environments: string;
  /** Comma-separated CIDR blocks. */
  sourceIps: string;
  /** "HH:MM" UTC, both or neither. */
  windowStart: string;
  windowEnd: string;
  /** Comma-separated ISO weekdays 1 (Mon) … 7 (Sun). */
  days: string;
}

export const emptyRule = (): RuleDraft => ({
  effect: "allow",
  permission: "",
  environments: "",
  sourceIps: "",
  windowStart: "",
  windowEnd: "",
  days: "",
});

const list = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);

export function draftOf(rule: Rule): RuleDraft {
  const c = rule.conditions ?? {};
  return {
    effect: rule.effect,
    permission: rule.permission,
    environments: (c.environments ?? []).join(", "),
    sourceIps: (c.sourceIps ?? []).join(", "),
    windowStart: c.timeWindow?.start ?? "",
    windowEnd: c.timeWindow?.end ?? "",
    days: (c.timeWindow?.days ?? []).join(", "),
  };
}

/** The rule for the API, or the field problems found before sending it (keyed like the server's paths). */
export function ruleOf(d: RuleDraft, i: number, errors: Record<string, string>): Rule {
  const conditions: Conditions = {};
  const environments = list(d.environments);
  const sourceIps = list(d.sourceIps);
  if (environments.length) conditions.environments = environments;
  if (sourceIps.length) conditions.sourceIps = sourceIps;
  if (d.windowStart.trim() || d.windowEnd.trim() || d.days.trim()) {
    if (!d.windowStart.trim() || !d.windowEnd.trim())
      errors[`/rules/${i}/conditions`] = "a time window needs a start and an end (HH:MM UTC)";
    const days = list(d.days).map(Number);
    if (days.some((n) => !Number.isInteger(n))) errors[`/rules/${i}/conditions`] = "days are ISO weekday numbers: 1 (Monday) … 7 (Sunday)";
    conditions.timeWindow = { start: d.windowStart.trim(), end: d.windowEnd.trim(), ...(days.length ? { days } : {}) };
  }
  if (!d.permission.trim()) errors[`/rules/${i}/permission`] = "a permission is resource:namespacePattern:action";
  return { effect: d.effect, permission: d.permission.trim(), ...(Object.keys(conditions).length ? { conditions } : {}) };
}

/** The field a server error path belongs to in the role editor: `/rules/2/permission`, `/rules/2/conditions`, `/inherits`, … */
export function editorKey(path: string): string {
  const rule = path.match(/^\/(?:body\/)?rules\/(\d+)(\/permission|\/conditions|\/effect)?/);
  if (rule) return `/rules/${rule[1]}${rule[2] ?? ""}`;
  if (/^\/(?:body\/)?inherits/.test(path)) return "/inherits";
  if (/^\/(?:body\/)?description/.test(path)) return "/description";
  return "";
}

/** Field errors of a failed call, by editor field ("" = not tied to one field). */
export function fieldErrors(err: unknown, keyOf: (path: string) => string = editorKey): Record<string, string> {
  const out: Record<string, string> = {};
  if (!(err instanceof CairnApiError)) return out;
  for (const e of err.errors) {
    const k = keyOf(e.path ?? "");
    out[k] = out[k] ? `${out[k]}; ${e.message}` : e.message;
  }
  return out;
}

/** "environments production; source IPs 10.0.0.0/8; 09:00–17:00 UTC on 1,2,3" */
export function describeConditions(c: Conditions | undefined): string {
  if (!c) return "";
  const parts: string[] = [];
  if (c.environments?.length) parts.push(`environment ${c.environments.join(" or ")}`);
  if (c.sourceIps?.length) parts.push(`from ${c.sourceIps.join(", ")}`);
  if (c.timeWindow) {
    const days = c.timeWindow.days?.length ? ` on days ${c.timeWindow.days.join(",")}` : "";
    parts.push(`${c.timeWindow.start}–${c.timeWindow.end} UTC${days}`);
  }
  return parts.join("; ");
}

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const byBuiltinThenName = (a: Role, b: Role) => Number(b.builtin) - Number(a.builtin) || a.name.localeCompare(b.name);
