/**
 * Wire shapes of the audit API (packages/server/src/domains/audit/schemas.ts). @cairn/sdk does not export the
 * audit types yet; these mirror only the fields the page reads.
 */
export type AuditResult = "success" | "failure" | "denied";

export interface AuditEvent {
  index: number;
  id: string;
  timestamp: string;
  tenant: string | null;
  eventType: string;
  action: string;
  result: AuditResult;
  actor: { id: string | null; type: string | null };
  resource: { type: string | null; id: string | null; namespace: string | null };
  requestContext: { requestId: string | null; sourceIp: string | null; userAgent: string | null };
  metadata: Record<string, unknown>;
}

export interface AuditEventList {
  items: AuditEvent[];
  nextCursor?: string;
}

export interface AuditCheckpoint {
  treeSize: number;
  rootHash: string;
  note: string;
  createdAt: string;
}

export interface AuditPublicKey {
  origin: string;
  algorithm: "Ed25519";
  keyName: string;
  keyId: string;
  publicKey: string;
  verifierKey: string;
}

/** `POST /api/v1/audit/verify`. */
export interface AuditVerification {
  verified: boolean;
  summary: string;
  start: number;
  events: number;
  treeSize: number;
  signedSize: number;
  checkpoints: number;
  root?: string;
  firstBadIndex?: number;
  checkpoint?: number;
  reason?: string;
  verifierKey: string;
}

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
