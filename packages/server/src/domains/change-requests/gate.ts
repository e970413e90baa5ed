import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Action, Authorizer } from "../../authz/types.js";
import { ctxOf } from "../../http/context.js";
import { parseIfMatch } from "../../http/preconditions.js";
import type { EnvironmentService } from "../environments/service.js";
import { ChangeRequestAccepted } from "./schemas.js";
import type { ChangeRequestService, ProposalChange } from "./service.js";

type Body = Record<string, unknown> | undefined;
type Query = { environment?: string; reason?: string };
type Params = { ns?: string; key?: string };

/** The config write routes, by method and the end of their URL, and what each proposes. */
const WRITES: { method: string; path: RegExp; changes: (p: Params, q: Query, b: Body, method: string) => ProposalChange[] }[] = [
  {
    method: "PUT|POST",
    path: /\/configs\/:ns\/:key$/,
    changes: (p, q, b, method) => [
      {
        op: method === "POST" ? "create" : "set",
        namespace: p.ns as string,
        key: p.key as string,
        environment: q.environment ?? "base",
        value: b?.value,
        secret: b?.secret as boolean | undefined,
        tags: b?.tags as Record<string, string> | undefined,
        reason: b?.reason as string | undefined,
      },
    ],
  },
  {
    method: "DELETE",
    path: /\/configs\/:ns\/:key$/,
    changes: (p, q) => [
      { op: "delete", namespace: p.ns as string, key: p.key as string, environment: q.environment ?? "base", reason: q.reason },
    ],
  },
  {
    method: "POST",
    path: /\/configs\/:ns\/:key\/rollback$/,
    changes: (p, q, b) => [
      {
        op: "restore",
        namespace: p.ns as string,
        key: p.key as string,
        environment: q.environment ?? "base",
        restoreVersion: b?.version as number,
        reason: b?.reason as string | undefined,
      },
    ],
  },
  {
    method: "POST",
    path: /\/configs\/bulk$/,
    changes: (_p, _q, b) =>
      ((b?.operations ?? []) as Record<string, unknown>[]).map((op) => ({
        op: op.op === "delete" ? "delete" : "set",
        namespace: op.namespace as string,
        key: op.key as string,
        environment: (op.environment as string | undefined) ?? "base",
        value: op.value,
        secret: op.secret as boolean | undefined,
        tags: op.tags as Record<string, string> | undefined,
        reason: op.reason as string | undefined,
      })),
  },
];

const writeOf = (method: string, url: string | undefined) =>
  url ? WRITES.find((w) => w.method.split("|").includes(method) && w.path.test(url)) : undefined;

/** What deciding whether a write needs approval looks at. */
export interface ProtectionLookups {
  environments: Pick<EnvironmentService, "requiresApproval" | "protectedHeirs">;
  /** The environment of `chain` a read of the key resolves from now, or undefined when it has no value there. */
  resolvedFrom: (tenantId: string, namespace: string, key: string, chain: string[]) => Promise<string | undefined>;
}

/**
 * Whether a write of namespace/key in `environment` needs approval: the environment is protected, or a
 * protected environment below it reads this key from there (it has no value of its own closer than the
 * written environment), so the write would change what the protected environment sees.
 */
export async function needsApproval(
  deps: ProtectionLookups,
  tenantId: string,
  c: { namespace: string; key: string; environment: string },
): Promise<boolean> {
  if (await deps.environments.requiresApproval(tenantId, c.environment)) return true;
  for (const heir of await deps.environments.protectedHeirs(tenantId, c.environment)) {
    const from = await deps.resolvedFrom(tenantId, c.namespace, c.key, heir.chain);
    if (from === undefined || heir.chain.indexOf(from) >= heir.chain.indexOf(c.environment)) return true;
  }
  return false;
}

/**
 * The one hook point of protected environments in configs: `gate.install(app)` at the top of the config
 * routes. A write (PUT/POST/DELETE/rollback/bulk) that touches an environment with `requireApproval`
 * (or that a protected environment inherits from) is authorised as the write would be, then turned into a change request: `202 {changeRequest}`, and the
 * route's handler never runs. Writes to other environments pass through untouched.
 */
export function createProtectedEnvironmentGate(
  deps: ProtectionLookups & { changeRequests: Pick<ChangeRequestService, "propose">; authz: Pick<Authorizer, "require"> },
) {
  async function preHandler(request: FastifyRequest, reply: FastifyReply) {
    const write = writeOf(request.method, request.routeOptions.url);
    if (!write) return;
    const ctx = ctxOf(request);
    const changes = write.changes(request.params as Params, (request.query ?? {}) as Query, request.body as Body, request.method);
    let guarded = false;
    for (const c of changes) if (await needsApproval(deps, ctx.actor.tenantId, c)) guarded = true;
    if (!guarded) return;
    for (const c of changes) {
      const action: Action = c.op === "delete" ? "delete" : "write";
      await deps.authz.require(ctx, { resource: "configs", namespace: c.namespace, action, environment: c.environment });
    }
    const changeRequest = await deps.changeRequests.propose(ctx, {
      changes,
      ifMatch: parseIfMatch(request.headers["if-match"]),
    });
    reply.header("location", changeRequest.links.self);
    return reply.code(202).send({ changeRequest });
  }

  return {
    /** Call once at the top of the config routes plugin, before its routes are declared. */
    install(app: FastifyInstance) {
      app.addHook("onRoute", (route) => {
        const methods = Array.isArray(route.method) ? route.method : [route.method];
        if (!methods.some((m) => writeOf(m, route.url))) return;
        route.schema = route.schema ?? {};
        const schema = route.schema as { response?: Record<string, unknown> };
        schema.response = { 202: ChangeRequestAccepted, ...schema.response };
        // On the write routes only: reads (the hot path) never run it.
        const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
        route.preHandler = [...existing, preHandler];
      });
    },
  };
}

export type ProtectedEnvironmentGate = ReturnType<typeof createProtectedEnvironmentGate>;
