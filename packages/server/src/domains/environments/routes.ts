import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import { CreateEnvironment, Environment, EnvironmentList } from "./schemas.js";
import type { EnvironmentService } from "./service.js";

const tags = ["environments"];

export const environmentRoutes =
  (service: EnvironmentService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      "/environments",
      { schema: { tags, summary: "Environments and their inheritance chains", response: { 200: EnvironmentList, ...problemResponses } } },
      async (request) => ({ items: await service.list(ctxOf(request).actor.tenantId) }),
    );
    app.post(
      "/environments",
      {
        schema: {
          tags,
          summary: "Create an environment inheriting from a parent",
          body: CreateEnvironment,
          response: { 201: Environment, ...problemResponses },
        },
      },
      async (request, reply) => reply.code(201).send(await service.create(ctxOf(request), request.body)),
    );
  };
