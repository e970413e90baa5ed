/** How bad an audit event is, lowest first. A rule's `minSeverity` ignores events below it. */
export const severities = ["info", "low", "medium", "high", "critical"] as const;
export type Severity = (typeof severities)[number];

export const severityRank = (s: Severity): number => severities.indexOf(s);

export const maxSeverity = (a: Severity, b: Severity): Severity => (severityRank(a) >= severityRank(b) ? a : b);

/**
 * The severity of each audit event type. The first entry whose glob matches wins; anything else is `info`.
 * Kept in one table so the README, the API (`GET /alerts/severities`) and the evaluator agree.
 */
export const eventSeverities: ReadonlyArray<readonly [pattern: string, severity: Severity]> = [
  ["audit.verify_failed", "critical"],
  ["secret.reveal", "high"],
  ["config.reveal", "high"],
  ["auth.login_throttled", "high"],
  ["auth.failed", "medium"],
  ["auth.login_failed", "medium"],
  ["auth.refresh_failed", "medium"],
  ["authz.denied", "medium"],
  ["key.revoked", "medium"],
  ["role.*", "medium"],
  ["binding.*", "medium"],
  ["user.*", "medium"],
  ["tenant.*", "medium"],
  ["alert_rule.*", "medium"],
  ["alert_channel.*", "medium"],
  ["key.*", "low"],
  ["group.*", "low"],
  ["schema.*", "low"],
  ["environment.*", "low"],
  ["config.delete", "low"],
  ["config.restore", "low"],
];

/** `auth.*` → a matcher: `*` stands for any run of characters (dots included); everything else is literal. */
export function globMatcher(pattern: string): (value: string) => boolean {
  if (!pattern.includes("*")) return (value) => value === pattern;
  const source = pattern
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  const re = new RegExp(`^${source}$`);
  return (value) => re.test(value);
}

const compiled = eventSeverities.map(([pattern, severity]) => [globMatcher(pattern), severity] as const);
const memo = new Map<string, Severity>();

export function severityOf(eventType: string): Severity {
  const hit = memo.get(eventType);
  if (hit) return hit;
  const found = compiled.find(([match]) => match(eventType))?.[1] ?? "info";
  if (memo.size < 10_000) memo.set(eventType, found);
  return found;
}
