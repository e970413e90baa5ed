import type { AuditLog } from "../../audit/log.js";
import type { CallContext } from "../../auth/actor.js";
import type { Conn, Db } from "../../db/database.js";
import { CairnError } from "../../errors.js";
import type { RotationStrategy, StrategyName } from "../../secrets/strategies/types.js";
import { checkEnvironmentName, checkKey, checkNamespace } from "../names.js";
import type { PolicyRepository, PolicyRow, SecretAddress } from "./policy-repository.js";
import type { PutPolicyBody, RotationPolicy } from "./policy-schemas.js";

/**
 * What rotation needs from the secrets domain (H1's SecretService, adapted in app.ts), kept narrow so the
 * policy service and the scheduler can be read and tested alone.
 */
export interface SecretsPort {
  /** The secret's type and current version, without its value; undefined when it does not exist. */
  describe(ctx: CallContext, address: SecretAddress): Promise<{ type: string; version: number } | undefined>;
  /** The current value (a reveal: audited by the secrets domain). Used for a strategy's admin credentials. */
  reveal(ctx: CallContext, address: SecretAddress): Promise<{ type: string; value: unknown; version: number }>;
  /**
   * Rotates: the rotation hook's value (a policy's strategy), else the type's generator; the previous value
   * stays readable for `gracePeriodSeconds`. `within` runs inside the write's transaction (the scheduler
   * moves the policy's schedule there; throwing rolls the rotation back).
   */
  rotate(
    ctx: CallContext,
    address: SecretAddress,
    options: { gracePeriodSeconds?: number; reason?: string; within?: (trx: Conn, version: number) => Promise<void> },
  ): Promise<{ version: number }>;
}

/** `production/db/admin` → namespace `production/db`, key `admin` (the key is the last segment). */
export function parseSecretRef(ref: string, field = "adminSecret"): { namespace: string; key: string } {
  const at = ref.lastIndexOf("/");
  if (at <= 0 || at === ref.length - 1) {
    throw new CairnError("bad_request", `${field} must look like <namespace>/<key>, e.g. production/db/admin, got "${ref.slice(0, 80)}"`, {
      errors: [{ path: `/${field}`, message: "expected <namespace>/<key>" }],
    });
  }
  return { namespace: checkNamespace(ref.slice(0, at), field), key: checkKey(ref.slice(at + 1), field) };
}

export const addressOf = (ns: string, key: string, environment?: string): SecretAddress => ({
  namespace: checkNamespace(ns),
  key: checkKey(key),
  environment: checkEnvironmentName(environment ?? "base"),
});

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export function policyView(row: PolicyRow): RotationPolicy {
  return {
    namespace: row.namespace,
    key: row.key,
    environment: row.environment,
    intervalSeconds: row.interval_seconds,
    gracePeriodSeconds: row.grace_period_seconds,
    autoRotate: row.auto_rotate,
    notify: typeof row.notify === "string" ? (JSON.parse(row.notify) as boolean | string[]) : row.notify,
    strategy: row.strategy,
    adminSecret: row.admin_secret,
    nextRotationAt: iso(row.next_rotation_at),
    attempts: row.attempts,
    lastError: row.last_error,
    lastAttemptAt: iso(row.last_attempt_at),
    lastRotatedAt: iso(row.last_rotated_at),
    lastRotatedVersion: row.last_rotated_version,
    createdAt: iso(row.created_at) as string,
    updatedAt: iso(row.updated_at) as string,
    updatedBy: row.updated_by,
  };
}

const invalid = (path: string, message: string) => new CairnError("validation_failed", message, { errors: [{ path, message }] });

export function createPolicyService(deps: {
  db: Db;
  repo: PolicyRepository;
  audit: AuditLog;
  secrets: SecretsPort;
  strategies: Record<StrategyName, RotationStrategy>;
  /** Told when a policy changed (the scheduler looks for due work now). */
  onChanged?: () => void;
}) {
  const { db, repo, audit } = deps;

  return {
    async get(ctx: CallContext, address: SecretAddress): Promise<RotationPolicy> {
      const row = await repo.find(db, ctx.actor.tenantId, address);
      if (!row) throw new CairnError("not_found", `${address.namespace}/${address.key} (${address.environment}) has no rotation policy`);
      return policyView(row);
    },

    async put(ctx: CallContext, address: SecretAddress, body: PutPolicyBody): Promise<{ policy: RotationPolicy; created: boolean }> {
      const tenantId = ctx.actor.tenantId;
      const grace = body.gracePeriodSeconds ?? 0;
      if (grace >= body.intervalSeconds) {
        // Alternating users would change the password of the login still in grace.
        throw invalid(
          "/gracePeriodSeconds",
          "gracePeriodSeconds must be shorter than intervalSeconds (the previous value retires before the next rotation)",
        );
      }
      const strategy = body.strategy ?? null;
      const adminSecret = body.adminSecret ?? null;
      if (adminSecret !== null && strategy === null)
        throw invalid("/adminSecret", "adminSecret is only used by a strategy; set strategy too");
      const secret = await deps.secrets.describe(ctx, address);
      if (!secret) {
        throw new CairnError(
          "not_found",
          `no secret ${address.namespace}/${address.key} in ${address.environment}; create it before its rotation policy`,
        );
      }
      if (strategy !== null) {
        const s = deps.strategies[strategy];
        if (!s.types.includes(secret.type)) {
          throw invalid(
            "/strategy",
            `${strategy} rotates ${s.types.join(", ")} secrets; ${address.namespace}/${address.key} is ${secret.type}`,
          );
        }
      }
      if (adminSecret !== null) {
        const ref = parseSecretRef(adminSecret);
        if (ref.namespace === address.namespace && ref.key === address.key)
          throw invalid("/adminSecret", "adminSecret must be another secret");
        const admin = await deps.secrets.describe(ctx, { ...ref, environment: address.environment });
        if (!admin) throw invalid("/adminSecret", `no secret ${adminSecret} in ${address.environment}`);
        if (admin.type !== "database_credentials")
          throw invalid("/adminSecret", `${adminSecret} is ${admin.type}, not database_credentials`);
      }
      const notify = body.notify ?? true;
      if (Array.isArray(notify) && notify.length > 0) {
        const known = await db
          .selectFrom("alert_channels")
          .select("name")
          .where("tenant_id", "=", tenantId)
          .where("name", "in", notify)
          .execute();
        const missing = notify.filter((n) => !known.some((k) => k.name === n));
        if (missing.length > 0) throw invalid("/notify", `no alert channel named ${missing.map((m) => `"${m}"`).join(", ")}`);
      }
      const result = await db.transaction().execute(async (trx) => {
        const saved = await repo.upsert(
          trx,
          tenantId,
          address,
          {
            intervalSeconds: body.intervalSeconds,
            gracePeriodSeconds: grace,
            autoRotate: body.autoRotate ?? true,
            notify,
            strategy,
            adminSecret,
            nextRotationAt: body.nextRotationAt ? new Date(body.nextRotationAt) : undefined,
          },
          ctx.actor.id,
        );
        await audit.append(trx, {
          tenantId,
          eventType: "secret.policy_set",
          action: saved.created ? "create" : "update",
          result: "success",
          ctx,
          resource: { type: "secret", id: `${address.namespace}/${address.key}`, namespace: address.namespace },
          metadata: {
            environment: address.environment,
            intervalSeconds: body.intervalSeconds,
            gracePeriodSeconds: grace,
            autoRotate: saved.row.auto_rotate,
            strategy,
            adminSecret,
            notify,
          },
        });
        return saved;
      });
      deps.onChanged?.();
      return { policy: policyView(result.row), created: result.created };
    },

    async remove(ctx: CallContext, address: SecretAddress): Promise<void> {
      const tenantId = ctx.actor.tenantId;
      await db.transaction().execute(async (trx) => {
        const removed = await repo.remove(trx, tenantId, address);
        if (!removed)
          throw new CairnError("not_found", `${address.namespace}/${address.key} (${address.environment}) has no rotation policy`);
        await audit.append(trx, {
          tenantId,
          eventType: "secret.policy_removed",
          action: "delete",
          result: "success",
          ctx,
          resource: { type: "secret", id: `${address.namespace}/${address.key}`, namespace: address.namespace },
          metadata: { environment: address.environment },
        });
      });
    },
  };
}

export type PolicyService = ReturnType<typeof createPolicyService>;

/** The secrets service as rotation sees it (structurally H1's SecretService). */
interface SecretServiceLike {
  read(
    ctx: CallContext,
    address: SecretAddress,
    options: { reveal?: boolean },
  ): Promise<{ type: string; version: number; resolvedFrom?: string; environment: string }>;
  reveal(ctx: CallContext, address: SecretAddress): Promise<{ type: string; value: unknown; version: number }>;
  rotate(ctx: CallContext, address: SecretAddress, options: { gracePeriodSeconds?: number; reason?: string }): Promise<{ version: number }>;
}

/**
 * Adapts the secrets service to `SecretsPort`. `within` is handed to the secrets service, which runs it in
 * the write's transaction; if a version of it does not (the option is unknown to it), it runs right after
 * the write in a transaction of its own — correct, but then a crash between the two can repeat a rotation.
 */
export function secretsPortOf(service: SecretServiceLike): SecretsPort {
  return {
    async describe(ctx, address) {
      try {
        const entry = await service.read(ctx, address, {});
        // Inherited from another environment: nothing stored here to rotate.
        if (entry.resolvedFrom !== undefined && entry.resolvedFrom !== address.environment) return undefined;
        return { type: entry.type, version: entry.version };
      } catch (e) {
        if (e instanceof CairnError && e.code === "not_found") return undefined;
        throw e;
      }
    },
    reveal: (ctx, address) => service.reveal(ctx, address),
    // The secrets service runs `within` in the rotation's own transaction (exactly-once scheduling).
    rotate: (ctx, address, options) => service.rotate(ctx, address, options),
  };
}
