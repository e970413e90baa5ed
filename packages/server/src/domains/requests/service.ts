import type { ApprovalEngine, ApprovalSubject, Verdict } from "../../approvals/types.js";
import type { AuditLog } from "../../audit/log.js";
import { type CallContext, systemContext } from "../../auth/actor.js";
import type { Authorizer } from "../../authz/types.js";
import type { Conn, Db } from "../../db/database.js";
import { CairnError, type FieldError } from "../../errors.js";
import type { JobQueue } from "../../queue/index.js";
import type { RequestCache } from "./cache.js";
import type { CredentialSealer } from "./credentials.js";
import { type ProviderRegistry, providerNames } from "./providers/index.js";
import { POSTGRES_PRINCIPAL, POSTGRES_PRIVILEGES, POSTGRES_RESOURCE } from "./providers/postgres.js";
import type { RequestFilter, RequestRepository, RequestRow } from "./repository.js";
import {
  type Accepted,
  type CreateRequestBody,
  type Credentials,
  type DecisionResult,
  finalStatuses,
  type ListRequestsQuery,
  type RequestCounts,
  type RequestList,
  type RequestStatus,
  type RequestView,
  requestStatuses,
} from "./schemas.js";
import { interpretQuery } from "./search.js";
import { bodyHash, decodeCursor, encodeCursor, linksOf, newCorrelationId, type RequestPayload, viewOf } from "./views.js";

/** The approval engine, and (H5's) the approver check that must run outside any transaction. */
export type Approvals = ApprovalEngine & { checkApprover?(ctx: CallContext, subject: ApprovalSubject): Promise<void> };

export interface RequestServiceDeps {
  db: Db;
  repo: RequestRepository;
  audit: AuditLog;
  authz: Authorizer;
  queue: JobQueue;
  providers: ProviderRegistry;
  cache: RequestCache;
  sealer: CredentialSealer;
  approvals?: Approvals;
  /** Asks the revocation sweeper to run now (an early revoke). */
  kickRevocations?: () => void;
}

/** The job that grants a request: one queue per provider, the job named after the request. */
export const grantJob = (row: Pick<RequestRow, "correlation_id" | "cloud_provider">) => ({
  queue: row.cloud_provider,
  id: row.correlation_id,
  data: { correlationId: row.correlation_id },
});

const resource = { type: "access_request" } as const;
const bad = (message: string, errors: FieldError[]) => new CairnError("bad_request", message, { errors });

/** Checks the schema cannot make: the provider is configured here, and (postgres) names PostgreSQL accepts. */
function providerErrors(body: CreateRequestBody, providers: ProviderRegistry): FieldError[] {
  const errors: FieldError[] = [];
  if (!providers[body.provider]) {
    const on = providerNames.filter((p) => providers[p]);
    errors.push({
      path: "/provider",
      message: `the ${body.provider} provider is not configured on this server (configured: ${on.join(", ") || "none"})`,
    });
  }
  if (body.provider === "postgres") {
    if (!POSTGRES_PRINCIPAL.test(body.principal))
      errors.push({ path: "/principal", message: "a PostgreSQL login prefix: 1–24 of a–z, 0–9, _ (not starting with a digit)" });
    if (body.role !== undefined && !/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/.test(body.role))
      errors.push({ path: "/role", message: "a PostgreSQL role name of up to 63 characters" });
    body.permissions?.forEach((p, i) => {
      if (!(POSTGRES_PRIVILEGES as readonly string[]).includes(p.toUpperCase()))
        errors.push({ path: `/permissions/${i}`, message: `"${p}" is not a table privilege (${POSTGRES_PRIVILEGES.join(", ")})` });
    });
    if (body.permissions && !body.resource)
      errors.push({ path: "/resource", message: "permissions need a resource: table, schema.table or schema.*" });
    if (body.resource !== undefined && !POSTGRES_RESOURCE.test(body.resource))
      errors.push({ path: "/resource", message: "a table, schema.table or schema.* (every table of the schema)" });
  }
  return errors;
}

const subjectOf = (row: RequestRow): ApprovalSubject => ({
  kind: "access_request",
  id: row.correlation_id,
  tenantId: row.tenant_id,
  requestedBy: row.requested_by,
  provider: row.cloud_provider,
  role: row.role ?? undefined,
  durationSeconds: row.duration_seconds,
});

/**
 * Access requests, API side: intake (validated, stored and queued in one transaction with its audit event),
 * status reads (cache-aside), lists and plain-words search, approve/deny through the approval engine, early
 * revocation, and the one-time reveal of issued credentials. The worker side is in `processor.ts`.
 */
export function createRequestService(deps: RequestServiceDeps) {
  const notFound = (id: string) => new CairnError("not_found", `access request ${id} does not exist`);

  /** The views with who asked, in words (lists only: a cached status read stays one cache lookup). */
  async function named(tenantId: string, views: RequestView[]): Promise<RequestView[]> {
    if (!views.length) return views;
    const names = await deps.repo.actorNames(deps.db, tenantId, [...new Set(views.map((v) => v.requestedBy))]);
    return views.map((v) => {
      const name = names.get(v.requestedBy);
      return name ? { ...v, requestedByName: name } : v;
    });
  }

  async function changed(row: RequestRow) {
    await deps.cache.changed(row.tenant_id, row.correlation_id, row.version);
  }

  async function mayActForOthers(ctx: CallContext, action: "read" | "list" | "admin"): Promise<boolean> {
    return (await deps.authz.check(ctx, { resource: "requests", action })).allowed;
  }

  async function load(ctx: CallContext, id: string): Promise<RequestRow> {
    const row = await deps.repo.find(deps.db, ctx.actor.tenantId, id);
    if (!row) throw notFound(id);
    return row;
  }

  async function expire(id: string): Promise<void> {
    const row = await deps.db.transaction().execute(async (trx) => {
      const m = await deps.repo.transition(trx, id, ["AWAITING_APPROVAL"], { status: "EXPIRED", completed_at: new Date() });
      if (m) {
        await deps.audit.append(trx, {
          tenantId: m.tenant_id,
          eventType: "request.expired",
          action: "expire",
          result: "success",
          ctx: systemContext(m.tenant_id),
          resource: { ...resource, id },
          metadata: { reason: "approval window passed" },
        });
      }
      return m;
    });
    if (row) await changed(row);
  }

  const accepted = (row: RequestRow): Accepted => ({
    correlationId: row.correlation_id,
    status: row.status as RequestStatus,
    links: linksOf(row.correlation_id),
  });

  return {
    async create(ctx: CallContext, body: CreateRequestBody, idempotencyKey?: string): Promise<{ accepted: Accepted; replayed: boolean }> {
      const errors = providerErrors(body, deps.providers);
      if (errors.length) throw bad(`the access request is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`, errors);
      const tenantId = ctx.actor.tenantId;
      const hash = bodyHash(body);
      const replay = async (): Promise<{ accepted: Accepted; replayed: boolean } | undefined> => {
        if (!idempotencyKey) return undefined;
        const earlier = await deps.repo.findByIdempotencyKey(deps.db, tenantId, ctx.actor.id, idempotencyKey);
        if (!earlier) return undefined;
        if (earlier.idempotency_hash !== hash) {
          throw new CairnError(
            "validation_failed",
            `Idempotency-Key "${idempotencyKey}" was used for a different request (${earlier.correlation_id}); use a new key for a new request`,
            { extensions: { correlationId: earlier.correlation_id } },
          );
        }
        return { accepted: accepted(earlier), replayed: true };
      };
      const earlier = await replay();
      if (earlier) return earlier;

      const id = newCorrelationId();
      const payload: RequestPayload = {
        principal: body.principal,
        ...(body.role !== undefined ? { role: body.role } : {}),
        ...(body.permissions !== undefined ? { permissions: body.permissions } : {}),
        ...(body.resource !== undefined ? { resource: body.resource } : {}),
        durationSeconds: body.durationSeconds,
        justification: body.justification,
      };
      const row = await deps.db.transaction().execute(async (trx) => {
        const subject: ApprovalSubject = {
          kind: "access_request",
          id,
          tenantId,
          requestedBy: ctx.actor.id,
          provider: body.provider,
          role: body.role,
          durationSeconds: body.durationSeconds,
        };
        const verdict: Verdict = deps.approvals ? await deps.approvals.evaluate(trx, subject) : { outcome: "auto_approved" };
        if (verdict.outcome === "refused") {
          throw bad(`the access request is refused by policy "${verdict.policy.name}": ${verdict.reason}`, [
            { path: "/durationSeconds", message: verdict.reason },
          ]);
        }
        const status: RequestStatus = verdict.outcome === "auto_approved" ? "PENDING" : "AWAITING_APPROVAL";
        const inserted = await deps.repo.insert(trx, {
          correlation_id: id,
          tenant_id: tenantId,
          status,
          cloud_provider: body.provider,
          request_payload: JSON.stringify(payload),
          principal: body.principal,
          role: body.role ?? null,
          duration_seconds: body.durationSeconds,
          requested_by: ctx.actor.id,
          idempotency_key: idempotencyKey ?? null,
          idempotency_hash: idempotencyKey ? hash : null,
          approval_expires_at: verdict.outcome === "needs_approval" ? verdict.expiresAt : null,
        });
        // Another request with this Idempotency-Key committed first: answer as a replay (below).
        if (!inserted) return undefined;
        await deps.audit.append(trx, {
          tenantId,
          eventType: "request.created",
          action: "create",
          result: "success",
          ctx,
          resource: { ...resource, id },
          metadata: { provider: body.provider, ...payload, status },
        });
        if (verdict.outcome === "auto_approved") {
          await deps.audit.append(trx, {
            tenantId,
            eventType: "request.approved",
            action: "approve",
            result: "success",
            ctx,
            resource: { ...resource, id },
            metadata: { automatic: true, policy: verdict.policy?.name ?? null },
          });
          await deps.queue.stage(trx, grantJob(inserted));
        } else {
          await deps.audit.append(trx, {
            tenantId,
            eventType: "request.approval_requested",
            action: "create",
            result: "success",
            ctx,
            resource: { ...resource, id },
            metadata: { policy: verdict.policy.name, required: verdict.required, expiresAt: verdict.expiresAt.toISOString() },
          });
        }
        return inserted;
      });
      if (!row) {
        const raced = await replay();
        if (raced) return raced;
        throw new CairnError("conflict", "a request with this Idempotency-Key is being created; retry");
      }
      if (row.status === "PENDING") await deps.queue.dispatch(grantJob(row));
      return { accepted: accepted(row), replayed: false };
    },

    async get(ctx: CallContext, id: string): Promise<RequestView> {
      const view = await deps.cache.get(ctx.actor.tenantId, id, async () => {
        const row = await deps.repo.find(deps.db, ctx.actor.tenantId, id);
        return row ? { version: row.version, view: viewOf(row) } : undefined;
      });
      if (!view) throw notFound(id);
      if (view.requestedBy !== ctx.actor.id) await deps.authz.require(ctx, { resource: "requests", action: "read" });
      return view;
    },

    async list(ctx: CallContext, query: ListRequestsQuery): Promise<RequestList> {
      const filter: RequestFilter = {};
      const out: Pick<RequestList, "interpretedAs" | "interpretedFilter" | "ignored"> = {};
      if (query.q) {
        const interpreted = interpretQuery(query.q, new Date());
        const { from, to, ...rest } = interpreted.filter;
        Object.assign(filter, rest, from ? { from: new Date(from) } : {}, to ? { to: new Date(to) } : {});
        out.interpretedAs = interpreted.interpretedAs;
        out.interpretedFilter = interpreted.filter as RequestList["interpretedFilter"];
        out.ignored = interpreted.ignored;
      }
      const errors: FieldError[] = [];
      const csv = (raw: string | undefined, allowed: readonly string[], name: string, upper: boolean) => {
        if (raw === undefined) return undefined;
        const values = raw.split(",").map((s) => (upper ? s.trim().toUpperCase() : s.trim().toLowerCase()));
        for (const v of values)
          if (!allowed.includes(v)) errors.push({ path: `querystring/${name}`, message: `"${v}" is not one of ${allowed.join(", ")}` });
        return values;
      };
      filter.status = csv(query.status, requestStatuses, "status", true) ?? filter.status;
      filter.provider = csv(query.provider, providerNames, "provider", false) ?? filter.provider;
      if (query.principal) filter.principal = query.principal;
      if (query.role) filter.role = query.role;
      if (query.from) filter.from = new Date(query.from);
      if (query.to) filter.to = new Date(query.to);
      const after = query.cursor ? decodeCursor(query.cursor) : undefined;
      if (query.cursor && !after) errors.push({ path: "querystring/cursor", message: "not a cursor this server gave out" });
      if (errors.length) throw bad(`bad filter: ${errors.map((e) => e.message).join("; ")}`, errors);
      if (!(await mayActForOthers(ctx, "list"))) filter.requestedBy = ctx.actor.id;
      const limit = query.limit ?? 50;
      const rows = await deps.repo.list(deps.db, ctx.actor.tenantId, filter, limit + 1, after);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        items: await named(ctx.actor.tenantId, page.map(viewOf)),
        ...(rows.length > limit && last ? { nextCursor: encodeCursor(last) } : {}),
        ...out,
      };
    },

    /** Requests per status, for a dashboard: every request of the tenant with `requests:**:list`, else the caller's own. */
    async counts(ctx: CallContext): Promise<RequestCounts> {
      const mine = (await mayActForOthers(ctx, "list")) ? undefined : ctx.actor.id;
      const rows = await deps.repo.countByStatus(deps.db, ctx.actor.tenantId, mine);
      const counts: Record<string, number> = Object.fromEntries(requestStatuses.map((s) => [s, 0]));
      for (const r of rows) counts[r.status] = r.n;
      return { counts, total: rows.reduce((sum, r) => sum + r.n, 0) };
    },

    async decide(ctx: CallContext, id: string, decision: "approve" | "deny", comment?: string): Promise<DecisionResult> {
      const engine = deps.approvals;
      const before = await load(ctx, id);
      if (before.status === "AWAITING_APPROVAL" && engine?.checkApprover) await engine.checkApprover(ctx, subjectOf(before));
      const decided = deps.db.transaction().execute(async (trx) => {
        const current = await deps.repo.findAny(trx, id, true);
        if (!current || current.tenant_id !== ctx.actor.tenantId) throw notFound(id);
        if (current.status !== "AWAITING_APPROVAL" || !engine) {
          throw new CairnError("conflict", `access request ${id} is ${current.status}, not awaiting approval`);
        }
        if (current.approval_expires_at && new Date(current.approval_expires_at).getTime() <= Date.now()) {
          throw new CairnError("conflict", `the approval window of access request ${id} has passed; ask again`);
        }
        const state = await engine.decide(trx, ctx, subjectOf(current), decision, comment);
        const meta = { decision, comment: comment ?? null, approvals: state.approvals, required: state.required };
        await deps.audit.append(trx, {
          tenantId: current.tenant_id,
          eventType: "request.approval_recorded",
          action: "approve",
          result: "success",
          ctx,
          resource: { ...resource, id },
          metadata: meta,
        });
        if (state.state === "pending") return { row: current, state };
        const to: RequestStatus = state.state === "approved" ? "APPROVED" : "DENIED";
        const moved = await deps.repo.transition(trx, id, ["AWAITING_APPROVAL"], {
          status: to,
          ...(to === "DENIED" ? { completed_at: new Date() } : {}),
        });
        if (!moved) throw new CairnError("conflict", `access request ${id} changed meanwhile; look again`);
        await deps.audit.append(trx, {
          tenantId: current.tenant_id,
          eventType: to === "APPROVED" ? "request.approved" : "request.denied",
          action: to === "APPROVED" ? "approve" : "deny",
          result: "success",
          ctx,
          resource: { ...resource, id },
          metadata: { ...meta, automatic: false },
        });
        if (to === "APPROVED") await deps.queue.stage(trx, grantJob(moved));
        return { row: moved, state };
      });
      const { row, state } = await decided.catch(async (e: unknown) => {
        // The engine found the approval window passed: the request expires now (the sweeper would soon).
        if (e instanceof CairnError && e.extensions?.expired === true) await expire(id);
        throw e;
      });
      if (row.status !== "AWAITING_APPROVAL") await changed(row);
      if (row.status === "APPROVED") await deps.queue.dispatch(grantJob(row));
      return {
        correlationId: id,
        status: row.status as RequestStatus,
        approval: { state: state.state, approvals: state.approvals, required: state.required },
      };
    },

    /**
     * Ends access early. Not granted yet → REVOKED at once (the queued job then finds nothing to do);
     * granted or being granted → the revocation is due now and a worker carries it out (202).
     */
    async revoke(ctx: CallContext, id: string, reason?: string): Promise<Accepted> {
      const before = await load(ctx, id);
      if (before.requested_by !== ctx.actor.id) await deps.authz.require(ctx, { resource: "requests", action: "admin" });
      const row = await deps.db.transaction().execute(async (trx) => {
        const current = await deps.repo.findAny(trx, id, true);
        if (!current) throw notFound(id);
        const status = current.status as RequestStatus;
        if (finalStatuses.has(status)) throw new CairnError("conflict", `access request ${id} is already ${status}`);
        const early = status === "SUCCESS" || status === "PROCESSING";
        const moved = await deps.repo.transition(
          trx,
          id,
          [status],
          early
            ? { revoke_at: new Date(), revoke_reason: "revoked", revoke_locked_until: null }
            : { status: "REVOKED", revoked_at: new Date(), completed_at: new Date(), revoke_reason: "revoked" },
        );
        if (!moved) throw new CairnError("conflict", `access request ${id} changed meanwhile; look again`);
        await deps.audit.append(trx, {
          tenantId: current.tenant_id,
          eventType: early ? "request.revoke_requested" : "request.revoked",
          action: "revoke",
          result: "success",
          ctx,
          resource: { ...resource, id },
          metadata: { reason: reason ?? null, previousStatus: status, ...(early ? {} : { granted: false }) },
        });
        return moved;
      });
      await changed(row);
      deps.kickRevocations?.();
      return accepted(row);
    },

    /** The issued credentials, to their requester, once: afterwards Cairn no longer holds them. */
    async revealCredentials(ctx: CallContext, id: string): Promise<Credentials> {
      const before = await load(ctx, id);
      if (before.requested_by !== ctx.actor.id) {
        throw new CairnError("forbidden", "only the requester can reveal the credentials of an access request");
      }
      const { row, credentials } = await deps.db.transaction().execute(async (trx) => {
        const current = (await deps.repo.findAny(trx, id, true)) as RequestRow;
        if (current.status !== "SUCCESS") {
          throw new CairnError(
            "conflict",
            `access request ${id} is ${current.status}: credentials exist only while access is granted (SUCCESS)`,
          );
        }
        if (!current.credentials_sealed || !current.credentials_wrapped) {
          throw new CairnError(
            "gone",
            current.credentials_revealed_at
              ? `the credentials of ${id} were revealed at ${new Date(current.credentials_revealed_at).toISOString()} and are gone; request access again`
              : `access request ${id} issued no credentials (the ${current.cloud_provider} provider grants to an existing principal)`,
          );
        }
        const credentials = await deps.sealer.open(current.tenant_id, id, current.credentials_wrapped, current.credentials_sealed);
        const moved = (await deps.repo.transition(trx, id, ["SUCCESS"], {
          credentials_sealed: null,
          credentials_wrapped: null,
          credentials_kek: null,
          credentials_revealed_at: new Date(),
        })) as RequestRow;
        await deps.audit.append(trx, {
          tenantId: current.tenant_id,
          eventType: "request.credentials_revealed",
          action: "reveal",
          result: "success",
          ctx,
          resource: { ...resource, id },
          metadata: { provider: current.cloud_provider, fields: Object.keys(credentials) },
        });
        return { row: moved, credentials };
      });
      await changed(row);
      return { correlationId: id, expiresAt: row.expires_at ? new Date(row.expires_at).toISOString() : null, credentials };
    },
  };
}

export type RequestService = ReturnType<typeof createRequestService>;
export type { Conn };
