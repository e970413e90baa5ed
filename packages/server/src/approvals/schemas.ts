import { type Static, Type } from "typebox";

export const SubjectKindSchema = Type.Union([Type.Literal("access_request"), Type.Literal("config_change")]);

const MatchValue = Type.String({ minLength: 1, maxLength: 256, description: "exact value, or a prefix ending in *" });

export const PolicyMatch = Type.Object(
  {
    provider: Type.Optional(MatchValue),
    role: Type.Optional(MatchValue),
    environment: Type.Optional(MatchValue),
    namespace: Type.Optional(MatchValue),
  },
  {
    additionalProperties: false,
    description: "every field given must equal the subject's (`*` suffix: prefix); absent fields match anything",
  },
);

export const PolicyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]*$" }),
    kind: SubjectKindSchema,
    match: Type.Optional(PolicyMatch),
    autoApproveBelowSeconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 31_536_000, description: "auto-approve a request of at most this many seconds" }),
    ),
    maxDurationSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 31_536_000, description: "refuse (400) longer requests" })),
    requiredApprovals: Type.Integer({ minimum: 1, maximum: 100 }),
    approverGroup: Type.Optional(
      Type.String({ minLength: 1, maxLength: 128, description: "group (id or name) whose members may approve" }),
    ),
    approvalTtlSeconds: Type.Optional(
      Type.Integer({ minimum: 60, maximum: 31_536_000, description: "how long approval may take; default 86400 (one day)" }),
    ),
  },
  { additionalProperties: false },
);
export type PolicyBody = Static<typeof PolicyBody>;

export const Policy = Type.Object({
  id: Type.String(),
  name: Type.String(),
  kind: SubjectKindSchema,
  match: PolicyMatch,
  autoApproveBelowSeconds: Type.Optional(Type.Integer()),
  maxDurationSeconds: Type.Optional(Type.Integer()),
  requiredApprovals: Type.Integer(),
  approverGroup: Type.Optional(Type.String()),
  approvalTtlSeconds: Type.Integer(),
  createdAt: Type.String({ format: "date-time" }),
  updatedAt: Type.String({ format: "date-time" }),
});
export type Policy = Static<typeof Policy>;

export const PolicyList = Type.Object({ items: Type.Array(Policy) });
export const PolicyParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, description: "policy id or name" }) });
export const PolicyQuery = Type.Object({ kind: Type.Optional(SubjectKindSchema) });

export const ApprovalStateSchema = Type.Object({
  state: Type.Union([Type.Literal("approved"), Type.Literal("denied"), Type.Literal("pending")]),
  approvals: Type.Integer(),
  required: Type.Integer(),
  decisions: Type.Array(
    Type.Object({
      approver: Type.String(),
      decision: Type.Union([Type.Literal("approve"), Type.Literal("deny")]),
      comment: Type.Optional(Type.String()),
      at: Type.String({ format: "date-time" }),
    }),
  ),
  expiresAt: Type.Optional(Type.String({ format: "date-time" })),
  expired: Type.Optional(Type.Boolean()),
});
