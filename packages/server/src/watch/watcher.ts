import type { ConfigChange } from "../audit/sequencer.js";
import type { WatchChange, WatchReconnect } from "../domains/watch/schemas.js";
import { type Log, silentLog } from "../events/redis.js";
import type { FeedListener } from "./hub.js";
import { HEARTBEAT, type Sink, sseMessage } from "./sse.js";

export interface WatchFilter {
  /** This namespace and the ones below it. */
  namespace?: string;
  /** Changes written in one of these environments (the watched environment's resolution chain). */
  environments?: ReadonlySet<string>;
}

export interface WatcherOptions {
  tenantId: string;
  /** Deliver every change after this revision. */
  from: number;
  filter: WatchFilter;
  /** May the caller read this namespace's configs in this environment? (Asked once per pair per batch.) */
  mayRead(namespace: string, environment: string): Promise<boolean>;
  /** The tenant's changes after a revision, in order (the table, for replays). */
  replay(after: number, limit: number): Promise<ConfigChange[]>;
  sink: Sink;
  /** Unsent bytes a live stream may have before the client counts as too slow and is dropped. */
  maxBufferBytes: number;
  /** Changes waiting (not yet filtered and written) before the client counts as too slow. */
  maxQueued?: number;
  /** Rows per replay read. */
  pageSize?: number;
  log?: Log;
  /** Told how many change events each write carried (metrics). */
  onSent?: (events: number) => void;
  /** Called once when the stream ends, for whatever reason. */
  onEnd?: () => void;
}

type Item = { change: ConfigChange } | { ready: true };

/** A change's `event: change` message, rendered once however many streams send it (the feed shares change objects). */
const rendered = new WeakMap<ConfigChange, string>();
function changeMessage(c: ConfigChange): string {
  let message = rendered.get(c);
  if (message === undefined) {
    const event: WatchChange = {
      revision: c.revision,
      namespace: c.namespace,
      key: c.key,
      environment: c.environment,
      version: c.version,
      changeType: c.changeType as WatchChange["changeType"],
    };
    message = sseMessage("change", event, c.revision);
    rendered.set(c, message);
  }
  return message;
}

const inNamespace = (namespace: string, filter: string) => namespace === filter || namespace.startsWith(`${filter}/`);

/**
 * One watch stream. It receives its tenant's changes from the shared feed (`deliver`, synchronous, in
 * revision order) and keeps a cursor: the highest revision taken in. It starts by catching up from the
 * table (`replay` from `from`), holding what the feed delivers meanwhile; once a read comes back short, it
 * releases the held changes above its cursor (dropping the ones the replay already had) and is live. A
 * change that does not continue the cursor (never expected) sends it back to catching up from the table,
 * so the stream is gapless and duplicate-free by construction, not by timing.
 *
 * Taken-in changes are filtered (namespace, environment, then the authorizer) and written in order by one
 * async loop. Memory is bounded: a client whose unsent bytes or waiting changes pass the limits is sent a
 * final `reconnect` event naming the revision to resume from, and cut off.
 */
export class Watcher implements FeedListener {
  readonly tenantId: string;
  #opts: WatcherOptions;
  #maxQueued: number;
  #pageSize: number;
  #log: Log;
  #mode: "catching_up" | "live" | "ended" = "catching_up";
  /** Highest revision taken in (queued or done). */
  #cursor: number;
  /** Highest revision filtered and, when visible, written. */
  #processed: number;
  /** The id the client last received (what its Last-Event-ID is). */
  #sentId: number;
  #held: ConfigChange[] = [];
  #queue: Item[] = [];
  #processing = false;
  #sent = 0;

  constructor(opts: WatcherOptions) {
    this.#opts = opts;
    this.tenantId = opts.tenantId;
    this.#maxQueued = opts.maxQueued ?? 10_000;
    this.#pageSize = opts.pageSize ?? 500;
    this.#log = opts.log ?? silentLog;
    this.#cursor = opts.from;
    this.#processed = opts.from;
    this.#sentId = opts.from;
    opts.sink.onClose(() => this.#finish());
  }

  get ended(): boolean {
    return this.#mode === "ended";
  }

  get live(): boolean {
    return this.#mode === "live";
  }

  /** The revision a reconnect would resume after. */
  get revision(): number {
    return this.#processed;
  }

  /** Change events written so far. */
  get sent(): number {
    return this.#sent;
  }

  /** Starts the catch-up; call once the watcher receives the feed. */
  start(): void {
    void this.#catchUp(true);
  }

  deliver(changes: readonly ConfigChange[]): void {
    if (this.#mode === "ended") return;
    if (this.#mode === "catching_up") {
      for (const c of changes) this.#held.push(c);
      if (this.#held.length > this.#maxQueued) this.#tooSlow();
      return;
    }
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i] as ConfigChange;
      if (c.revision <= this.#cursor) continue;
      if (c.revision !== this.#cursor + 1) {
        this.#log.warn({ tenantId: this.tenantId, expected: this.#cursor + 1, got: c.revision }, "watch stream saw a gap; re-reading");
        this.#held = changes.slice(i);
        void this.#process();
        void this.#catchUp(false);
        return;
      }
      this.#take(c);
    }
    if (this.#queue.length > this.#maxQueued) this.#tooSlow();
    else void this.#process();
  }

  /** Keeps idle connections (and proxies) open; tells a filtered stream how far it got (`progress`). */
  heartbeat(): void {
    if (this.#mode !== "live") return;
    let out = "";
    if (this.#processed > this.#sentId && this.#queue.length === 0 && !this.#processing) {
      out += sseMessage("progress", { revision: this.#processed }, this.#processed);
      this.#sentId = this.#processed;
    }
    this.#opts.sink.write(out + HEARTBEAT);
    if (this.#opts.sink.buffered() > this.#opts.maxBufferBytes) this.#tooSlow();
  }

  /** Ends the stream with a final `reconnect` event: the client resumes with Last-Event-ID and loses nothing. */
  reconnect(reason: WatchReconnect["reason"], detail: string): void {
    if (this.#mode === "ended") return;
    const revision = this.#processed;
    this.#end(sseMessage("reconnect", { reason, revision, detail } satisfies WatchReconnect, revision));
  }

  #tooSlow() {
    this.reconnect(
      "slow_consumer",
      `the client did not read its events fast enough (more than ${this.#opts.maxBufferBytes} bytes or ${this.#maxQueued} changes waiting); reconnect with Last-Event-ID to resume`,
    );
  }

  #resync(compactedRevision: number) {
    this.#end(
      sseMessage("resync", {
        reason: "compacted",
        compactedRevision,
        detail: `revisions after ${this.#cursor} were compacted before this stream could send them; reload the current state, then watch from its revision`,
      }),
    );
  }

  #end(last?: string) {
    if (this.#mode === "ended") return;
    this.#mode = "ended";
    this.#queue = [];
    this.#held = [];
    this.#opts.sink.end(last);
    this.#finish();
  }

  #finish() {
    if (this.#mode !== "ended") {
      this.#mode = "ended";
      this.#queue = [];
      this.#held = [];
    }
    const onEnd = this.#opts.onEnd;
    this.#opts.onEnd = undefined;
    onEnd?.();
  }

  /** Queues a change; the caller kicks `#process` once after taking a whole batch (one authorizer pass per batch). */
  #take(change: ConfigChange) {
    this.#cursor = change.revision;
    this.#queue.push({ change });
  }

  /** Replays from the table until a short read, then releases what the feed delivered meanwhile. */
  async #catchUp(initial: boolean): Promise<void> {
    this.#mode = "catching_up";
    try {
      for (;;) {
        await this.#roomToWrite();
        if (this.ended) return;
        const rows = await this.#opts.replay(this.#cursor, this.#pageSize);
        if (this.ended) return;
        const first = rows[0];
        if (first && first.revision !== this.#cursor + 1) return this.#resync(first.revision - 1);
        for (const row of rows) this.#take(row);
        void this.#process();
        if (rows.length === this.#pageSize) continue;
        // Caught up with the table as of that read. Everything the feed delivered since is held, in order.
        const held = this.#held;
        this.#held = [];
        let gap = -1;
        for (let i = 0; i < held.length; i++) {
          const c = held[i] as ConfigChange;
          if (c.revision <= this.#cursor) continue;
          if (c.revision !== this.#cursor + 1) {
            gap = i;
            break;
          }
          this.#take(c);
        }
        if (gap >= 0) {
          this.#held = held.slice(gap);
          continue;
        }
        this.#mode = "live";
        if (initial) this.#queue.push({ ready: true });
        void this.#process();
        return;
      }
    } catch (e) {
      this.#log.warn({ tenantId: this.tenantId, error: (e as Error).message }, "watch replay failed");
      this.reconnect("unavailable", "the server could not read the change log; reconnect with Last-Event-ID to resume");
    }
  }

  /** While replaying, let the client (and the filter loop) take what was written before reading more. */
  async #roomToWrite(): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!this.ended && (this.#queue.length >= this.#pageSize || this.#opts.sink.buffered() > this.#opts.maxBufferBytes / 2)) {
      if (Date.now() > deadline) return this.#tooSlow();
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async #process(): Promise<void> {
    if (this.#processing) return;
    this.#processing = true;
    try {
      while (this.#queue.length > 0 && !this.ended) {
        const batch = this.#queue.splice(0, 1000);
        const { namespace, environments } = this.#opts.filter;
        const decisions = new Map<string, Promise<boolean>>();
        const keyOf = (c: ConfigChange) => `${c.namespace}\u0000${c.environment}`;
        for (const item of batch) {
          if (!("change" in item)) continue;
          const c = item.change;
          if (namespace !== undefined && !inNamespace(c.namespace, namespace)) continue;
          if (environments !== undefined && !environments.has(c.environment)) continue;
          const key = keyOf(c);
          if (!decisions.has(key)) decisions.set(key, this.#opts.mayRead(c.namespace, c.environment));
        }
        const keys = [...decisions.keys()];
        const answers = decisions.size > 0 ? await Promise.all(decisions.values()) : [];
        const allowed = new Map(keys.map((key, i) => [key, answers[i] === true]));
        if (this.ended) return;
        let out = "";
        const sentBefore = this.#sent;
        for (const item of batch) {
          if ("change" in item) {
            const c = item.change;
            this.#processed = c.revision;
            if (allowed.get(keyOf(c)) !== true) continue;
            out += changeMessage(c);
            this.#sentId = c.revision;
            this.#sent++;
          } else {
            out += sseMessage("ready", { revision: this.#processed }, this.#processed);
            this.#sentId = this.#processed;
          }
        }
        if (out) this.#opts.sink.write(out);
        if (this.#sent > sentBefore) this.#opts.onSent?.(this.#sent - sentBefore);
        if (this.#mode === "live" && this.#opts.sink.buffered() > this.#opts.maxBufferBytes) this.#tooSlow();
      }
    } catch (e) {
      this.#log.warn({ tenantId: this.tenantId, error: (e as Error).message }, "watch filtering failed");
      this.reconnect("unavailable", "the server could not check permissions for this stream; reconnect with Last-Event-ID to resume");
    } finally {
      this.#processing = false;
    }
  }
}
