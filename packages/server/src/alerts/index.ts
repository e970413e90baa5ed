import type { AuditLog } from "../audit/log.js";
import type { KekProvider } from "../crypto/kek.js";
import type { Db } from "../db/database.js";
import { createAlertRepository } from "../domains/alerts/repository.js";
import { type AlertService, createAlertService } from "../domains/alerts/service.js";
import type { EventBus } from "../events/bus.js";
import type { Log } from "../events/redis.js";
import type { Settings } from "../settings.js";
import { createEvaluator, type Evaluator } from "./evaluator.js";
import { createOutbox, type Outbox } from "./outbox.js";
import { createChannelSealer } from "./secrets.js";

export interface Alerts {
  service: AlertService;
  /** Reads the audit logs in order and fires rules (`flush()` evaluates everything sequenced so far). */
  evaluator: Evaluator;
  /** Sends queued deliveries (`flush()` sends everything due now). */
  outbox: Outbox;
  start(): void;
  stop(): Promise<void>;
}

type AlertSettings = Pick<
  Settings,
  "alertsAllowPrivateTargets" | "alertsPollMs" | "alertsMaxAttempts" | "alertsRetryBaseMs" | "alertsRetryMaxMs" | "alertsTimeoutMs"
>;

/** Alerts, wired: the API's service, the rule evaluator and the delivery worker (both run on every replica). */
export function createAlerts(deps: {
  db: Db;
  kek: KekProvider;
  audit: AuditLog;
  bus: EventBus;
  log: Log;
  settings: AlertSettings;
}): Alerts {
  const { db, settings, log } = deps;
  const sealer = createChannelSealer(deps.kek);
  const outbox = createOutbox({
    db,
    sealer,
    log,
    allowPrivateTargets: settings.alertsAllowPrivateTargets,
    maxAttempts: settings.alertsMaxAttempts,
    retryBaseMs: settings.alertsRetryBaseMs,
    retryMaxMs: settings.alertsRetryMaxMs,
    timeoutMs: settings.alertsTimeoutMs,
    intervalMs: settings.alertsPollMs,
  });
  const evaluator = createEvaluator({ db, bus: deps.bus, log, intervalMs: settings.alertsPollMs, onDeliveries: () => outbox.kick() });
  const service = createAlertService({
    db,
    repo: createAlertRepository(),
    audit: deps.audit,
    sealer,
    allowPrivateTargets: settings.alertsAllowPrivateTargets,
    maxAttempts: settings.alertsMaxAttempts,
    timeoutMs: settings.alertsTimeoutMs,
    onRequeued: () => outbox.kick(),
  });
  return {
    service,
    evaluator,
    outbox,
    start() {
      evaluator.start();
      outbox.start();
    },
    async stop() {
      await evaluator.stop();
      await outbox.stop();
    },
  };
}
