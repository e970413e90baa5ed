import type { Transaction } from "kysely";
import type { CallContext } from "../auth/actor.js";
import type { Db } from "../db/database.js";
import type { Database } from "../db/types.js";
import { newId } from "../ids.js";

export interface AuditEventInput {
  tenantId: string | null;
  eventType: string;
  action: string;
  result: "success" | "failure" | "denied";
  ctx?: Partial<CallContext>;
  resource?: { type: string; id: string; namespace?: string };
  /** Never a value: names, versions, reasons. Values are referenced by HMAC (audit issue). */
  metadata?: Record<string, unknown>;
}

/**
 * Appends audit events. Writers call `append(trx, …)` inside the transaction of the change they record,
 * so the change and its event commit together or not at all.
 */
export function createAuditLog() {
  return {
    async append(trx: Transaction<Database> | Db, event: AuditEventInput): Promise<void> {
      await trx
        .insertInto("audit_events")
        .values({
          id: newId("audit"),
          tenant_id: event.tenantId,
          event_type: event.eventType,
          action: event.action,
          result: event.result,
          actor_id: event.ctx?.actor?.id ?? null,
          actor_type: event.ctx?.actor?.type ?? null,
          resource_type: event.resource?.type ?? null,
          resource_id: event.resource?.id ?? null,
          namespace: event.resource?.namespace ?? null,
          request_id: event.ctx?.requestId ?? null,
          source_ip: event.ctx?.sourceIp ?? null,
          user_agent: event.ctx?.userAgent ?? null,
          metadata: JSON.stringify(event.metadata ?? {}),
        })
        .execute();
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
