import { serialRunner } from "./background.js";
import { REVOCATIONS_DUE, type Requests } from "./domains/requests/index.js";
import type { ProviderName } from "./domains/requests/providers/types.js";
import type { EventBus } from "./events/bus.js";
import type { Log } from "./events/redis.js";
import type { Settings } from "./settings.js";

/** How often a worker looks for requests whose job was lost. */
const REQUEUE_EVERY_MS = 30_000;

/**
 * The worker role (`cairn serve --role worker|all`): consumes one queue per configured provider (grants),
 * and sweeps PostgreSQL for due revocations and expired approvals every CAIRN_ACCESS_POLL_MS (and at once
 * when an early revoke is published). Every sweep claims its rows with FOR UPDATE SKIP LOCKED, so any
 * number of workers run side by side and each revocation happens once; nothing lives only in memory.
 */
export function startWorker(deps: {
  requests: Requests;
  bus: EventBus;
  log: Log;
  settings: Pick<Settings, "accessPollMs" | "accessMaxAttempts" | "accessRetryBaseMs">;
}) {
  const { requests, settings, log } = deps;
  let stopped = false;
  for (const name of Object.keys(requests.providers) as ProviderName[]) {
    requests.queue.consume(name, requests.processor.grant, {
      maxAttempts: settings.accessMaxAttempts,
      retryBaseMs: settings.accessRetryBaseMs,
    });
  }
  const sweep = serialRunner(
    async () => {
      await requests.processor.expireApprovals();
      await requests.processor.revokeDue();
    },
    { log, what: "the access revocation sweep", stopped: () => stopped },
  );
  const requeue = serialRunner(async () => void (await requests.processor.requeueStalled()), {
    log,
    what: "re-queueing stalled access requests",
    stopped: () => stopped,
  });
  requests.processor.onKick(() => void sweep.run());
  const unsubscribe = deps.bus.subscribe(REVOCATIONS_DUE, () => void sweep.run());
  const timer = setInterval(() => void sweep.run(), settings.accessPollMs);
  const requeueTimer = setInterval(() => void requeue.run(), REQUEUE_EVERY_MS);
  timer.unref();
  requeueTimer.unref();
  void sweep.run();
  void requeue.run();
  log.info({ providers: Object.keys(requests.providers), queue: requests.queue.kind }, "access worker started");

  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearInterval(requeueTimer);
      unsubscribe();
      await sweep.idle();
      await requeue.idle();
    },
  };
}
