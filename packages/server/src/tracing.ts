/**
 * OpenTelemetry tracing, started by `cairn serve` (src/server.ts) only when OTEL_EXPORTER_OTLP_ENDPOINT (or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: this module and the SDK are imported on demand, so a server
 * without it loads and runs none of this.
 *
 * Spans: one server span per HTTP request (named after its route template by the hook in src/http/metrics.ts),
 * and client spans for outgoing HTTP calls made while serving one. Exported as OTLP/HTTP (JSON) to
 * `<endpoint>/v1/traces`; the standard OTEL_* variables apply (OTEL_SERVICE_NAME, default "cairn";
 * OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER[_ARG], OTEL_BSP_*, OTEL_EXPORTER_OTLP_HEADERS, …).
 * Probes (/health, /ready, /metrics) are not traced. Metrics stay on /metrics (Prometheus), not OTLP.
 */
import { createRequire } from "node:module";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { NodeSDK } from "@opentelemetry/sdk-node";

const UNTRACED = new Set(["/health", "/ready", "/metrics"]);

export interface Tracing {
  /** Exports the spans still buffered, then stops. */
  shutdown(): Promise<void>;
}

export function startTracing(env: NodeJS.ProcessEnv = process.env): Tracing {
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ? undefined : "cairn",
    traceExporter: new OTLPTraceExporter(),
    // Traces only: metrics are scraped from /metrics, logs go to stdout.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => UNTRACED.has((req.url ?? "").split("?", 1)[0] as string),
        requireParentforOutgoingSpans: true,
      }),
    ],
  });
  sdk.start();
  // The server's modules (Fastify among them) may have loaded node:http before this ran; the instrumentation
  // patches a core module when it is next required, and the patch (http.Server.prototype.emit, request, get)
  // lands on the one shared module object, so require it once now.
  const require = createRequire(import.meta.url);
  require("node:http");
  require("node:https");
  return { shutdown: () => sdk.shutdown() };
}
