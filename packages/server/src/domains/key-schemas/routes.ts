import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import { NsKeyParams } from "../configs/schemas.js";
import { KeySchema, PutKeySchemaBody } from "./schemas.js";
import type { KeySchemaService } from "./service.js";

const tags = ["schemas"];

export const keySchemaRoutes =
  (service: KeySchemaService): FastifyPluginAsyncTypebox =>
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
      async (request) => service.put(ctxOf(request), request.params.ns, request.params.key, request.body.schema),
    );
    app.get(
      "/schemas/:ns/:key",
      { schema: { tags, summary: "The schema attached to a key", params: NsKeyParams, response: { 200: KeySchema, ...problemResponses } } },
      async (request) => service.get(ctxOf(request).actor.tenantId, request.params.ns, request.params.key),
    );
    app.delete(
      "/schemas/:ns/:key",
      { schema: { tags, summary: "Detach a key's schema", params: NsKeyParams, response: { 204: { type: "null" }, ...problemResponses } } },
      async (request, reply) => {
        await service.remove(ctxOf(request), request.params.ns, request.params.key);
        return reply.code(204).send(null);
      },
    );
  };
