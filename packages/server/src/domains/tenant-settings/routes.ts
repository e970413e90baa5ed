import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { Authorizer } from "../../authz/types.js";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import { PatchTenantSettings, TenantSettings } from "./schemas.js";
import type { TenantSettingsService } from "./service.js";

const tags = ["tenants"];

/** The caller's own tenant's settings: read with `tenants:read`, changed with `tenants:admin`. */
export const tenantSettingsRoutes =
  (service: TenantSettingsService, authz: Authorizer): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      "/settings",
      { schema: { tags, summary: "This tenant's settings", response: { 200: TenantSettings, ...problemResponses } } },
      async (request) => {
        const ctx = ctxOf(request);
        await authz.require(ctx, { resource: "tenants", action: "read" });
        return service.get(ctx.actor.tenantId);
      },
    );
    app.patch(
      "/settings",
      {
        schema: {
          tags,
          summary: 'Change this tenant\'s settings (e.g. {"leakGuard": "reject"})',
          body: PatchTenantSettings,
          response: { 200: TenantSettings, ...problemResponses },
        },
      },
      async (request) => {
        const ctx = ctxOf(request);
        await authz.require(ctx, { resource: "tenants", action: "admin" });
        return service.update(ctx, request.body);
      },
    );
  };
