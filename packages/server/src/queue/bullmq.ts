import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { Log } from "../events/redis.js";
import { redactUrl } from "../events/redis.js";
import type { ConsumeOptions, JobHandler, JobQueue, NewJob } from "./types.js";

/** Keys of queue `postgres` are `cairn:queue:postgres:*` (seed 003's queue:postgres, under Cairn's prefix). */
export const BULLMQ_PREFIX = "cairn:queue";

/**
 * The job queue on Redis with BullMQ: one BullMQ queue per name, jobs deduplicated by id, retried with
 * exponential backoff up to `maxAttempts`. Jobs are added after the producing transaction commits; a job
 * lost in between (Redis down at that moment) is added again by the producer's reconciler.
 */
export function createBullQueue(deps: { redisUrl: string; log: Log; maxAttempts: number; retryBaseMs: number }): JobQueue {
  // BullMQ's blocking commands need maxRetriesPerRequest: null; it duplicates this for each worker.
  const connection = new Redis(deps.redisUrl, { maxRetriesPerRequest: null, connectionName: "cairn-queue", lazyConnect: false });
  let warned = false;
  connection.on("error", (e: Error) => {
    if (!warned) deps.log.warn({ redis: redactUrl(deps.redisUrl), error: e.message }, "the queue's Redis connection failed; retrying");
    warned = true;
  });
  connection.on("ready", () => {
    warned = false;
  });
  const queues = new Map<string, Queue>();
  const workers: Worker[] = [];

  const queueOf = (name: string) => {
    let q = queues.get(name);
    if (!q) {
      q = new Queue(name, { connection, prefix: BULLMQ_PREFIX });
      q.on("error", () => {});
      queues.set(name, q);
    }
    return q;
  };

  return {
    kind: "redis",

    async stage() {},

    async dispatch(job: NewJob) {
      await queueOf(job.queue).add("job", job.data, {
        jobId: job.id,
        attempts: deps.maxAttempts,
        backoff: { type: "exponential", delay: deps.retryBaseMs },
        removeOnComplete: true,
        removeOnFail: 1000,
      });
    },

    consume(queue: string, handler: JobHandler, options: ConsumeOptions) {
      const worker = new Worker(
        queue,
        async (job) => handler({ id: job.id as string, queue, data: job.data as Record<string, unknown>, attempt: job.attemptsMade + 1 }),
        { connection, prefix: BULLMQ_PREFIX, concurrency: options.concurrency ?? 4 },
      );
      worker.on("error", (e) => deps.log.warn({ queue, error: e.message }, "queue worker error"));
      workers.push(worker);
    },

    async close() {
      await Promise.all(workers.map((w) => w.close().catch(() => {})));
      await Promise.all([...queues.values()].map((q) => q.close().catch(() => {})));
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}
