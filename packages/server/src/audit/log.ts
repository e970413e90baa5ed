import type { Insertable } from "kysely";
import type { CallContext } from "../auth/actor.js";
import type { Conn } from "../db/database.js";
import type { AuditEventsTable } from "../db/types.js";
import { newId } from "../ids.js";
import type { AuditHmac } from "./hmac.js";

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
export function createAuditLog(options: { hmac?: AuditHmac } = {}) {
  let appended: (() => void) | undefined;
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
    /**
     * What an event about a value carries instead of it: `hmac-sha256:<hex>` under the tenant's audit key
     * (cached in memory after the first use; `conn` is only used to load it). Undefined without a key store.
     */
    async valueHmac(conn: Conn, tenantId: string, value: unknown): Promise<string | undefined> {
      return options.hmac?.of(conn, tenantId, value);
    },
    async append(conn: Conn, event: AuditEventInput): Promise<void> {
      await conn.insertInto("audit_events").values(rowOf(event)).execute();
      appended?.();
    },
    /**
     * Something was appended (or, for `rowOf` writers, committed): the sequencer should run soon. Appends
     * inside a longer transaction may commit after the sequencer looked; its poll picks them up.
     */
    appended(): void {
      appended?.();
    },
    /** Who to tell about appends (the sequencer; set once it exists). */
    onAppend(listener: () => void): void {
      appended = listener;
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
