import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import { ChangeRequest, ChangeRequestList, ChangeRequestParams, ChangeRequestQuery, DecisionBody } from "./schemas.js";
import type { ChangeRequestService } from "./service.js";

const tags = ["change-requests"];

/**
 * Change requests of protected environments. Seeing one needs `configs:<ns>:read` on its namespaces;
 * deciding it, the approval policy's group (or `configs:<ns>:approve`); applying it, `configs:<ns>:write`.
 * The service checks all of these.
 */
export const changeRequestRoutes =
  (service: ChangeRequestService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      "/change-requests",
      {
        schema: {
          tags,
          summary: "Change requests, newest first (?status=pending|approved|rejected|applied|expired)",
          querystring: ChangeRequestQuery,
          response: { 200: ChangeRequestList, ...problemResponses },
        },
      },
      async (request) => ({ items: await service.list(ctxOf(request), request.query) }),
    );
    app.get(
      "/change-requests/:id",
      {
        schema: {
          tags,
          summary: "One change request, with its diff and approvals",
          params: ChangeRequestParams,
          response: { 200: ChangeRequest, ...problemResponses },
        },
      },
      async (request) => service.get(ctxOf(request), request.params.id),
    );
    for (const [path, decision] of [
      ["approve", "approve"],
      ["reject", "deny"],
    ] as const) {
      app.post(
        `/change-requests/:id/${path}`,
        {
          schema: {
            tags,
            summary: path === "approve" ? "Approve (the proposer cannot)" : "Reject: any rejection closes it",
            params: ChangeRequestParams,
            body: DecisionBody,
            response: { 200: ChangeRequest, ...problemResponses },
          },
        },
        async (request) => service.decide(ctxOf(request), request.params.id, decision, request.body?.comment),
      );
    }
    app.post(
      "/change-requests/:id/apply",
      {
        schema: {
          tags,
          summary: "Apply an approved change request (409 if a key changed since it was proposed)",
          params: ChangeRequestParams,
          response: { 200: ChangeRequest, ...problemResponses },
        },
      },
      async (request) => service.apply(ctxOf(request), request.params.id),
    );
  };
