import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import type { Action, Authorizer } from "../authz/types.js";
import { ctxOf } from "../http/context.js";
import { problemResponses } from "../http/problem.js";
import type { ApprovalPolicyService } from "./policies.js";
import { Policy, PolicyBody, PolicyList, PolicyParams, PolicyQuery } from "./schemas.js";

const tags = ["approvals"];

/**
 * Approval policies. Reading needs `roles:**:read`, changing `roles:**:admin` (the tenant's
 * administrators): checked before the body is validated.
 */
export const approvalPolicyRoutes =
  (service: ApprovalPolicyService, authz: Authorizer): FastifyPluginAsyncTypebox =>
  async (app) => {
    const needs = (action: Action) => ({
      preValidation: async (request: FastifyRequest) => authz.require(ctxOf(request), { resource: "roles", action }),
    });
    const read = needs("read");
    const admin = needs("admin");

    app.get(
      "/approval-policies",
      {
        ...read,
        schema: { tags, summary: "Approval policies", querystring: PolicyQuery, response: { 200: PolicyList, ...problemResponses } },
      },
      async (request) => ({ items: await service.list(ctxOf(request), request.query.kind) }),
    );
    app.get(
      "/approval-policies/:id",
      { ...read, schema: { tags, summary: "One approval policy", params: PolicyParams, response: { 200: Policy, ...problemResponses } } },
      async (request) => service.get(ctxOf(request), request.params.id),
    );
    app.post(
      "/approval-policies",
      {
        ...admin,
        schema: { tags, summary: "Create an approval policy", body: PolicyBody, response: { 201: Policy, ...problemResponses } },
      },
      async (request, reply) => reply.code(201).send(await service.create(ctxOf(request), request.body)),
    );
    app.put(
      "/approval-policies/:id",
      {
        ...admin,
        schema: {
          tags,
          summary: "Replace an approval policy",
          params: PolicyParams,
          body: PolicyBody,
          response: { 200: Policy, ...problemResponses },
        },
      },
      async (request) => service.update(ctxOf(request), request.params.id, request.body),
    );
    app.delete(
      "/approval-policies/:id",
      {
        ...admin,
        schema: {
          tags,
          summary: "Delete an approval policy",
          params: PolicyParams,
          response: { 204: { type: "null" }, ...problemResponses },
        },
      },
      async (request, reply) => {
        await service.remove(ctxOf(request), request.params.id);
        return reply.code(204).send(null);
      },
    );
  };
