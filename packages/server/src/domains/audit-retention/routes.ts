import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { type AuditRetention, RetentionBusy } from "../../audit/retention.js";
import { CairnError } from "../../errors.js";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import { RetentionRun, RetentionRunBody } from "./schemas.js";

const tags = ["audit"];

/**
 * `POST /audit/retention/run`: one retention run now (what the timer does), for the instance admin only —
 * it archives and drops every tenant's old partitions. Answers what it archived, kept and why.
 */
export const auditRetentionRoutes =
  (retention: Pick<AuditRetention, "run">): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      "/audit/retention/run",
      {
        schema: {
          tags,
          summary:
            "Run audit retention now (instance admin): create month partitions ahead, archive partitions older than the retention to verified gzip NDJSON files, then drop them",
          body: RetentionRunBody,
          response: { 200: RetentionRun, ...problemResponses },
        },
        // Every field is optional, so no body at all means the defaults.
        preValidation: async (request) => {
          if (request.body === undefined || request.body === null) (request as { body: unknown }).body = {};
        },
      },
      async (request) => {
        const ctx = ctxOf(request);
        if (!ctx.actor.instanceAdmin) {
          throw new CairnError("forbidden", "only the instance admin (the bootstrap admin key) runs audit retention");
        }
        const retentionDays = request.body.retentionDays;
        try {
          return await retention.run({ retentionDays, ctx });
        } catch (e) {
          if (e instanceof RetentionBusy) throw new CairnError("conflict", e.message, { headers: { "retry-after": "60" } });
          throw e;
        }
      },
    );
  };
