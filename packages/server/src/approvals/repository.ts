import { type Selectable, sql } from "kysely";
import type { Conn } from "../db/database.js";
import type { ApprovalPoliciesTable } from "../db/types.js";
import type { ApprovalPolicy, SubjectKind } from "./types.js";

export type PolicyRow = Selectable<ApprovalPoliciesTable>;

export const policyOf = (r: PolicyRow): ApprovalPolicy & { createdAt: string; updatedAt: string } => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  match: r.match ?? {},
  ...(r.auto_approve_below_seconds !== null ? { autoApproveBelowSeconds: r.auto_approve_below_seconds } : {}),
  ...(r.max_duration_seconds !== null ? { maxDurationSeconds: r.max_duration_seconds } : {}),
  requiredApprovals: r.required_approvals,
  ...(r.approver_group !== null ? { approverGroup: r.approver_group } : {}),
  approvalTtlSeconds: r.approval_ttl_seconds,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

const policyColumns = (p: Omit<ApprovalPolicy, "id">) => ({
  name: p.name,
  kind: p.kind,
  match: JSON.stringify(p.match ?? {}),
  auto_approve_below_seconds: p.autoApproveBelowSeconds ?? null,
  max_duration_seconds: p.maxDurationSeconds ?? null,
  required_approvals: p.requiredApprovals,
  approver_group: p.approverGroup ?? null,
  approval_ttl_seconds: p.approvalTtlSeconds,
});

export interface SubjectKey {
  tenantId: string;
  kind: SubjectKind;
  id: string;
}

/** Approval policies, pending approvals and decisions: Kysely only, every query scoped by tenant. */
export function createApprovalRepository() {
  return {
    listPolicies(conn: Conn, tenantId: string, kind?: SubjectKind) {
      let q = conn.selectFrom("approval_policies").selectAll().where("tenant_id", "=", tenantId);
      if (kind) q = q.where("kind", "=", kind);
      return q.orderBy("id").execute();
    },

    /** By id or by name. */
    getPolicy(conn: Conn, tenantId: string, ref: string) {
      return conn
        .selectFrom("approval_policies")
        .selectAll()
        .where("tenant_id", "=", tenantId)
        .where((eb) => eb.or([eb("id", "=", ref), eb("name", "=", ref)]))
        .executeTakeFirst();
    },

    insertPolicy(conn: Conn, tenantId: string, id: string, p: Omit<ApprovalPolicy, "id">, createdBy: string) {
      return conn
        .insertInto("approval_policies")
        .values({ id, tenant_id: tenantId, created_by: createdBy, ...policyColumns(p) })
        .onConflict((oc) => oc.columns(["tenant_id", "name"]).doNothing())
        .returningAll()
        .executeTakeFirst();
    },

    updatePolicy(conn: Conn, tenantId: string, id: string, p: Omit<ApprovalPolicy, "id">) {
      return conn
        .updateTable("approval_policies")
        .set({ ...policyColumns(p), updated_at: sql`now()` })
        .where("tenant_id", "=", tenantId)
        .where("id", "=", id)
        .returningAll()
        .executeTakeFirst();
    },

    async deletePolicy(conn: Conn, tenantId: string, id: string): Promise<boolean> {
      const r = await conn.deleteFrom("approval_policies").where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirst();
      return r.numDeletedRows > 0n;
    },

    getSubject(conn: Conn, s: SubjectKey, lock = false) {
      let q = conn
        .selectFrom("approval_subjects")
        .selectAll()
        .where("tenant_id", "=", s.tenantId)
        .where("kind", "=", s.kind)
        .where("subject_id", "=", s.id);
      if (lock) q = q.forUpdate();
      return q.executeTakeFirst();
    },

    insertSubject(
      conn: Conn,
      s: SubjectKey & { requestedBy: string; policy: ApprovalPolicy; required: number; expiresAt: Date },
    ): Promise<{ subject_id: string } | undefined> {
      return conn
        .insertInto("approval_subjects")
        .values({
          tenant_id: s.tenantId,
          kind: s.kind,
          subject_id: s.id,
          requested_by: s.requestedBy,
          policy_id: s.policy.id,
          policy: JSON.stringify(s.policy),
          required: s.required,
          expires_at: s.expiresAt,
        })
        .onConflict((oc) => oc.columns(["tenant_id", "kind", "subject_id"]).doNothing())
        .returning("subject_id")
        .executeTakeFirst();
    },

    async setSubjectState(conn: Conn, s: SubjectKey, state: "approved" | "denied", at: Date) {
      await conn
        .updateTable("approval_subjects")
        .set({ state, decided_at: at })
        .where("tenant_id", "=", s.tenantId)
        .where("kind", "=", s.kind)
        .where("subject_id", "=", s.id)
        .execute();
    },

    decisions(conn: Conn, s: SubjectKey) {
      return conn
        .selectFrom("approval_decisions")
        .selectAll()
        .where("tenant_id", "=", s.tenantId)
        .where("kind", "=", s.kind)
        .where("subject_id", "=", s.id)
        .orderBy("at")
        .orderBy("approver")
        .execute();
    },

    /** Undefined when this approver already decided (one decision per approver). */
    insertDecision(conn: Conn, s: SubjectKey, d: { approver: string; decision: "approve" | "deny"; comment?: string; at: Date }) {
      return conn
        .insertInto("approval_decisions")
        .values({
          tenant_id: s.tenantId,
          kind: s.kind,
          subject_id: s.id,
          approver: d.approver,
          decision: d.decision,
          comment: d.comment ?? null,
          at: d.at,
        })
        .onConflict((oc) => oc.columns(["tenant_id", "kind", "subject_id", "approver"]).doNothing())
        .returning("approver")
        .executeTakeFirst();
    },

    findGroup(conn: Conn, tenantId: string, ref: string) {
      return conn
        .selectFrom("groups")
        .select(["id", "name"])
        .where("tenant_id", "=", tenantId)
        .where((eb) => eb.or([eb("id", "=", ref), eb("name", "=", ref)]))
        .executeTakeFirst();
    },

    /** Is this user a member of the group (named by id or name)? Groups hold users only. */
    async isMember(conn: Conn, tenantId: string, group: string, userId: string): Promise<boolean> {
      const row = await conn
        .selectFrom("group_members as m")
        .innerJoin("groups as g", "g.id", "m.group_id")
        .select("m.user_id")
        .where("g.tenant_id", "=", tenantId)
        .where((eb) => eb.or([eb("g.id", "=", group), eb("g.name", "=", group)]))
        .where("m.user_id", "=", userId)
        .executeTakeFirst();
      return row !== undefined;
    },
  };
}

export type ApprovalRepository = ReturnType<typeof createApprovalRepository>;
