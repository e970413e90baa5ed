import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import type { Store } from "../db/database.js";

const Status = Type.Object({ status: Type.String(), database: Type.Optional(Type.String()) });

/** Liveness and readiness, unauthenticated, outside the API. */
export function registerOpsRoutes(app: FastifyInstance, store: Store) {
  app.get("/health", { schema: { tags: ["ops"], summary: "Liveness", security: [], response: { 200: Status } } }, async () => ({
    status: "ok",
  }));
  app.get(
    "/ready",
    {
      schema: { tags: ["ops"], summary: "Readiness: 503 until the database answers", security: [], response: { 200: Status, 503: Status } },
    },
    async (_request, reply) => {
      try {
        await Promise.race([store.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 2_000).unref())]);
        return { status: "ready", database: store.kind };
      } catch {
        return reply.code(503).send({ status: "unavailable", database: store.kind });
      }
    },
  );
}
