import type { AuditLog } from "../../audit/log.js";
import type { CallContext } from "../../auth/actor.js";
import type { Db } from "../../db/database.js";
import { CairnError } from "../../errors.js";
import { checkEnvironmentName } from "../names.js";
import type { EnvironmentRepository } from "./repository.js";
import type { CreateEnvironment, Environment } from "./schemas.js";

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
}

/**
 * Environments form a forest per tenant; a read in `production` looks in production, then staging,
 * development, base. A parent is fixed at creation, so a resolved chain never changes and is cached
 * for good; an unknown name reloads from the database (another replica may have just created it).
 */
export function createEnvironmentService(deps: { db: Db; repo: EnvironmentRepository; audit: AuditLog }) {
  const cache = new Map<string, Map<string, EnvRecord>>();

  async function load(tenantId: string): Promise<Map<string, EnvRecord>> {
    const rows = await deps.repo.list(tenantId);
    const map = new Map(rows.map((r) => [r.name, { name: r.name, parent: r.parent, createdAt: new Date(r.created_at) }]));
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
        const inserted = await deps.repo.insert(trx, tenantId, name, parent);
        if (!inserted) throw new CairnError("conflict", `environment "${name}" already exists`);
        await deps.audit.append(trx, {
          tenantId,
          eventType: "environment.created",
          action: "create",
          result: "success",
          ctx,
          resource: { type: "environment", id: name },
          metadata: { parent },
        });
        return inserted;
      });
      const envs = await load(tenantId);
      return view(envs, { name: row.name, parent: row.parent, createdAt: new Date(row.created_at) });
    },
  };
}

export type EnvironmentService = ReturnType<typeof createEnvironmentService>;
