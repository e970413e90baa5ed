import type { AuditLog } from "../audit/log.js";
import type { Conn, Db } from "../db/database.js";
import { CairnError } from "../errors.js";
import type { Log } from "../events/redis.js";

/** Where a blob that failed its integrity check lives: enough to find the row, nothing of the value. */
export interface IntegrityWhere {
  kind: string;
  tenantId?: string;
  namespaceId?: string;
  /** Filled in by `reportIntegrityFailure` from `namespaceId`. */
  namespace?: string;
  key?: string;
  environment?: string;
  version?: number;
  dataKeyId?: string;
  /** `value`, `data key` (its wrapped form did not unwrap), `data key (missing)`. */
  part?: string;
}

/**
 * The 500 a caller gets: one fixed text (5xx details go to the log and the audit event), plus `where` —
 * which value failed — never the bytes.
 */
export function integrityError(where: IntegrityWhere, cause: unknown): CairnError {
  return new CairnError(
    "integrity_failure",
    "a stored value failed its integrity check (its ciphertext or data key was altered, or copied from another row); " +
      "nothing was returned, and the failure is in the audit log (integrity.failure). Restore the row from a backup, or write the value again.",
    {
      cause,
      extensions: {
        where: {
          ...(where.namespace ? { namespace: where.namespace } : {}),
          ...(where.key ? { key: where.key } : {}),
          ...(where.environment ? { environment: where.environment } : {}),
          ...(where.version !== undefined ? { version: where.version } : {}),
          part: where.part ?? "value",
        },
      },
    },
  );
}

/**
 * Records an `integrity.failure` audit event (where, which data key — never a value). Inside a transaction
 * the event is written after it (the transaction is about to fail, and would take the event with it).
 */
export async function reportIntegrityFailure(
  deps: { db: Db; audit: AuditLog; log?: Log },
  conn: Conn,
  where: IntegrityWhere,
): Promise<void> {
  if (where.namespaceId && !where.namespace) {
    const ns = await conn
      .selectFrom("namespaces")
      .select("path")
      .where("id", "=", where.namespaceId)
      .executeTakeFirst()
      .catch(() => undefined);
    where.namespace = ns?.path;
  }
  const resourceId = where.kind === "config" ? `${where.namespace ?? where.namespaceId}/${where.key}` : (where.dataKeyId ?? where.kind);
  const write = () =>
    deps.audit
      .append(deps.db, {
        tenantId: where.tenantId ?? null,
        eventType: "integrity.failure",
        action: "decrypt",
        result: "failure",
        ctx: { actor: { id: "system", type: "system", tenantId: where.tenantId ?? "", name: "system", roles: [] }, requestId: "system" },
        resource: { type: where.kind, id: resourceId, ...(where.namespace ? { namespace: where.namespace } : {}) },
        metadata: {
          part: where.part ?? "value",
          ...(where.environment ? { environment: where.environment } : {}),
          ...(where.version !== undefined ? { version: where.version } : {}),
          ...(where.dataKeyId ? { dataKeyId: where.dataKeyId } : {}),
        },
      })
      .catch((e: unknown) => deps.log?.warn({ error: (e as Error).message }, "recording an integrity failure in the audit log failed"));
  if (conn.isTransaction) setImmediate(write);
  else await write();
  deps.log?.warn({ where: { ...where } }, "integrity failure: a stored ciphertext did not authenticate");
}
