import type { AuditLog } from "../../audit/log.js";
import type { CallContext } from "../../auth/actor.js";
import type { Db } from "../../db/database.js";
import { CairnError } from "../../errors.js";
import type { EventBus } from "../../events/bus.js";
import { checkEnvironmentName } from "../names.js";
import type { EnvironmentRepository } from "./repository.js";
import type { CreateEnvironment, Environment, UpdateEnvironment } from "./schemas.js";

/** Published when an environment's settings change, so every replica reloads the tenant's environments. */
export const ENVIRONMENTS_CHANGED = "environments.changed";

export const DEFAULT_ENVIRONMENTS: [string, string | null][] = [
  ["base", null],
  ["development", "base"],
  ["staging", "development"],
  ["production", "staging"],
];

interface EnvRecord {
  name: string;
  parent: string | null;
  createdAt: Date;
  requireApproval: boolean;
}

/**
 * Environments form a forest per tenant; a read in `production` looks in production, then staging,
 * development, base. A parent is fixed at creation, so a resolved chain never changes and is cached
 * for good; an unknown name reloads from the database (another replica may have just created it).
 */
export function createEnvironmentService(deps: {
  db: Db;
  repo: EnvironmentRepository;
  audit: AuditLog;
  /** Carries ENVIRONMENTS_CHANGED between replicas (a protected flag must not stay stale elsewhere). */
  bus?: Pick<EventBus, "publish" | "subscribe">;
}) {
  const cache = new Map<string, Map<string, EnvRecord>>();
  deps.bus?.subscribe(ENVIRONMENTS_CHANGED, (payload) => {
    const tenantId = (payload as { tenantId?: unknown })?.tenantId;
    if (typeof tenantId === "string") cache.delete(tenantId);
    else cache.clear();
  });

  async function load(tenantId: string): Promise<Map<string, EnvRecord>> {
    const rows = await deps.repo.list(tenantId);
    const map = new Map(
      rows.map((r) => [r.name, { name: r.name, parent: r.parent, createdAt: new Date(r.created_at), requireApproval: r.require_approval }]),
    );
    cache.set(tenantId, map);
    return map;
  }

  async function lookup(tenantId: string, name: string): Promise<Map<string, EnvRecord> | undefined> {
    let envs = cache.get(tenantId);
    if (envs?.has(name)) return envs;
    envs = await load(tenantId);
    return envs.has(name) ? envs : undefined;
  }

  function chainOf(envs: Map<string, EnvRecord>, name: string): string[] {
    const chain: string[] = [];
    let cur: string | null = name;
    while (cur !== null && !chain.includes(cur)) {
      chain.push(cur);
      cur = envs.get(cur)?.parent ?? null;
    }
    return chain;
  }

  const view = (envs: Map<string, EnvRecord>, e: EnvRecord): Environment => ({
    name: e.name,
    parent: e.parent,
    chain: chainOf(envs, e.name),
    requireApproval: e.requireApproval,
    createdAt: e.createdAt.toISOString(),
  });

  return {
    /** The resolution chain of `name`, most specific first; 404 when the environment does not exist. */
    async chain(tenantId: string, name: string): Promise<string[]> {
      checkEnvironmentName(name);
      const envs = await lookup(tenantId, name);
      if (!envs) throw new CairnError("not_found", `environment "${name}" does not exist; list them with GET /api/v1/environments`);
      return chainOf(envs, name);
    },

    /**
     * The protected environments below `name` (they inherit from it), each with its chain: a write to
     * `name` can change what they read, so the change-request gate looks at them too.
     */
    async protectedHeirs(tenantId: string, name: string): Promise<{ name: string; chain: string[] }[]> {
      const envs = await lookup(tenantId, name);
      if (!envs) return [];
      return [...envs.values()]
        .filter((e) => e.requireApproval && e.name !== name)
        .map((e) => ({ name: e.name, chain: chainOf(envs, e.name) }))
        .filter((e) => e.chain.includes(name));
    },

    /** Whether writes to `name` need approval (change requests); false for an unknown environment. */
    async requiresApproval(tenantId: string, name: string): Promise<boolean> {
      return (await lookup(tenantId, name))?.get(name)?.requireApproval ?? false;
    },

    async update(ctx: CallContext, name: string, input: UpdateEnvironment): Promise<Environment> {
      const tenantId = ctx.actor.tenantId;
      checkEnvironmentName(name, "name");
      await deps.db.transaction().execute(async (trx) => {
        const row = await deps.repo.setRequireApproval(trx, tenantId, name, input.requireApproval);
        if (!row) throw new CairnError("not_found", `environment "${name}" does not exist; list them with GET /api/v1/environments`);
        await deps.audit.append(trx, {
          tenantId,
          eventType: "environment.updated",
          action: "update",
          result: "success",
          ctx,
          resource: { type: "environment", id: name },
          metadata: { requireApproval: input.requireApproval },
        });
      });
      await deps.bus?.publish(ENVIRONMENTS_CHANGED, { tenantId });
      const envs = await load(tenantId);
      return view(envs, envs.get(name) as EnvRecord);
    },

    async list(tenantId: string): Promise<Environment[]> {
      const envs = await load(tenantId);
      return [...envs.values()].map((e) => view(envs, e));
    },

    async create(ctx: CallContext, input: CreateEnvironment): Promise<Environment> {
      const tenantId = ctx.actor.tenantId;
      const name = checkEnvironmentName(input.name, "name");
      const parent = input.parent ?? null;
      if (parent !== null) {
        checkEnvironmentName(parent, "parent");
        if (parent === name) {
          throw new CairnError("validation_failed", `environment "${name}" cannot be its own parent (a cycle)`, {
            errors: [{ path: "/parent", message: "would create a cycle" }],
          });
        }
        if (!(await lookup(tenantId, parent))) {
          throw new CairnError("validation_failed", `parent environment "${parent}" does not exist`, {
            errors: [{ path: "/parent", message: "unknown environment" }],
          });
        }
      }
      const row = await deps.db.transaction().execute(async (trx) => {
        const inserted = await deps.repo.insert(trx, tenantId, name, parent, input.requireApproval ?? false);
        if (!inserted) throw new CairnError("conflict", `environment "${name}" already exists`);
        await deps.audit.append(trx, {
          tenantId,
          eventType: "environment.created",
          action: "create",
          result: "success",
          ctx,
          resource: { type: "environment", id: name },
          metadata: { parent, ...(input.requireApproval ? { requireApproval: true } : {}) },
        });
        return inserted;
      });
      const envs = await load(tenantId);
      return view(envs, { name: row.name, parent: row.parent, createdAt: new Date(row.created_at), requireApproval: row.require_approval });
    },
  };
}

export type EnvironmentService = ReturnType<typeof createEnvironmentService>;
