import type { AuditLog } from "../audit/log.js";
import type { CallContext } from "../auth/actor.js";
import type { Conn, Db } from "../db/database.js";
import { CairnError } from "../errors.js";
import { newId } from "../ids.js";
import { type ApprovalRepository, policyOf } from "./repository.js";
import type { Policy, PolicyBody } from "./schemas.js";
import type { ApprovalPolicy, SubjectKind } from "./types.js";

export const DEFAULT_APPROVAL_TTL_SECONDS = 86_400;

/** Approval policies: CRUD, each change with its audit event in one transaction. */
export function createApprovalPolicyService(deps: { db: Db; repo: ApprovalRepository; audit: AuditLog }) {
  const { repo } = deps;
  const notFound = (ref: string) => new CairnError("not_found", `approval policy "${ref.slice(0, 128)}" does not exist`);

  async function check(trx: Conn, tenantId: string, body: PolicyBody) {
    if (body.approverGroup && !(await repo.findGroup(trx, tenantId, body.approverGroup))) {
      throw new CairnError(
        "validation_failed",
        `approver group "${body.approverGroup}" does not exist; create it with POST /api/v1/groups`,
        {
          errors: [{ path: "/approverGroup", message: "unknown group" }],
        },
      );
    }
    if (
      body.autoApproveBelowSeconds !== undefined &&
      body.maxDurationSeconds !== undefined &&
      body.autoApproveBelowSeconds > body.maxDurationSeconds
    ) {
      throw new CairnError("validation_failed", "autoApproveBelowSeconds cannot be over maxDurationSeconds", {
        errors: [{ path: "/autoApproveBelowSeconds", message: "over maxDurationSeconds" }],
      });
    }
  }

  const toPolicy = (body: PolicyBody): Omit<ApprovalPolicy, "id"> => ({
    name: body.name,
    kind: body.kind,
    match: body.match ?? {},
    autoApproveBelowSeconds: body.autoApproveBelowSeconds,
    maxDurationSeconds: body.maxDurationSeconds,
    requiredApprovals: body.requiredApprovals,
    approverGroup: body.approverGroup,
    approvalTtlSeconds: body.approvalTtlSeconds ?? DEFAULT_APPROVAL_TTL_SECONDS,
  });

  const event = (ctx: CallContext, type: string, action: string, p: { id: string; name: string }, metadata: Record<string, unknown>) => ({
    tenantId: ctx.actor.tenantId,
    eventType: `approval_policy.${type}`,
    action,
    result: "success" as const,
    ctx,
    resource: { type: "approval_policy", id: p.id },
    metadata: { name: p.name, ...metadata },
  });

  return {
    async list(ctx: CallContext, kind?: SubjectKind): Promise<Policy[]> {
      return (await repo.listPolicies(deps.db, ctx.actor.tenantId, kind)).map(policyOf);
    },

    async get(ctx: CallContext, ref: string): Promise<Policy> {
      const row = await repo.getPolicy(deps.db, ctx.actor.tenantId, ref);
      if (!row) throw notFound(ref);
      return policyOf(row);
    },

    async create(ctx: CallContext, body: PolicyBody): Promise<Policy> {
      const tenantId = ctx.actor.tenantId;
      return deps.db.transaction().execute(async (trx) => {
        await check(trx, tenantId, body);
        const row = await repo.insertPolicy(trx, tenantId, newId("approvalPolicy"), toPolicy(body), ctx.actor.id);
        if (!row)
          throw new CairnError(
            "conflict",
            `approval policy "${body.name}" already exists; PUT /api/v1/approval-policies/${body.name} changes it`,
          );
        const policy = policyOf(row);
        await deps.audit.append(
          trx,
          event(ctx, "created", "create", policy, { policy: { ...policy, createdAt: undefined, updatedAt: undefined } }),
        );
        return policy;
      });
    },

    async update(ctx: CallContext, ref: string, body: PolicyBody): Promise<Policy> {
      const tenantId = ctx.actor.tenantId;
      return deps.db.transaction().execute(async (trx) => {
        const existing = await repo.getPolicy(trx, tenantId, ref);
        if (!existing) throw notFound(ref);
        await check(trx, tenantId, body);
        if (body.name !== existing.name && (await repo.getPolicy(trx, tenantId, body.name))) {
          throw new CairnError("conflict", `approval policy "${body.name}" already exists`);
        }
        const row = await repo.updatePolicy(trx, tenantId, existing.id, toPolicy(body));
        if (!row) throw notFound(ref);
        const policy = policyOf(row);
        await deps.audit.append(
          trx,
          event(ctx, "updated", "update", policy, { policy: { ...policy, createdAt: undefined, updatedAt: undefined } }),
        );
        return policy;
      });
    },

    async remove(ctx: CallContext, ref: string): Promise<void> {
      const tenantId = ctx.actor.tenantId;
      await deps.db.transaction().execute(async (trx) => {
        const existing = await repo.getPolicy(trx, tenantId, ref);
        if (!existing || !(await repo.deletePolicy(trx, tenantId, existing.id))) throw notFound(ref);
        await deps.audit.append(trx, event(ctx, "deleted", "delete", existing, {}));
      });
    },
  };
}

export type ApprovalPolicyService = ReturnType<typeof createApprovalPolicyService>;
