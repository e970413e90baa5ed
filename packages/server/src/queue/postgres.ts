import { sql } from "kysely";
import { serialRunner } from "../background.js";
import type { Conn, Db } from "../db/database.js";
import type { EventBus } from "../events/bus.js";
import type { Log } from "../events/redis.js";
import { type ConsumeOptions, type Job, type JobHandler, type JobQueue, type NewJob, retryDelayMs } from "./types.js";

/** Published after a job commits, so consumers on every replica look at once instead of at their next poll. */
const JOBS_ADDED = "queue.jobs";
/** A job whose consumer died is handed to another after this long. */
const LEASE_SECONDS = 60;

/**
 * The job queue in PostgreSQL (`queue_jobs`): a job is a row written in the producer's own transaction;
 * consumers claim due rows with FOR UPDATE SKIP LOCKED and a lease (so two never take the same job, and a
 * crashed consumer's job comes back after the lease), delete them when done, and push `run_at` back with
 * exponential backoff when the handler throws. Works the same on the embedded store.
 */
export function createPostgresQueue(deps: { db: Db; bus?: EventBus; log: Log; pollMs: number }): JobQueue {
  const consumers: { stop(): Promise<void> }[] = [];
  let closed = false;

  return {
    kind: "postgres",

    async stage(conn: Conn, job: NewJob) {
      await conn
        .insertInto("queue_jobs")
        .values({ id: job.id, queue: job.queue, data: JSON.stringify(job.data) })
        .onConflict((oc) => oc.column("id").doNothing())
        .execute();
    },

    async dispatch(job: NewJob) {
      await deps.bus?.publish(JOBS_ADDED, { queue: job.queue });
    },

    consume(queue: string, handler: JobHandler, options: ConsumeOptions) {
      const batch = Math.max(1, options.concurrency ?? 4);
      const inFlight = new Set<Promise<void>>();

      async function runOne(job: Job): Promise<void> {
        try {
          await handler(job);
          await deps.db.deleteFrom("queue_jobs").where("id", "=", job.id).execute();
        } catch (e) {
          const message = (e as Error)?.message ?? String(e);
          if (job.attempt >= options.maxAttempts) {
            deps.log.warn({ queue, job: job.id, attempt: job.attempt, error: message }, "job failed for the last time; dropped");
            await deps.db.deleteFrom("queue_jobs").where("id", "=", job.id).execute();
            return;
          }
          const delay = retryDelayMs(job.attempt, options.retryBaseMs);
          await deps.db
            .updateTable("queue_jobs")
            .set({ locked_until: null, last_error: message.slice(0, 2000), run_at: new Date(Date.now() + delay) })
            .where("id", "=", job.id)
            .execute();
        }
      }

      async function pass(): Promise<void> {
        for (;;) {
          if (closed) return;
          const claimed = await sql<{ id: string; queue: string; data: Record<string, unknown> | string; attempts: number }>`
            update queue_jobs set locked_until = now() + make_interval(secs => ${LEASE_SECONDS}), attempts = attempts + 1
            where id in (
              select id from queue_jobs
              where queue = ${queue} and run_at <= now() and (locked_until is null or locked_until < now())
              order by run_at limit ${batch}
              for update skip locked)
            returning id, queue, data, attempts`.execute(deps.db);
          if (claimed.rows.length === 0) return;
          const runs = claimed.rows.map((r) => {
            const data = typeof r.data === "string" ? (JSON.parse(r.data) as Record<string, unknown>) : r.data;
            const p = runOne({ id: r.id, queue: r.queue, data, attempt: r.attempts }).catch((e) =>
              deps.log.warn(
                { queue, job: r.id, error: (e as Error).message },
                "could not record a job's outcome; it comes back after its lease",
              ),
            );
            inFlight.add(p);
            return p.finally(() => inFlight.delete(p));
          });
          await Promise.all(runs);
          if (claimed.rows.length < batch) return;
        }
      }

      const runner = serialRunner(pass, { log: deps.log, what: `the ${queue} queue`, stopped: () => closed });
      const timer = setInterval(() => void runner.run(), deps.pollMs);
      timer.unref();
      const unsubscribe = deps.bus?.subscribe(JOBS_ADDED, (p) => {
        if (p.queue === queue) void runner.run();
      });
      void runner.run();
      consumers.push({
        async stop() {
          clearInterval(timer);
          unsubscribe?.();
          await runner.idle();
          await Promise.all([...inFlight]);
        },
      });
    },

    async close() {
      closed = true;
      await Promise.all(consumers.map((c) => c.stop()));
    },
  };
}
