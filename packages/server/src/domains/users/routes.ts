import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { Authorizer } from "../../authz/types.js";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import { CreateUser, User, UserIdParams, UserList } from "./schemas.js";
import type { UserService } from "./service.js";

const tags = ["users"];

export const userRoutes =
  (service: UserService, authz: Authorizer): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      "/users",
      {
        schema: {
          tags,
          summary: "Create a user (email + password); grant access with role bindings",
          body: CreateUser,
          response: { 201: User, ...problemResponses },
        },
      },
      async (request, reply) => {
        const ctx = ctxOf(request);
        await authz.require(ctx, { resource: "users", action: "write" });
        return reply.code(201).send(await service.create(ctx, request.body));
      },
    );
    app.get(
      "/users",
      { schema: { tags, summary: "Users of the tenant", response: { 200: UserList, ...problemResponses } } },
      async (request) => {
        const ctx = ctxOf(request);
        await authz.require(ctx, { resource: "users", action: "list" });
        return { items: await service.list(ctx.actor.tenantId) };
      },
    );
    app.get(
      "/users/:id",
      { schema: { tags, summary: "One user", params: UserIdParams, response: { 200: User, ...problemResponses } } },
      async (request) => {
        const ctx = ctxOf(request);
        await authz.require(ctx, { resource: "users", action: "read" });
        return service.get(ctx.actor.tenantId, request.params.id);
      },
    );
    app.delete(
      "/users/:id",
      {
        schema: {
          tags,
          summary: "Disable a user and end their sessions",
          params: UserIdParams,
          response: { 204: { type: "null" }, ...problemResponses },
        },
      },
      async (request, reply) => {
        const ctx = ctxOf(request);
        await authz.require(ctx, { resource: "users", action: "delete" });
        await service.disable(ctx, request.params.id);
        return reply.code(204).send(null);
      },
    );
  };
