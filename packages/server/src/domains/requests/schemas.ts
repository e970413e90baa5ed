import { type Static, type TSchema, Type } from "typebox";

export const requestStatuses = [
  "PENDING",
  "AWAITING_APPROVAL",
  "APPROVED",
  "DENIED",
  "PROCESSING",
  "SUCCESS",
  "FAILED",
  "REVOKED",
  "EXPIRED",
] as const;
export type RequestStatus = (typeof requestStatuses)[number];

/** Nothing more will happen to a request in one of these. */
export const finalStatuses: ReadonlySet<RequestStatus> = new Set(["DENIED", "FAILED", "REVOKED", "EXPIRED"]);

const Provider = Type.Union([Type.Literal("aws"), Type.Literal("azure"), Type.Literal("gcp"), Type.Literal("postgres")], {
  description: "where the access is granted",
});
const Status = Type.Union(
  [
    Type.Literal("PENDING"),
    Type.Literal("AWAITING_APPROVAL"),
    Type.Literal("APPROVED"),
    Type.Literal("DENIED"),
    Type.Literal("PROCESSING"),
    Type.Literal("SUCCESS"),
    Type.Literal("FAILED"),
    Type.Literal("REVOKED"),
    Type.Literal("EXPIRED"),
  ],
  {
    description:
      "PENDING → (AWAITING_APPROVAL → APPROVED | DENIED | EXPIRED) → PROCESSING → SUCCESS (granted) | FAILED → REVOKED | EXPIRED",
  },
);

/** Largest intake body accepted (413 above). */
export const MAX_REQUEST_BODY_BYTES = 16 * 1024;

/**
 * The intake document, checked as a whole before anything is stored: every problem is listed in one 400.
 * `durationSeconds`'s maximum is the server's CAIRN_ACCESS_MAX_DURATION_SECONDS.
 */
export const CreateRequestBody = (maxDurationSeconds: number) =>
  Type.Object(
    {
      provider: Provider,
      principal: Type.String({
        minLength: 1,
        maxLength: 512,
        description: "who gets the access: an IAM user/role ARN, an Azure object id, a GCP member, or (postgres) the login name's prefix",
      }),
      role: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 512,
          description: "a role to grant (IAM policy ARN, Azure role, GCP role, PostgreSQL role)",
        }),
      ),
      permissions: Type.Optional(
        Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
          minItems: 1,
          maxItems: 64,
          description: "or individual permissions (AWS actions, PostgreSQL privileges such as SELECT)",
        }),
      ),
      resource: Type.Optional(
        Type.String({ minLength: 1, maxLength: 1024, description: "what they apply to (ARN, Azure scope, GCP project, schema.table)" }),
      ),
      durationSeconds: Type.Integer({ minimum: 1, maximum: maxDurationSeconds, description: "how long the access lasts once granted" }),
      justification: Type.String({ minLength: 3, maxLength: 2000, description: "why (kept in the audit log)" }),
    },
    {
      additionalProperties: false,
      // `role` or `permissions`, not both: checked with everything else, so one 400 lists every problem.
      anyOf: [{ required: ["role"] }, { required: ["permissions"] }],
      not: { required: ["role", "permissions"] },
    },
  );
export type CreateRequestBody = Static<ReturnType<typeof CreateRequestBody>>;

export const CorrelationId = Type.String({
  pattern: "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
  description: "correlation id (UUID)",
});
export const RequestIdParams = Type.Object({ id: CorrelationId });

const Links = Type.Object({
  self: Type.String(),
  credentials: Type.String(),
  approve: Type.String(),
  deny: Type.String(),
  revoke: Type.String(),
});

export const Accepted = Type.Object({
  correlationId: Type.String(),
  status: Status,
  links: Links,
});
export type Accepted = Static<typeof Accepted>;

const Timestamp = Type.String({ format: "date-time" });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const RequestView = Type.Object({
  correlationId: Type.String(),
  status: Status,
  provider: Provider,
  principal: Type.String(),
  role: Nullable(Type.String()),
  permissions: Nullable(Type.Array(Type.String())),
  resource: Nullable(Type.String()),
  durationSeconds: Type.Integer(),
  justification: Type.String(),
  requestedBy: Type.String(),
  requestedByName: Type.Optional(Type.String({ description: "who asked, for display: a user's email or an API key's name (in lists)" })),
  receivedAt: Timestamp,
  updatedAt: Timestamp,
  completedAt: Nullable(Timestamp),
  approvalExpiresAt: Nullable(Timestamp),
  expiresAt: Nullable(Timestamp),
  revokedAt: Nullable(Timestamp),
  attempts: Type.Integer(),
  grant: Nullable(Type.Record(Type.String(), Type.Unknown(), { description: "what was created (names only, never secrets)" })),
  credentialsAvailable: Type.Boolean({ description: "credentials wait to be revealed once: POST …/credentials" }),
  errorDetails: Nullable(Type.Record(Type.String(), Type.Unknown())),
  links: Links,
});
export type RequestView = Static<typeof RequestView>;

export const ListRequestsQuery = Type.Object({
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'plain words, e.g. "failed requests for AWS yesterday"' })),
  status: Type.Optional(Type.String({ description: "comma-separated statuses" })),
  provider: Type.Optional(Type.String({ description: "comma-separated providers" })),
  principal: Type.Optional(Type.String({ maxLength: 512 })),
  role: Type.Optional(Type.String({ maxLength: 512 })),
  from: Type.Optional(Type.String({ format: "date-time", description: "received at or after" })),
  to: Type.Optional(Type.String({ format: "date-time", description: "received before" })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 200, description: "nextCursor of the previous page" })),
});
export type ListRequestsQuery = Static<typeof ListRequestsQuery>;

export const RequestList = Type.Object({
  items: Type.Array(RequestView),
  nextCursor: Type.Optional(Type.String()),
  interpretedAs: Type.Optional(Type.String({ description: "what `q` was read as" })),
  interpretedFilter: Type.Optional(
    Type.Object(
      {
        status: Type.Optional(Type.Array(Status)),
        provider: Type.Optional(Type.Array(Provider)),
        principal: Type.Optional(Type.String()),
        role: Type.Optional(Type.String()),
        from: Type.Optional(Timestamp),
        to: Type.Optional(Timestamp),
      },
      { description: "the structured filter `q` was read as, field by field (before any explicit filter parameter)" },
    ),
  ),
  ignored: Type.Optional(Type.Array(Type.String(), { description: "words of `q` that meant nothing" })),
});
export type RequestList = Static<typeof RequestList>;

export const DecisionBody = Type.Object({ comment: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: false });

export const DecisionResult = Type.Object({
  correlationId: Type.String(),
  status: Status,
  approval: Type.Object({
    state: Type.String(),
    approvals: Type.Integer(),
    required: Type.Integer(),
  }),
});
export type DecisionResult = Static<typeof DecisionResult>;

export const Credentials = Type.Object({
  correlationId: Type.String(),
  expiresAt: Nullable(Timestamp),
  credentials: Type.Record(Type.String(), Type.Unknown(), { description: "shown this once; gone from Cairn afterwards" }),
});
export type Credentials = Static<typeof Credentials>;

export const RequestCounts = Type.Object({
  counts: Type.Record(Type.String(), Type.Integer(), { description: "requests per status (every status, zeros included)" }),
  total: Type.Integer(),
});
export type RequestCounts = Static<typeof RequestCounts>;
