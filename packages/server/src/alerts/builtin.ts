import { approvalAlertRules } from "../approvals/alerts.js";
import type { Conn } from "../db/database.js";
import { newId } from "../ids.js";
import type { GroupBy, RuleFilter } from "./rules.js";
import type { Severity } from "./severity.js";

export interface BuiltinRule {
  builtin: string;
  name: string;
  description: string;
  events: string[];
  match: RuleFilter[];
  minSeverity: Severity;
  severity: Severity | null;
  threshold: { count: number; windowSeconds: number };
  groupBy: GroupBy | null;
}

/**
 * The rules every tenant starts with, enabled, sending to every enabled channel of the tenant. They can
 * be changed (events, match, threshold, channels) or disabled, but not deleted; a tenant made before a
 * rule existed gets it at the next start, and it sees only what happens from then on.
 */
export const builtinAlertRules: BuiltinRule[] = [
  {
    builtin: "auth-failures",
    name: "Repeated authentication failures from one source",
    description: "5 failed authentications (bad or revoked API keys, bad passwords, bad refresh tokens) from one IP within 5 minutes",
    events: ["auth.failed", "auth.login_failed", "auth.refresh_failed"],
    match: [],
    minSeverity: "info",
    severity: "high",
    threshold: { count: 5, windowSeconds: 300 },
    groupBy: "sourceIp",
  },
  {
    builtin: "secret-reveal-production",
    name: "Secret revealed in production",
    description:
      "a secret value was revealed in a production namespace (production/**, prod/**) or in the production environment; " +
      "the reveal event is secret.reveal (config.reveal in older versions)",
    events: ["secret.reveal", "config.reveal"],
    match: [{ namespaces: ["production/**", "prod/**"] }, { environments: ["production", "prod"] }],
    minSeverity: "info",
    severity: "high",
    threshold: { count: 1, windowSeconds: 60 },
    groupBy: null,
  },
  {
    builtin: "revoked-key-used",
    name: "Revoked API key used",
    description: "a request came with an API key that was revoked (auth.failed with reason revoked)",
    events: ["auth.failed"],
    match: [{ metadata: { reason: "revoked" } }],
    minSeverity: "info",
    severity: "high",
    threshold: { count: 1, windowSeconds: 60 },
    groupBy: null,
  },
  {
    builtin: "automation-failed",
    name: "Automated work failed",
    description:
      "a scheduled secret rotation (secret.rotation_failed) or an access revocation (request.revoke_failed) failed; it is retried with backoff",
    events: ["secret.rotation_failed", "request.revoke_failed"],
    match: [],
    minSeverity: "info",
    severity: "high",
    threshold: { count: 1, windowSeconds: 60 },
    groupBy: null,
  },
  {
    builtin: "secret-rotated",
    name: "Secret rotated on schedule",
    description:
      "a rotation policy rotated a secret (secret.rotated with notify; a policy's notify: false silences it, notify: [names] picks channels)",
    events: ["secret.rotated"],
    match: [{ metadata: { notify: true } }],
    minSeverity: "info",
    severity: "info",
    threshold: { count: 1, windowSeconds: 60 },
    groupBy: null,
  },
  {
    builtin: "audit-verify-failed",
    name: "Audit log verification failed",
    description: "verifying the audit log found a bad event, proof or checkpoint (audit.verify_failed)",
    events: ["audit.verify_failed"],
    match: [],
    minSeverity: "info",
    severity: "critical",
    threshold: { count: 1, windowSeconds: 60 },
    groupBy: null,
  },
];

/**
 * Tenant initializer (run at tenant creation and for every tenant at each start): creates the built-in
 * rules a tenant lacks. Never overwrites: an operator's changes to a built-in rule stay.
 */
export async function ensureBuiltinAlertRules(conn: Conn, tenantId: string): Promise<void> {
  await conn
    .insertInto("alert_rules")
    .values(
      [...builtinAlertRules, ...approvalAlertRules].map((r) => ({
        id: newId("alertRule"),
        tenant_id: tenantId,
        name: r.name,
        builtin: r.builtin,
        description: r.description,
        enabled: true,
        events: JSON.stringify(r.events),
        match: JSON.stringify(r.match),
        min_severity: r.minSeverity,
        severity: r.severity,
        threshold_count: r.threshold.count,
        window_seconds: r.threshold.windowSeconds,
        group_by: r.groupBy,
        created_by: "system",
      })),
    )
    .onConflict((oc) => oc.doNothing())
    .execute();
}
