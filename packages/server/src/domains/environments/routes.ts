import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { Authorizer } from "../../authz/types.js";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import { CreateEnvironment, Environment, EnvironmentList, EnvironmentParams, UpdateEnvironment } from "./schemas.js";
import type { EnvironmentService } from "./service.js";

const tags = ["environments"];

export const environmentRoutes =
  (service: EnvironmentService, authz: Authorizer): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      "/environments",
      { schema: { tags, summary: "Environments and their inheritance chains", response: { 200: EnvironmentList, ...problemResponses } } },
      async (request) => {
        const ctx = ctxOf(request);
        await authz.require(ctx, { resource: "environments", action: "list" });
        return { items: await service.list(ctx.actor.tenantId) };
      },
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
      async (request, reply) => {
        const ctx = ctxOf(request);
        await authz.require(ctx, { resource: "environments", action: "write" });
        return reply.code(201).send(await service.create(ctx, request.body));
      },
    );
    app.patch(
      "/environments/:name",
      {
        schema: {
          tags,
          summary: "Change an environment's settings: requireApproval turns its writes into change requests",
          params: EnvironmentParams,
          body: UpdateEnvironment,
          response: { 200: Environment, ...problemResponses },
        },
      },
      async (request) => {
        const ctx = ctxOf(request);
        await authz.require(ctx, { resource: "environments", action: "admin" });
        return service.update(ctx, request.params.name, request.body);
      },
    );
  };
