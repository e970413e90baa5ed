import type { FastifyRequest } from "fastify";
import type { CallContext } from "../auth/actor.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the auth hook on every /api/v1 route. */
    callContext?: CallContext;
  }
}

export function ctxOf(request: FastifyRequest): CallContext {
  if (!request.callContext) throw new Error("route registered outside the authenticated scope");
  return request.callContext;
}
