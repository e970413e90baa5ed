import type { Db } from "../db/database.js";
import type { EventBus } from "../events/bus.js";
import type { Log } from "../events/redis.js";
import { createBullQueue } from "./bullmq.js";
import { createPostgresQueue } from "./postgres.js";
import type { JobQueue } from "./types.js";

export type { ConsumeOptions, Job, JobHandler, JobQueue, NewJob } from "./types.js";

/** BullMQ on Redis when REDIS_URL is set, the PostgreSQL-backed queue otherwise. */
export function createJobQueue(deps: {
  db: Db;
  bus?: EventBus;
  log: Log;
  redisUrl?: string;
  pollMs: number;
  maxAttempts: number;
  retryBaseMs: number;
}): JobQueue {
  if (deps.redisUrl)
    return createBullQueue({ redisUrl: deps.redisUrl, log: deps.log, maxAttempts: deps.maxAttempts, retryBaseMs: deps.retryBaseMs });
  return createPostgresQueue({ db: deps.db, bus: deps.bus, log: deps.log, pollMs: deps.pollMs });
}
