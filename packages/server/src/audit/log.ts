import type { Insertable } from "kysely";
import type { CallContext } from "../auth/actor.js";
import type { Conn } from "../db/database.js";
import type { AuditEventsTable } from "../db/types.js";
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

export type AuditRow = Insertable<AuditEventsTable>;

/**
 * Appends audit events. Writers append inside the transaction of the change they record (or fold the
 * row into the change's own statement with `rowOf`), so the change and its event commit together or not at all.
 */
export function createAuditLog() {
  const rowOf = (event: AuditEventInput): AuditRow => ({
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
  });

  return {
    rowOf,
    async append(conn: Conn, event: AuditEventInput): Promise<void> {
      await conn.insertInto("audit_events").values(rowOf(event)).execute();
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
