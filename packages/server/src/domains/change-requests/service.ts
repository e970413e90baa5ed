import { randomBytes } from "node:crypto";
import type { ApprovalEngineImpl } from "../../approvals/engine.js";
import type { ApprovalState, ApprovalSubject } from "../../approvals/types.js";
import type { AuditLog } from "../../audit/log.js";
import type { Actor, CallContext } from "../../auth/actor.js";
import type { Authorizer } from "../../authz/types.js";
import { associatedData, open, seal } from "../../crypto/envelope.js";
import type { KekProvider } from "../../crypto/kek.js";
import type { Conn, Db } from "../../db/database.js";
import { CairnError } from "../../errors.js";
import { newId } from "../../ids.js";
import type { ConfigRepository } from "../configs/repository.js";
import type { ConfigService } from "../configs/service.js";
import { diffOf, MASK } from "../configs/values.js";
import { checkKey } from "../names.js";
import type { NamespaceService } from "../namespaces/service.js";
import type { ChangeRequestRepository, ChangeRequestRow } from "./repository.js";
import type { ChangeRequest, ChangeRequestStatus, ProposedChange } from "./schemas.js";

/** One write as proposed, values included (they only ever leave memory sealed). */
export interface ProposalChange {
  op: "set" | "create" | "delete" | "restore";
  namespace: string;
  key: string;
  environment: string;
  value?: unknown;
  secret?: boolean;
  tags?: Record<string, string>;
  reason?: string;
  restoreVersion?: number;
}

interface SealedPayload {
  changes: ProposalChange[];
  diffs: unknown[][];
}

type Target = Omit<ProposedChange, "diff">;

const API = "/api/v1/change-requests";

/**
 * Change requests: a write to an environment with `requireApproval` is proposed instead of applied
 * (propose → approve → apply, seed 001 §4.3). The proposal's values and diffs are sealed with a fresh data
 * key wrapped by the KEK; the approval engine decides who may approve and how many must; applying is a
 * normal config write, as the proposer, that only lands if the key is still at the version proposed on.
 */
export function createChangeRequestService(deps: {
  db: Db;
  repo: ChangeRequestRepository;
  configs: Pick<ConfigService, "put" | "remove" | "rollback" | "bulk" | "read" | "validate">;
  configRepo: Pick<ConfigRepository, "heads">;
  namespaces: Pick<NamespaceService, "find">;
  engine: ApprovalEngineImpl;
  audit: AuditLog;
  authz: Pick<Authorizer, "check" | "require">;
  kek: KekProvider;
  clock?: () => Date;
}) {
  const { repo, engine } = deps;
  const clock = deps.clock ?? (() => new Date());
  const kekContext = (tenantId: string, id: string) => `change-request/${tenantId}/${id}`;
  const aad = (tenantId: string, id: string) => associatedData("change-request", tenantId, id);

  async function sealPayload(tenantId: string, id: string, payload: SealedPayload) {
    const dataKey = randomBytes(32);
    try {
      const sealed = seal(dataKey, Buffer.from(JSON.stringify(payload), "utf8"), aad(tenantId, id));
      return { kek_provider: deps.kek.id, wrapped_key: await deps.kek.wrap(dataKey, kekContext(tenantId, id)), payload_sealed: sealed };
    } finally {
      dataKey.fill(0);
    }
  }

  async function openPayload(row: ChangeRequestRow): Promise<SealedPayload> {
    const dataKey = await deps.kek.unwrap(row.wrapped_key, kekContext(row.tenant_id, row.id));
    try {
      return JSON.parse(open(dataKey, row.payload_sealed, aad(row.tenant_id, row.id)).toString("utf8")) as SealedPayload;
    } finally {
      dataKey.fill(0);
    }
  }

  const subjectOf = (row: ChangeRequestRow, namespace?: string): ApprovalSubject => ({
    kind: "config_change",
    id: row.id,
    tenantId: row.tenant_id,
    requestedBy: row.proposed_by,
    environment: row.environments[0],
    namespace: namespace ?? row.namespaces[0],
  });

  const statusOf = (row: ChangeRequestRow): ChangeRequestStatus =>
    row.status === "pending" && new Date(row.expires_at) <= clock() ? "expired" : row.status;

  const pointerEscape = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");

  async function view(row: ChangeRequestRow, conn: Conn = deps.db): Promise<ChangeRequest> {
    const payload = await openPayload(row);
    const targets = row.targets as Target[];
    const changes = targets.map((t, i) => ({ ...t, diff: (payload.diffs[i] ?? []) as ProposedChange["diff"] }));
    const diff =
      changes.length === 1
        ? (changes[0]?.diff ?? [])
        : changes.flatMap((c) =>
            c.diff.map((d) => ({ ...d, path: `/${pointerEscape(`${c.namespace}/${c.key}@${c.environment}`)}${d.path}` })),
          );
    const approval = await engine.state(conn, subjectOf(row));
    const self = `${API}/${row.id}`;
    return {
      id: row.id,
      status: statusOf(row),
      environments: row.environments,
      namespaces: row.namespaces,
      proposedBy: row.proposed_by,
      reason: row.reason,
      diff,
      changes,
      approval,
      createdAt: new Date(row.created_at).toISOString(),
      expiresAt: new Date(row.expires_at).toISOString(),
      ...(row.applied_at ? { appliedAt: new Date(row.applied_at).toISOString() } : {}),
      ...(row.applied_by ? { appliedBy: row.applied_by } : {}),
      ...(row.result ? { result: row.result } : {}),
      links: { self, approve: `${self}/approve`, reject: `${self}/reject`, apply: `${self}/apply` },
    };
  }

  async function find(ctx: CallContext, id: string): Promise<ChangeRequestRow> {
    const row = await repo.get(deps.db, ctx.actor.tenantId, id);
    if (!row || !(await mayRead(ctx, row))) throw new CairnError("not_found", `change request "${id.slice(0, 64)}" does not exist`);
    return row;
  }

  /** Seeing a change request needs `configs:<ns>:read` on every namespace it touches. */
  async function mayRead(ctx: CallContext, row: ChangeRequestRow): Promise<boolean> {
    for (const namespace of row.namespaces) {
      if (!(await deps.authz.check(ctx, { resource: "configs", namespace, action: "read", environment: row.environments[0] })).allowed)
        return false;
    }
    return true;
  }

  /** What the key is now in that environment: its head (live or a tombstone) and its value, masked if secret. */
  async function current(ctx: CallContext, c: ProposalChange) {
    const ns = await deps.namespaces.find(ctx.actor.tenantId, c.namespace);
    const head = ns ? (await deps.configRepo.heads(ctx.actor.tenantId, ns.id, c.key, [c.environment]))[0] : undefined;
    const live = head !== undefined && !head.deleted;
    const value = live
      ? (
          await deps.configs.read(
            ctx,
            { namespace: c.namespace, key: c.key, environment: c.environment },
            { version: head.version },
            JSON.stringify,
          )
        ).entry.value
      : undefined;
    return { head, live, value };
  }

  async function prepare(ctx: CallContext, c: ProposalChange, ifMatch?: number | "*") {
    checkKey(c.key);
    const where = `${c.namespace}/${c.key} in ${c.environment}`;
    const { head, live, value: before } = await current(ctx, c);
    if (ifMatch !== undefined && !(ifMatch === "*" ? live : head?.version === ifMatch)) {
      throw new CairnError(
        "precondition_failed",
        `${where} is at version ${head?.version ?? "none"}, not ${ifMatch}: read it again and retry`,
        {
          extensions: { currentVersion: head?.version ?? null },
        },
      );
    }
    if (c.op === "create" && live)
      throw new CairnError("conflict", `${where} already exists (version ${head?.version}); use PUT to update it`);
    if ((c.op === "delete" || c.op === "restore") && !head) throw new CairnError("not_found", `${where} does not exist`);
    if (c.op === "delete" && !live) throw new CairnError("not_found", `${where} does not exist`);
    let after: unknown;
    let secret = c.secret ?? head?.secret ?? false;
    if (c.op === "restore") {
      const old = await deps.configs.read(
        ctx,
        { namespace: c.namespace, key: c.key, environment: c.environment },
        { version: c.restoreVersion },
        JSON.stringify,
      );
      after = old.entry.value;
      secret = old.entry.secret;
    } else if (c.op !== "delete") {
      after = c.value;
      const check = await deps.configs.validate(ctx, c.namespace, { [c.key]: c.value }, c.environment);
      const errors = check.results[c.key]?.errors ?? [];
      if (errors.length > 0)
        throw new CairnError("validation_failed", `the value of ${c.namespace}/${c.key} violates its schema`, { errors });
    }
    const masked = secret || Boolean(head?.secret);
    if (masked) {
      const allowed = await deps.authz.check(ctx, {
        resource: "secrets",
        namespace: c.namespace,
        action: "write",
        environment: c.environment,
      });
      if (!allowed.allowed)
        throw new CairnError(
          "forbidden",
          `${c.namespace}/${c.key} is a secret: changing it needs the secrets:${c.namespace}:write permission`,
        );
    }
    const diff =
      c.op === "delete"
        ? [{ op: "remove", path: "" }]
        : masked
          ? [{ op: live ? "replace" : "add", path: "", value: MASK }]
          : (diffOf(live ? "update" : "create", before, after) as unknown[]);
    const target: Target = {
      op: c.op,
      namespace: c.namespace,
      key: c.key,
      environment: c.environment,
      baseVersion: head?.version ?? null,
      secret: masked,
      ...(c.op === "restore" ? { restoreVersion: c.restoreVersion } : {}),
    };
    return { target, diff };
  }

  const conflictOnMove = (e: unknown, c: Target): unknown => {
    if (e instanceof CairnError && (e.code === "precondition_failed" || e.code === "conflict")) {
      const now = e.extensions?.currentVersion;
      return new CairnError(
        "conflict",
        `${c.namespace}/${c.key} in ${c.environment} changed since this change request was proposed on version ${c.baseVersion ?? "none"}` +
          `${now !== undefined ? ` (now ${now ?? "none"})` : ""}; propose the change again`,
        { extensions: { baseVersion: c.baseVersion, currentVersion: now ?? null } },
      );
    }
    return e;
  };

  return {
    /** Opens a change request for writes to a protected environment; nothing in the configs changes. */
    async propose(ctx: CallContext, input: { changes: ProposalChange[]; reason?: string; ifMatch?: number | "*" }): Promise<ChangeRequest> {
      const tenantId = ctx.actor.tenantId;
      const prepared = [];
      for (const c of input.changes) prepared.push(await prepare(ctx, c, input.changes.length === 1 ? input.ifMatch : undefined));
      const id = newId("changeRequest");
      const sealed = await sealPayload(tenantId, id, { changes: input.changes, diffs: prepared.map((p) => p.diff) });
      const targets = prepared.map((p) => p.target);
      const environments = [...new Set(targets.map((t) => t.environment))];
      const namespaces = [...new Set(targets.map((t) => t.namespace))];
      const reason = input.reason ?? input.changes.find((c) => c.reason)?.reason ?? null;
      const { actor } = ctx;
      const proposer: Actor = {
        id: actor.id,
        type: actor.type,
        tenantId,
        name: actor.name,
        roles: actor.roles,
        ...(actor.permissions ? { permissions: actor.permissions } : {}),
        ...(actor.instanceAdmin ? { instanceAdmin: true } : {}),
      };
      const row = await deps.db.transaction().execute(async (trx) => {
        const verdict = await engine.evaluate(trx, {
          kind: "config_change",
          id,
          tenantId,
          requestedBy: actor.id,
          environment: environments[0],
          namespace: namespaces[0],
        });
        if (verdict.outcome === "refused") throw new CairnError("bad_request", verdict.reason);
        const expiresAt = verdict.outcome === "needs_approval" ? verdict.expiresAt : new Date(clock().getTime() + 7 * 24 * 3600 * 1000);
        await repo.insert(trx, {
          id,
          tenant_id: tenantId,
          status: verdict.outcome === "auto_approved" ? "approved" : "pending",
          targets,
          environments,
          namespaces,
          proposed_by: actor.id,
          proposer: proposer as unknown as Record<string, unknown>,
          reason,
          expires_at: expiresAt,
          ...sealed,
        });
        await deps.audit.append(trx, {
          tenantId,
          eventType: "change_request.created",
          action: "create",
          result: "success",
          ctx,
          resource: { type: "change_request", id, namespace: namespaces[0] },
          metadata: { environment: environments[0], environments, namespaces, targets, ...(reason ? { reason } : {}) },
        });
        return (await repo.get(trx, tenantId, id)) as ChangeRequestRow;
      });
      deps.audit.appended();
      return view(row);
    },

    async list(ctx: CallContext, options: { status?: ChangeRequestStatus; limit?: number } = {}): Promise<ChangeRequest[]> {
      const rows = await repo.list(deps.db, ctx.actor.tenantId, { status: options.status, now: clock(), limit: options.limit ?? 100 });
      const out: ChangeRequest[] = [];
      for (const row of rows) if (await mayRead(ctx, row)) out.push(await view(row));
      return out;
    },

    async get(ctx: CallContext, id: string): Promise<ChangeRequest> {
      return view(await find(ctx, id));
    },

    async decide(ctx: CallContext, id: string, decision: "approve" | "deny", comment?: string): Promise<ChangeRequest> {
      const tenantId = ctx.actor.tenantId;
      const found = await find(ctx, id);
      const status = statusOf(found);
      if (status !== "pending")
        throw new CairnError("conflict", `change request ${id} is ${status}; only a pending one can be approved or rejected`);
      for (const namespace of found.namespaces) await engine.checkApprover(ctx, subjectOf(found, namespace));
      try {
        const row = await deps.db.transaction().execute(async (trx) => {
          const row = await repo.get(trx, tenantId, id, true);
          if (row?.status !== "pending") throw new CairnError("conflict", `change request ${id} is ${row?.status}; nothing to decide`);
          const state: ApprovalState = await engine.decide(trx, ctx, subjectOf(row), decision, comment);
          if (state.state !== "pending") {
            const to = state.state === "approved" ? "approved" : "rejected";
            await repo.transition(trx, tenantId, id, "pending", to);
            await deps.audit.append(trx, {
              tenantId,
              eventType: `change_request.${to}`,
              action: decision,
              result: "success",
              ctx,
              resource: { type: "change_request", id, namespace: row.namespaces[0] },
              metadata: {
                environment: row.environments[0],
                approvals: state.approvals,
                required: state.required,
                proposedBy: row.proposed_by,
              },
            });
          }
          return (await repo.get(trx, tenantId, id)) as ChangeRequestRow;
        });
        deps.audit.appended();
        return view(row);
      } catch (e) {
        if (e instanceof CairnError && e.extensions?.expired) await repo.transition(deps.db, tenantId, id, "pending", "expired");
        throw e;
      }
    },

    /** Applies an approved change request as its proposer; 409 when a key moved since it was proposed. */
    async apply(ctx: CallContext, id: string): Promise<ChangeRequest> {
      const tenantId = ctx.actor.tenantId;
      const row = await find(ctx, id);
      for (const namespace of row.namespaces) {
        for (const environment of row.environments) {
          await deps.authz.require(ctx, { resource: "configs", namespace, action: "write", environment });
        }
      }
      const status = statusOf(row);
      if (status !== "approved") {
        const approval = await engine.state(deps.db, subjectOf(row));
        const detail = status === "pending" ? ` (${approval.approvals} of ${approval.required} approvals so far)` : "";
        throw new CairnError("conflict", `change request ${id} is ${status}${detail}; only an approved change request can be applied`, {
          extensions: { status },
        });
      }
      const payload = await openPayload(row);
      const targets = row.targets as Target[];
      const approval = await engine.state(deps.db, subjectOf(row));
      const approvers = approval.decisions.filter((d) => d.decision === "approve").map((d) => d.approver);
      const note = `change request ${id}, approved by ${approvers.join(", ") || "policy"}`;
      const pctx: CallContext = { ...ctx, actor: row.proposer as unknown as Actor };
      const reasonOf = (c: ProposalChange) => `${c.reason ?? row.reason ?? c.op} (${note})`.slice(0, 1024);
      const results: { namespace: string; key: string; environment: string; version: number }[] = [];
      if (payload.changes.length === 1) {
        const c = payload.changes[0] as ProposalChange;
        const t = targets[0] as Target;
        const address = { namespace: c.namespace, key: c.key, environment: c.environment };
        const ifMatch = t.baseVersion ?? undefined;
        try {
          const entry =
            c.op === "delete"
              ? await deps.configs.remove(pctx, address, { ifMatch, reason: reasonOf(c) })
              : c.op === "restore"
                ? await deps.configs.rollback(pctx, address, c.restoreVersion as number, { ifMatch, reason: reasonOf(c) })
                : await deps.configs.put(
                    pctx,
                    address,
                    { value: c.value, secret: c.secret, tags: c.tags, reason: reasonOf(c) },
                    { ifMatch, createOnly: t.baseVersion === null },
                  );
          results.push({ ...address, version: entry.version });
        } catch (e) {
          throw conflictOnMove(e, t);
        }
      } else {
        // A bulk proposal: every key must still be where it was, then all are written atomically.
        for (const t of targets) {
          const now = await current(ctx, { op: "set", namespace: t.namespace, key: t.key, environment: t.environment });
          if ((now.head?.version ?? null) !== t.baseVersion) {
            throw conflictOnMove(new CairnError("conflict", "moved", { extensions: { currentVersion: now.head?.version ?? null } }), t);
          }
        }
        const operations = payload.changes.map((c) =>
          c.op === "delete"
            ? { op: "delete" as const, namespace: c.namespace, key: c.key, environment: c.environment, reason: reasonOf(c) }
            : {
                op: "set" as const,
                namespace: c.namespace,
                key: c.key,
                environment: c.environment,
                value: c.value,
                secret: c.secret,
                tags: c.tags,
                reason: reasonOf(c),
              },
        );
        const out = await deps.configs.bulk(pctx, { operations });
        for (const r of out.results) results.push({ namespace: r.namespace, key: r.key, environment: r.environment, version: r.version });
      }
      const applied = await deps.db.transaction().execute(async (trx) => {
        await repo.transition(trx, tenantId, id, "approved", "applied", {
          applied_at: clock(),
          applied_by: ctx.actor.id,
          result: JSON.stringify({ versions: results }),
        });
        await deps.audit.append(trx, {
          tenantId,
          eventType: "change_request.applied",
          action: "apply",
          result: "success",
          ctx,
          resource: { type: "change_request", id, namespace: row.namespaces[0] },
          metadata: { environment: row.environments[0], proposedBy: row.proposed_by, approvers, versions: results },
        });
        return (await repo.get(trx, tenantId, id)) as ChangeRequestRow;
      });
      deps.audit.appended();
      return view(applied);
    },
  };
}

export type ChangeRequestService = ReturnType<typeof createChangeRequestService>;
