import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { Authorizer } from "../../authz/types.js";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import { NamespaceList } from "./schemas.js";
import type { NamespaceService } from "./service.js";

/** Namespaces come into being with their first write; this lists the ones the caller may browse. */
export const namespaceRoutes =
  (service: NamespaceService, authz: Authorizer): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      "/namespaces",
      {
        schema: {
          tags: ["configs"],
          summary: "Namespaces the caller may list configs in, with their number of live keys",
          response: { 200: NamespaceList, ...problemResponses },
        },
      },
      async (request) => service.list(ctxOf(request), authz),
    );
  };
