import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { CairnError } from "../errors.js";
import type { Metrics } from "../metrics.js";

const CHALLENGE = { "WWW-Authenticate": 'Bearer realm="cairn-metrics"' };

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * `GET /metrics`: Prometheus text exposition, outside the API like /health. Open by default (it holds no
 * data: label values are route templates, cache names and reasons, never ids, names or keys); with
 * CAIRN_METRICS_TOKEN set it needs `Authorization: Bearer <that token>` (a 401 problem otherwise).
 *
 * With tracing on (OTEL_EXPORTER_OTLP_ENDPOINT), also names each request's server span after its route
 * template (`GET /api/v1/configs/:ns/:key`), as the http instrumentation alone cannot.
 */
export async function registerMetricsRoute(
  app: FastifyInstance,
  metrics: Metrics,
  options: { metricsToken?: string; tracing?: boolean } = {},
): Promise<void> {
  const expected = options.metricsToken ? digest(options.metricsToken) : undefined;
  app.get(
    "/metrics",
    {
      schema: {
        tags: ["ops"],
        summary: "Prometheus metrics (text format 0.0.4); needs `Bearer <CAIRN_METRICS_TOKEN>` when that is set",
        security: expected ? [{ bearer: [] }] : [],
        produces: ["text/plain"],
      },
    },
    async (request, reply) => {
      if (expected) {
        const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? "");
        if (!m?.[1] || !timingSafeEqual(digest(m[1]), expected)) {
          metrics.authFailure("metrics_token");
          throw new CairnError("unauthorized", "GET /metrics needs 'Authorization: Bearer <CAIRN_METRICS_TOKEN>'", {
            headers: CHALLENGE,
          });
        }
      }
      const { contentType, text } = await metrics.exposition();
      return reply.type(contentType).header("cache-control", "no-store").send(text);
    },
  );

  if (options.tracing) {
    const { trace } = await import("@opentelemetry/api");
    app.addHook("onRequest", (request, _reply, done) => {
      const route = request.routeOptions.url;
      const span = trace.getActiveSpan();
      if (span && route) {
        span.updateName(`${request.method} ${route}`);
        span.setAttribute("http.route", route);
      }
      done();
    });
  }
}
