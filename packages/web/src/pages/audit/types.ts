import type { AuditEvent } from "@cairn/sdk";

/** Wire shapes of the audit API: the server's own schemas (packages/server/src/domains/audit/schemas.ts), via @cairn/sdk. */
export type { AuditCheckpoint, AuditEvent, AuditEventList, AuditPublicKey, AuditVerification } from "@cairn/sdk";

export type AuditResult = AuditEvent["result"];

/** The list's filters, as the page keeps them in its URL (?eventType=config.*&result=denied…). */
export interface AuditFilters {
  from?: string;
  to?: string;
  actor?: string;
  eventType?: string;
  namespace?: string;
  result?: AuditResult;
}

export const filterNames = ["from", "to", "actor", "eventType", "namespace", "result"] as const;
