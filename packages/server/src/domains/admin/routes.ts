import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { ctxOf } from "../../http/context.js";
import { problemResponses } from "../../http/problem.js";
import { KeyRotation, KeyRotationList, KeyRotationParams, StartKeyRotationBody } from "./schemas.js";
import type { KeyRotationService } from "./service.js";

const tags = ["admin"];

/** `/admin/key-rotations`: start a master-key or data-key rotation (202), follow its progress. */
export const keyRotationRoutes =
  (rotations: KeyRotationService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      "/admin/key-rotations",
      {
        schema: {
          tags,
          summary:
            "Start a key rotation in the background: kind master (instance admin) rewraps every key under the current KEK; kind data gives a namespace a new data key and re-encrypts its values",
          body: StartKeyRotationBody,
          response: { 202: KeyRotation, ...problemResponses },
        },
      },
      async (request, reply) => {
        const ctx = ctxOf(request);
        const body = request.body;
        const rotation =
          body.kind === "master"
            ? await rotations.startMaster(ctx, { all: body.all, reason: body.reason })
            : await rotations.startData(ctx, body.namespace, body.reason);
        reply.header("location", `/api/v1/admin/key-rotations/${rotation.id}`);
        return reply.code(202).send(rotation);
      },
    );

    app.get(
      "/admin/key-rotations/:id",
      {
        schema: {
          tags,
          summary: "A key rotation's progress: status, total, done, startedAt, finishedAt",
          params: KeyRotationParams,
          response: { 200: KeyRotation, ...problemResponses },
        },
      },
      async (request) => rotations.get(ctxOf(request), request.params.id),
    );

    app.get(
      "/admin/key-rotations",
      {
        schema: {
          tags,
          summary: "Recent key rotations, newest first (instance admin)",
          response: { 200: KeyRotationList, ...problemResponses },
        },
      },
      async (request) => rotations.list(ctxOf(request)),
    );
  };
