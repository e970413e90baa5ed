import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { Authorizer } from "../../authz/types.js";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import { NsKeyParams } from "../configs/schemas.js";
import { PolicyQuery, PutPolicyBody, RotationPolicy } from "./policy-schemas.js";
import { addressOf, type PolicyService, parseSecretRef } from "./policy-service.js";

const tags = ["secrets"];

/** `PUT|GET|DELETE /secrets/{ns}/{key}/policy`: a secret's rotation policy (the scheduler runs it). */
export const policyRoutes =
  (service: PolicyService, authz: Authorizer): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.put(
      "/secrets/:ns/:key/policy",
      {
        schema: {
          tags,
          summary: "Set a secret's rotation policy (interval, grace, autoRotate, notify, strategy)",
          params: NsKeyParams,
          querystring: PolicyQuery,
          body: PutPolicyBody,
          response: { 200: RotationPolicy, 201: RotationPolicy, ...problemResponses },
        },
      },
      async (request, reply) => {
        const ctx = ctxOf(request);
        const { ns, key } = request.params;
        const address = addressOf(ns, key, request.query.environment);
        await authz.require(ctx, { resource: "secrets", namespace: ns, action: "write", environment: address.environment });
        // Naming admin credentials makes Cairn use them: only for someone who could read them anyway.
        if (request.body.adminSecret) {
          const admin = parseSecretRef(request.body.adminSecret);
          await authz.require(ctx, { resource: "secrets", namespace: admin.namespace, action: "reveal", environment: address.environment });
        }
        const { policy, created } = await service.put(ctx, address, request.body);
        return reply.code(created ? 201 : 200).send(policy);
      },
    );
    app.get(
      "/secrets/:ns/:key/policy",
      {
        schema: {
          tags,
          summary: "A secret's rotation policy and schedule (next rotation, failed attempts, last error)",
          params: NsKeyParams,
          querystring: PolicyQuery,
          response: { 200: RotationPolicy, ...problemResponses },
        },
      },
      async (request) => {
        const ctx = ctxOf(request);
        const address = addressOf(request.params.ns, request.params.key, request.query.environment);
        await authz.require(ctx, { resource: "secrets", namespace: address.namespace, action: "read", environment: address.environment });
        return service.get(ctx, address);
      },
    );
    app.delete(
      "/secrets/:ns/:key/policy",
      {
        schema: {
          tags,
          summary: "Remove a secret's rotation policy (the secret stays)",
          params: NsKeyParams,
          querystring: PolicyQuery,
          response: { 204: { type: "null" }, ...problemResponses },
        },
      },
      async (request, reply) => {
        const ctx = ctxOf(request);
        const address = addressOf(request.params.ns, request.params.key, request.query.environment);
        await authz.require(ctx, { resource: "secrets", namespace: address.namespace, action: "write", environment: address.environment });
        await service.remove(ctx, address);
        return reply.code(204).send(null);
      },
    );
  };
