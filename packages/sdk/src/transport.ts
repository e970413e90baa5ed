import type { Problem } from "@cairn/server/contract";
import { CairnApiError, CairnConnectionError } from "./errors.js";

export interface ClientOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:8080` (a trailing `/api/v1` is tolerated). */
  url: string;
  /** API key (`cairn_…`) or session token; omit for `health()`/`ready()` only. */
  token?: string;
  /** A `fetch` implementation; defaults to the global one (Node ≥ 18, browsers). */
  fetch?: typeof fetch;
  /** Give up on a request after this many milliseconds; 0 waits forever. Default 30 000. */
  timeoutMs?: number;
}

export type QueryValue = string | number | boolean | undefined;

export interface RequestSpec {
  method: "GET" | "PUT" | "POST" | "DELETE";
  /** Path below the base URL, segments already encoded. */
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** Expected version for optimistic concurrency; sent as `If-Match: "N"`. */
  ifMatch?: number;
  /** Read the body as text instead of JSON (exports in yaml/dotenv). */
  text?: boolean;
}

/** Turns requests into fetch calls, and failures into `CairnApiError` / `CairnConnectionError`. */
export class Transport {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(options: ClientOptions) {
    if (!options.url) throw new TypeError("Cairn client: `url` is required, e.g. http://127.0.0.1:8080");
    this.baseUrl = options.url.replace(/\/+$/, "").replace(/\/api\/v1$/, "");
    this.#token = options.token;
    // Bind: a bare `fetch` reference called as a method of another object throws "Illegal invocation" in browsers.
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  async request<T>(spec: RequestSpec): Promise<T> {
    const url = this.baseUrl + spec.path + queryString(spec.query);
    const headers: Record<string, string> = { accept: spec.text ? "*/*" : "application/json" };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
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
