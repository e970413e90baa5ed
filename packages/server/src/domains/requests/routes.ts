import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import type { Authorizer } from "../../authz/types.js";
import { CairnError } from "../../errors.js";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import {
  Accepted,
  CreateRequestBody,
  Credentials,
  DecisionBody,
  DecisionResult,
  ListRequestsQuery,
  MAX_REQUEST_BODY_BYTES,
  RequestCounts,
  RequestIdParams,
  RequestList,
  RequestView,
} from "./schemas.js";
import type { RequestService } from "./service.js";

const tags = ["requests"];
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** An empty body means "no comment". */
const emptyBody = async (request: FastifyRequest) => {
  if (request.body === undefined || request.body === null) (request as { body: unknown }).body = {};
};

/**
 * Access requests (seed 003): `POST` answers 202 with a correlation id at once; workers grant, and revoke
 * when the time is up. Creating needs `requests:…:write`; a requester always sees, revokes and (once)
 * reveals their own requests; others' need `read`/`list`/`admin`; approving is the approval engine's call.
 */
export const requestRoutes =
  (service: RequestService, authz: Authorizer, options: { maxDurationSeconds: number }): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      "/requests",
      {
        preHandler: async (request) => authz.require(ctxOf(request), { resource: "requests", action: "write" }),
        bodyLimit: MAX_REQUEST_BODY_BYTES,
        schema: {
          tags,
          summary: "Ask for temporary access; answered 202 with a correlation id while a worker grants it",
          description: "Send `Idempotency-Key: <any string>` to make retries safe: the same key and body answer the same correlation id.",
          body: CreateRequestBody(options.maxDurationSeconds),
          response: { 202: Accepted, ...problemResponses },
        },
      },
      async (request, reply) => {
        const key = request.headers["idempotency-key"];
        if (key !== undefined && (typeof key !== "string" || !IDEMPOTENCY_KEY.test(key))) {
          throw new CairnError("bad_request", "Idempotency-Key must be 1–255 visible ASCII characters", {
            errors: [{ path: "headers/idempotency-key", message: "1–255 visible ASCII characters" }],
          });
        }
        const { accepted, replayed } = await service.create(ctxOf(request), request.body, key);
        if (replayed) reply.header("idempotent-replayed", "true");
        return reply.code(202).header("location", accepted.links.self).send(accepted);
      },
    );

    app.get(
      "/requests",
      {
        schema: {
          tags,
          summary: "List access requests, newest first: structured filters and/or plain words (q)",
          querystring: ListRequestsQuery,
          response: { 200: RequestList, ...problemResponses },
        },
      },
      async (request) => service.list(ctxOf(request), request.query),
    );

    app.get(
      "/requests/counts",
      {
        schema: {
          tags,
          summary: "How many access requests are in each status (everyone's with requests:**:list, else your own)",
          response: { 200: RequestCounts, ...problemResponses },
        },
      },
      async (request) => service.counts(ctxOf(request)),
    );

    app.get(
      "/requests/:id",
      {
        schema: {
          tags,
          summary: "Status of an access request",
          params: RequestIdParams,
          response: { 200: RequestView, ...problemResponses },
        },
      },
      async (request) => service.get(ctxOf(request), request.params.id),
    );

    for (const decision of ["approve", "deny"] as const) {
      app.post(
        `/requests/:id/${decision}`,
        {
          preValidation: emptyBody,
          schema: {
            tags,
            summary: decision === "approve" ? "Approve an access request (not your own)" : "Deny an access request",
            params: RequestIdParams,
            body: DecisionBody,
            response: { 200: DecisionResult, ...problemResponses },
          },
        },
        async (request) => service.decide(ctxOf(request), request.params.id, decision, request.body.comment),
      );
    }

    app.post(
      "/requests/:id/revoke",
      {
        preValidation: emptyBody,
        schema: {
          tags,
          summary: "End access now (202: a worker revokes it; a request not granted yet is cancelled)",
          params: RequestIdParams,
          body: DecisionBody,
          response: { 202: Accepted, ...problemResponses },
        },
      },
      async (request, reply) => reply.code(202).send(await service.revoke(ctxOf(request), request.params.id, request.body.comment)),
    );

    app.post(
      "/requests/:id/credentials",
      {
        schema: {
          tags,
          summary: "Reveal the issued credentials to the requester, once; afterwards Cairn no longer has them",
          params: RequestIdParams,
          response: { 200: Credentials, ...problemResponses },
        },
      },
      async (request, reply) =>
        reply.header("cache-control", "no-store").send(await service.revealCredentials(ctxOf(request), request.params.id)),
    );
  };
