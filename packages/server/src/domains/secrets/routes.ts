import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { ctxOf } from "../../http/context.js";
import { parseIfMatch } from "../../http/preconditions.js";
import { problemResponses } from "../../http/problem.js";
import type { GeneratorPolicy } from "../../secrets/generators.js";
import {
  DeletedSecret,
  DeleteSecretQuery,
  GetSecretQuery,
  ListSecretsQuery,
  NsKeyParams,
  NsParams,
  PutSecretBody,
  RotateBody,
  SecretEntry,
  SecretList,
  SecretWriteResult,
  WriteSecretQuery,
} from "./schemas.js";
import type { SecretService } from "./service.js";

const tags = ["secrets"];
const ifMatchHeader = { type: "object", properties: { "if-match": { type: "string" } } } as const;

/** Routes parse and hand over; the secret service authorizes (`secrets:<ns>:<action>`) and decides. */
export const secretRoutes =
  (service: SecretService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.put(
      "/secrets/:ns/:key",
      {
        schema: {
          tags,
          summary: "Set a typed secret (validated by type; 422 names the bad field); If-Match for optimistic locking",
          params: NsKeyParams,
          querystring: WriteSecretQuery,
          headers: ifMatchHeader,
          body: PutSecretBody,
          response: { 200: SecretWriteResult, ...problemResponses },
        },
      },
      async (request, reply) => {
        const { ns, key } = request.params;
        const result = await service.put(ctxOf(request), { namespace: ns, key, environment: request.query.environment }, request.body, {
          ifMatch: parseIfMatch(request.headers["if-match"]),
        });
        reply.header("etag", `"${result.version}"`);
        return result;
      },
    );

    app.get(
      "/secrets/:ns/:key",
      {
        schema: {
          tags,
          summary:
            "Read a secret: masked unless ?reveal=true (needs secrets:<ns>:reveal; audited); ?version=previous during a grace period",
          params: NsKeyParams,
          querystring: GetSecretQuery,
          response: { 200: SecretEntry, ...problemResponses },
        },
      },
      async (request, reply) => {
        const { ns, key } = request.params;
        const { environment, ...options } = request.query;
        reply.header("cache-control", "no-store");
        return service.read(ctxOf(request), { namespace: ns, key, environment }, options);
      },
    );

    app.delete(
      "/secrets/:ns/:key",
      {
        schema: {
          tags,
          summary: "Delete a secret (a tombstone version; history is kept)",
          params: NsKeyParams,
          querystring: DeleteSecretQuery,
          headers: ifMatchHeader,
          response: { 200: DeletedSecret, ...problemResponses },
        },
      },
      async (request) => {
        const { ns, key } = request.params;
        return service.remove(
          ctxOf(request),
          { namespace: ns, key, environment: request.query.environment },
          { reason: request.query.reason, ifMatch: parseIfMatch(request.headers["if-match"]) },
        );
      },
    );

    app.get(
      "/secrets/:ns",
      {
        schema: {
          tags,
          summary: "List the secrets of a namespace (masked unless ?reveal=true), with type, facts and rotation state",
          params: NsParams,
          querystring: ListSecretsQuery,
          response: { 200: SecretList, ...problemResponses },
        },
      },
      async (request, reply) => {
        reply.header("cache-control", "no-store");
        return service.list(ctxOf(request), request.params.ns, request.query);
      },
    );

    app.post(
      "/secrets/:ns/:key/rotate",
      {
        schema: {
          tags,
          summary: "Rotate: a supplied or generated next value; the previous one stays readable for the grace period",
          params: NsKeyParams,
          querystring: WriteSecretQuery,
          body: RotateBody,
          response: { 200: SecretWriteResult, ...problemResponses },
        },
      },
      async (request) => {
        const { ns, key } = request.params;
        const { policy, ...rest } = request.body;
        return service.rotate(
          ctxOf(request),
          { namespace: ns, key, environment: request.query.environment },
          {
            ...rest,
            policy: policy as GeneratorPolicy | undefined,
          },
        );
      },
    );
  };
