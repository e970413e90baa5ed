import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { connectRedis, type Log } from "../../src/events/redis.js";
import { rateLimitedError, rateLimitHeaders } from "../../src/ratelimit/http.js";
import { createRateLimiter, memoryRateLimiter, REDIS_PREFIX } from "../../src/ratelimit/limiter.js";
import { slide, type WindowState } from "../../src/ratelimit/window.js";
import { redisUrl } from "../keys/support.js";

const bucket = () => `test:${randomBytes(6).toString("hex")}`;

describe("sliding window (pure)", () => {
  /** Runs hits at the given times (ms) against one bucket. */
  function run(limit: number, windowMs: number, times: number[]) {
    let state: WindowState | undefined;
    return times.map((t) => {
      const r = slide(state, t, limit, windowMs);
      state = r.state;
      return r.result;
    });
  }

  it("admits `limit` requests in a window, counts remaining down, and refuses the next with a wait", () => {
    const results = run(3, 10_000, [0, 1, 2, 3]);
    assert.deepEqual(
      results.map((r) => r.allowed),
      [true, true, true, false],
    );
    assert.deepEqual(
      results.map((r) => r.remaining),
      [2, 1, 0, 0],
    );
    const refused = results[3] as (typeof results)[number];
    assert.ok(refused.retryAfterSeconds >= 1);
    assert.equal(refused.resetSeconds, refused.retryAfterSeconds);
    assert.equal((results[0] as (typeof results)[number]).resetSeconds, 10, "until the window ends");
  });

  it("the previous window weighs in: after a full burst the next is allowed once its share fades enough", () => {
    // 10 at t=0 in window [0,10s): the 11th must wait for the next window and 10% of it.
    const burst = Array.from({ length: 10 }, () => 0);
    const denied = run(10, 10_000, [...burst, 0])[10];
    assert.equal(denied?.allowed, false);
    assert.equal(denied?.retryAfterSeconds, 11);
    assert.equal(run(10, 10_000, [...burst, 10_999])[10]?.allowed, false);
    assert.equal(run(10, 10_000, [...burst, 11_000])[10]?.allowed, true);
    // two windows later nothing is left
    const later = run(10, 10_000, [...burst, 20_000, 20_001, 20_002]);
    assert.ok(later.slice(10).every((r) => r.allowed));
  });

  it("refused requests are not counted", () => {
    const results = run(2, 1_000, [0, 0, 0, 0, 0, 2_000, 2_000]);
    assert.deepEqual(
      results.map((r) => r.allowed),
      [true, true, false, false, false, true, true],
    );
  });

  it("429 rendering: Retry-After and the RateLimit-* headers", () => {
    const [, refused] = run(1, 60_000, [0, 1]);
    assert.ok(refused);
    assert.deepEqual(Object.keys(rateLimitHeaders(refused)), ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]);
    const error = rateLimitedError(refused, "slow down");
    assert.equal(error.status, 429);
    assert.equal(error.headers?.["Retry-After"], String(refused.retryAfterSeconds));
    assert.equal(error.headers?.["RateLimit-Remaining"], "0");
  });
});

describe("in-process limiter", () => {
  it("admits exactly `limit` of concurrent hits", async () => {
    const limiter = memoryRateLimiter();
    const b = bucket();
    const results = await Promise.all(Array.from({ length: 30 }, () => limiter.hit(b, 10, 60)));
    assert.equal(results.filter((r) => r.allowed).length, 10);
  });

  it("keeps memory bounded: at most maxBuckets buckets, least recently used dropped first", async () => {
    let now = 0;
    const limiter = memoryRateLimiter({ maxBuckets: 100, now: () => now });
    await limiter.hit("hot", 1, 3600);
    for (let i = 0; i < 1_000; i++) {
      now++;
      await limiter.hit(`cold-${i}`, 5, 60);
      if (i % 10 === 0) await limiter.hit("hot", 1, 3600); // kept warm: still refused, so still remembered
    }
    assert.ok(limiter.size() <= 100, `size ${limiter.size()}`);
    assert.equal((await limiter.hit("hot", 1, 3600)).allowed, false);
  });

  it("is what createRateLimiter gives without REDIS_URL", () => {
    assert.equal(createRateLimiter({}).kind, "memory");
  });
});

describe("Redis limiter (Lua)", { skip: redisUrl ? false : "needs REDIS_URL" }, () => {
  const silent: Log = { warn() {}, info() {} };

  it("admits exactly `limit` of concurrent hits spread over two connections (two replicas)", async () => {
    const r1 = await connectRedis(redisUrl as string, silent);
    const r2 = await connectRedis(redisUrl as string, silent);
    try {
      const l1 = createRateLimiter({ redisUrl }, r1);
      const l2 = createRateLimiter({ redisUrl }, r2);
      assert.equal(l1.kind, "redis");
      const b = bucket();
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? l1 : l2).hit(b, 10, 60)));
      assert.equal(results.filter((r) => r.allowed).length, 10);
      const refused = results.filter((r) => !r.allowed);
      assert.ok(refused.every((r) => r.remaining === 0 && r.retryAfterSeconds >= 1));
      const remaining = results
        .filter((r) => r.allowed)
        .map((r) => r.remaining)
        .sort((x, y) => x - y);
      assert.deepEqual(remaining, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      r1.disconnect();
      r2.disconnect();
    }
  });

  it("one hash per bucket, named by the bucket, expiring after two windows", async () => {
    const redis = await connectRedis(redisUrl as string, silent);
    try {
      const limiter = createRateLimiter({ redisUrl }, redis);
      const b = bucket();
      await limiter.hit(b, 5, 30);
      const key = `${REDIS_PREFIX}${b}:30`;
      assert.equal(await redis.type(key), "hash");
      const ttl = await redis.pttl(key);
      assert.ok(ttl > 30_000 && ttl <= 61_000, `ttl ${ttl}`);
      assert.equal((await redis.hget(key, "c")) ?? "", "1");
    } finally {
      redis.disconnect();
    }
  });

  it("a window that passes admits again", async () => {
    const redis = await connectRedis(redisUrl as string, silent);
    try {
      const limiter = createRateLimiter({ redisUrl }, redis);
      const b = bucket();
      assert.equal((await limiter.hit(b, 1, 1)).allowed, true);
      assert.equal((await limiter.hit(b, 1, 1)).allowed, false);
      await new Promise((r) => setTimeout(r, 2_100));
      assert.equal((await limiter.hit(b, 1, 1)).allowed, true);
    } finally {
      redis.disconnect();
    }
  });

  it("when Redis goes away mid-flight it counts in-process, warns, and never hangs", async () => {
    const warnings: string[] = [];
    const redis = await connectRedis(redisUrl as string, silent);
    const limiter = createRateLimiter({ redisUrl }, redis, { log: { warn: (_o, m) => warnings.push(m), info() {} } });
    redis.disconnect();
    const b = bucket();
    const started = Date.now();
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await limiter.hit(b, 2, 60));
    assert.ok(Date.now() - started < 2_000);
    assert.deepEqual(
      results.map((r) => r.allowed),
      [true, true, false],
    );
    assert.equal(warnings.length, 1, "warned once, not per request");
  });

  it("rate limit keys in Redis are named cairn:rl:<bucket>:<window seconds>", async () => {
    const admin = new Redis(redisUrl as string);
    try {
      const keys = await admin.keys(`${REDIS_PREFIX}*`);
      for (const k of keys) assert.match(k, /^cairn:rl:[^\s]+:\d+$/);
    } finally {
      admin.disconnect();
    }
  });
});
