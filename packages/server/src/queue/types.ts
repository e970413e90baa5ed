import type { Conn } from "../db/database.js";

/** A job as a handler sees it: `attempt` counts from 1. */
export interface Job {
  id: string;
  queue: string;
  data: Record<string, unknown>;
  attempt: number;
}

export interface NewJob {
  queue: string;
  /** Unique per queue: adding a job whose id is already waiting does nothing. */
  id: string;
  data: Record<string, unknown>;
}

/**
 * Handles one job. Returning completes it; throwing retries it with backoff (delay `retryBaseMs · 2^(attempt-1)`,
 * capped) until `maxAttempts`, after which it is dropped (the handler decides what a last failure means).
 */
export type JobHandler = (job: Job) => Promise<void>;

export interface ConsumeOptions {
  maxAttempts: number;
  retryBaseMs: number;
  /** Jobs of this queue handled at once by this process. */
  concurrency?: number;
}

/**
 * One job queue per name (one per access provider): BullMQ on Redis when REDIS_URL is set, a table in
 * PostgreSQL claimed with FOR UPDATE SKIP LOCKED otherwise. Producers call `stage` inside the transaction
 * that creates the work and `dispatch` after it commits; only one of them does anything per backend, so a
 * job is never visible before the row it is about, and (PostgreSQL) never lost when the process dies between.
 */
export interface JobQueue {
  readonly kind: "redis" | "postgres";
  stage(conn: Conn, job: NewJob): Promise<void>;
  dispatch(job: NewJob): Promise<void>;
  consume(queue: string, handler: JobHandler, options: ConsumeOptions): void;
  /** Stops consuming (waits for the jobs in hand) and closes connections. */
  close(): Promise<void>;
}

export const retryDelayMs = (attempt: number, baseMs: number, maxMs = 5 * 60_000) =>
  Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
