import type { FastifyReply, FastifyRequest } from "fastify";
import type { AuditLog } from "../audit/log.js";
import type { Db } from "../db/database.js";
import { CairnError } from "../errors.js";
import type { EventBus } from "../events/bus.js";
import type { Log } from "../events/redis.js";
import { silentLog } from "../events/redis.js";
import type { Metrics } from "../metrics.js";
import { rateLimitedError, rateLimitHeaders } from "../ratelimit/http.js";
import { memoryRateLimiter, type RateLimiter, type RateLimitResult } from "../ratelimit/limiter.js";
import type { Actor, CallContext } from "./actor.js";
import { looksLikeApiKey, parseApiKey, sameHash } from "./api-key.js";
import type { ApiKeyRepository, KeyRecord, RateLimitSetting } from "./repository.js";
import { createUsageRecorder } from "./usage.js";

const CHALLENGE = { "WWW-Authenticate": 'Bearer realm="cairn"' };

/** The outcome of checking a key, in the words of `POST /keys/verify` (Unkey's codes). */
export type VerifyCode = "VALID" | "NOT_FOUND" | "REVOKED" | "EXPIRED" | "RATE_LIMITED" | "USAGE_EXCEEDED";

export interface KeyVerification {
  valid: boolean;
  code: VerifyCode;
  /** The key's record, unless NOT_FOUND. */
  key?: KeyRecord;
  /** Uses left after this one; null = no quota. */
  remaining: number | null;
  /** Set when a rate limit applies to the key. */
  ratelimit?: RateLimitResult;
}

/** Sessions (JWTs, …) are verified elsewhere; a bearer token that is not a Cairn key goes here. */
export interface SessionVerifier {
  verify(token: string, request: FastifyRequest): Promise<Actor | undefined>;
}

export interface AuthenticatorDeps {
  db: Db;
  repo: ApiKeyRepository;
  audit: AuditLog;
  /** Seconds a verified key stays cached; `keys.changed` drops it sooner, on every replica. */
  cacheSeconds: number;
  bus?: EventBus;
  limiter?: RateLimiter;
  /** The limit of keys that have none and whose tenant has none (CAIRN_DEFAULT_RATE_LIMIT). */
  defaultRateLimit?: RateLimitSetting;
  usageFlushSeconds?: number;
  sessions?: SessionVerifier;
  /** Told once per key when a key is seen past its expiry or rotation grace (records key.expired). */
  onExpired?: (keyId: string) => void;
  log?: Log;
  maxCachedKeys?: number;
  /** Counts failures by reason (cairn_auth_failures_total). */
  metrics?: Pick<Metrics, "authFailure">;
}

const actorOf = (k: KeyRecord): Actor => ({
  id: k.id,
  type: "api_key",
  tenantId: k.tenantId,
  name: k.name,
  roles: k.roles,
  permissions: k.permissions,
  instanceAdmin: k.instanceAdmin,
});

/**
 * Turns `Authorization: Bearer <token>` into an Actor.
 *
 * Cairn keys: verified keys are cached in memory (keyed by the key's SHA-256, never the key) until
 * `cacheSeconds` pass or a `keys.changed` event names them; status (revoked, expired, rotation grace),
 * the rate limit and the usage quota are checked on every request — the quota with an atomic UPDATE,
 * so a cached key never bypasses it. Usage is counted in memory and flushed in batches.
 *
 * Other bearer tokens go to `sessions.verify` when one is plugged in. Every authentication failure is an
 * audit event (without the token).
 */
export function createAuthenticator(deps: AuthenticatorDeps) {
  const log = deps.log ?? silentLog;
  const limiter = deps.limiter ?? memoryRateLimiter();
  const maxCached = deps.maxCachedKeys ?? 10_000;
  const cache = new Map<string, { record: KeyRecord; until: number }>();
  const hashOfId = new Map<string, string>();
  const loading = new Map<string, Promise<KeyRecord | undefined>>();
  /** Bumped by every invalidation: a lookup that straddles one must not cache what it read. */
  let epoch = 0;
  const expiryReported = new Set<string>();
  const usage = createUsageRecorder({ db: deps.db, repo: deps.repo, intervalMs: (deps.usageFlushSeconds ?? 5) * 1000, log });
  usage.start();

  function drop(keyId: string) {
    epoch++;
    const hash = hashOfId.get(keyId);
    if (hash) cache.delete(hash);
    hashOfId.delete(keyId);
    expiryReported.delete(keyId);
  }
  function dropAll() {
    epoch++;
    cache.clear();
    hashOfId.clear();
  }
  const unsubscribe = [
    deps.bus?.subscribe("keys.changed", (p) => {
      if (typeof p.keyId === "string") drop(p.keyId);
      else dropAll();
    }),
    // A tenant's default rate limit rides along with its keys' records.
    deps.bus?.subscribe("tenants.changed", (p) => {
      epoch++;
      for (const [hash, entry] of cache) {
        if (entry.record.tenantId === p.tenantId) {
          cache.delete(hash);
          hashOfId.delete(entry.record.id);
        }
      }
    }),
    deps.bus?.onGap(dropAll),
  ];

  /** The record of a key proven by its hash (base64: the cache key), if this replica has it cached and fresh. */
  function cachedRecord(cacheKey: string): KeyRecord | undefined {
    const hit = cache.get(cacheKey);
    return hit && hit.until > Date.now() ? hit.record : undefined;
  }
  /** Past its expiry, or past the grace of its rotation. */
  const pastUse = (record: KeyRecord, now: number) =>
    (record.expiresAt !== null && now >= record.expiresAt) || (record.graceUntil !== null && now >= record.graceUntil);
  const limitOf = (record: KeyRecord) => record.rateLimit ?? record.tenantRateLimit ?? deps.defaultRateLimit;
  const contextOf = (request: FastifyRequest, actor: Actor): CallContext => ({
    actor,
    requestId: String(request.id),
    sourceIp: request.ip,
    userAgent: request.headers["user-agent"],
  });

  /** The record of a key proven by its hash, from the cache or the database (one lookup per key at a time). */
  async function lookup(prefix: string, hash: Buffer): Promise<KeyRecord | undefined> {
    const cacheKey = hash.toString("base64");
    const hit = cachedRecord(cacheKey);
    if (hit) return hit;
    let pending = loading.get(cacheKey);
    if (!pending) {
      const startEpoch = epoch;
      pending = deps.repo
        .findByPrefix(prefix)
        .then((record) => {
          if (!record || !sameHash(record.hash, hash)) return undefined;
          if (deps.cacheSeconds > 0 && epoch === startEpoch) {
            if (cache.size >= maxCached) {
              const oldest = cache.keys().next().value as string;
              const old = cache.get(oldest);
              cache.delete(oldest);
              if (old) hashOfId.delete(old.record.id);
            }
            cache.set(cacheKey, { record, until: Date.now() + deps.cacheSeconds * 1000 });
            hashOfId.set(record.id, cacheKey);
          }
          return record;
        })
        .finally(() => loading.delete(cacheKey));
      loading.set(cacheKey, pending);
    }
    return pending;
  }

  /**
   * Checks a presented key: found (in `tenantId`, when given) → not revoked → not expired → within its
   * rate limit → a use left in its quota. A VALID outcome counts as a use.
   */
  async function verifyKey(key: string, options: { tenantId?: string } = {}): Promise<KeyVerification> {
    const parsed = parseApiKey(key);
    if (!parsed) return { valid: false, code: "NOT_FOUND", remaining: null };
    const record = await lookup(parsed.prefix, parsed.hash);
    if (!record || (options.tenantId !== undefined && record.tenantId !== options.tenantId)) {
      return { valid: false, code: "NOT_FOUND", remaining: null };
    }
    const refuse = (code: VerifyCode, extra: Partial<KeyVerification> = {}): KeyVerification => ({
      valid: false,
      code,
      key: record,
      remaining: null,
      ...extra,
    });
    if (record.revokedAt !== null) return refuse("REVOKED");
    const now = Date.now();
    if (pastUse(record, now)) {
      if (!record.expiryRecorded && deps.onExpired && !expiryReported.has(record.id)) {
        expiryReported.add(record.id);
        deps.onExpired(record.id);
      }
      return refuse("EXPIRED");
    }
    const limit = limitOf(record);
    let ratelimit: RateLimitResult | undefined;
    if (limit) {
      ratelimit = await limiter.hit(`key:${record.limitKeyId}`, limit.limit, limit.windowSeconds);
      if (!ratelimit.allowed) return refuse("RATE_LIMITED", { ratelimit });
    }
    let remaining: number | null = null;
    if (record.hasQuota) {
      const left = await deps.repo.consumeQuota(record.limitKeyId);
      if (left === undefined) return refuse("USAGE_EXCEEDED", { remaining: 0, ratelimit });
      remaining = left;
    }
    usage.record(record.id);
    return { valid: true, code: "VALID", key: record, remaining, ratelimit };
  }

  async function fail(request: FastifyRequest, reason: string, detail: string, key?: KeyRecord): Promise<never> {
    deps.metrics?.authFailure(reason);
    await deps.audit.append(deps.db, {
      tenantId: key?.tenantId ?? null,
      eventType: "auth.failed",
      action: "authenticate",
      result: "failure",
      ctx: { requestId: String(request.id), sourceIp: request.ip, userAgent: request.headers["user-agent"] },
      resource: key ? { type: "api_key", id: key.id } : undefined,
      metadata: { reason, route: request.routeOptions.url },
    });
    throw new CairnError("unauthorized", detail, { headers: CHALLENGE });
  }

  async function keyActor(request: FastifyRequest, reply: FastifyReply | undefined, token: string): Promise<Actor> {
    const result = await verifyKey(token);
    const key = result.key;
    if (result.ratelimit && reply) reply.headers(rateLimitHeaders(result.ratelimit));
    switch (result.code) {
      case "VALID":
        return actorOf(key as KeyRecord);
      case "NOT_FOUND":
        return fail(request, "invalid", "the API key is not valid (unknown, revoked or mistyped)");
      case "REVOKED":
        return fail(request, "revoked", "the API key was revoked", key);
      case "EXPIRED": {
        const k = key as KeyRecord;
        const rotated = k.graceUntil !== null && Date.now() >= k.graceUntil && (k.expiresAt === null || k.graceUntil <= k.expiresAt);
        return fail(
          request,
          "expired",
          rotated
            ? `the API key was rotated and its grace period ended at ${new Date(k.graceUntil as number).toISOString()}; use the new key`
            : `the API key expired at ${new Date(k.expiresAt as number).toISOString()}`,
          k,
        );
      }
      case "RATE_LIMITED": {
        const r = result.ratelimit as RateLimitResult;
        throw rateLimitedError(
          r,
          `rate limit of ${r.limit} requests per window exceeded for this API key; retry in ${r.retryAfterSeconds}s`,
        );
      }
      case "USAGE_EXCEEDED":
        throw new CairnError("rate_limited", "the API key's usage quota is spent: it has no uses left (remaining 0)", {
          extensions: { reason: "USAGE_EXCEEDED", remaining: 0 },
        });
    }
  }

  async function verify(request: FastifyRequest, reply?: FastifyReply): Promise<Actor> {
    const header = request.headers.authorization;
    if (!header) return fail(request, "missing", "send an API key as 'Authorization: Bearer cairn_…'");
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m?.[1]) return fail(request, "malformed", "the Authorization header must be 'Bearer <api key>'");
    const token = m[1];
    if (token.startsWith("cairn_")) {
      // Shape only: verifyKey hashes it (once) when it looks right.
      if (!looksLikeApiKey(token))
        return fail(request, "malformed", "that is not a Cairn API key (they look like cairn_<prefix>_<secret>)");
      return keyActor(request, reply, token);
    }
    if (deps.sessions) {
      const actor = await deps.sessions.verify(token, request);
      if (actor) return actor;
      return fail(request, "invalid_session", "the session token is not valid (expired, revoked or mistyped); log in again");
    }
    return fail(request, "malformed", "that is not a Cairn API key (they look like cairn_<prefix>_<secret>)");
  }

  /**
   * The caller, decided without waiting when it can be: a cached, active, unexpired key with no rate limit
   * and no quota (the common case of a service reading its config). Anything else — an unknown or expired
   * key, a limit or quota to count, a session token, a failure to audit — returns undefined: use
   * `authenticate`. Spares the hot path a promise chain per request.
   */
  function cachedContext(request: FastifyRequest): CallContext | undefined {
    const header = request.headers.authorization;
    if (!header || header.length < 14 || !header.startsWith("Bearer cairn_")) return undefined;
    const token = header.slice(7).trim();
    const parsed = parseApiKey(token);
    if (!parsed) return undefined;
    const record = cachedRecord(parsed.hash.toString("base64"));
    if (!record || record.revokedAt !== null || record.hasQuota || pastUse(record, Date.now()) || limitOf(record)) return undefined;
    usage.record(record.id);
    return contextOf(request, actorOf(record));
  }

  return {
    cachedContext,
    /** The auth hook of every /api/v1 route. `reply` receives the RateLimit-* headers of a limited key. */
    async authenticate(request: FastifyRequest, reply?: FastifyReply): Promise<CallContext> {
      return contextOf(request, await verify(request, reply));
    },
    verifyKey,
    /** Drops a key from this replica's cache (others hear of it through `keys.changed`). */
    invalidate: drop,
    /** Writes pending usage counters now. */
    flushUsage: () => usage.flush(),
    async close() {
      for (const u of unsubscribe) u?.();
      await usage.close();
    },
  };
}

export type Authenticator = ReturnType<typeof createAuthenticator>;
