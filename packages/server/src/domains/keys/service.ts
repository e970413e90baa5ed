import { isIP } from "node:net";
import type { AuditLog } from "../../audit/log.js";
import { type CallContext, systemContext } from "../../auth/actor.js";
import { generateApiKey } from "../../auth/api-key.js";
import type { Authenticator } from "../../auth/authenticate.js";
import { actions, type Rule, resources } from "../../authz/types.js";
import type { Db } from "../../db/database.js";
import { CairnError, type FieldError } from "../../errors.js";
import type { EventBus } from "../../events/bus.js";
import type { Log } from "../../events/redis.js";
import { silentLog } from "../../events/redis.js";
import { newId } from "../../ids.js";
import type { KeyRepository, KeyRow } from "./repository.js";
import type {
  CreatedKey,
  CreateKeyBody,
  KeyList,
  KeyStatus,
  KeyUsage,
  KeyView,
  ListKeysQuery,
  RotatedKey,
  RotateKeyBody,
  VerifyResult,
} from "./schemas.js";

/** Roles every tenant has once RBAC seeds them; accepted while a tenant's roles table is still empty. */
export const BUILTIN_ROLES = ["admin", "operator", "developer", "viewer"] as const;

const MAX_META_BYTES = 8 * 1024;
const DAY = 86_400_000;

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

export function statusOf(row: Pick<KeyRow, "revoked_at" | "expires_at" | "grace_until">, now: number): KeyStatus {
  if (row.revoked_at) return "revoked";
  if (row.expires_at && new Date(row.expires_at).getTime() <= now) return "expired";
  if (row.grace_until) return new Date(row.grace_until).getTime() > now ? "rotating" : "expired";
  return "active";
}

export function viewOf(row: KeyRow, now = Date.now()): KeyView {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    status: statusOf(row, now),
    createdAt: iso(row.created_at) as string,
    createdBy: row.created_by,
    lastUsedAt: iso(row.last_used_at),
    usageCount: Number(row.usage_count),
    expiresAt: iso(row.expires_at),
    revokedAt: iso(row.revoked_at),
    graceUntil: iso(row.grace_until),
    rotatedTo: row.rotated_to,
    roles: row.roles,
    permissions: row.permissions as Rule[],
    rateLimit:
      row.rate_limit !== null && row.rate_window_seconds !== null
        ? { limit: row.rate_limit, windowSeconds: row.rate_window_seconds }
        : null,
    remaining: row.remaining === null ? null : Number(row.remaining),
    meta: row.meta ?? {},
  };
}

function validCidr(cidr: string): boolean {
  const [address, bits, ...rest] = cidr.split("/");
  if (rest.length || !address) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d{1,3}$/.test(bits) && n >= 0 && n <= (family === 4 ? 32 : 128);
}

/** Field errors of rules the schema cannot judge: known resources and actions, sane patterns, real CIDRs. */
export function ruleErrors(rules: Rule[], base = "/permissions"): FieldError[] {
  const errors: FieldError[] = [];
  rules.forEach((rule, i) => {
    const [resource = "", pattern = "", action = ""] = rule.permission.split(":");
    if (resource !== "*" && !(resources as readonly string[]).includes(resource)) {
      errors.push({ path: `${base}/${i}/permission`, message: `unknown resource "${resource}" (one of ${resources.join(", ")}, or *)` });
    }
    if (action !== "*" && !(actions as readonly string[]).includes(action)) {
      errors.push({ path: `${base}/${i}/permission`, message: `unknown action "${action}" (one of ${actions.join(", ")}, or *)` });
    }
    if (pattern.split("/").some((s) => s === "" || (s.includes("*") && s !== "*" && s !== "**"))) {
      errors.push({
        path: `${base}/${i}/permission`,
        message: `bad namespace pattern "${pattern}": segments separated by /, where * is one whole segment and ** any depth`,
      });
    }
    rule.conditions?.sourceIps?.forEach((cidr, j) => {
      if (!validCidr(cidr))
        errors.push({ path: `${base}/${i}/conditions/sourceIps/${j}`, message: `"${cidr}" is not an IP address or CIDR block` });
    });
  });
  return errors;
}

export interface KeyServiceDeps {
  db: Db;
  repo: KeyRepository;
  audit: AuditLog;
  bus: Pick<EventBus, "publish">;
  verifier: Pick<Authenticator, "verifyKey" | "flushUsage">;
  /** How often this replica looks for keys whose expiry passed, to record key.expired (ms). */
  sweepIntervalMs?: number;
  log?: Log;
}

/**
 * API keys of a tenant: create (the key is returned once), list/show, rotate with a grace period, revoke,
 * verify (for services that use Cairn to protect their own APIs), usage. Each change and its audit event
 * commit together; then `keys.changed` tells every replica to drop the key from its cache.
 */
export function createKeyService(deps: KeyServiceDeps) {
  const log = deps.log ?? silentLog;
  let sweeping: Promise<number> = Promise.resolve(0);
  let sweepTimer: NodeJS.Timeout | undefined;
  let soon: NodeJS.Timeout | undefined;
  let closed = false;

  const notFound = (id: string) => new CairnError("not_found", `API key ${id} does not exist`);

  async function changed(keyIds: string[]) {
    for (const keyId of keyIds) await deps.bus.publish("keys.changed", { keyId });
  }

  async function checkRoles(tenantId: string, roles: string[]) {
    const defined = await deps.repo.roleNames(deps.db, tenantId);
    const known = new Set<string>(defined.length ? defined : BUILTIN_ROLES);
    const errors = roles.flatMap((r, i) => (known.has(r) ? [] : [{ path: `/roles/${i}`, message: `no role "${r}" in this tenant` }]));
    if (errors.length) {
      throw new CairnError("validation_failed", `unknown role(s): ${errors.map((e) => e.message.split('"')[1]).join(", ")}`, { errors });
    }
  }

  async function sweep(): Promise<number> {
    const now = new Date();
    const claimed = await deps.db.transaction().execute(async (trx) => {
      const rows = await deps.repo.claimExpired(trx, now, 500);
      for (const r of rows) {
        const graceEnded = r.grace_until !== null && new Date(r.grace_until) <= now;
        await deps.audit.append(trx, {
          tenantId: r.tenant_id,
          eventType: "key.expired",
          action: "expire",
          result: "success",
          ctx: systemContext(r.tenant_id),
          resource: { type: "api_key", id: r.id },
          metadata: {
            reason:
              graceEnded && (r.expires_at === null || new Date(r.grace_until as Date) <= new Date(r.expires_at))
                ? "rotation grace ended"
                : "expired",
            expiresAt: iso(r.expires_at),
            graceUntil: iso(r.grace_until),
            rotatedTo: r.rotated_to,
          },
        });
      }
      return rows;
    });
    await changed(claimed.map((r) => r.id));
    return claimed.length;
  }

  const service = {
    async create(ctx: CallContext, body: CreateKeyBody): Promise<CreatedKey> {
      const tenantId = ctx.actor.tenantId;
      const roles = [...new Set(body.roles ?? [])];
      const permissions = (body.permissions ?? []) as Rule[];
      const errors = ruleErrors(permissions);
      let expiresAt: Date | null = null;
      if (body.expiresAt !== undefined) {
        expiresAt = new Date(body.expiresAt);
        if (Number.isNaN(expiresAt.getTime())) errors.push({ path: "/expiresAt", message: "not a date-time" });
        else if (expiresAt.getTime() <= Date.now()) errors.push({ path: "/expiresAt", message: "must be in the future" });
      }
      const meta = body.meta ?? {};
      if (Buffer.byteLength(JSON.stringify(meta)) > MAX_META_BYTES) errors.push({ path: "/meta", message: "larger than 8 KiB" });
      if (errors.length) {
        throw new CairnError("validation_failed", `the key cannot be created: ${errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`, {
          errors,
        });
      }
      await checkRoles(tenantId, roles);

      const generated = generateApiKey();
      const id = newId("apiKey");
      const row = await deps.db.transaction().execute(async (trx) => {
        const inserted = await deps.repo.insert(trx, {
          id,
          tenantId,
          name: body.name,
          prefix: generated.prefix,
          hash: generated.hash,
          roles,
          permissions,
          instanceAdmin: false,
          expiresAt,
          rateLimit: body.rateLimit ?? null,
          remaining: body.remaining ?? null,
          meta,
          createdBy: ctx.actor.id,
        });
        await deps.audit.append(trx, {
          tenantId,
          eventType: "key.created",
          action: "create",
          result: "success",
          ctx,
          resource: { type: "api_key", id },
          metadata: {
            name: body.name,
            prefix: generated.prefix,
            roles,
            permissions: permissions.map((p) => `${p.effect} ${p.permission}`),
            expiresAt: iso(expiresAt),
            rateLimit: body.rateLimit ?? null,
            remaining: body.remaining ?? null,
          },
        });
        return inserted;
      });
      return { ...viewOf(row), key: generated.key };
    },

    async list(ctx: CallContext, query: ListKeysQuery): Promise<KeyList> {
      await deps.verifier.flushUsage();
      const limit = query.limit ?? 100;
      const rows = await deps.repo.list(deps.db, ctx.actor.tenantId, { limit: limit + 1, after: query.after });
      const now = Date.now();
      const items = rows.slice(0, limit).map((r) => viewOf(r, now));
      return rows.length > limit ? { items, nextCursor: items[items.length - 1]?.id } : { items };
    },

    async get(ctx: CallContext, id: string): Promise<KeyView> {
      await deps.verifier.flushUsage();
      const row = await deps.repo.find(deps.db, ctx.actor.tenantId, id);
      if (!row) throw notFound(id);
      return viewOf(row);
    },

    /**
     * A new key with the same settings (roles, permissions, expiry, limit, quota left, meta); the old one
     * keeps working, status `rotating`, for `gracePeriodSeconds`, then answers 401.
     */
    async rotate(ctx: CallContext, id: string, body: RotateKeyBody): Promise<RotatedKey> {
      const tenantId = ctx.actor.tenantId;
      const grace = body.gracePeriodSeconds ?? 0;
      const generated = generateApiKey();
      const newKeyId = newId("apiKey");
      const result = await deps.db.transaction().execute(async (trx) => {
        const old = await deps.repo.findForUpdate(trx, tenantId, id);
        if (!old) throw notFound(id);
        const now = Date.now();
        const status = statusOf(old, now);
        if (status !== "active") {
          const why = status === "rotating" ? `already rotated to ${old.rotated_to}` : status;
          throw new CairnError("conflict", `API key ${id} cannot be rotated: it is ${why}; only active keys rotate`);
        }
        const fresh = await deps.repo.insert(trx, {
          id: newKeyId,
          tenantId,
          name: old.name,
          prefix: generated.prefix,
          hash: generated.hash,
          roles: old.roles,
          permissions: old.permissions,
          instanceAdmin: old.instance_admin,
          expiresAt: old.expires_at,
          rateLimit:
            old.rate_limit !== null && old.rate_window_seconds !== null
              ? { limit: old.rate_limit, windowSeconds: old.rate_window_seconds }
              : null,
          remaining: old.remaining === null ? null : Number(old.remaining),
          meta: old.meta ?? {},
          createdBy: ctx.actor.id,
        });
        const graceUntil = new Date(now + grace * 1000);
        const rotated = await deps.repo.markRotated(trx, id, graceUntil, newKeyId);
        await deps.audit.append(trx, {
          tenantId,
          eventType: "key.rotated",
          action: "rotate",
          result: "success",
          ctx,
          resource: { type: "api_key", id },
          metadata: { newKeyId, newPrefix: generated.prefix, gracePeriodSeconds: grace, graceUntil: graceUntil.toISOString() },
        });
        return { fresh, rotated };
      });
      await changed([id]);
      return { ...viewOf(result.fresh), key: generated.key, rotatedFrom: viewOf(result.rotated) };
    },

    /** Revoked at once, everywhere: the commit, then `keys.changed` to every replica. Revoking twice changes nothing. */
    async revoke(ctx: CallContext, id: string): Promise<KeyView> {
      const tenantId = ctx.actor.tenantId;
      const { row, changedNow } = await deps.db.transaction().execute(async (trx) => {
        const current = await deps.repo.findForUpdate(trx, tenantId, id);
        if (!current) throw notFound(id);
        if (current.revoked_at) return { row: current, changedNow: false };
        const revoked = await deps.repo.revoke(trx, id, new Date());
        await deps.audit.append(trx, {
          tenantId,
          eventType: "key.revoked",
          action: "revoke",
          result: "success",
          ctx,
          resource: { type: "api_key", id },
          metadata: { name: current.name, prefix: current.prefix, previousStatus: statusOf(current, Date.now()) },
        });
        return { row: revoked, changedNow: true };
      });
      if (changedNow) await changed([id]);
      return viewOf(row);
    },

    /**
     * Verifies a key of the caller's own tenant (another tenant's key is NOT_FOUND), counting the use,
     * its rate limit and its quota exactly as a request made with it would.
     */
    async verify(ctx: CallContext, key: string): Promise<VerifyResult> {
      const r = await deps.verifier.verifyKey(key, { tenantId: ctx.actor.tenantId });
      const k = r.key;
      return {
        valid: r.valid,
        code: r.code,
        ...(k ? { keyId: k.id, tenant: k.tenantId, name: k.name } : {}),
        roles: k?.roles ?? [],
        permissions: k?.permissions ?? [],
        remaining: r.remaining,
        ...(r.ratelimit ? { ratelimit: { limit: r.ratelimit.limit, remaining: r.ratelimit.remaining, reset: r.ratelimit.resetAt } } : {}),
        ...(k ? { expiresAt: iso(k.expiresAt === null ? null : new Date(k.expiresAt)), meta: k.meta } : {}),
      };
    },

    async usage(ctx: CallContext, id: string, since?: string): Promise<KeyUsage> {
      const row = await deps.repo.find(deps.db, ctx.actor.tenantId, id);
      if (!row) throw notFound(id);
      const from = since ? new Date(since) : new Date(Date.now() - DAY);
      if (Number.isNaN(from.getTime())) throw new CairnError("bad_request", "since must be an RFC 3339 date-time");
      await deps.verifier.flushUsage();
      const rows = await deps.repo.usage(deps.db, id, from);
      const items = rows.map((r) => ({ hour: new Date(r.hour).toISOString(), count: Number(r.count) }));
      return { keyId: id, since: from.toISOString(), total: items.reduce((n, i) => n + i.count, 0), items };
    },

    /** Records key.expired for every key whose expiry or rotation grace passed (once, across replicas). */
    sweepExpired(): Promise<number> {
      const run = () =>
        sweep().catch((e) => {
          log.warn({ error: (e as Error).message }, "could not record expired API keys; will retry");
          return 0;
        });
      sweeping = sweeping.then(run, run);
      return sweeping;
    },

    /** A key was seen past its expiry: record it shortly (many requests at once cause one sweep). */
    expiredSeen(_keyId: string) {
      if (soon || closed) return;
      soon = setTimeout(() => {
        soon = undefined;
        void service.sweepExpired();
      }, 50);
      soon.unref();
    },

    start() {
      if (sweepTimer) return;
      sweepTimer = setInterval(() => void service.sweepExpired(), deps.sweepIntervalMs ?? 15_000);
      sweepTimer.unref();
    },

    async close() {
      closed = true;
      if (sweepTimer) clearInterval(sweepTimer);
      if (soon) clearTimeout(soon);
      await sweeping;
    },
  };
  return service;
}

export type KeyService = ReturnType<typeof createKeyService>;
