import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { Authorizer } from "../../authz/types.js";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import { NsKeyParams } from "../configs/schemas.js";
import { KeySchema, PutKeySchemaBody } from "./schemas.js";
import type { KeySchemaService } from "./service.js";

const tags = ["schemas"];

export const keySchemaRoutes =
  (service: KeySchemaService, authz: Authorizer): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.put(
      "/schemas/:ns/:key",
      {
        schema: {
          tags,
          summary: "Attach a JSON Schema (2020-12) to a key; later writes that violate it get 422",
          params: NsKeyParams,
          body: PutKeySchemaBody,
          response: { 200: KeySchema, ...problemResponses },
        },
      },
      async (request) => {
        const ctx = ctxOf(request);
        await authz.require(ctx, { resource: "configs", namespace: request.params.ns, action: "admin" });
        return service.put(ctx, request.params.ns, request.params.key, request.body.schema);
      },
    );
    app.get(
      "/schemas/:ns/:key",
      { schema: { tags, summary: "The schema attached to a key", params: NsKeyParams, response: { 200: KeySchema, ...problemResponses } } },
      async (request) => {
        const ctx = ctxOf(request);
        await authz.require(ctx, { resource: "configs", namespace: request.params.ns, action: "read" });
        return service.get(ctx.actor.tenantId, request.params.ns, request.params.key);
      },
    );
    app.delete(
      "/schemas/:ns/:key",
      { schema: { tags, summary: "Detach a key's schema", params: NsKeyParams, response: { 204: { type: "null" }, ...problemResponses } } },
      async (request, reply) => {
        const ctx = ctxOf(request);
        await authz.require(ctx, { resource: "configs", namespace: request.params.ns, action: "admin" });
        await service.remove(ctx, request.params.ns, request.params.key);
        return reply.code(204).send(null);
      },
    );
  };
