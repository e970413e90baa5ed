/**
 * One error type for the whole server. Services throw `CairnError`s with a code from a closed set;
 * the HTTP layer maps each code to one status in one place (`statusOf`) and renders RFC 9457 problem+json.
 */
export const errorStatus = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  validation_failed: 422,
  rate_limited: 429,
  internal: 500,
  integrity_failure: 500,
  unavailable: 503,
  audit_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export const errorTitle: Record<ErrorCode, string> = {
  bad_request: "Bad request",
  unauthorized: "Unauthorized",
  forbidden: "Forbidden",
  not_found: "Not found",
  conflict: "Conflict",
  gone: "Gone",
  precondition_failed: "Precondition failed",
  payload_too_large: "Payload too large",
  unsupported_media_type: "Unsupported media type",
  validation_failed: "Validation failed",
  rate_limited: "Too many requests",
  internal: "Internal server error",
  integrity_failure: "Integrity check failed",
  unavailable: "Service unavailable",
  audit_unavailable: "Audit log unavailable",
};

export interface FieldError {
  path: string;
  message: string;
}

export interface CairnErrorOptions {
  /** Field-level problems, rendered as `errors[]` (422 schema violations, 400 bad input). */
  errors?: FieldError[];
  /** Extra members of the problem document, e.g. `currentVersion` on a 412. */
  extensions?: Record<string, unknown>;
  /** Response headers, e.g. `Retry-After` on a 429. */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class CairnError extends Error {
  readonly code: ErrorCode;
  readonly errors?: FieldError[];
  readonly extensions?: Record<string, unknown>;
  readonly headers?: Record<string, string>;

  constructor(code: ErrorCode, message: string, options: CairnErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "CairnError";
    this.code = code;
    this.errors = options.errors;
    this.extensions = options.extensions;
    this.headers = options.headers;
  }

  get status(): number {
    return errorStatus[this.code];
  }
}
