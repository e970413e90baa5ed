import { CairnError } from "../errors.js";
import type { RateLimitResult } from "./window.js";

/** `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (IETF httpapi-ratelimit-headers), on every limited response. */
export function rateLimitHeaders(result: RateLimitResult): Record<string, string> {
  return {
    "RateLimit-Limit": String(result.limit),
    "RateLimit-Remaining": String(result.remaining),
    "RateLimit-Reset": String(result.resetSeconds),
  };
}

/** The 429 for a refused request: `Retry-After` plus the RateLimit-* headers, and the same figures in the body. */
export function rateLimitedError(result: RateLimitResult, detail: string): CairnError {
  return new CairnError("rate_limited", detail, {
    headers: { "Retry-After": String(result.retryAfterSeconds), ...rateLimitHeaders(result) },
    extensions: { reason: "RATE_LIMITED", retryAfter: result.retryAfterSeconds, limit: result.limit, remaining: result.remaining },
  });
}
