import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import type { Action, Authorizer } from "../../authz/types.js";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import {
  CreatedKey,
  CreateKeyBody,
  KeyIdParams,
  KeyList,
  KeyUsage,
  KeyView,
  ListKeysQuery,
  RotatedKey,
  RotateKeyBody,
  UsageQuery,
  VerifyKeyBody,
  VerifyResult,
} from "./schemas.js";
import type { KeyService } from "./service.js";

const tags = ["keys"];

/**
 * API key lifecycle. Issuing, revoking and rotating keys hands out or takes away power, so those need
 * `keys:**:admin` (`rotate` for rotation); reading needs `read`/`list`.
 */
export const keyRoutes =
  (service: KeyService, authz: Authorizer): FastifyPluginAsyncTypebox =>
  async (app) => {
    const guard = (action: Action) => ({
      preHandler: async (request: FastifyRequest) => authz.require(ctxOf(request), { resource: "keys", action }),
    });
    app.post(
      "/keys",
      {
        ...guard("admin"),
        schema: {
          tags,
          summary: "Create an API key; the key is in this response only",
          body: CreateKeyBody,
          response: { 201: CreatedKey, ...problemResponses },
        },
      },
      async (request, reply) =>
        reply
          .code(201)
          .header("cache-control", "no-store")
          .send(await service.create(ctxOf(request), request.body)),
    );

    app.get(
      "/keys",
      {
        ...guard("list"),
        schema: {
          tags,
          summary: "List the tenant's API keys (never the keys themselves)",
          querystring: ListKeysQuery,
          response: { 200: KeyList, ...problemResponses },
        },
      },
      async (request) => service.list(ctxOf(request), request.query),
    );

    app.post(
      "/keys/verify",
      {
        // Authorized in the handler (same order: after validation, before the work): a hot route spared a hook.
        schema: {
          tags,
          summary: "Verify a key of your tenant (as Unkey does): validity, code, roles, permissions, quota and rate limit",
          body: VerifyKeyBody,
          response: { 200: VerifyResult, ...problemResponses },
        },
      },
      async (request) => {
        const ctx = ctxOf(request);
        await authz.require(ctx, { resource: "keys", action: "read" });
        return service.verify(ctx, request.body.key);
      },
    );

    app.get(
      "/keys/:id",
      {
        ...guard("read"),
        schema: { tags, summary: "Show an API key", params: KeyIdParams, response: { 200: KeyView, ...problemResponses } },
      },
      async (request) => service.get(ctxOf(request), request.params.id),
    );

    app.post(
      "/keys/:id/rotate",
      {
        ...guard("rotate"),
        schema: {
          tags,
          summary: "Issue a replacement key with the same settings; the old key works for gracePeriodSeconds more",
          params: KeyIdParams,
          body: RotateKeyBody,
          response: { 200: RotatedKey, ...problemResponses },
        },
        // Every field is optional, so no body at all means the defaults.
        preValidation: async (request) => {
          if (request.body === undefined || request.body === null) (request as { body: unknown }).body = {};
        },
      },
      async (request, reply) =>
        reply.header("cache-control", "no-store").send(await service.rotate(ctxOf(request), request.params.id, request.body)),
    );

    app.post(
      "/keys/:id/revoke",
      {
        ...guard("admin"),
        schema: {
          tags,
          summary: "Revoke an API key: refused everywhere within a second",
          params: KeyIdParams,
          response: { 200: KeyView, ...problemResponses },
        },
      },
      async (request) => service.revoke(ctxOf(request), request.params.id),
    );

    app.get(
      "/keys/:id/usage",
      {
        ...guard("read"),
        schema: {
          tags,
          summary: "Uses per hour since a moment (default: the last 24 hours)",
          params: KeyIdParams,
          querystring: UsageQuery,
          response: { 200: KeyUsage, ...problemResponses },
        },
      },
      async (request) => service.usage(ctxOf(request), request.params.id, request.query.since),
    );
  };
