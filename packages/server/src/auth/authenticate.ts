import type { FastifyRequest } from "fastify";
import type { AuditLog } from "../audit/log.js";
import type { Db } from "../db/database.js";
import { CairnError } from "../errors.js";
import type { Actor, CallContext } from "./actor.js";
import { parseApiKey, sameHash } from "./api-key.js";
import type { ApiKeyRepository } from "./repository.js";

const CHALLENGE = { "WWW-Authenticate": 'Bearer realm="cairn"' };

/**
 * Turns `Authorization: Bearer cairn_…` into an Actor. Verified keys are cached in memory for a few
 * seconds (keyed by the key's SHA-256, never the key), so a hot key costs no database round trip.
 * Every failure is an audit event.
 */
export function createAuthenticator(deps: { db: Db; repo: ApiKeyRepository; audit: AuditLog; cacheSeconds: number }) {
  const cache = new Map<string, { actor: Actor; until: number }>();

  async function fail(request: FastifyRequest, reason: string, detail: string): Promise<never> {
    await deps.audit.append(deps.db, {
      tenantId: null,
      eventType: "auth.failed",
      action: "authenticate",
      result: "failure",
      ctx: { requestId: String(request.id), sourceIp: request.ip, userAgent: request.headers["user-agent"] },
      metadata: { reason, route: request.routeOptions.url },
    });
    throw new CairnError("unauthorized", detail, { headers: CHALLENGE });
  }

  async function verify(request: FastifyRequest): Promise<Actor> {
    const header = request.headers.authorization;
    if (!header) return fail(request, "missing", "send an API key as 'Authorization: Bearer cairn_…'");
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m?.[1]) return fail(request, "malformed", "the Authorization header must be 'Bearer <api key>'");
    const parsed = parseApiKey(m[1]);
    if (!parsed) return fail(request, "malformed", "that is not a Cairn API key (they look like cairn_<prefix>_<secret>)");

    const cacheKey = parsed.hash.toString("base64");
    const hit = cache.get(cacheKey);
    if (hit && hit.until > Date.now()) return hit.actor;

    const row = await deps.repo.findActiveByPrefix(parsed.prefix);
    if (!row || !sameHash(row.key_hash, parsed.hash)) {
      cache.delete(cacheKey);
      return fail(request, "invalid", "the API key is not valid (unknown, revoked or mistyped)");
    }
    const actor: Actor = { id: row.id, type: "api_key", tenantId: row.tenant_id, name: row.name, roles: row.roles };
    if (deps.cacheSeconds > 0) {
      if (cache.size > 10_000) cache.clear();
      cache.set(cacheKey, { actor, until: Date.now() + deps.cacheSeconds * 1000 });
    }
    return actor;
  }

  return {
    async authenticate(request: FastifyRequest): Promise<CallContext> {
      const actor = await verify(request);
      return { actor, requestId: String(request.id), sourceIp: request.ip, userAgent: request.headers["user-agent"] };
    },
  };
}

export type Authenticator = ReturnType<typeof createAuthenticator>;
