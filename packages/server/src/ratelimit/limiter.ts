import type { Redis } from "ioredis";
import type { Log } from "../events/redis.js";
import { silentLog } from "../events/redis.js";
import type { Settings } from "../settings.js";
import { type RateLimitResult, slide, type WindowState } from "./window.js";

export type { RateLimitResult } from "./window.js";

export interface RateLimiter {
  readonly kind: "redis" | "memory";
  /** Counts one request against `bucket` and says whether it may proceed. Never throws, never hangs on Redis. */
  hit(bucket: string, limit: number, windowSeconds: number): Promise<RateLimitResult>;
}

/**
 * The sliding window of window.ts in one atomic Lua script: read the bucket, decide, count, all at once,
 * on Redis's clock (so replicas with skewed clocks agree). One hash per bucket, expiring after two windows.
 */
const SLIDE_LUA = `
local limit = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local idx = math.floor(now / win)
local h = redis.call('HMGET', KEYS[1], 'i', 'c', 'p')
local si = tonumber(h[1])
local curr, prev = 0, 0
if si then
  if si >= idx then
    curr = tonumber(h[2]) or 0
    prev = tonumber(h[3]) or 0
  elseif si == idx - 1 then
    prev = tonumber(h[2]) or 0
  end
end
local widx = idx
if si and si > idx then widx = si end
local elapsed = now - widx * win
if elapsed < 0 then elapsed = 0 end
if elapsed > win then elapsed = win end
local untilEnd = win - elapsed
local est = prev * untilEnd / win + curr
local allowed = 0
if est + 1 <= limit then
  allowed = 1
  curr = curr + 1
  est = est + 1
end
local wait = 0
if allowed == 0 then
  if curr <= limit - 1 and prev > 0 then
    wait = untilEnd - (limit - 1 - curr) * win / prev
  else
    local c = curr
    if c < 1 then c = 1 end
    local more = win - (limit - 1) * win / c
    if more < 0 then more = 0 end
    wait = untilEnd + more
  end
end
redis.call('HSET', KEYS[1], 'i', widx, 'c', curr, 'p', prev)
redis.call('PEXPIRE', KEYS[1], win * 2 + 1000)
return {allowed, tostring(est), tostring(untilEnd), tostring(wait), tostring(now)}
`;

/** Redis keys: `cairn:rl:<bucket>:<window seconds>` — the bucket names what is limited (a key id, an IP), never a secret. */
export const REDIS_PREFIX = "cairn:rl:";

type SlideCommand = (key: string, limit: number, windowMs: number) => Promise<[number, string, string, string, string]>;

/** In-process buckets, bounded: the least recently used bucket goes first once `maxBuckets` are held. */
export function memoryRateLimiter(options: { maxBuckets?: number; now?: () => number } = {}): RateLimiter & { size(): number } {
  const maxBuckets = options.maxBuckets ?? 100_000;
  const now = options.now ?? Date.now;
  const buckets = new Map<string, WindowState & { expires: number }>();
  return {
    kind: "memory",
    size: () => buckets.size,
    async hit(bucket, limit, windowSeconds) {
      const windowMs = windowSeconds * 1000;
      const key = `${bucket}:${windowSeconds}`;
      const t = now();
      const existing = buckets.get(key);
      const { state, result } = slide(existing && existing.expires > t ? existing : undefined, t, limit, windowMs);
      buckets.delete(key);
      buckets.set(key, { ...state, expires: t + 2 * windowMs });
      while (buckets.size > maxBuckets) {
        const oldest = buckets.keys().next().value as string;
        buckets.delete(oldest);
      }
      return result;
    },
  };
}

/**
 * Redis when REDIS_URL is set (`redis` is then the shared, connected client), so a limit holds across
 * replicas; in-process otherwise. If Redis fails mid-flight the request is counted in-process instead
 * (limits then hold per replica until Redis is back) and a warning is logged — never a hang, never a 500.
 */
export function createRateLimiter(settings: Pick<Settings, "redisUrl">, redis?: Redis, options: { log?: Log } = {}): RateLimiter {
  const memory = memoryRateLimiter();
  if (!settings.redisUrl || !redis) return memory;
  const log = options.log ?? silentLog;
  if (!(redis as unknown as { cairnSlide?: unknown }).cairnSlide) {
    redis.defineCommand("cairnSlide", { numberOfKeys: 1, lua: SLIDE_LUA });
  }
  const slideCommand = (redis as unknown as { cairnSlide: SlideCommand }).cairnSlide.bind(redis);
  let lastWarning = 0;
  return {
    kind: "redis",
    async hit(bucket, limit, windowSeconds) {
      const windowMs = windowSeconds * 1000;
      try {
        const [allowed, est, untilEnd, wait, now] = await slideCommand(`${REDIS_PREFIX}${bucket}:${windowSeconds}`, limit, windowMs);
        const estimate = Number(est);
        const waitMs = Number(wait);
        const resetMs = allowed === 1 ? Number(untilEnd) : Math.max(waitMs, 1);
        return {
          allowed: allowed === 1,
          limit,
          remaining: Math.max(0, Math.floor(limit - estimate + 1e-9)),
          resetSeconds: Math.max(1, Math.ceil(resetMs / 1000)),
          retryAfterSeconds: allowed === 1 ? 0 : Math.max(1, Math.ceil(waitMs / 1000)),
          resetAt: Number(now) + resetMs,
        };
      } catch (e) {
        if (Date.now() - lastWarning > 10_000) {
          lastWarning = Date.now();
          log.warn({ error: (e as Error).message }, "Redis rate limiting failed; counting in-process until Redis answers again");
        }
        return memory.hit(bucket, limit, windowSeconds);
      }
    },
  };
}
