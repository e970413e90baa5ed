import type { BuiltinRule } from "../alerts/builtin.js";

/**
 * Notifications of the approval engine: alert rules on its audit events, sent to every enabled channel
 * of the tenant (Slack, email, webhook) like any alert; created with the other built-in rules. Grouped by the subject, so each request or change
 * request notifies once per state change.
 */
export const approvalAlertRules: BuiltinRule[] = [
  {
    builtin: "approval-requested",
    name: "Approval needed",
    description: "an access request or a change to a protected environment waits for approval (approval.requested)",
    events: ["approval.requested"],
    match: [],
    minSeverity: "info",
    severity: "medium",
    threshold: { count: 1, windowSeconds: 1 },
    groupBy: "resource",
  },
  {
    builtin: "approval-decided",
    name: "Approval decision",
    description: "an approver approved or denied an access request or a change request (approval.decided)",
    events: ["approval.decided"],
    match: [],
    minSeverity: "info",
    severity: "low",
    threshold: { count: 1, windowSeconds: 1 },
    groupBy: "resource",
  },
];
