import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import { CreatedTenant, CreateTenant, TenantList } from "./schemas.js";
import type { TenantService } from "./service.js";

const tags = ["tenants"];

export const tenantRoutes =
  (service: TenantService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      "/tenants",
      {
        schema: {
          tags,
          summary: "Create a tenant (instance admin): returns its admin key once",
          body: CreateTenant,
          response: { 201: CreatedTenant, ...problemResponses },
        },
      },
      async (request, reply) => reply.code(201).send(await service.create(ctxOf(request), request.body.name)),
    );
    app.get(
      "/tenants",
      { schema: { tags, summary: "All tenants (instance admin)", response: { 200: TenantList, ...problemResponses } } },
      async (request) => ({
        items: await service.list(ctxOf(request)),
      }),
    );
  };
