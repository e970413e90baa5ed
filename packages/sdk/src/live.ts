import type { ConfigList, ResolvedConfig } from "@cairn/server/contract";
import { CairnApiError, isGone, isNotFound } from "./errors.js";
import { sleep as pause, type WatchOptions, type WatchStream } from "./watch.js";

/** The slice of the client a live snapshot uses. */
export interface LiveSource {
  list(namespace: string, options: { environment?: string; reveal?: boolean }): Promise<ConfigList>;
  get(namespace: string, key: string, options: { environment?: string; reveal?: boolean }): Promise<ResolvedConfig>;
  watch(options: WatchOptions): WatchStream;
}

export interface LiveOptions {
  /** Secret values in clear (needs `secrets:<ns>:reveal`; every read is audited). Default: masked. */
  reveal?: boolean;
  /** Stops following (same as `close()`). */
  signal?: AbortSignal;
  /** Passed to the underlying watch. */
  watch?: Pick<WatchOptions, "reconnect" | "idleTimeoutMs" | "onReconnect">;
  /** Above this many keys changed at once, one `list` replaces per-key reads. Default 20. */
  relistThreshold?: number;
}

/** The `detail` of a `change` event: one key's new state (`entry` undefined when it was deleted). */
export interface LiveChange {
  key: string;
  value: unknown;
  previous: unknown;
  entry: ResolvedConfig | undefined;
  /** The snapshot's revision once this change is in it. */
  revision: number;
}

export interface LiveEventMap {
  /** A key's value (or where it resolves from) changed. */
  change: CustomEvent<LiveChange>;
  /** The snapshot is loaded (again, after a resync): `revision` is where it stands. */
  ready: CustomEvent<{ revision: number }>;
  /** Following stopped for good (refused: 401, 403, 404 …): the snapshot keeps its last state. */
  error: CustomEvent<{ error: unknown }>;
}

/** Refused for good (401, 403, 400 …): retrying cannot help. Timeouts, 429 and 5xx are worth retrying. */
const refused = (e: unknown) => e instanceof CairnApiError && e.status !== 408 && e.status !== 429 && e.status < 500;

const same = (a: ResolvedConfig | undefined, b: ResolvedConfig | undefined) =>
  a === b ||
  (a !== undefined &&
    b !== undefined &&
    a.version === b.version &&
    a.resolvedFrom === b.resolvedFrom &&
    a.secret === b.secret &&
    JSON.stringify(a.value) === JSON.stringify(b.value));

/**
 * `client.live(namespace, environment)`: a namespace's resolved values for one environment, kept current.
 * It watches the namespace, loads the list once the watch is live, then re-reads each changed key (one
 * `list` when many change at once) and emits `change` events. Reconnects resume without gaps; when the
 * resume point was compacted (410) it reloads the whole list and emits a `change` for every difference.
 * An `EventTarget`: `live.addEventListener("change", (e) => e.detail.key)`, or `live.on("change", …)`.
 */
export class LiveConfig extends EventTarget {
  readonly namespace: string;
  readonly environment: string;
  /** Resolves once the first snapshot is loaded; rejects if following fails before that. */
  readonly ready: Promise<void>;
  readonly #source: LiveSource;
  readonly #options: LiveOptions;
  readonly #stop = new AbortController();
  #entries = new Map<string, ResolvedConfig>();
  #revision = 0;
  #loaded = false;
  #resolveReady!: () => void;
  #rejectReady!: (e: unknown) => void;
  /** Keys to re-read, with the highest revision that named each. */
  #pending = new Map<string, number>();
  #refreshing: Promise<void> | undefined;
  #closed = false;

  constructor(source: LiveSource, namespace: string, environment = "base", options: LiveOptions = {}) {
    super();
    this.#source = source;
    this.namespace = namespace;
    this.environment = environment;
    this.#options = options;
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {}); // reported through "error" too; an unobserved rejection must not crash Node
    if (options.signal?.aborted) this.#stop.abort();
    else options.signal?.addEventListener("abort", () => this.close(), { once: true });
    void this.#follow();
  }

  /** The revision of the tenant's change log this snapshot reflects. */
  get revision(): number {
    return this.#revision;
  }

  /** The resolved value of a key, or undefined when it is not set. */
  get(key: string): unknown {
    return this.#entries.get(key)?.value;
  }

  /** The whole entry of a key (version, resolvedFrom, secret, …). */
  entry(key: string): ResolvedConfig | undefined {
    return this.#entries.get(key);
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  keys(): string[] {
    return [...this.#entries.keys()].sort();
  }

  /** Every key's value, as a plain object. */
  values(): Record<string, unknown> {
    return Object.fromEntries(this.keys().map((k) => [k, this.#entries.get(k)?.value]));
  }

  /** Typed `addEventListener`; returns the function that removes the listener. */
  on<K extends keyof LiveEventMap>(type: K, listener: (event: LiveEventMap[K]) => void): () => void {
    const wrapped = (event: Event) => listener(event as LiveEventMap[K]);
    this.addEventListener(type, wrapped);
    return () => this.removeEventListener(type, wrapped);
  }

  /** Stops following; the snapshot keeps its last state. */
  close(): void {
    this.#closed = true;
    this.#stop.abort();
  }

  async #follow(): Promise<void> {
    let since: number | undefined;
    let delay = 250;
    while (!this.#closed) {
      const stream = this.#source.watch({
        ...this.#options.watch,
        namespace: this.namespace,
        environment: this.environment,
        since,
        signal: this.#stop.signal,
      });
      try {
        for await (const event of stream) {
          if (event.type === "ready") {
            if (!this.#loaded) await this.#load(event.revision);
            else this.#advance(event.revision);
            delay = 250;
          } else if (event.namespace === this.namespace) {
            this.#pending.set(event.key, Math.max(event.revision, this.#pending.get(event.key) ?? 0));
            this.#kick();
          } else {
            this.#advance(event.revision);
          }
        }
        return; // closed
      } catch (e) {
        if (this.#closed) return;
        if (isGone(e)) {
          // Too far behind: start over from now, and diff the reloaded list against what we had.
          this.#loaded = false;
          since = undefined;
          continue;
        }
        if (refused(e)) return this.#fail(e);
        // The watch itself reconnects on its own; this was the first load failing (server away): retry.
        since = this.#loaded ? this.#revision : undefined;
        await pause(delay, this.#stop.signal);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  #advance(revision: number) {
    if (this.#pending.size === 0 && !this.#refreshing && revision > this.#revision) this.#revision = revision;
  }

  /** Replaces the snapshot with a fresh list; emits a change per difference unless it is the first load. */
  async #load(revision: number): Promise<void> {
    const first = this.#revision === 0 && this.#entries.size === 0;
    this.#pending.clear();
    const list = await this.#readList();
    if (this.#closed) return;
    const next = new Map(list.map((item) => [item.key, item]));
    const before = this.#entries;
    this.#entries = next;
    this.#revision = Math.max(this.#revision, revision);
    if (!first) {
      for (const key of new Set([...before.keys(), ...next.keys()])) this.#emitIfChanged(key, before.get(key), next.get(key));
    }
    this.#loaded = true;
    this.#resolveReady();
    this.dispatchEvent(new CustomEvent("ready", { detail: { revision: this.#revision } }));
  }

  /** The namespace's entries; a namespace that does not exist yet is empty. */
  async #readList(): Promise<ResolvedConfig[]> {
    try {
      return (await this.#source.list(this.namespace, { environment: this.environment, reveal: this.#options.reveal || undefined })).items;
    } catch (e) {
      if (isNotFound(e)) return [];
      throw e;
    }
  }

  #kick(): void {
    if (this.#refreshing || this.#closed) return;
    this.#refreshing = this.#drain().finally(() => {
      this.#refreshing = undefined;
    });
  }

  /**
   * Re-reads the pending keys, batch after batch (each read starts after the change that asked for it, so a
   * later read never loses to an earlier one). The snapshot's revision moves only once a batch is applied; a
   * failed read is retried with backoff (its keys stay pending), a refused one stops following.
   */
  async #drain(): Promise<void> {
    let delay = 250;
    while (this.#pending.size > 0 && !this.#closed) {
      const batch = new Map(this.#pending);
      this.#pending.clear();
      const reads = new Map<string, ResolvedConfig | undefined>();
      try {
        if (batch.size > (this.#options.relistThreshold ?? 20)) {
          const listed = new Map((await this.#readList()).map((item) => [item.key, item]));
          for (const key of new Set([...this.#entries.keys(), ...listed.keys()])) reads.set(key, listed.get(key));
        } else {
          const keys = [...batch.keys()];
          const entries = await Promise.all(keys.map((key) => this.#readKey(key)));
          for (const [i, key] of keys.entries()) reads.set(key, entries[i]);
        }
      } catch (e) {
        for (const [key, revision] of batch) this.#pending.set(key, Math.max(revision, this.#pending.get(key) ?? 0));
        if (refused(e)) return this.#fail(e);
        await pause(delay, this.#stop.signal);
        delay = Math.min(delay * 2, 10_000);
        continue;
      }
      delay = 250;
      if (this.#closed) return;
      this.#revision = Math.max(this.#revision, ...batch.values());
      for (const [key, entry] of reads) {
        const before = this.#entries.get(key);
        if (entry) this.#entries.set(key, entry);
        else this.#entries.delete(key);
        this.#emitIfChanged(key, before, entry);
      }
    }
  }

  async #readKey(key: string): Promise<ResolvedConfig | undefined> {
    try {
      return await this.#source.get(this.namespace, key, { environment: this.environment, reveal: this.#options.reveal || undefined });
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  #emitIfChanged(key: string, before: ResolvedConfig | undefined, after: ResolvedConfig | undefined) {
    if (same(before, after)) return;
    const detail: LiveChange = { key, value: after?.value, previous: before?.value, entry: after, revision: this.#revision };
    this.dispatchEvent(new CustomEvent("change", { detail }));
  }

  #fail(error: unknown) {
    this.#closed = true;
    this.#stop.abort();
    if (!this.#loaded) this.#rejectReady(error);
    this.dispatchEvent(new CustomEvent("error", { detail: { error } }));
  }
}
