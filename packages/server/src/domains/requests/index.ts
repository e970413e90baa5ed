import type { Redis } from "ioredis";
import type { AuditLog } from "../../audit/log.js";
import type { Authorizer } from "../../authz/types.js";
import type { KekProvider } from "../../crypto/kek.js";
import type { Db } from "../../db/database.js";
import type { EventBus } from "../../events/bus.js";
import type { Log } from "../../events/redis.js";
import { createJobQueue, type JobQueue } from "../../queue/index.js";
import type { Settings } from "../../settings.js";
import { createRequestCache } from "./cache.js";
import { createCredentialSealer } from "./credentials.js";
import { createRequestProcessor, type RequestProcessor } from "./processor.js";
import { type ProviderRegistry, providersFromSettings } from "./providers/index.js";
import { createRequestRepository } from "./repository.js";
import { type Approvals, createRequestService, type RequestService } from "./service.js";

/** Published when a revocation became due now (an early revoke): workers on every replica sweep at once. */
export const REVOCATIONS_DUE = "requests.revocations_due";

export interface Requests {
  service: RequestService;
  processor: RequestProcessor;
  queue: JobQueue;
  providers: ProviderRegistry;
  close(): Promise<void>;
}

/** The access-request domain, wired: queue (BullMQ or PostgreSQL), providers, cache, service and processor. */
export function createRequests(deps: {
  db: Db;
  audit: AuditLog;
  authz: Authorizer;
  bus: EventBus;
  redis?: Redis;
  kek: KekProvider;
  settings: Settings;
  log: Log;
  approvals?: Approvals;
  /** Tests swap providers (e.g. a failing one). */
  providers?: ProviderRegistry;
}): Requests {
  const { settings } = deps;
  const repo = createRequestRepository();
  const queue = createJobQueue({
    db: deps.db,
    bus: deps.bus,
    log: deps.log,
    redisUrl: settings.redisUrl,
    pollMs: settings.accessPollMs,
    maxAttempts: settings.accessMaxAttempts,
    retryBaseMs: settings.accessRetryBaseMs,
  });
  const providers = deps.providers ?? providersFromSettings(settings);
  const cache = createRequestCache({ bus: deps.bus, redis: deps.redis, log: deps.log });
  const sealer = createCredentialSealer(deps.kek);
  const service = createRequestService({
    db: deps.db,
    repo,
    audit: deps.audit,
    authz: deps.authz,
    queue,
    providers,
    cache,
    sealer,
    approvals: deps.approvals,
    kickRevocations: () => void deps.bus.publish(REVOCATIONS_DUE, {}),
  });
  const processor = createRequestProcessor({
    db: deps.db,
    repo,
    audit: deps.audit,
    queue,
    providers,
    cache,
    sealer,
    log: deps.log,
    maxAttempts: settings.accessMaxAttempts,
    retryBaseMs: settings.accessRetryBaseMs,
  });
  return {
    service,
    processor,
    queue,
    providers,
    async close() {
      await queue.close();
      cache.close();
    },
  };
}
