import type { AuditLog } from "../audit/log.js";
import type { Actor, CallContext } from "../auth/actor.js";
import type { Authorizer } from "../authz/types.js";
import type { Conn, Db } from "../db/database.js";
import { CairnError } from "../errors.js";
import { type ApprovalRepository, createApprovalRepository, policyOf, type SubjectKey } from "./repository.js";
import type { ApprovalEngine, ApprovalPolicy, ApprovalState, ApprovalSubject, SubjectKind, Verdict } from "./types.js";

/** A protected environment's change with no policy of its own: one approval, within seven days. */
export const DEFAULT_CONFIG_CHANGE_POLICY: ApprovalPolicy = {
  id: "default",
  name: "default (protected environment)",
  kind: "config_change",
  match: {},
  requiredApprovals: 1,
  approvalTtlSeconds: 7 * 24 * 3600,
};

const MATCH_FIELDS = ["provider", "role", "environment", "namespace"] as const;

/**
 * How well a policy's `match` fits a subject: undefined when it does not, else its specificity —
 * 2 per field matched exactly, 1 per field matched by a `*`-suffix prefix. The most specific policy wins;
 * among equally specific ones, the oldest (ids sort by creation time).
 */
export function specificity(policy: Pick<ApprovalPolicy, "kind" | "match">, subject: ApprovalSubject): number | undefined {
  if (policy.kind !== subject.kind) return undefined;
  let score = 0;
  for (const field of MATCH_FIELDS) {
    const want = policy.match[field];
    if (want === undefined || want === "") continue;
    const have = subject[field];
    if (have === undefined) return undefined;
    if (want.endsWith("*")) {
      if (!have.startsWith(want.slice(0, -1))) return undefined;
      score += 1;
    } else {
      if (want !== have) return undefined;
      score += 2;
    }
  }
  return score;
}

export function choosePolicy<P extends ApprovalPolicy>(policies: P[], subject: ApprovalSubject): P | undefined {
  let best: P | undefined;
  let bestScore = -1;
  for (const p of policies) {
    const s = specificity(p, subject);
    if (s !== undefined && (s > bestScore || (s === bestScore && best && p.id < best.id))) {
      best = p;
      bestScore = s;
    }
  }
  return best;
}

const keyOf = (s: ApprovalSubject): SubjectKey => ({ tenantId: s.tenantId, kind: s.kind, id: s.id });
const label = (kind: SubjectKind) => (kind === "access_request" ? "access request" : "change request");

/** The requester as an audit actor, for events written without a call context (intake). */
const requesterCtx = (s: ApprovalSubject): Partial<CallContext> => ({
  actor: {
    id: s.requestedBy,
    type: s.requestedBy.startsWith("usr_") ? "user" : s.requestedBy === "system" ? "system" : "api_key",
    tenantId: s.tenantId,
    name: s.requestedBy,
    roles: [],
  } satisfies Actor,
});

/**
 * The approval engine (src/approvals/types.ts): picks the policy of a subject, records who decided what,
 * and says when a subject is approved (N approvals), denied (any deny) or expired. Every step is an audit
 * event in the caller's transaction; the built-in alert rules `approval-requested` / `approval-decided`
 * turn those events into notifications on the tenant's alert channels.
 */
export function createApprovalEngine(deps: {
  db: Db;
  audit: AuditLog;
  authz: Pick<Authorizer, "check">;
  repo?: ApprovalRepository;
  clock?: () => Date;
  /** Policy for config changes to a protected environment when none matches; default DEFAULT_CONFIG_CHANGE_POLICY. */
  configChangeFallback?: ApprovalPolicy;
}) {
  const repo = deps.repo ?? createApprovalRepository();
  const clock = deps.clock ?? (() => new Date());
  const fallback = deps.configChangeFallback ?? DEFAULT_CONFIG_CHANGE_POLICY;

  type SubjectRow = NonNullable<Awaited<ReturnType<ApprovalRepository["getSubject"]>>>;

  async function stateOf(conn: Conn, row: SubjectRow): Promise<ApprovalState> {
    const decisions = await repo.decisions(conn, { tenantId: row.tenant_id, kind: row.kind as SubjectKind, id: row.subject_id });
    const expiresAt = new Date(row.expires_at);
    return {
      state: row.state,
      approvals: decisions.filter((d) => d.decision === "approve").length,
      required: row.required,
      decisions: decisions.map((d) => ({
        approver: d.approver,
        decision: d.decision,
        ...(d.comment ? { comment: d.comment } : {}),
        at: new Date(d.at).toISOString(),
      })),
      expiresAt: expiresAt.toISOString(),
      ...(row.state === "pending" && expiresAt <= clock() ? { expired: true } : {}),
    };
  }

  /** Refusals that need no transaction: self-approval and group membership (on `conn`). */
  async function refuseApprover(conn: Conn, ctx: CallContext, subject: ApprovalSubject, row: SubjectRow): Promise<void> {
    const what = `${label(subject.kind)} ${subject.id}`;
    if (ctx.actor.id === row.requested_by) {
      throw new CairnError("forbidden", `you asked for ${what}, so you cannot approve or deny it: another approver must decide`, {
        extensions: { reason: "self_approval" },
      });
    }
    const group = (row.policy as { approverGroup?: string }).approverGroup;
    if (group && !(ctx.actor.type === "user" && (await repo.isMember(conn, subject.tenantId, group, ctx.actor.id)))) {
      throw new CairnError(
        "forbidden",
        `only members of group "${group}" may decide ${what} (policy "${(row.policy as { name?: string }).name}")` +
          (ctx.actor.type === "user" ? "" : "; groups hold users, so sign in as one"),
        { extensions: { reason: "not_in_group", group } },
      );
    }
  }

  const engine = {
    async evaluate(conn: Conn, subject: ApprovalSubject): Promise<Verdict> {
      const policies = (await repo.listPolicies(conn, subject.tenantId, subject.kind)).map(policyOf);
      const policy = choosePolicy(policies, subject) ?? (subject.kind === "config_change" ? fallback : undefined);
      const resource = { type: subject.kind, id: subject.id, ...(subject.namespace ? { namespace: subject.namespace } : {}) };
      const facts = {
        kind: subject.kind,
        ...(subject.provider ? { provider: subject.provider } : {}),
        ...(subject.role ? { role: subject.role } : {}),
        ...(subject.environment ? { environment: subject.environment } : {}),
        ...(subject.durationSeconds !== undefined ? { durationSeconds: subject.durationSeconds } : {}),
      };
      if (!policy) return { outcome: "auto_approved" };
      const duration = subject.durationSeconds;
      if (duration !== undefined && policy.maxDurationSeconds !== undefined && duration > policy.maxDurationSeconds) {
        return {
          outcome: "refused",
          policy,
          reason: `durationSeconds ${duration} is over the maximum of ${policy.maxDurationSeconds} set by approval policy "${policy.name}"; ask for less`,
        };
      }
      if (duration !== undefined && policy.autoApproveBelowSeconds !== undefined && duration <= policy.autoApproveBelowSeconds) {
        await deps.audit.append(conn, {
          tenantId: subject.tenantId,
          eventType: "approval.auto_approved",
          action: "approve",
          result: "success",
          ctx: requesterCtx(subject),
          resource,
          metadata: { ...facts, policy: policy.name, autoApproveBelowSeconds: policy.autoApproveBelowSeconds },
        });
        return { outcome: "auto_approved", policy };
      }
      const expiresAt = new Date(clock().getTime() + policy.approvalTtlSeconds * 1000);
      const inserted = await repo.insertSubject(conn, {
        ...keyOf(subject),
        requestedBy: subject.requestedBy,
        policy,
        required: policy.requiredApprovals,
        expiresAt,
      });
      if (!inserted) {
        // Asked before (a retry): the first record stands.
        const row = await repo.getSubject(conn, keyOf(subject));
        if (row)
          return {
            outcome: "needs_approval",
            policy: row.policy as unknown as ApprovalPolicy,
            required: row.required,
            expiresAt: new Date(row.expires_at),
          };
      }
      await deps.audit.append(conn, {
        tenantId: subject.tenantId,
        eventType: "approval.requested",
        action: "create",
        result: "success",
        ctx: requesterCtx(subject),
        resource,
        metadata: {
          ...facts,
          policy: policy.name,
          required: policy.requiredApprovals,
          ...(policy.approverGroup ? { approverGroup: policy.approverGroup } : {}),
          expiresAt: expiresAt.toISOString(),
        },
      });
      return { outcome: "needs_approval", policy, required: policy.requiredApprovals, expiresAt };
    },

    /**
     * Whether `ctx` may decide the subject; call it before opening the transaction `decide` runs in (it
     * may ask the authorizer, which reads the database on its own connection). Throws `forbidden` for the
     * requester, someone outside the policy's group or, without a group, someone lacking the approve
     * permission (`requests:**:approve`, `configs:<ns>:approve`); `conflict` when nothing is pending.
     */
    async checkApprover(ctx: CallContext, subject: ApprovalSubject): Promise<void> {
      const row = await repo.getSubject(deps.db, keyOf(subject));
      if (!row) throw new CairnError("conflict", `${label(subject.kind)} ${subject.id} is not awaiting approval`);
      try {
        await refuseApprover(deps.db, ctx, subject, row);
        if (!(row.policy as { approverGroup?: string }).approverGroup) {
          const request =
            subject.kind === "access_request"
              ? { resource: "requests" as const, action: "approve" as const }
              : {
                  resource: "configs" as const,
                  action: "approve" as const,
                  namespace: subject.namespace,
                  environment: subject.environment,
                };
          const decision = await deps.authz.check(ctx, request);
          if (!decision.allowed) {
            const permission = subject.kind === "access_request" ? "requests:**:approve" : `configs:${subject.namespace ?? "**"}:approve`;
            throw new CairnError("forbidden", `deciding ${label(subject.kind)} ${subject.id} needs the ${permission} permission`, {
              extensions: { reason: "missing_permission", permission },
            });
          }
        }
      } catch (e) {
        if (e instanceof CairnError && e.code === "forbidden") {
          await deps.audit.append(deps.db, {
            tenantId: subject.tenantId,
            eventType: "authz.denied",
            action: "approve",
            result: "denied",
            ctx,
            resource: { type: subject.kind, id: subject.id, ...(subject.namespace ? { namespace: subject.namespace } : {}) },
            metadata: { reason: e.extensions?.reason ?? "forbidden" },
          });
        }
        throw e;
      }
    },

    async decide(conn: Conn, ctx: CallContext, subject: ApprovalSubject, decision: "approve" | "deny", comment?: string) {
      const what = `${label(subject.kind)} ${subject.id}`;
      const row = await repo.getSubject(conn, keyOf(subject), true);
      if (!row) throw new CairnError("conflict", `${what} is not awaiting approval`);
      if (row.state !== "pending") {
        throw new CairnError("conflict", `${what} is already ${row.state}; nothing more to decide`, { extensions: { state: row.state } });
      }
      const now = clock();
      if (new Date(row.expires_at) <= now) {
        throw new CairnError("conflict", `the approval window of ${what} closed at ${new Date(row.expires_at).toISOString()}; ask again`, {
          extensions: { expired: true, state: "expired" },
        });
      }
      await refuseApprover(conn, ctx, subject, row);
      const inserted = await repo.insertDecision(conn, keyOf(subject), { approver: ctx.actor.id, decision, comment, at: now });
      if (!inserted) throw new CairnError("conflict", `you already decided ${what}; one decision per approver`);
      const state = await stateOf(conn, row);
      const denied = state.decisions.some((d) => d.decision === "deny");
      const final = denied ? "denied" : state.approvals >= row.required ? "approved" : "pending";
      if (final !== "pending") await repo.setSubjectState(conn, keyOf(subject), final, now);
      await deps.audit.append(conn, {
        tenantId: subject.tenantId,
        eventType: "approval.decided",
        action: decision,
        result: "success",
        ctx,
        resource: { type: subject.kind, id: subject.id, ...(subject.namespace ? { namespace: subject.namespace } : {}) },
        metadata: {
          kind: subject.kind,
          decision,
          state: final,
          approvals: state.approvals,
          required: row.required,
          requestedBy: row.requested_by,
          ...(subject.environment ? { environment: subject.environment } : {}),
        },
      });
      return { ...state, state: final } satisfies ApprovalState;
    },

    async state(conn: Conn, subject: ApprovalSubject): Promise<ApprovalState> {
      const row = await repo.getSubject(conn, keyOf(subject));
      if (!row) return { state: "approved", approvals: 0, required: 0, decisions: [] };
      return stateOf(conn, row);
    },
  } satisfies ApprovalEngine & Record<string, unknown>;
  return engine;
}

export type ApprovalEngineImpl = ReturnType<typeof createApprovalEngine>;
