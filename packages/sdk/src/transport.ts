import type { Problem, TokenPair } from "@cairn/server/contract";
import { CairnApiError, CairnConnectionError } from "./errors.js";

export interface ClientOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:8080` (a trailing `/api/v1` is tolerated). */
  url: string;
  /** API key (`cairn_…`) or session (access) token; omit for `health()`/`ready()` and `auth.login()`. */
  token?: string;
  /**
   * A session's refresh token. When given, a request answered 401 exchanges it once at `/auth/refresh`
   * for a new pair and is retried with the new access token. Refresh tokens are single-use: store the new
   * pair `onTokens` hands you, or the next process to refresh with the old one ends the whole session.
   */
  refreshToken?: string;
  /** Told of every new token pair this client gets (`auth.login`, `auth.refresh`, automatic refresh). */
  onTokens?: (pair: TokenPair) => void | Promise<void>;
  /** A `fetch` implementation; defaults to the global one (Node ≥ 18, browsers). */
  fetch?: typeof fetch;
  /** Give up on a request after this many milliseconds; 0 waits forever. Default 30 000. */
  timeoutMs?: number;
}

export type QueryValue = string | number | boolean | undefined;

export interface RequestSpec {
  method: "GET" | "PUT" | "POST" | "PATCH" | "DELETE";
  /** Path below the base URL, segments already encoded. */
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** Expected version for optimistic concurrency; sent as `If-Match: "N"`. */
  ifMatch?: number;
  /** Read the body as text instead of JSON (exports in yaml/dotenv). */
  text?: boolean;
  /** `false`: send no bearer token and never refresh (login, refresh, logout). Default true. */
  auth?: boolean;
  /** Extra request headers (e.g. `Idempotency-Key`). */
  headers?: Record<string, string>;
}

/** A long-lived GET whose body is read as it arrives (Server-Sent Events). */
export interface StreamSpec {
  path: string;
  query?: Record<string, QueryValue>;
  headers?: Record<string, string>;
  /** Ends the request, and the body being read. */
  signal?: AbortSignal;
}

/** Turns requests into fetch calls, and failures into `CairnApiError` / `CairnConnectionError`. */
export class Transport {
  readonly baseUrl: string;
  #token: string | undefined;
  #refreshToken: string | undefined;
  /** The refresh in flight, shared by every request that got a 401 meanwhile (refresh tokens are single-use). */
  #refreshing: Promise<TokenPair> | undefined;
  readonly #onTokens: ClientOptions["onTokens"];
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(options: ClientOptions) {
    if (!options.url) throw new TypeError("Cairn client: `url` is required, e.g. http://127.0.0.1:8080");
    this.baseUrl = options.url.replace(/\/+$/, "").replace(/\/api\/v1$/, "");
    this.#token = options.token;
    this.#refreshToken = options.refreshToken;
    this.#onTokens = options.onTokens;
    // Bind: a bare `fetch` reference called as a method of another object throws "Illegal invocation" in browsers.
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** The bearer token and refresh token in use now (they change when a session is refreshed). */
  get credentials(): { token: string | undefined; refreshToken: string | undefined } {
    return { token: this.#token, refreshToken: this.#refreshToken };
  }

  /** Use a session from now on: its access token as the bearer token, its refresh token for renewals. */
  async adopt(pair: TokenPair): Promise<void> {
    this.#token = pair.accessToken;
    this.#refreshToken = pair.refreshToken;
    await this.#onTokens?.(pair);
  }

  /** Forget the session (after logout): no bearer token, nothing to refresh. */
  forget(): void {
    this.#token = undefined;
    this.#refreshToken = undefined;
  }

  /**
   * Exchange the refresh token for a new pair and adopt it. Concurrent callers share one exchange:
   * presenting a spent refresh token twice would make the server end the whole session.
   */
  refresh(refreshToken = this.#refreshToken): Promise<TokenPair> {
    if (!refreshToken) return Promise.reject(new TypeError("Cairn client: no refresh token: log in first (auth.login)"));
    if (this.#refreshing && refreshToken === this.#refreshToken) return this.#refreshing;
    const exchange = this.request<TokenPair>({ method: "POST", path: "/api/v1/auth/refresh", body: { refreshToken }, auth: false })
      .then(async (pair) => {
        await this.adopt(pair);
        return pair;
      })
      .finally(() => {
        if (this.#refreshing === exchange) this.#refreshing = undefined;
      });
    if (refreshToken === this.#refreshToken) this.#refreshing = exchange;
    return exchange;
  }

  async request<T>(spec: RequestSpec): Promise<T> {
    const auth = spec.auth !== false;
    const token = this.#token;
    try {
      return await this.#send<T>(spec, auth ? token : undefined);
    } catch (e) {
      // A session token expired (or was never valid): renew it once, then try again. An API key has no refresh token.
      if (!auth || !this.#refreshToken || !(e instanceof CairnApiError) || e.status !== 401) throw e;
      // Another request may have renewed it while this one was in flight.
      if (this.#token === token) await this.refresh();
      return this.#send<T>(spec, this.#token);
    }
  }

  /**
   * Opens a streaming GET and returns the response once its head says 2xx (its body unread). Errors as for
   * `request` (with the same one-time session refresh on a 401); `timeoutMs` bounds the wait for the head only.
   */
  async open(spec: StreamSpec): Promise<Response> {
    const token = this.#token;
    try {
      return await this.#openOnce(spec, token);
    } catch (e) {
      if (!this.#refreshToken || !(e instanceof CairnApiError) || e.status !== 401) throw e;
      if (this.#token === token) await this.refresh();
      return this.#openOnce(spec, this.#token);
    }
  }

  async #openOnce(spec: StreamSpec, token: string | undefined): Promise<Response> {
    const url = this.baseUrl + spec.path + queryString(spec.query);
    const headers: Record<string, string> = { accept: "text/event-stream", ...spec.headers };
    if (token) headers.authorization = `Bearer ${token}`;
    const controller = new AbortController();
    const abort = () => controller.abort(spec.signal?.reason);
    if (spec.signal?.aborted) abort();
    spec.signal?.addEventListener("abort", abort, { once: true });
    let timedOut = false;
    const timer =
      this.#timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            controller.abort();
          }, this.#timeoutMs)
        : undefined;
    let response: Response;
    try {
      response = await this.#fetch(url, { method: "GET", headers, signal: controller.signal });
    } catch (e) {
      spec.signal?.removeEventListener("abort", abort);
      if (spec.signal?.aborted) throw e;
      throw new CairnConnectionError(
        this.baseUrl,
        timedOut ? `no answer within ${this.#timeoutMs / 1000}s` : describeNetworkFailure(e, this.#timeoutMs),
        e,
      );
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
    if (!response.ok) {
      spec.signal?.removeEventListener("abort", abort);
      throw await toApiError(response);
    }
    // The listener stays while the body is read: aborting the caller's signal ends the body too.
    return response;
  }

  async #send<T>(spec: RequestSpec, token: string | undefined): Promise<T> {
    const url = this.baseUrl + spec.path + queryString(spec.query);
    const headers: Record<string, string> = { accept: spec.text ? "*/*" : "application/json", ...spec.headers };
    if (token) headers.authorization = `Bearer ${token}`;
    if (spec.ifMatch !== undefined) headers["if-match"] = `"${spec.ifMatch}"`;
    let body: string | undefined;
    if (spec.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(spec.body);
    }

    let response: Response;
    try {
      response = await this.#fetch(url, {
        method: spec.method,
        headers,
        body,
        signal: this.#timeoutMs > 0 ? AbortSignal.timeout(this.#timeoutMs) : undefined,
      });
    } catch (e) {
      throw new CairnConnectionError(this.baseUrl, describeNetworkFailure(e, this.#timeoutMs), e);
    }

    if (!response.ok) throw await toApiError(response);
    if (spec.text) return (await response.text()) as T;
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }
}

function queryString(query: Record<string, QueryValue> | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) params.set(name, String(value));
  }
  const s = params.toString();
  return s ? `?${s}` : "";
}

async function toApiError(response: Response): Promise<CairnApiError> {
  const retryAfter = Number(response.headers.get("retry-after")) || undefined;
  const text = await response.text().catch(() => "");
  try {
    const parsed = JSON.parse(text) as Partial<Problem>;
    if (parsed && typeof parsed === "object" && typeof parsed.code === "string") {
      return new CairnApiError({ ...parsed, status: response.status } as Problem, retryAfter);
    }
  } catch {
    // not JSON: a proxy or load balancer answered; build the problem from the status below
  }
  const snippet = text.trim().slice(0, 200);
  const problem = {
    type: "about:blank",
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    code: codeForStatus(response.status),
    detail: `HTTP ${response.status} ${response.statusText}${snippet ? `: ${snippet}` : ""}`.trim(),
  };
  return new CairnApiError(problem as unknown as Problem, retryAfter);
}

/** Only for answers that are not problem documents (e.g. from a proxy); the server always sends `code`. */
function codeForStatus(status: number): string {
  const codes: Record<number, string> = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    410: "gone",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    503: "unavailable",
  };
  return codes[status] ?? (status >= 500 ? "internal" : "bad_request");
}

function describeNetworkFailure(e: unknown, timeoutMs: number): string {
  if (e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError")) {
    return `no answer within ${timeoutMs / 1000}s`;
  }
  // Node's fetch hides the socket error in `cause` (ECONNREFUSED, ENOTFOUND, …).
  const cause = e instanceof Error ? (e.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === "string") return cause.code;
  if (cause && typeof cause.message === "string") return cause.message;
  return e instanceof Error ? e.message : String(e);
}
