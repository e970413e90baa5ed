import { CONFIG_CHANGES, type ConfigChange } from "../audit/sequencer.js";
import type { EventBus } from "../events/bus.js";
import { type Log, silentLog } from "../events/redis.js";

/** Receives a tenant's changes in revision order, each revision once, as this replica learns of them. */
export interface FeedListener {
  deliver(changes: readonly ConfigChange[]): void;
}

export interface WatchHubDeps {
  repo: {
    changesAfter(tenantId: string, after: number, limit: number): Promise<ConfigChange[]>;
    currentRevisions(tenantIds: string[]): Promise<Map<string, number>>;
  };
  bus: Pick<EventBus, "subscribe" | "onGap">;
  log?: Log;
  /** Rows per read of `config_changes`. */
  pageSize?: number;
  /**
   * Safety net against a lost message (a publish that failed without the transport noticing): every this
   * many ms, one query compares each followed tenant's latest revision with the feed's.
   */
  pollMs?: number;
}

interface Feed {
  tenantId: string;
  /** Highest revision delivered to the listeners; -1 until the feed knows where the log stands. */
  last: number;
  listeners: Set<FeedListener>;
  ready: Promise<void>;
  /** A read of the table is in flight (reads are serialised per feed, so order holds). */
  pulling: boolean;
  /** Another read is needed once the current one ends. */
  again: boolean;
}

const isChange = (c: unknown): c is ConfigChange =>
  typeof c === "object" && c !== null && typeof (c as ConfigChange).revision === "number" && typeof (c as ConfigChange).key === "string";

/**
 * One feed per tenant per replica, shared by every local watcher of that tenant: a `config.changes`
 * message (from this replica's sequencer or, over Redis / LISTEN-NOTIFY, another's) advances the feed
 * once — from the changes carried inline when they continue the feed exactly, else with one read of
 * `config_changes` by revision — and the feed hands the same batch to all its listeners in process.
 * A thousand watchers cost one query per write, not a thousand. Messages only say "look"; the table is
 * the truth, so messages that arrive late, twice, out of order or never (`onGap`, the poll) lose nothing.
 */
export function createWatchHub(deps: WatchHubDeps) {
  const log = deps.log ?? silentLog;
  const pageSize = deps.pageSize ?? 1000;
  const feeds = new Map<string, Feed>();
  const counters = { reads: 0, inline: 0, delivered: 0 };
  let closed = false;

  function deliver(feed: Feed, changes: readonly ConfigChange[]) {
    if (changes.length === 0) return;
    const first = changes[0] as ConfigChange;
    if (first.revision !== feed.last + 1) {
      // Only when the feed fell further behind than the retention: the listeners see the gap and resync.
      log.warn({ tenantId: feed.tenantId, expected: feed.last + 1, got: first.revision }, "watch feed skipped compacted revisions");
    }
    feed.last = (changes[changes.length - 1] as ConfigChange).revision;
    counters.delivered += changes.length;
    for (const listener of feed.listeners) {
      try {
        listener.deliver(changes);
      } catch (e) {
        log.warn({ tenantId: feed.tenantId, error: (e as Error).message }, "a watch listener failed");
      }
    }
  }

  /** Reads everything after the feed's position, page by page, until a short page says it is caught up. */
  async function pull(feed: Feed): Promise<void> {
    if (feed.last < 0) return; // init pulls once it knows the position
    if (feed.pulling) {
      feed.again = true;
      return;
    }
    feed.pulling = true;
    try {
      do {
        feed.again = false;
        for (;;) {
          counters.reads++;
          const rows = await deps.repo.changesAfter(feed.tenantId, feed.last, pageSize);
          if (feeds.get(feed.tenantId) !== feed) return; // abandoned meanwhile
          deliver(feed, rows);
          if (rows.length < pageSize) break;
        }
      } while (feed.again);
    } catch (e) {
      log.warn({ tenantId: feed.tenantId, error: (e as Error).message }, "could not read config changes for watchers; retrying");
      setTimeout(() => void pull(feed), 1_000).unref();
    } finally {
      feed.pulling = false;
    }
  }

  function onMessage(payload: Record<string, unknown>) {
    const tenantId = payload.tenantId;
    const revision = payload.revision;
    if (typeof tenantId !== "string" || typeof revision !== "number") return;
    const feed = feeds.get(tenantId);
    if (!feed) return;
    if (feed.last < 0) return; // still initialising: init pulls after reading the position
    if (revision <= feed.last) return; // already delivered (a late or repeated message)
    const inline = Array.isArray(payload.changes) ? payload.changes.filter(isChange) : undefined;
    if (!feed.pulling && inline && inline.length > 0) {
      const fresh = inline.filter((c) => c.revision > feed.last);
      const contiguous = fresh.every((c, i) => c.revision === feed.last + 1 + i);
      if (fresh.length > 0 && contiguous && (fresh[fresh.length - 1] as ConfigChange).revision === revision) {
        counters.inline++;
        deliver(feed, fresh);
        return;
      }
    }
    void pull(feed);
  }

  function pullAll() {
    for (const feed of feeds.values()) void pull(feed);
  }

  const unsubscribe = deps.bus.subscribe(CONFIG_CHANGES, onMessage);
  const unsubscribeGap = deps.bus.onGap(pullAll);

  let polling = false;
  const poll = setInterval(async () => {
    if (polling || feeds.size === 0) return;
    polling = true;
    try {
      const ready = [...feeds.values()].filter((f) => f.last >= 0);
      const latest = await deps.repo.currentRevisions(ready.map((f) => f.tenantId));
      for (const feed of ready) if ((latest.get(feed.tenantId) ?? 0) > feed.last) void pull(feed);
    } catch (e) {
      log.warn({ error: (e as Error).message }, "watch safety poll failed");
    } finally {
      polling = false;
    }
  }, deps.pollMs ?? 5_000);
  poll.unref();

  function feedOf(tenantId: string): Feed {
    let feed = feeds.get(tenantId);
    if (feed) return feed;
    const created: Feed = { tenantId, last: -1, listeners: new Set(), ready: Promise.resolve(), pulling: false, again: false };
    feed = created;
    feeds.set(tenantId, created);
    created.ready = (async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          const latest = await deps.repo.currentRevisions([tenantId]);
          created.last = latest.get(tenantId) ?? 0;
          break;
        } catch (e) {
          if (attempt >= 2 || feeds.get(tenantId) !== created) {
            if (feeds.get(tenantId) === created) feeds.delete(tenantId);
            throw e;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      // A message may have arrived while the position was read.
      void pull(created);
    })();
    created.ready.catch(() => {});
    return created;
  }

  return {
    /**
     * Adds a listener to the tenant's feed (creating it) and resolves once the feed knows its position;
     * from then on the listener receives every change the feed delivers. Returns the unsubscribe function.
     */
    async subscribe(tenantId: string, listener: FeedListener): Promise<() => void> {
      if (closed) throw new Error("the watch hub is closed");
      const feed = feedOf(tenantId);
      feed.listeners.add(listener);
      const unsubscribeListener = () => {
        feed.listeners.delete(listener);
        if (feed.listeners.size === 0 && feeds.get(tenantId) === feed) feeds.delete(tenantId);
      };
      try {
        await feed.ready;
      } catch (e) {
        unsubscribeListener();
        throw e;
      }
      return unsubscribeListener;
    },

    /** Read now (tests, and after a caller learns of a change some other way). */
    refresh: pullAll,

    stats() {
      let listeners = 0;
      for (const feed of feeds.values()) listeners += feed.listeners.size;
      return { feeds: feeds.size, listeners, ...counters };
    },

    close() {
      closed = true;
      clearInterval(poll);
      unsubscribe();
      unsubscribeGap();
      feeds.clear();
    },
  };
}

export type WatchHub = ReturnType<typeof createWatchHub>;
