import { type Cidr, cidrContains, parseCidr, parseIp } from "./cidr.js";
import type { Conditions } from "./types.js";

/**
 * ABAC conditions, compiled once. Every condition present must hold (AND); inside one condition any
 * listed value will do (OR). Evaluation is three-valued: a condition the request cannot answer (no
 * environment, no or unparsable source IP) is `unknown`, and callers fail safe — an allow rule needs
 * `true`, a deny rule applies unless the result is `false`.
 */
export type Truth = "true" | "false" | "unknown";

export interface CompiledConditions {
  environments?: Set<string>;
  sourceIps?: Cidr[];
  timeWindow?: { start: number; end: number; days?: Set<number>; source: string };
}

export interface ConditionFacts {
  environment?: string;
  sourceIp?: string;
  at: Date;
}

export interface ConditionResult {
  truth: Truth;
  /** The first condition that did not hold, or could not be evaluated, in words. */
  why?: string;
}

export class ConditionError extends Error {
  override name = "ConditionError";
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;
const ENVIRONMENT = /^[a-z][a-z0-9_-]{0,63}$/;
const KNOWN = new Set(["environments", "sourceIps", "timeWindow"]);

function minutes(text: unknown, path: string): number {
  const m = typeof text === "string" ? HHMM.exec(text) : null;
  if (!m) throw new ConditionError(path, `"${String(text)}" is not a UTC time HH:MM (00:00–23:59)`);
  return Number(m[1]) * 60 + Number(m[2]);
}

function nonEmptyList(value: unknown, path: string, what: string): unknown[] {
  if (!Array.isArray(value) || value.length === 0) throw new ConditionError(path, `${what} must be a non-empty list`);
  if (value.length > 100) throw new ConditionError(path, `${what} may list at most 100 entries`);
  return value;
}

/** Validates and compiles; throws `ConditionError` naming the field (relative path, e.g. `/sourceIps/1`). */
export function compileConditions(conditions: Conditions | undefined): CompiledConditions | undefined {
  if (conditions === undefined || conditions === null) return undefined;
  if (typeof conditions !== "object" || Array.isArray(conditions)) throw new ConditionError("", "conditions must be an object");
  for (const key of Object.keys(conditions)) {
    if (!KNOWN.has(key)) throw new ConditionError(`/${key}`, `unknown condition "${key}" (use environments, sourceIps or timeWindow)`);
  }
  const out: CompiledConditions = {};
  if (conditions.environments !== undefined) {
    const list = nonEmptyList(conditions.environments, "/environments", "environments");
    list.forEach((e, i) => {
      if (typeof e !== "string" || !ENVIRONMENT.test(e)) {
        throw new ConditionError(
          `/environments/${i}`,
          `"${String(e)}" is not an environment name (a–z, 0–9, '_', '-', starting with a letter)`,
        );
      }
    });
    out.environments = new Set(list as string[]);
  }
  if (conditions.sourceIps !== undefined) {
    const list = nonEmptyList(conditions.sourceIps, "/sourceIps", "sourceIps");
    out.sourceIps = list.map((c, i) => {
      try {
        if (typeof c !== "string") throw new Error(`${JSON.stringify(c)} is not a string`);
        return parseCidr(c);
      } catch (e) {
        throw new ConditionError(`/sourceIps/${i}`, (e as Error).message);
      }
    });
  }
  if (conditions.timeWindow !== undefined) {
    const w = conditions.timeWindow;
    if (typeof w !== "object" || w === null) throw new ConditionError("/timeWindow", "timeWindow must be {start, end, days?}");
    for (const key of Object.keys(w)) {
      if (!["start", "end", "days"].includes(key))
        throw new ConditionError(`/timeWindow/${key}`, `unknown field "${key}" (use start, end, days)`);
    }
    const start = minutes(w.start, "/timeWindow/start");
    const end = minutes(w.end, "/timeWindow/end");
    if (start === end) throw new ConditionError("/timeWindow", "start and end are equal; for an all-day rule leave timeWindow out");
    let days: Set<number> | undefined;
    if (w.days !== undefined) {
      const list = nonEmptyList(w.days, "/timeWindow/days", "days");
      list.forEach((d, i) => {
        if (!Number.isInteger(d) || (d as number) < 1 || (d as number) > 7) {
          throw new ConditionError(`/timeWindow/days/${i}`, `${String(d)} is not an ISO weekday (1 = Monday … 7 = Sunday)`);
        }
      });
      days = new Set(list as number[]);
    }
    out.timeWindow = { start, end, days, source: `${w.start}–${w.end} UTC${days ? ` on ISO days ${[...days].join(",")}` : ""}` };
  }
  return out;
}

const isoDay = (d: Date) => d.getUTCDay() || 7;

/**
 * `[start, end)` in UTC minutes. A window that wraps midnight (22:00–06:00) belongs to the day it starts
 * on: with days [5], Friday 23:00 and Saturday 02:00 are inside, Friday 02:00 is not.
 */
function inWindow(w: NonNullable<CompiledConditions["timeWindow"]>, at: Date): boolean {
  const t = at.getUTCHours() * 60 + at.getUTCMinutes();
  let startDay = isoDay(at);
  let inside: boolean;
  if (w.start < w.end) inside = t >= w.start && t < w.end;
  else if (t >= w.start) inside = true;
  else if (t < w.end) {
    inside = true;
    startDay = startDay === 1 ? 7 : startDay - 1;
  } else inside = false;
  return inside && (!w.days || w.days.has(startDay));
}

export function evaluateConditions(c: CompiledConditions | undefined, facts: ConditionFacts): ConditionResult {
  if (!c) return { truth: "true" };
  let unknown: string | undefined;
  if (c.environments) {
    if (facts.environment === undefined) unknown ??= "the request names no environment";
    else if (!c.environments.has(facts.environment)) {
      return { truth: "false", why: `environment "${facts.environment}" is not one of ${[...c.environments].join(", ")}` };
    }
  }
  if (c.sourceIps) {
    const ip = facts.sourceIp === undefined ? undefined : parseIp(facts.sourceIp);
    if (!ip) unknown ??= facts.sourceIp === undefined ? "the source IP is unknown" : `the source IP "${facts.sourceIp}" cannot be parsed`;
    else if (!c.sourceIps.some((cidr) => cidrContains(cidr, ip))) {
      return { truth: "false", why: `source IP ${facts.sourceIp} is not in ${c.sourceIps.map((x) => x.source).join(", ")}` };
    }
  }
  if (c.timeWindow && !inWindow(c.timeWindow, facts.at)) {
    return { truth: "false", why: `${facts.at.toISOString()} is outside ${c.timeWindow.source}` };
  }
  return unknown ? { truth: "unknown", why: unknown } : { truth: "true" };
}
