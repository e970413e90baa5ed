import type { AuditLog } from "../audit/log.js";
import { systemContext } from "../auth/actor.js";
import { serialRunner } from "../background.js";
import type { Db } from "../db/database.js";
import type { PolicyRepository, PolicyRow, SecretAddress } from "../domains/secrets/policy-repository.js";
import type { SecretsPort } from "../domains/secrets/policy-service.js";
import type { Log } from "../events/redis.js";
import { silentLog } from "../events/redis.js";

export interface SchedulerOptions {
  db: Db;
  repo: PolicyRepository;
  audit: AuditLog;
  secrets: SecretsPort;
  log?: Log;
  pollSeconds: number;
  retryBaseSeconds: number;
  retryMaxSeconds: number;
  leaseSeconds: number;
}

export interface RotationOutcome {
  policyId: string;
  address: SecretAddress;
  tenantId: string;
  ok: boolean;
  /** The secret's version after a successful rotation. */
  version?: number;
  error?: string;
  /** The claim lapsed or the policy changed while the rotation ran: nothing was written. */
  abandoned?: boolean;
}

/** Exponential backoff: base · 2^(attempt−1), capped. Deterministic, so the API shows when the next try comes. */
export function retryDelaySeconds(attempt: number, baseSeconds: number, maxSeconds: number): number {
  return Math.min(maxSeconds, baseSeconds * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
}

const notifyOf = (row: PolicyRow): boolean | string[] =>
  typeof row.notify === "string" ? (JSON.parse(row.notify) as boolean | string[]) : row.notify;

/**
 * The durable rotation scheduler. State lives only in `secret_rotation_policies`, so it survives restarts and
 * every replica can run one:
 *
 * 1. claim due rows (FOR UPDATE SKIP LOCKED, a lease `locked_until` and a fresh `claim_id`; short transaction);
 * 2. outside any transaction, the policy's strategy (the secrets domain's rotation hook) prepares and verifies
 *    the next value (network I/O: ALTER ROLE, a test login) — the secret is not touched yet, a repeat is harmless;
 * 3. in ONE transaction (the secret's write): the new version, grace for the previous one, its audit event,
 *    and — only if the claim is still ours and unexpired — the schedule moved to now + interval; else all rolls back.
 *
 * A replica that dies anywhere before 3 commits leaves the secret as it was; its lease lapses and another
 * replica does the rotation. A replica slower than its lease finds its claim gone in 3 and writes nothing. So
 * each due rotation happens once. A failure keeps the old value, records `secret.rotation_failed` (which a
 * built-in alert rule turns into an alert) and retries with exponential backoff.
 */
export function createRotationScheduler(options: SchedulerOptions) {
  const { db, repo } = options;
  const log = options.log ?? silentLog;
  let started = false;
  let closing = false;
  let timer: NodeJS.Timeout | undefined;
  const outcomes: RotationOutcome[] = [];

  async function rotateOne(row: PolicyRow): Promise<RotationOutcome> {
    const address: SecretAddress = { namespace: row.namespace, key: row.key, environment: row.environment };
    const base = { policyId: row.id, address, tenantId: row.tenant_id };
    const claimId = row.claim_id as string;
    const ctx = systemContext(row.tenant_id);
    const resource = { type: "secret", id: `${row.namespace}/${row.key}`, namespace: row.namespace };
    try {
      // The strategy (if the policy has one) runs in the secrets domain's rotation hook, before its transaction.
      const rotated = await options.secrets.rotate(ctx, address, {
        gracePeriodSeconds: row.grace_period_seconds,
        reason: `scheduled rotation${row.strategy ? ` (${row.strategy})` : ""}`,
        within: async (trx, version) => {
          const locked = await repo.lockClaim(trx, row.id, claimId);
          if (!locked) throw new ClaimLost();
          await repo.succeeded(trx, row.id, version);
          const notify = notifyOf(locked);
          await options.audit.append(trx, {
            tenantId: row.tenant_id,
            eventType: "secret.rotated",
            action: "rotate",
            result: "success",
            ctx,
            resource,
            metadata: {
              environment: row.environment,
              version,
              trigger: "schedule",
              strategy: locked.strategy,
              gracePeriodSeconds: locked.grace_period_seconds,
              notify: notify !== false,
              ...(Array.isArray(notify) ? { notifyChannels: notify } : {}),
            },
          });
        },
      });
      log.info(
        { policyId: row.id, namespace: row.namespace, key: row.key, environment: row.environment, version: rotated.version },
        "secret rotated",
      );
      return { ...base, ok: true, version: rotated.version };
    } catch (e) {
      if (e instanceof ClaimLost) {
        log.warn({ policyId: row.id }, "a rotation's claim lapsed or its policy changed before it committed; nothing was written");
        return { ...base, ok: false, abandoned: true };
      }
      const error = scrub((e as Error).message ?? String(e));
      const delay = retryDelaySeconds(row.attempts, options.retryBaseSeconds, options.retryMaxSeconds);
      const recorded = await db.transaction().execute(async (trx) => {
        const updated = await repo.failed(trx, row.id, claimId, error, delay);
        if (!updated) return false;
        const notify = notifyOf(updated);
        await options.audit.append(trx, {
          tenantId: row.tenant_id,
          eventType: "secret.rotation_failed",
          action: "rotate",
          result: "failure",
          ctx,
          resource,
          metadata: {
            environment: row.environment,
            attempt: row.attempts,
            error,
            strategy: row.strategy,
            retryInSeconds: delay,
            nextAttemptAt: updated.next_rotation_at ? new Date(updated.next_rotation_at).toISOString() : null,
            ...(Array.isArray(notify) ? { notifyChannels: notify } : {}),
          },
        });
        return true;
      });
      log.warn(
        { policyId: row.id, attempt: row.attempts, retryInSeconds: delay, error, recorded },
        "secret rotation failed; the old value stays",
      );
      return { ...base, ok: false, error, abandoned: !recorded };
    }
  }

  /** Rotates everything due now, one policy at a time per replica. */
  async function pass(): Promise<void> {
    for (;;) {
      if (closing) return;
      const [row] = await repo.claimDue(1, options.leaseSeconds);
      if (!row) return;
      const outcome = await rotateOne(row);
      outcomes.push(outcome);
      if (outcomes.length > 1000) outcomes.splice(0, outcomes.length - 1000);
    }
  }

  const runner = serialRunner(pass, { log, what: "secret rotation", stopped: () => closing });

  return {
    /** Policies changed: look for due work now rather than at the next poll. */
    kick(): void {
      if (started && !closing) void runner.run();
    },
    /** Runs one pass (everything due now) and waits for it; returns what this call rotated or failed. */
    async runOnce(): Promise<RotationOutcome[]> {
      const from = outcomes.length;
      await runner.run();
      await runner.idle();
      return outcomes.slice(from);
    },
    /** Waits until nothing due is left (tests). */
    async flush(): Promise<void> {
      await runner.run();
      await runner.idle();
    },
    /** The last outcomes of this replica (newest last; at most 1000). */
    outcomes: (): readonly RotationOutcome[] => outcomes,
    start(): void {
      started = true;
      timer = setInterval(() => void runner.run(), options.pollSeconds * 1000);
      timer.unref();
      void runner.run();
    },
    async stop(): Promise<void> {
      closing = true;
      if (timer) clearInterval(timer);
      await runner.idle();
    },
  };
}

export type RotationScheduler = ReturnType<typeof createRotationScheduler>;

class ClaimLost extends Error {
  override name = "ClaimLost";
}

/** Error text for the policy row and the audit event: one line, bounded (strategies keep credentials out of it). */
function scrub(message: string): string {
  return message.replace(/\s+/g, " ").slice(0, 1000);
}
