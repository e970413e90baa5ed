import { createHash, randomBytes } from "node:crypto";
import type { RequestRow } from "./repository.js";
import type { Accepted, RequestStatus, RequestView } from "./schemas.js";

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

/** A UUID (version 7): 48-bit millisecond timestamp first, so correlation ids sort by arrival. */
export function newCorrelationId(now = Date.now()): string {
  const b = randomBytes(16);
  b.writeUIntBE(now, 0, 6);
  b[6] = ((b[6] as number) & 0x0f) | 0x70;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const linksOf = (id: string): Accepted["links"] => {
  const self = `/api/v1/requests/${id}`;
  return { self, credentials: `${self}/credentials`, approve: `${self}/approve`, deny: `${self}/deny`, revoke: `${self}/revoke` };
};

/** What a stored request payload holds (the intake body less the provider, which has its own column). */
export interface RequestPayload {
  principal: string;
  role?: string;
  permissions?: string[];
  resource?: string;
  durationSeconds: number;
  justification: string;
}

export function viewOf(row: RequestRow): RequestView {
  const payload = row.request_payload as unknown as RequestPayload;
  return {
    correlationId: row.correlation_id,
    status: row.status as RequestStatus,
    provider: row.cloud_provider as RequestView["provider"],
    principal: row.principal,
    role: row.role,
    permissions: payload.permissions ?? null,
    resource: payload.resource ?? null,
    durationSeconds: row.duration_seconds,
    justification: payload.justification,
    requestedBy: row.requested_by,
    receivedAt: iso(row.received_at) as string,
    updatedAt: iso(row.updated_at) as string,
    completedAt: iso(row.completed_at),
    approvalExpiresAt: iso(row.approval_expires_at),
    expiresAt: iso(row.expires_at),
    revokedAt: iso(row.revoked_at),
    attempts: row.attempts,
    grant: row.grant_ref,
    credentialsAvailable: row.credentials_sealed !== null,
    errorDetails: row.error_details,
    links: linksOf(row.correlation_id),
  };
}

/** Same body → same hash, whatever the order of its keys: what an Idempotency-Key replay is compared by. */
export function bodyHash(body: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === "object"
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
          )
        : v;
  return createHash("sha256")
    .update(JSON.stringify(canonical(body)))
    .digest("hex");
}

export const encodeCursor = (row: RequestRow) =>
  Buffer.from(`${new Date(row.received_at).toISOString()}|${row.correlation_id}`).toString("base64url");

export function decodeCursor(cursor: string): { receivedAt: string; id: string } | undefined {
  const [receivedAt, id, ...rest] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  if (rest.length || !receivedAt || !id || Number.isNaN(Date.parse(receivedAt))) return undefined;
  return { receivedAt, id };
}
