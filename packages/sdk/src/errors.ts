import type { ErrorCode, Problem } from "@cairn/server/contract";

/** The closed set of problem codes the server answers with (RFC 9457 `code` member). */
export type ProblemCode = ErrorCode;

/** A field-level problem from `errors[]` (schema violations, bad input). */
export interface ProblemFieldError {
  path: string;
  message: string;
}

/**
 * The server answered with an error status. One class for every code (no subclass per status):
 * branch on `code`, or use `isApiError(e, "not_found")`.
 */
export class CairnApiError extends Error {
  readonly status: number;
  readonly code: ProblemCode;
  readonly problem: Problem;
  /** Server request id, for matching a failure to its log line. */
  readonly requestId: string | undefined;
  /** Field-level problems (422 schema violations, 400 bad input); empty when none. */
  readonly errors: ProblemFieldError[];
  /** On a 412 (`If-Match` lost a race): the key's current version, to re-read or retry against. */
  readonly currentVersion: number | undefined;
  /** On a 429: seconds to wait, from `Retry-After`. */
  readonly retryAfter: number | undefined;
  /**
   * On a 410 `gone` from a watch (or its `resync` event): revisions up to this one were compacted. Reload the
   * state (`list`), then watch from the current revision.
   */
  readonly compactedRevision: number | undefined;

  constructor(problem: Problem, retryAfter?: number) {
    const loose = problem as Problem & Record<string, unknown>;
    super(typeof loose.detail === "string" && loose.detail ? loose.detail : `${problem.status} ${problem.title}`);
    this.name = "CairnApiError";
    this.status = problem.status;
    this.code = problem.code as ProblemCode;
    this.problem = problem;
    this.requestId = typeof loose.requestId === "string" ? loose.requestId : undefined;
    this.errors = Array.isArray(loose.errors) ? (loose.errors as ProblemFieldError[]) : [];
    this.currentVersion = typeof loose.currentVersion === "number" ? loose.currentVersion : undefined;
    this.retryAfter = retryAfter;
    this.compactedRevision = typeof loose.compactedRevision === "number" ? loose.compactedRevision : undefined;
  }
}

/** The server could not be reached at all (refused, DNS, TLS, timeout): nothing was answered. */
export class CairnConnectionError extends Error {
  readonly url: string;

  constructor(url: string, reason: string, cause?: unknown) {
    super(`cannot reach Cairn at ${url} (${reason}): is it running? start it with \`npx cairn serve\``, { cause });
    this.name = "CairnConnectionError";
    this.url = url;
  }
}

/**
 * A `CairnApiError` known to carry one code. Narrowing on the code (not just the class) keeps the
 * `else` branch of `if (isNotFound(e))` typed as a possible `CairnApiError` of another code.
 */
export type CairnApiErrorOf<C extends ProblemCode> = CairnApiError & { readonly code: C };

/** True when `e` is a `CairnApiError`, and when a code is given, of that code. */
export function isApiError<C extends ProblemCode = ProblemCode>(e: unknown, code?: C): e is CairnApiErrorOf<C> {
  return e instanceof CairnApiError && (code === undefined || e.code === code);
}

export const isNotFound = (e: unknown): e is CairnApiErrorOf<"not_found"> => isApiError(e, "not_found");
export const isConflict = (e: unknown): e is CairnApiErrorOf<"conflict"> => isApiError(e, "conflict");
export const isPreconditionFailed = (e: unknown): e is CairnApiErrorOf<"precondition_failed"> => isApiError(e, "precondition_failed");
export const isValidationFailed = (e: unknown): e is CairnApiErrorOf<"validation_failed"> => isApiError(e, "validation_failed");
export const isUnauthorized = (e: unknown): e is CairnApiErrorOf<"unauthorized"> => isApiError(e, "unauthorized");
export const isForbidden = (e: unknown): e is CairnApiErrorOf<"forbidden"> => isApiError(e, "forbidden");
/** A watch resume point that is no longer retained (410 before the stream, or a `resync` event during it). */
export const isGone = (e: unknown): e is CairnApiErrorOf<"gone"> => isApiError(e, "gone");
export const isRateLimited = (e: unknown): e is CairnApiErrorOf<"rate_limited"> => isApiError(e, "rate_limited");
