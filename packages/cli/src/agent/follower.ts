import { setTimeout as sleep } from "node:timers/promises";
import {
  CairnApiError,
  type CairnClient,
  CairnConnectionError,
  isForbidden,
  isNotFound,
  type ResolvedConfig,
  type WatchEvent,
} from "@cairn/sdk";
import type { Logger } from "./log.js";
import { changedKeys, type Snapshot, sortItems } from "./snapshot.js";

/**
 * Keeps a snapshot of one namespace in one environment current.
 *
 * - Follows the server's watch stream; on each batch of change events it re-reads the keys named (more
 *   than {@link REFETCH_LIMIT} at once: the whole list). It opens the stream before listing, so a change
 *   made during the list is in the stream, and resumes with `since=<last revision>` after a disconnect, so
 *   nothing is missed; a 410 (revision too old) resyncs by listing.
 * - Without a watch endpoint it polls (lists) every `pollIntervalMs` ± 20 % and tries the watch again
 *   every few minutes.
 * - Secrets: values are read revealed when the credential may (`secrets:<ns>:reveal`); the first refusal
 *   switches to masked reads for the rest of the run (so the audit log is not filled with denials). A list
 *   is read masked and only secrets whose version changed are revealed, so a poll does not re-reveal (and
 *   re-audit) every secret each time.
 * - `stale` is true until the server has confirmed the snapshot, and again as soon as it cannot be reached.
 */
export interface FollowerOptions {
  client: CairnClient;
  namespace: string;
  environment: string;
  prefix?: string;
  /** Poll period when there is no watch (default 30 s). */
  pollIntervalMs?: number;
  /** Try the watch stream (default true); false polls only. */
  watch?: boolean;
  /** Where to start from (the disk cache). */
  initial: Snapshot;
  log: Logger;
  /** After each applied update (`changed` may be empty when only the revision moved). Errors are logged. */
  onUpdate?(snapshot: Snapshot, changed: string[]): void | Promise<void>;
  /** A namespace that does not exist (yet) reads as empty (default true); false makes it an error. */
  emptyWhenMissing?: boolean;
  /** What the log says goes on while the server cannot be reached (default: the agent's wording). */
  meanwhile?: string;
  /** The credential may not reveal secrets (once); default: a warning in the log. */
  onRevealRefused?(reason: string): void;
}

/** More keys than this in one batch of events: one list instead of a read per key. */
const REFETCH_LIMIT = 20;
const WATCH_RETRY_MS = 5 * 60_000;
const MAX_BACKOFF_MS = 15_000;
/** Gather events arriving together into one batch. */
const BATCH_MS = 25;
const RETRY_FLUSH_MS = 2_000;

export type FollowMode = "starting" | "watch" | "poll";

export class Follower {
  snapshot: Snapshot;
  /** Not confirmed by the server: never yet, or it cannot be reached now. */
  stale = true;
  mode: FollowMode = "starting";
  /** Whether the credential may reveal secrets; false after the first refusal (tried again at the next start). */
  canReveal = true;
  lastError: string | undefined;

  readonly #o: Required<Pick<FollowerOptions, "pollIntervalMs" | "watch">> & FollowerOptions;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  /** Every change to the snapshot runs on this chain, one at a time. */
  #serial: Promise<unknown> = Promise.resolve();
  #pending = new Set<string>();
  #pendingRevision: number | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #revealWarned = false;
  /** A failure has been logged and nothing has succeeded since. */
  #down = false;

  constructor(options: FollowerOptions) {
    this.#o = { pollIntervalMs: 30_000, watch: true, ...options };
    this.snapshot = options.initial;
  }

  /**
   * One full read now. Throws what the server answered (or could not): the caller decides whether a
   * refused credential at start is fatal. `log`: also log the failure as the follower would.
   */
  async sync(options: { log?: boolean } = {}): Promise<void> {
    try {
      await this.#exclusive(() => this.#resync());
      this.#ok();
    } catch (e) {
      if (options.log) this.#failed(e);
      this.stale = true;
      this.lastError = e instanceof Error ? e.message : String(e);
      throw e;
    }
  }

  /** Follow changes in the background until `stop()`. */
  start(): void {
    this.#loop ??= this.#run().catch((e) => this.#o.log.error(`the follower stopped: ${(e as Error).message}`));
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    clearTimeout(this.#flushTimer);
    await this.#loop;
    await this.#serial.catch(() => undefined);
  }

  get #signal(): AbortSignal {
    return this.#abort.signal;
  }

  async #run(): Promise<void> {
    const { log } = this.#o;
    let backoff = 1000;
    let watchUsable = this.#o.watch;
    let nextWatchTry = 0;
    while (!this.#signal.aborted) {
      if (watchUsable || (this.#o.watch && Date.now() >= nextWatchTry)) {
        if (!this.stale) backoff = 1000;
        try {
          await this.#followWatch();
          // The watch only ends quietly when stopped.
          await this.#pause(1000);
          continue;
        } catch (e) {
          if (this.#signal.aborted) break;
          if (isNoWatch(e)) {
            if (watchUsable)
              log.warn(`no watch stream on the server (${(e as Error).message}); polling every ${this.#o.pollIntervalMs / 1000}s`);
            watchUsable = false;
            nextWatchTry = Date.now() + WATCH_RETRY_MS;
          } else if (e instanceof CairnApiError && e.status === 410) {
            log.info(`the server no longer has revision ${this.snapshot.revision} (${e.message}): resyncing`);
            this.snapshot = { ...this.snapshot, revision: undefined };
            continue;
          } else {
            // Refused (401, 403 …): the SDK does not retry those; keep serving and try again later.
            this.#failed(e);
            await this.#pause(jitter(backoff));
            backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
            continue;
          }
        }
      }
      // Polling.
      this.#setMode("poll");
      try {
        await this.#exclusive(() => this.#resync());
        this.#ok();
      } catch (e) {
        if (this.#signal.aborted) break;
        this.#failed(e);
      }
      await this.#pause(jitter(this.#o.pollIntervalMs));
    }
  }

  /**
   * Follows the SDK's watch (it reconnects and resumes by itself) until it gives up or is stopped. The
   * first `ready` of a watch without a resume point (a fresh start, or after a 410) lists the namespace:
   * the stream is live by then, so a change made during the list is in it too.
   */
  async #followWatch(): Promise<void> {
    const { client, namespace, environment } = this.#o;
    let listed = this.snapshot.revision !== undefined;
    const stream = client.watch({
      namespace,
      // Only changes that can alter what this environment resolves to (its own and its parents' writes).
      environment,
      since: this.snapshot.revision,
      signal: this.#signal,
      reconnect: { maxDelayMs: MAX_BACKOFF_MS },
      onReconnect: (info) => {
        if (info.reason === "error") this.#failed(info.error);
      },
    });
    for await (const event of stream) {
      if (event.type === "change") {
        this.#queue(event);
        continue;
      }
      // Caught up and live: apply what the replay brought before calling the snapshot current.
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
      this.#pendingRevision = Math.max(this.#pendingRevision ?? 0, event.revision);
      try {
        if (listed) await this.#exclusive(() => this.#flush());
        else {
          await this.#exclusive(() => this.#resync(event.revision));
          this.#pending.clear();
          this.#pendingRevision = undefined;
          listed = true;
        }
        this.#setMode("watch");
        this.#ok();
      } catch (e) {
        // Not applied (the server went away again): the batch stays queued for the next `ready`.
        this.#failed(e);
      }
    }
  }

  #queue(event: WatchChange): void {
    this.#pendingRevision = Math.max(this.#pendingRevision ?? 0, event.revision);
    // The watch also names namespaces below this one.
    if (event.namespace === this.#o.namespace && (!this.#o.prefix || event.key.startsWith(this.#o.prefix))) {
      this.#pending.add(event.key);
    }
    this.#scheduleFlush(BATCH_MS);
  }

  #scheduleFlush(delayMs: number): void {
    if (this.#flushTimer || this.#signal.aborted) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.#exclusive(() => this.#flush()).catch((e) => {
        // The batch went back to the queue: try again shortly (the next `ready` also would).
        this.#failed(e);
        this.#scheduleFlush(RETRY_FLUSH_MS);
      });
    }, delayMs);
  }

  async #flush(): Promise<void> {
    // Take the batch; events arriving from now on form the next one (a key read now may change again).
    const keys = [...this.#pending];
    const revision = this.#pendingRevision ?? this.snapshot.revision;
    this.#pending = new Set();
    this.#pendingRevision = undefined;
    if (keys.length === 0 && revision === this.snapshot.revision) return;
    try {
      if (keys.length > REFETCH_LIMIT) {
        await this.#resync(revision);
      } else {
        const byKey = new Map(this.snapshot.items.map((i) => [i.key, i]));
        for (const key of keys) {
          const item = await this.#read(key);
          if (item) byKey.set(key, item);
          else byKey.delete(key);
        }
        this.#apply([...byKey.values()], revision);
      }
    } catch (e) {
      if (e instanceof RevealRefused) return this.#resync(revision);
      // Not applied: the batch goes back to the queue.
      for (const key of keys) this.#pending.add(key);
      if (revision !== undefined) this.#pendingRevision = Math.max(this.#pendingRevision ?? 0, revision);
      throw e;
    }
  }

  /** One key, revealed when permitted; undefined when it has no value (deleted). */
  async #read(key: string): Promise<ResolvedConfig | undefined> {
    const { client, namespace, environment } = this.#o;
    try {
      return await client.get(namespace, key, { environment, reveal: this.canReveal || undefined });
    } catch (e) {
      if (isNotFound(e)) return undefined;
      if (isForbidden(e) && this.canReveal) {
        this.#refuseReveal(e.message);
        throw new RevealRefused();
      }
      throw e;
    }
  }

  /** A full read: the list (masked), then a reveal of the secrets that changed. */
  async #resync(revision = this.snapshot.revision): Promise<void> {
    const { client, namespace, environment, prefix } = this.#o;
    let list: ResolvedConfig[];
    try {
      list = (await client.list(namespace, { environment, prefix })).items;
    } catch (e) {
      // The namespace does not exist (yet): nothing to serve until its first write.
      if (!isNotFound(e) || this.#o.emptyWhenMissing === false) throw e;
      if (this.snapshot.items.length > 0 || this.mode === "starting") this.#o.log.warn(e.message);
      list = [];
    }
    const previous = new Map(this.snapshot.items.map((i) => [i.key, i]));
    const secrets = this.canReveal
      ? list.filter((item) => {
          if (!item.secret) return false;
          const known = previous.get(item.key);
          const same = known?.secret && known.version === item.version && known.resolvedFrom === item.resolvedFrom;
          if (same && this.snapshot.revealed) item.value = known.value;
          return !(same && this.snapshot.revealed);
        })
      : [];
    if (secrets.length > 0) {
      try {
        if (secrets.length > REFETCH_LIMIT) {
          const revealed = new Map((await client.list(namespace, { environment, prefix, reveal: true })).items.map((i) => [i.key, i]));
          list = list.map((i) => revealed.get(i.key) ?? i);
        } else {
          for (const secret of secrets) {
            const item = await this.#read(secret.key);
            if (item) list = list.map((i) => (i.key === item.key ? item : i));
          }
        }
      } catch (e) {
        if (e instanceof RevealRefused || isForbidden(e)) {
          if (this.canReveal) this.#refuseReveal((e as Error).message);
          return this.#resync(revision);
        }
        throw e;
      }
    }
    this.#apply(list, revision);
  }

  #refuseReveal(reason: string): void {
    this.canReveal = false;
    if (this.#revealWarned) return;
    this.#revealWarned = true;
    if (this.#o.onRevealRefused) {
      this.#o.onRevealRefused(reason);
      return;
    }
    this.#o.log.warn(
      `the credential may not reveal secrets in ${this.#o.namespace} (${reason}): secrets stay masked; grant secrets:${this.#o.namespace}:reveal and restart to serve them`,
    );
  }

  #apply(items: ResolvedConfig[], revision: number | undefined): void {
    const sorted = sortItems(items);
    const changed = changedKeys(this.snapshot.items, sorted);
    const moved = revision !== this.snapshot.revision;
    this.snapshot = {
      ...this.snapshot,
      items: sorted,
      revision,
      revealed: this.canReveal,
      syncedAt: new Date().toISOString(),
    };
    if (changed.length === 0 && !moved) return;
    const update = this.#o.onUpdate;
    if (!update) return;
    Promise.resolve()
      .then(() => update(this.snapshot, changed))
      .catch((e) => this.#o.log.error((e as Error).message));
  }

  #ok(): void {
    if (this.stale) this.#o.log.info(`in sync with ${this.#o.client.url}: ${this.snapshot.items.length} keys`);
    this.stale = false;
    this.#down = false;
    this.lastError = undefined;
  }

  #failed(e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    if (!this.#down) {
      const what = e instanceof CairnConnectionError ? message : `the server refused: ${message}`;
      const serving =
        this.#o.meanwhile ?? (Date.parse(this.snapshot.syncedAt) > 0 ? "serving the last known values (stale)" : "nothing to serve yet");
      this.#o.log.warn(`${what}; ${serving}, retrying`);
    }
    this.#down = true;
    this.stale = true;
    this.lastError = message;
  }

  #setMode(mode: FollowMode): void {
    if (this.mode === mode) return;
    this.mode = mode;
    this.#o.log.info(mode === "watch" ? "following changes on the watch stream" : `polling every ${this.#o.pollIntervalMs / 1000}s`);
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(fn, fn);
    this.#serial = run.catch(() => undefined);
    return run;
  }

  async #pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.#signal }).catch(() => undefined);
  }
}

class RevealRefused extends Error {}

type WatchChange = Extract<WatchEvent, { type: "change" }>;

/** An older server without `GET /watch` (its 404 names no route), or one that refuses streams altogether. */
const isNoWatch = (e: unknown) =>
  e instanceof CairnApiError && (e.status === 405 || e.status === 501 || (e.status === 404 && /no route/i.test(e.message)));

const jitter = (ms: number) => Math.round(ms * (0.8 + Math.random() * 0.4));
