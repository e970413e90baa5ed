import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyRequest } from "fastify";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import { LoginBody, RefreshBody, TokenPair, WhoAmI } from "./schemas.js";
import type { SessionService } from "./service.js";

const tags = ["auth"];
const facts = (request: FastifyRequest) => ({
  requestId: String(request.id),
  sourceIp: request.ip,
  userAgent: request.headers["user-agent"],
});

/** Login, refresh and logout need no bearer token: they are how you get one. */
export const publicSessionRoutes =
  (service: SessionService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      "/auth/login",
      {
        schema: {
          tags,
          summary: "Email + password → session token (15 min) and refresh token",
          security: [],
          body: LoginBody,
          response: { 200: TokenPair, ...problemResponses },
        },
      },
      async (request) => service.login(request.body, facts(request)),
    );
    app.post(
      "/auth/refresh",
      {
        schema: {
          tags,
          summary: "Exchange a refresh token for a new pair (the old one is spent)",
          security: [],
          body: RefreshBody,
          response: { 200: TokenPair, ...problemResponses },
        },
      },
      async (request) => service.refresh(request.body.refreshToken, facts(request)),
    );
    app.post(
      "/auth/logout",
      {
        schema: {
          tags,
          summary: "Revoke a refresh token",
          security: [],
          body: RefreshBody,
          response: { 204: { type: "null" }, ...problemResponses },
        },
      },
      async (request, reply) => {
        await service.logout(request.body.refreshToken, facts(request));
        return reply.code(204).send(null);
      },
    );
  };

export const sessionRoutes =
  (service: SessionService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      "/auth/whoami",
      { schema: { tags, summary: "Who the credential belongs to", response: { 200: WhoAmI, ...problemResponses } } },
      async (request) => service.whoami(ctxOf(request)),
    );
  };
