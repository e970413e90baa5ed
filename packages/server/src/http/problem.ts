import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { type Static, Type } from "typebox";
import { CairnError, type ErrorCode, errorStatus, errorTitle, type FieldError } from "../errors.js";

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String(),
    requestId: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { additionalProperties: true, description: "RFC 9457 problem details" },
);
export type Problem = Static<typeof Problem>;

// The first code of each status (503 is `unavailable`, not `audit_unavailable`).
const codeByStatus = Object.fromEntries(
  Object.entries(errorStatus)
    .reverse()
    .map(([code, status]) => [status, code]),
) as Record<number, ErrorCode>;

// SQLSTATE classes and socket errors that mean "the database is not there right now".
const UNAVAILABLE_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300", "55000"]);
const UNAVAILABLE_SOCKET = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENOTFOUND"]);

/** A lost or refused database connection: the client should retry, so 503, never 500. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? e.code : "";
  if (UNAVAILABLE_SQLSTATES.has(code) || code.startsWith("08") || UNAVAILABLE_SOCKET.has(code)) return true;
  const message = typeof e?.message === "string" ? e.message : "";
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message);
}

/** audit_events and its monthly partitions (migration 0006), as errors name them. */
const AUDIT_TABLE = /^audit_events(_y\d{4}m\d{2}|_default)?$/;
const AUDIT_TABLE_IN_TEXT = /\baudit_events(_y\d{4}m\d{2}|_default)?\b/;

/**
 * The database refused to record an audit event (a constraint, a trigger, a revoked grant on audit_events):
 * the change it belonged to was rolled back with it, so the answer is 503, fail-closed, never a 500.
 */
export function isAuditWriteFailure(error: unknown): boolean {
  const e = error as { code?: unknown; table?: unknown; message?: unknown };
  if (typeof e?.code !== "string") return false;
  // audit_events is partitioned by month (migration 0006): errors name the partition, audit_events_y2026m05 / _default.
  if (typeof e.table === "string" && AUDIT_TABLE.test(e.table) && (e.code.startsWith("23") || e.code.startsWith("P0"))) return true;
  // Permission and trigger errors do not name the table in a field, only in the message.
  return (e.code === "42501" || e.code === "P0001") && typeof e.message === "string" && AUDIT_TABLE_IN_TEXT.test(e.message);
}

/** Fastify's own errors (parsing, body limits, content types, schema validation) in Cairn's words. */
function fromFastify(error: FastifyError): CairnError | undefined {
  if (error.validation) {
    const context = error.validationContext ?? "body";
    const errors: FieldError[] = error.validation.map((v) => {
      const missing = (v.params as { missingProperty?: string })?.missingProperty;
      const extra = (v.params as { additionalProperty?: string })?.additionalProperty;
      const path = `${context}${v.instancePath || ""}${missing ? `/${missing}` : ""}${extra ? `/${extra}` : ""}`;
      return { path, message: extra ? "unknown property" : (v.message ?? "invalid") };
    });
    const detail = errors.map((e) => `${e.path}: ${e.message}`).join("; ");
    return new CairnError("bad_request", `the request is malformed: ${detail}`, { errors });
  }
  switch (error.code) {
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new CairnError("unsupported_media_type", "send the body as application/json (Content-Type: application/json)");
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new CairnError("payload_too_large", "the request body is larger than the server accepts (CAIRN_MAX_BODY_BYTES)");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new CairnError("bad_request", "the body is empty; send a JSON document");
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new CairnError("bad_request", "Content-Length does not match the body");
  }
  if (error instanceof SyntaxError || error.code === "FST_ERR_CTP_INVALID_JSON_BODY") {
    return new CairnError("bad_request", "the body is not valid JSON");
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return new CairnError(codeByStatus[status] ?? "bad_request", error.message);
  }
  return undefined;
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: CairnError) {
  const problem: Problem & Record<string, unknown> = {
    ...(error.extensions ?? {}),
    type: `urn:cairn:problem:${error.code}`,
    title: errorTitle[error.code],
    status: error.status,
    detail: error.message,
    code: error.code,
    requestId: String(request.id),
  };
  if (error.errors?.length) problem.errors = error.errors;
  if (error.headers) reply.headers(error.headers);
  return reply.code(error.status).type("application/problem+json").serializer(JSON.stringify).send(problem);
}

/** The one place errors become responses. 5xx text is fixed; the cause goes to the (redacted) log only. */
export function registerProblemHandler(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const known =
      err instanceof CairnError
        ? err
        : isDatabaseUnavailable(err)
          ? new CairnError("unavailable", "the database cannot be reached; retry shortly", { headers: { "Retry-After": "1" } })
          : isAuditWriteFailure(err)
            ? new CairnError("audit_unavailable", "the audit log cannot record this request, so nothing was changed; retry shortly", {
                headers: { "Retry-After": "1" },
              })
            : fromFastify(err);
    if (known && known.status < 500) return sendProblem(request, reply, known);
    if (known) {
      request.log.warn({ code: known.code }, known.message);
      return sendProblem(request, reply, known);
    }
    request.log.error({ err }, "unhandled error");
    return sendProblem(request, reply, new CairnError("internal", "an internal error occurred; the request id is in the server log"));
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, new CairnError("not_found", `no route ${request.method} ${request.url.split("?")[0]}`)),
  );
}

/** Response schemas for the OpenAPI document: every route may answer with a problem. */
export const problemResponses = {
  "4xx": Problem,
  "5xx": Problem,
};
