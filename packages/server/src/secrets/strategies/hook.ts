import type { CallContext } from "../../auth/actor.js";
import { systemContext } from "../../auth/actor.js";
import type { Db } from "../../db/database.js";
import type { PolicyRepository } from "../../domains/secrets/policy-repository.js";
import { parseSecretRef, type SecretsPort } from "../../domains/secrets/policy-service.js";
import { CairnError } from "../../errors.js";
import type { Log } from "../../events/redis.js";
import { silentLog } from "../../events/redis.js";
import { type RotationStrategy, StrategyError, type StrategyName } from "./types.js";

/** What the secrets domain tells its rotation hook (structurally H1's RotationTarget). */
export interface HookTarget {
  namespace: string;
  key: string;
  environment: string;
  type: string;
  current: unknown;
}

/**
 * The secrets domain's rotation hook: when a secret is rotated without a supplied value (on schedule, or by
 * POST …/rotate) and its policy names a strategy, the strategy makes the next value real (e.g. a new
 * PostgreSQL password on the standby login) and returns it; otherwise the type's generator is used. It runs
 * before the secret's write transaction, so its network I/O holds no database connection.
 */
export function createStrategyHook(deps: {
  db: Db;
  repo: PolicyRepository;
  strategies: Record<StrategyName, RotationStrategy>;
  secrets: Pick<SecretsPort, "reveal">;
  log?: Log;
}) {
  const log = deps.log ?? silentLog;
  return async (ctx: CallContext, target: HookTarget): Promise<unknown | undefined> => {
    const tenantId = ctx.actor.tenantId;
    const policy = await deps.repo.find(deps.db, tenantId, target);
    if (!policy?.strategy) return undefined;
    const strategy = deps.strategies[policy.strategy];
    if (!strategy.types.includes(target.type)) {
      throw new CairnError("validation_failed", `${policy.strategy} rotates ${strategy.types.join(", ")} secrets, not ${target.type}`);
    }
    // The admin credentials are read as the system (the policy's author had reveal on them), audited as a reveal.
    const admin = policy.admin_secret
      ? (await deps.secrets.reveal(systemContext(tenantId), { ...parseSecretRef(policy.admin_secret), environment: target.environment }))
          .value
      : undefined;
    const prepared = await strategy.prepare({ current: target.current, admin }).catch((e: unknown) => {
      if (e instanceof StrategyError) throw new CairnError("unavailable", `${policy.strategy} could not rotate: ${e.message}`);
      throw e;
    });
    if (prepared.note)
      log.info({ policyId: policy.id, strategy: policy.strategy, note: prepared.note }, "rotation strategy prepared a value");
    return prepared.value;
  };
}
