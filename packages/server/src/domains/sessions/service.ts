import type { AuditLog } from "../../audit/log.js";
import type { Actor, CallContext } from "../../auth/actor.js";
import { dummyPasswordHash, verifyPassword } from "../../auth/passwords.js";
import { ACCESS_TOKEN_SECONDS, hashRefreshToken, REFRESH_TOKEN_SECONDS, type SessionTokens } from "../../auth/session-tokens.js";
import type { Conn, Db } from "../../db/database.js";
import { CairnError } from "../../errors.js";
import { newId } from "../../ids.js";
import { rateLimitedError } from "../../ratelimit/http.js";
import type { RateLimiter } from "../../ratelimit/limiter.js";
import type { UserRepository } from "../users/repository.js";
import { normalizeEmail } from "../users/service.js";
import type { LoginBody, TokenPair, WhoAmI } from "./schemas.js";

/** Ten failed logins for one account or from one address within fifteen minutes lock both out. */
export const LOGIN_FAILURE_LIMIT = 10;
export const LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60;
/** Login and refresh attempts from one address, failed or not: a cap on password guessing and hashing load. */
export const LOGIN_ATTEMPTS_PER_MINUTE = 60;

type RequestFacts = Pick<CallContext, "requestId" | "sourceIp" | "userAgent">;

/**
 * Email + password login → a 15-minute EdDSA session token and a 7-day refresh token (stored hashed,
 * rotated on every use; reuse of a rotated token revokes the whole session family). Failed logins
 * are audit events, and the audit log is also what throttling counts, so it holds across replicas.
 */
export function createSessionService(deps: {
  db: Db;
  users: UserRepository;
  tokens: SessionTokens;
  audit: AuditLog;
  limiter: RateLimiter;
}) {
  async function limitAddress(facts: RequestFacts) {
    const result = await deps.limiter.hit(`login:ip:${facts.sourceIp ?? "unknown"}`, LOGIN_ATTEMPTS_PER_MINUTE, 60);
    if (!result.allowed) {
      throw rateLimitedError(result, `too many login attempts from your address; try again in ${result.retryAfterSeconds} seconds`);
    }
  }

  const userStatus = new Map<string, { disabled: boolean; until: number }>();

  async function throttle(email: string, facts: RequestFacts) {
    const since = new Date(Date.now() - LOGIN_FAILURE_WINDOW_SECONDS * 1000);
    const recent = await deps.db
      .selectFrom("audit_events")
      .select(["resource_id", "source_ip", "occurred_at"])
      .where("event_type", "=", "auth.login_failed")
      .where("occurred_at", ">", since)
      .where((eb) => eb.or([eb("resource_id", "=", email), ...(facts.sourceIp ? [eb("source_ip", "=", facts.sourceIp)] : [])]))
      .orderBy("occurred_at", "desc")
      .limit(LOGIN_FAILURE_LIMIT * 4)
      .execute();
    for (const mine of [
      recent.filter((r) => r.resource_id === email),
      recent.filter((r) => facts.sourceIp && r.source_ip === facts.sourceIp),
    ]) {
      if (mine.length >= LOGIN_FAILURE_LIMIT) {
        const oldestCounted = new Date((mine[LOGIN_FAILURE_LIMIT - 1] as { occurred_at: Date }).occurred_at).getTime();
        const retryAfter = Math.max(1, Math.ceil((oldestCounted + LOGIN_FAILURE_WINDOW_SECONDS * 1000 - Date.now()) / 1000));
        await deps.audit.append(deps.db, {
          tenantId: null,
          eventType: "auth.login_throttled",
          action: "login",
          result: "denied",
          ctx: facts,
          resource: { type: "user", id: email },
        });
        throw new CairnError("rate_limited", `too many failed logins; try again in ${retryAfter} seconds`, {
          headers: { "Retry-After": String(retryAfter) },
          extensions: { retryAfterSeconds: retryAfter },
        });
      }
    }
  }

  async function issue(user: { id: string; tenant_id: string; email: string }, familyId: string, conn: Conn = deps.db) {
    const refresh = deps.tokens.newRefreshToken();
    const id = newId("refreshToken");
    await conn
      .insertInto("refresh_tokens")
      .values({
        id,
        tenant_id: user.tenant_id,
        user_id: user.id,
        token_hash: refresh.hash,
        expires_at: new Date(Date.now() + REFRESH_TOKEN_SECONDS * 1000),
      })
      .execute();
    const accessToken = await deps.tokens.issueAccessToken({
      userId: user.id,
      tenantId: user.tenant_id,
      email: user.email,
      sessionId: familyId,
    });
    const pair: TokenPair = {
      tokenType: "Bearer",
      accessToken,
      expiresIn: ACCESS_TOKEN_SECONDS,
      refreshToken: refresh.token,
      refreshExpiresIn: REFRESH_TOKEN_SECONDS,
      user: { id: user.id, email: user.email, tenantId: user.tenant_id },
    };
    return { pair, id };
  }

  return {
    async login(body: LoginBody, facts: RequestFacts): Promise<TokenPair> {
      const email = normalizeEmail(body.email);
      await limitAddress(facts);
      await throttle(email, facts);
      const user = await deps.users.findByEmail(email);
      // An unknown email costs the same hashing time as a wrong password, so timing tells nothing.
      const ok = await verifyPassword(user?.password_hash ?? (await dummyPasswordHash()), body.password);
      if (!user || !ok || user.disabled_at) {
        await deps.audit.append(deps.db, {
          tenantId: user?.tenant_id ?? null,
          eventType: "auth.login_failed",
          action: "login",
          result: "failure",
          ctx: facts,
          resource: { type: "user", id: email },
          metadata: { reason: !user ? "unknown email" : user.disabled_at ? "disabled" : "wrong password" },
        });
        throw new CairnError("unauthorized", "wrong email or password");
      }
      const { pair } = await issue(user, newId("session"));
      await deps.audit.append(deps.db, {
        tenantId: user.tenant_id,
        eventType: "auth.login",
        action: "login",
        result: "success",
        ctx: { ...facts, actor: { id: user.id, type: "user", tenantId: user.tenant_id, name: user.email, roles: [] } },
        resource: { type: "user", id: user.id },
      });
      return pair;
    },

    async refresh(token: string, facts: RequestFacts): Promise<TokenPair> {
      await limitAddress(facts);
      const hash = hashRefreshToken(token);
      type Outcome = { pair: TokenPair } | { failure: string; tenantId: string | null; userId?: string };
      const outcome: Outcome = await deps.db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom("refresh_tokens").selectAll().where("token_hash", "=", hash).forUpdate().executeTakeFirst();
        if (!row) return { failure: "unknown", tenantId: null };
        const known = { tenantId: row.tenant_id, userId: row.user_id };
        if (row.revoked_at) return { failure: row.replaced_by ? "reused" : "revoked", ...known };
        if (new Date(row.expires_at).getTime() <= Date.now()) return { failure: "expired", ...known };
        const user = await trx.selectFrom("users").selectAll().where("id", "=", row.user_id).executeTakeFirstOrThrow();
        if (user.disabled_at) return { failure: "disabled", ...known };
        const { pair, id } = await issue(user, row.id, trx);
        await trx.updateTable("refresh_tokens").set({ revoked_at: new Date(), replaced_by: id }).where("id", "=", row.id).execute();
        return { pair };
      });
      if ("pair" in outcome) return outcome.pair;
      // Outside the transaction, which only read: these must stick.
      if (outcome.failure === "reused" && outcome.userId) {
        // A spent token used again means it leaked: end every session of the user.
        await deps.db
          .updateTable("refresh_tokens")
          .set({ revoked_at: new Date() })
          .where("user_id", "=", outcome.userId)
          .where("revoked_at", "is", null)
          .execute();
      }
      await deps.audit.append(deps.db, {
        tenantId: outcome.tenantId,
        eventType: "auth.refresh_failed",
        action: "refresh",
        result: "failure",
        ctx: facts,
        resource: outcome.userId ? { type: "user", id: outcome.userId } : undefined,
        metadata: { reason: outcome.failure },
      });
      throw new CairnError("unauthorized", "the refresh token is not valid (expired, revoked or unknown); log in again");
    },

    async logout(token: string, facts: RequestFacts): Promise<void> {
      const res = await deps.db
        .updateTable("refresh_tokens")
        .set({ revoked_at: new Date() })
        .where("token_hash", "=", hashRefreshToken(token))
        .where("revoked_at", "is", null)
        .returning(["user_id", "tenant_id"])
        .executeTakeFirst();
      await deps.audit.append(deps.db, {
        tenantId: res?.tenant_id ?? null,
        eventType: "auth.logout",
        action: "logout",
        result: res ? "success" : "failure",
        ctx: facts,
        resource: res ? { type: "user", id: res.user_id } : undefined,
      });
    },

    /** For the authenticator: the Actor behind a session token, or undefined. Disabled users are out within seconds. */
    async verify(token: string): Promise<Actor | undefined> {
      const claims = await deps.tokens.verifyAccessToken(token);
      if (!claims) return undefined;
      let status = userStatus.get(claims.userId);
      if (!status || status.until < Date.now()) {
        const user = await deps.users.find(claims.tenantId, claims.userId);
        status = { disabled: !user || user.disabled_at !== null, until: Date.now() + 5_000 };
        if (userStatus.size > 10_000) userStatus.clear();
        userStatus.set(claims.userId, status);
      }
      if (status.disabled) return undefined;
      return { id: claims.userId, type: "user", tenantId: claims.tenantId, name: claims.email, roles: [] };
    },

    forget(userId: string) {
      userStatus.delete(userId);
    },

    async whoami(ctx: CallContext): Promise<WhoAmI> {
      const tenant = await deps.db
        .selectFrom("tenants")
        .select(["id", "name"])
        .where("id", "=", ctx.actor.tenantId)
        .executeTakeFirstOrThrow();
      return {
        id: ctx.actor.id,
        type: ctx.actor.type,
        name: ctx.actor.name,
        tenant,
        roles: ctx.actor.roles,
        instanceAdmin: Boolean(ctx.actor.instanceAdmin),
      };
    },
  };
}

export type SessionService = ReturnType<typeof createSessionService>;
