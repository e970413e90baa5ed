import type { WatchChange, WatchReconnect, WatchResync } from "@cairn/server/contract";
import { CairnApiError, CairnConnectionError } from "./errors.js";
import { readSse } from "./sse.js";
import type { Transport } from "./transport.js";

/** What a watch yields: changes, and `ready` each time a connection has caught up and is live. */
export type WatchEvent = ({ type: "change" } & WatchChange) | { type: "ready"; revision: number };

export interface WatchOptions {
  /** Only this namespace and the ones below it. */
  namespace?: string;
  /** Only changes that can alter what this environment resolves to (writes in it and in its parents). */
  environment?: string;
  /** Replay every change after this revision first (e.g. the `revision` of a watch you stored). */
  since?: number;
  /** Stops the watch: the iteration ends quietly. */
  signal?: AbortSignal;
  /** Delays between reconnects: from `minDelayMs` (default 250), doubling up to `maxDelayMs` (default 30 000), jittered. */
  reconnect?: { minDelayMs?: number; maxDelayMs?: number };
  /** No byte (not even a heartbeat, sent every 15 s) for this long → the connection is presumed dead and reopened. Default 45 000; 0 = never. */
  idleTimeoutMs?: number;
  /** Told before each reconnect, for logs and metrics. */
  onReconnect?: (info: ReconnectInfo) => void;
}

export interface ReconnectInfo {
  /** Consecutive failed attempts so far (0 after a clean end, such as a server shutdown). */
  attempt: number;
  delayMs: number;
  /** Why: the server's `reconnect` reason, or the error that ended the connection. */
  reason: WatchReconnect["reason"] | "ended" | "error";
  error?: unknown;
  /** The revision the next connection resumes after. */
  revision: number | undefined;
}

/** Errors that do not get better by reconnecting: the request itself is refused. */
function isFatal(e: unknown): boolean {
  if (!(e instanceof CairnApiError)) return false;
  return e.status !== 408 && e.status !== 429 && e.status < 500;
}

/** A `resync` event means the same as a 410 before the stream: the resume point was compacted. */
function goneError(data: WatchResync): CairnApiError {
  return new CairnApiError({
    type: "urn:cairn:problem:gone",
    title: "Gone",
    status: 410,
    code: "gone",
    detail: data.detail,
    requestId: "",
    compactedRevision: data.compactedRevision,
  } as ConstructorParameters<typeof CairnApiError>[0]);
}

/** Waits `ms`, or less when the signal aborts. */
export const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });

/**
 * `client.watch()`: an async iterable of change events that reconnects by itself (backoff with jitter) and
 * resumes after the last revision it saw (`Last-Event-ID`), so a consumer sees every change once, in
 * order, across server restarts and network loss. Values are never in events: read them with `get`.
 *
 * Throws a `CairnApiError` when reconnecting cannot help: 400/401/403/404, and 410 `gone` (`isGone`) when
 * the resume point was compacted — reload the state and start a new watch from its revision.
 */
export class WatchStream implements AsyncIterable<WatchEvent> {
  readonly #http: Transport;
  readonly #options: WatchOptions;
  readonly #stop = new AbortController();
  #revision: number | undefined;
  #started = false;

  constructor(http: Transport, options: WatchOptions = {}) {
    this.#http = http;
    this.#options = options;
    this.#revision = options.since;
    const signal = options.signal;
    if (signal?.aborted) this.#stop.abort();
    else signal?.addEventListener("abort", () => this.#stop.abort(), { once: true });
  }

  /** The revision a reconnect resumes after: the last event's id (also advanced by `ready` and `progress`). */
  get revision(): number | undefined {
    return this.#revision;
  }

  /** Ends the watch: a pending iteration finishes without an error. */
  close(): void {
    this.#stop.abort();
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    if (this.#started) throw new TypeError("a watch can be iterated once; start another with client.watch()");
    this.#started = true;
    return this.#run();
  }

  async *#run(): AsyncGenerator<WatchEvent> {
    const { namespace, environment } = this.#options;
    const minDelay = this.#options.reconnect?.minDelayMs ?? 250;
    const maxDelay = this.#options.reconnect?.maxDelayMs ?? 30_000;
    const idleTimeoutMs = this.#options.idleTimeoutMs ?? 45_000;
    const stop = this.#stop.signal;
    let attempt = 0;
    while (!stop.aborted) {
      const connection = new AbortController();
      const abort = () => connection.abort();
      stop.addEventListener("abort", abort, { once: true });
      let reason: ReconnectInfo["reason"] = "ended";
      let error: unknown;
      try {
        const since = this.#revision;
        const response = await this.#http.open({
          path: "/api/v1/watch",
          query: { namespace, environment, since },
          headers: since === undefined ? {} : { "last-event-id": String(since) },
          signal: connection.signal,
        });
        if (!response.body) throw new CairnConnectionError(this.#http.baseUrl, "the watch answer has no body");
        for await (const message of readSse(response.body, idleTimeoutMs)) {
          if (message.event === "change") {
            const change = JSON.parse(message.data) as WatchChange;
            this.#revision = change.revision;
            yield { type: "change", ...change };
          } else if (message.event === "ready") {
            const revision = (JSON.parse(message.data) as { revision: number }).revision;
            this.#revision = revision;
            attempt = 0;
            yield { type: "ready", revision };
          } else if (message.event === "resync") {
            throw goneError(JSON.parse(message.data) as WatchResync);
          } else {
            if (message.id !== undefined && /^\d+$/.test(message.id)) this.#revision = Number(message.id);
            if (message.event === "reconnect") reason = (JSON.parse(message.data) as WatchReconnect).reason;
          }
        }
      } catch (e) {
        if (stop.aborted) return;
        if (isFatal(e)) throw e;
        reason = "error";
        error = e;
      } finally {
        stop.removeEventListener("abort", abort);
        connection.abort();
      }
      if (stop.aborted) return;
      // A clean end (server shutdown, slow-consumer drop) reconnects almost at once; failures back off.
      const retryAfter = error instanceof CairnApiError && error.retryAfter ? error.retryAfter * 1000 : 0;
      const base = reason === "error" ? Math.min(maxDelay, minDelay * 2 ** attempt++) : minDelay;
      const delayMs = Math.max(retryAfter, Math.round(base * (0.5 + Math.random() / 2)));
      this.#options.onReconnect?.({ attempt, delayMs, reason, error, revision: this.#revision });
      await sleep(delayMs, stop);
    }
  }
}
