import type { CallContext } from "../auth/actor.js";
import type { Conn } from "../db/database.js";

/**
 * One approval engine guards two kinds of change: access requests (temporary cloud/database access) and
 * config changes to protected environments (propose → approve → apply). Policies say, per provider /
 * role / environment / namespace, whether a subject is auto-approved, how many approvals it needs and
 * from which group, and how long an approval stays valid.
 */
export type SubjectKind = "access_request" | "config_change";

export interface ApprovalSubject {
  kind: SubjectKind;
  /** The access request's correlation id or the change request's id. */
  id: string;
  tenantId: string;
  /** Actor id of who asked; that actor can never approve it. */
  requestedBy: string;
  provider?: string;
  role?: string;
  environment?: string;
  namespace?: string;
  durationSeconds?: number;
}

export interface ApprovalPolicy {
  id: string;
  name: string;
  kind: SubjectKind;
  /** Every present field must equal the subject's (`*` suffix = prefix match); absent fields match anything. */
  match: { provider?: string; role?: string; environment?: string; namespace?: string };
  /** Auto-approve when the requested duration is at most this many seconds. */
  autoApproveBelowSeconds?: number;
  /** Refuse (400) a request asking for longer than this. */
  maxDurationSeconds?: number;
  requiredApprovals: number;
  /** Group whose members may approve; absent → anyone holding `requests:<ns>:approve` (or `configs:<ns>:approve`). */
  approverGroup?: string;
  /** A subject not fully approved within this many seconds of being asked expires. */
  approvalTtlSeconds: number;
}

export type Verdict =
  | { outcome: "auto_approved"; policy?: ApprovalPolicy }
  | { outcome: "needs_approval"; policy: ApprovalPolicy; required: number; expiresAt: Date }
  | { outcome: "refused"; reason: string; policy: ApprovalPolicy };

export interface ApprovalState {
  state: "approved" | "denied" | "pending";
  approvals: number;
  required: number;
  decisions: { approver: string; decision: "approve" | "deny"; comment?: string; at: string }[];
  /** When a pending subject stops being approvable (absent when no approval was ever needed). */
  expiresAt?: string;
  /** Pending past `expiresAt`: no decision is accepted any more. */
  expired?: boolean;
}

export interface ApprovalEngine {
  /** Which policy applies and what it says; no policy matching → auto-approved. */
  evaluate(conn: Conn, subject: ApprovalSubject): Promise<Verdict>;
  /**
   * Records one approver's decision in the caller's transaction. Throws CairnError `forbidden` for the
   * requester approving their own subject or an approver outside the policy's group, `conflict` for a
   * second decision by the same approver or a subject no longer pending.
   */
  decide(conn: Conn, ctx: CallContext, subject: ApprovalSubject, decision: "approve" | "deny", comment?: string): Promise<ApprovalState>;
  state(conn: Conn, subject: ApprovalSubject): Promise<ApprovalState>;
}
