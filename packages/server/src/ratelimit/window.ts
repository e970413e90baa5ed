/**
 * The sliding-window counter (as Cloudflare and Unkey use it): time is cut into fixed windows; the count
 * "in the last window" is estimated as `previous × (share of the previous window still inside the sliding
 * window) + current`. Two integers per bucket, no log of timestamps, and over any window length at most
 * `limit` requests get through when they arrive evenly. The same arithmetic runs in Lua (see redis.ts).
 */
export interface WindowState {
  /** Index of the current fixed window: floor(now / windowMs). */
  idx: number;
  curr: number;
  prev: number;
}

export interface RateLimitResult {
  allowed: boolean;
  limit: number;
  /** Requests still allowed now. */
  remaining: number;
  /** Seconds until the current window ends (when allowed) or until the next request is allowed (when not). */
  resetSeconds: number;
  /** When refused: seconds to wait (≥ 1); 0 when allowed. */
  retryAfterSeconds: number;
  /** Epoch milliseconds matching resetSeconds, for JSON bodies (`ratelimit.reset`, as Unkey reports it). */
  resetAt: number;
}

export function slide(state: WindowState | undefined, now: number, limit: number, windowMs: number) {
  const idx = Math.floor(now / windowMs);
  let curr = 0;
  let prev = 0;
  if (state) {
    if (state.idx >= idx) {
      // same window (or a clock that stepped back a little: keep counting in the later one)
      curr = state.curr;
      prev = state.prev;
    } else if (state.idx === idx - 1) {
      prev = state.curr;
    }
  }
  const windowIdx = state && state.idx > idx ? state.idx : idx;
  const elapsed = Math.min(Math.max(now - windowIdx * windowMs, 0), windowMs);
  const untilEnd = windowMs - elapsed;
  let estimate = (prev * untilEnd) / windowMs + curr;
  const allowed = estimate + 1 <= limit;
  if (allowed) {
    curr += 1;
    estimate += 1;
  }
  let waitMs = 0;
  if (!allowed) {
    if (curr <= limit - 1 && prev > 0) {
      // the previous window's share must fade until one more fits
      waitMs = untilEnd - ((limit - 1 - curr) * windowMs) / prev;
    } else {
      // wait for the next window, then for this window's count (now the previous one) to fade enough
      waitMs = untilEnd + Math.max(0, windowMs - ((limit - 1) * windowMs) / Math.max(curr, 1));
    }
  }
  const resetMs = allowed ? untilEnd : Math.max(waitMs, 1);
  const result: RateLimitResult = {
    allowed,
    limit,
    remaining: Math.max(0, Math.floor(limit - estimate + 1e-9)),
    resetSeconds: Math.max(1, Math.ceil(resetMs / 1000)),
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil(waitMs / 1000)),
    resetAt: now + resetMs,
  };
  return { state: { idx: windowIdx, curr, prev } satisfies WindowState, result };
}
