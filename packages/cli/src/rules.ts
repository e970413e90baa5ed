import type { Rule } from "@cairn/sdk";
import { InvalidArgumentError } from "commander";

const PERMISSION = /^[^:\s]+:[^:\s]+:[^:\s]+$/;
const HHMM = /^\d{2}:\d{2}$/;

/**
 * A rule as one line, the way people write policies:
 *
 *   [allow|deny] <resource>:<namespacePattern>:<action> [env=a,b] [ip=10.0.0.0/8,…] [time=09:00-17:00] [days=1-5]
 *
 * The effect defaults to allow. Conditions all have to hold; times are UTC, days ISO (1 Monday … 7 Sunday).
 */
export function parseRule(text: string): Rule {
  const words = text.trim().split(/\s+/).filter(Boolean);
  let effect: Rule["effect"] = "allow";
  if (words[0] === "allow" || words[0] === "deny") effect = words.shift() as Rule["effect"];
  const permission = words.shift();
  if (!permission || !PERMISSION.test(permission)) {
    throw new InvalidArgumentError(
      `expected "[allow|deny] resource:namespacePattern:action [env=…] [ip=…] [time=…] [days=…]", got "${text}"`,
    );
  }
  const rule: Rule = { effect, permission };
  const conditions: NonNullable<Rule["conditions"]> = {};
  let time: { start: string; end: string } | undefined;
  let days: number[] | undefined;
  for (const word of words) {
    const eq = word.indexOf("=");
    const name = word.slice(0, eq);
    const value = word.slice(eq + 1);
    if (eq < 1 || !value) throw new InvalidArgumentError(`expected a condition name=value after the permission, got "${word}"`);
    const list = value.split(",").filter(Boolean);
    switch (name) {
      case "env":
      case "environment":
        conditions.environments = list;
        break;
      case "ip":
      case "ips":
        conditions.sourceIps = list;
        break;
      case "time": {
        const [start, end] = value.split("-");
        if (!start || !end || !HHMM.test(start) || !HHMM.test(end))
          throw new InvalidArgumentError(`expected time=HH:MM-HH:MM (UTC), got "${word}"`);
        time = { start, end };
        break;
      }
      case "days":
        days = parseDays(value);
        break;
      default:
        throw new InvalidArgumentError(`unknown condition "${name}": use env=, ip=, time= or days=`);
    }
  }
  if (days && !time) throw new InvalidArgumentError("days= needs a time= window (use time=00:00-24:00 for whole days)");
  if (time) conditions.timeWindow = days ? { ...time, days } : time;
  if (Object.keys(conditions).length > 0) rule.conditions = conditions;
  return rule;
}

/** `1-5`, `1,3,5`, `6-7`. */
function parseDays(value: string): number[] {
  const days = new Set<number>();
  for (const part of value.split(",")) {
    const m = /^([1-7])(?:-([1-7]))?$/.exec(part);
    if (!m) throw new InvalidArgumentError(`expected days as ISO weekdays 1 (Mon)–7 (Sun), e.g. days=1-5, got "${value}"`);
    const from = Number(m[1]);
    const to = Number(m[2] ?? m[1]);
    if (to < from) throw new InvalidArgumentError(`days=${part}: the range goes backwards`);
    for (let d = from; d <= to; d++) days.add(d);
  }
  return [...days];
}

/** commander parser for a repeatable `--rule` / `--permission`. */
export function collectRule(raw: string, rules: Rule[] = []): Rule[] {
  return [...rules, parseRule(raw)];
}

/** The one-line form `parseRule` reads. */
export function formatRule(rule: Rule): string {
  const words = [rule.effect, rule.permission];
  const c = rule.conditions;
  if (c?.environments) words.push(`env=${c.environments.join(",")}`);
  if (c?.sourceIps) words.push(`ip=${c.sourceIps.join(",")}`);
  if (c?.timeWindow) {
    words.push(`time=${c.timeWindow.start}-${c.timeWindow.end}`);
    if (c.timeWindow.days) words.push(`days=${c.timeWindow.days.join(",")}`);
  }
  return words.join(" ");
}
