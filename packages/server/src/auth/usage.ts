import type { Db } from "../db/database.js";
import type { Log } from "../events/redis.js";
import { silentLog } from "../events/redis.js";
import type { ApiKeyRepository, UsageBatch } from "./repository.js";

const HOUR = 3_600_000;

interface Pending {
  count: number;
  last: number;
  hours: Map<number, number>;
}

/**
 * Key usage (last used, total, uses per hour) counted in memory and written in one transaction every
 * `intervalMs` and on close: N requests cost a handful of statements, never one write each. A flush that
 * fails keeps its counts for the next one.
 */
export function createUsageRecorder(deps: { db: Db; repo: Pick<ApiKeyRepository, "addUsage">; intervalMs: number; log?: Log }) {
  const log = deps.log ?? silentLog;
  let pending = new Map<string, Pending>();
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  function merge(into: Map<string, Pending>, keyId: string, p: Pending) {
    const cur = into.get(keyId);
    if (!cur) {
      into.set(keyId, p);
      return;
    }
    cur.count += p.count;
    cur.last = Math.max(cur.last, p.last);
    for (const [hour, n] of p.hours) cur.hours.set(hour, (cur.hours.get(hour) ?? 0) + n);
  }

  async function write(): Promise<void> {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    const rows: UsageBatch[] = [...batch].map(([keyId, p]) => ({
      keyId,
      count: p.count,
      lastUsedAt: new Date(p.last),
      hours: [...p.hours].map(([hour, n]) => [new Date(hour), n]),
    }));
    try {
      await deps.db.transaction().execute((trx) => deps.repo.addUsage(trx, rows));
    } catch (e) {
      for (const [keyId, p] of batch) merge(pending, keyId, p);
      log.warn({ keys: batch.size, error: (e as Error).message }, "could not write API key usage; keeping it for the next flush");
    }
  }

  return {
    record(keyId: string, at = Date.now()) {
      const hour = Math.floor(at / HOUR) * HOUR;
      let p = pending.get(keyId);
      if (!p) {
        p = { count: 0, last: at, hours: new Map() };
        pending.set(keyId, p);
      }
      p.count += 1;
      if (at > p.last) p.last = at;
      p.hours.set(hour, (p.hours.get(hour) ?? 0) + 1);
    },
    /** Writes what is pending (flushes run one at a time). */
    flush(): Promise<void> {
      running = running.then(write, write);
      return running;
    },
    start() {
      timer ??= setInterval(() => void this.flush(), deps.intervalMs);
      timer.unref();
    },
    async close() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await this.flush();
    },
  };
}

export type UsageRecorder = ReturnType<typeof createUsageRecorder>;
