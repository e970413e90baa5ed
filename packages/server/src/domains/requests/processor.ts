import type { AuditEventInput, AuditLog } from "../../audit/log.js";
import { systemContext } from "../../auth/actor.js";
import type { Db } from "../../db/database.js";
import type { Log } from "../../events/redis.js";
import type { Job, JobQueue } from "../../queue/index.js";
import { retryDelayMs } from "../../queue/types.js";
import type { RequestCache } from "./cache.js";
import type { CredentialSealer } from "./credentials.js";
import type { ProviderRegistry } from "./providers/index.js";
import { type GrantInput, type ProviderName, TransientProviderError } from "./providers/types.js";
import type { RequestRepository, RequestRow } from "./repository.js";
import { grantJob } from "./service.js";
import type { RequestPayload } from "./views.js";

/** How long a worker holds a claimed revocation before another may take it over. */
const REVOKE_LEASE_SECONDS = 60;
/** A request waiting this long for a worker has its job queued again (a job lost with Redis, say). */
const STALLED_SECONDS = 60;

export interface ProcessorDeps {
  db: Db;
  repo: RequestRepository;
  audit: AuditLog;
  queue: JobQueue;
  providers: ProviderRegistry;
  cache: RequestCache;
  sealer: CredentialSealer;
  log: Log;
  maxAttempts: number;
  retryBaseMs: number;
}

const inputOf = (row: RequestRow, expiresAt: Date): GrantInput => {
  const p = row.request_payload as unknown as RequestPayload;
  return {
    correlationId: row.correlation_id,
    principal: p.principal,
    role: p.role,
    permissions: p.permissions,
    resource: p.resource,
    expiresAt,
  };
};

const errorText = (e: unknown) => ((e as Error)?.message ?? String(e)).slice(0, 2000);

/**
 * Access requests, worker side: grants queued requests through their provider (retrying transient errors
 * with backoff, FAILED after `maxAttempts`), revokes grants whose time is up or that were revoked early
 * (claimed in PostgreSQL, so once across workers and after restarts; retried, and alerted on, when the
 * provider refuses), expires approvals nobody gave in time, and re-queues requests whose job was lost.
 */
export function createRequestProcessor(deps: ProcessorDeps) {
  const event = (row: RequestRow, e: Omit<AuditEventInput, "tenantId" | "ctx" | "resource">): AuditEventInput => ({
    ...e,
    tenantId: row.tenant_id,
    ctx: systemContext(row.tenant_id),
    resource: { type: "access_request", id: row.correlation_id },
  });
  const changed = (row: RequestRow) => deps.cache.changed(row.tenant_id, row.correlation_id, row.version);

  async function fail(row: RequestRow, error: unknown, attempt: number): Promise<void> {
    const details = { message: errorText(error), attempts: attempt, transient: error instanceof TransientProviderError };
    const moved = await deps.db.transaction().execute(async (trx) => {
      const m = await deps.repo.transition(trx, row.correlation_id, ["PROCESSING", "PENDING", "APPROVED"], {
        status: "FAILED",
        completed_at: new Date(),
        error_details: JSON.stringify(details),
        attempts: attempt,
      });
      if (m) await deps.audit.append(trx, event(m, { eventType: "request.failed", action: "grant", result: "failure", metadata: details }));
      return m;
    });
    if (moved) await changed(moved);
    // Whatever a half-done grant left behind goes too (revoke succeeds when there is nothing).
    const provider = deps.providers[row.cloud_provider as ProviderName];
    await provider?.revoke(inputOf(row, new Date()), row.grant_ref ?? {}).catch(() => {});
  }

  async function grant(job: Job): Promise<void> {
    const id = String(job.data.correlationId);
    const row = await deps.repo.findAny(deps.db, id);
    if (!row || !["PENDING", "APPROVED", "PROCESSING"].includes(row.status)) return;
    const provider = deps.providers[row.cloud_provider as ProviderName];
    if (!provider) return fail(row, new Error(`the ${row.cloud_provider} provider is not configured on this worker`), job.attempt);

    const processing = await deps.db.transaction().execute(async (trx) => {
      const m = await deps.repo.transition(trx, id, ["PENDING", "APPROVED", "PROCESSING"], { status: "PROCESSING", attempts: job.attempt });
      if (m && row.status !== "PROCESSING") {
        await deps.audit.append(
          trx,
          event(m, { eventType: "request.processing", action: "grant", result: "success", metadata: { attempt: job.attempt } }),
        );
      }
      return m;
    });
    if (!processing) return;
    await changed(processing);

    const expiresAt = new Date(Date.now() + row.duration_seconds * 1000);
    let result: Awaited<ReturnType<typeof provider.grant>>;
    try {
      result = await provider.grant(inputOf(row, expiresAt));
    } catch (e) {
      if (e instanceof TransientProviderError && job.attempt < deps.maxAttempts) {
        const details = { message: errorText(e), attempts: job.attempt, transient: true, retrying: true };
        const m = await deps.db.transaction().execute(async (trx) => {
          const moved = await deps.repo.transition(trx, id, ["PROCESSING"], { error_details: JSON.stringify(details) });
          if (moved)
            await deps.audit.append(
              trx,
              event(moved, { eventType: "request.retry", action: "grant", result: "failure", metadata: details }),
            );
          return moved;
        });
        if (m) await changed(m);
        deps.log.warn({ correlationId: id, attempt: job.attempt, error: details.message }, "access grant failed; will retry");
        throw e;
      }
      deps.log.warn({ correlationId: id, attempt: job.attempt, error: errorText(e) }, "access grant failed");
      return fail(processing, e, job.attempt);
    }

    const sealed = result.credentials ? await deps.sealer.seal(row.tenant_id, id, result.credentials) : undefined;
    const granted = await deps.db.transaction().execute(async (trx) => {
      const m = await deps.repo.transition(trx, id, ["PROCESSING"], {
        status: "SUCCESS",
        expires_at: expiresAt,
        completed_at: new Date(),
        grant_ref: JSON.stringify(result.grantRef),
        error_details: null,
        credentials_kek: sealed?.kekProvider ?? null,
        credentials_wrapped: sealed?.wrapped ?? null,
        credentials_sealed: sealed?.sealed ?? null,
        attempts: job.attempt,
      });
      if (m) {
        await deps.audit.append(
          trx,
          event(m, {
            eventType: "request.granted",
            action: "grant",
            result: "success",
            metadata: {
              expiresAt: expiresAt.toISOString(),
              grant: result.grantRef,
              credentialsIssued: sealed !== undefined,
              attempt: job.attempt,
            },
          }),
        );
      }
      return m;
    });
    if (granted) await changed(granted);
    // Someone revoked it while the provider worked: the revocation is due now.
    if (granted?.revoke_at) kick();
  }

  async function revokeOne(row: RequestRow): Promise<void> {
    const provider = deps.providers[row.cloud_provider as ProviderName];
    const reason = row.revoke_reason === "revoked" ? "revoked" : "expired";
    try {
      if (!provider) throw new Error(`the ${row.cloud_provider} provider is not configured on this worker`);
      await provider.revoke(inputOf(row, new Date(row.expires_at ?? Date.now())), row.grant_ref ?? {});
    } catch (e) {
      const attempts = row.revoke_attempts;
      const retryAt = new Date(Date.now() + retryDelayMs(attempts, deps.retryBaseMs, 60_000));
      const details = { message: errorText(e), revokeAttempts: attempts, nextAttemptAt: retryAt.toISOString() };
      deps.log.warn({ correlationId: row.correlation_id, ...details }, "revoking access failed; will retry");
      await deps.db.transaction().execute(async (trx) => {
        await deps.repo.releaseRevocation(trx, row.correlation_id, retryAt, details);
        // Raise the alert on the first failure and again every maxAttempts failures: access outlives its grant.
        if (attempts === 1 || attempts % deps.maxAttempts === 0) {
          await deps.audit.append(
            trx,
            event(row, { eventType: "request.revoke_failed", action: "revoke", result: "failure", metadata: details }),
          );
        }
      });
      return;
    }
    const done = await deps.db.transaction().execute(async (trx) => {
      const m = await deps.repo.transition(trx, row.correlation_id, ["SUCCESS"], {
        status: reason === "revoked" ? "REVOKED" : "EXPIRED",
        revoked_at: new Date(),
        revoke_locked_until: null,
        error_details: null,
        credentials_sealed: null,
        credentials_wrapped: null,
        credentials_kek: null,
      });
      if (m) {
        await deps.audit.append(
          trx,
          event(m, {
            eventType: "request.revoked",
            action: "revoke",
            result: "success",
            metadata: {
              reason,
              expiresAt: row.expires_at ? new Date(row.expires_at).toISOString() : null,
              revokeAttempts: row.revoke_attempts,
            },
          }),
        );
      }
      return m;
    });
    if (done) await changed(done);
  }

  /** Revokes every grant that is due, a few at a time; returns how many it handled. */
  async function revokeDue(): Promise<number> {
    let total = 0;
    for (;;) {
      const claimed = await deps.repo.claimRevocations(deps.db, 10, REVOKE_LEASE_SECONDS);
      for (const row of claimed) await revokeOne(row);
      total += claimed.length;
      if (claimed.length < 10) return total;
    }
  }

  async function expireApprovals(): Promise<number> {
    const expired = await deps.db.transaction().execute(async (trx) => {
      const rows = await deps.repo.dueApprovalExpiries(trx, 100);
      const moved: RequestRow[] = [];
      for (const row of rows) {
        const m = await deps.repo.transition(trx, row.correlation_id, ["AWAITING_APPROVAL"], {
          status: "EXPIRED",
          completed_at: new Date(),
        });
        if (!m) continue;
        await deps.audit.append(
          trx,
          event(m, {
            eventType: "request.expired",
            action: "expire",
            result: "success",
            metadata: { reason: "approval window passed", approvalExpiresAt: new Date(row.approval_expires_at as Date).toISOString() },
          }),
        );
        moved.push(m);
      }
      return moved;
    });
    for (const m of expired) await changed(m);
    return expired.length;
  }

  /** Queues again what waits for a worker too long: a job lost between commit and Redis, or dropped after errors. */
  async function requeueStalled(): Promise<number> {
    const rows = await deps.repo.stalled(deps.db, STALLED_SECONDS, 100);
    for (const row of rows) {
      const job = grantJob(row);
      await deps.queue.stage(deps.db, job);
      await deps.queue.dispatch(job);
    }
    return rows.length;
  }

  let kicked: (() => void) | undefined;
  const kick = () => kicked?.();

  return {
    grant,
    revokeDue,
    expireApprovals,
    requeueStalled,
    kick,
    /** Who runs revokeDue when a revocation became due now (the worker loop). */
    onKick(fn: () => void) {
      kicked = fn;
    },
  };
}

export type RequestProcessor = ReturnType<typeof createRequestProcessor>;
