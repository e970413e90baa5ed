import { type Static, Type } from "typebox";
import { ApprovalStateSchema } from "../../approvals/schemas.js";

export const ChangeRequestStatus = Type.Union([
  Type.Literal("pending"),
  Type.Literal("approved"),
  Type.Literal("rejected"),
  Type.Literal("applied"),
  Type.Literal("expired"),
]);
export type ChangeRequestStatus = Static<typeof ChangeRequestStatus>;

const PatchOp = Type.Object(
  { op: Type.String(), path: Type.String(), value: Type.Optional(Type.Unknown()), from: Type.Optional(Type.String()) },
  { additionalProperties: true },
);

export const ProposedChange = Type.Object({
  op: Type.Union([Type.Literal("set"), Type.Literal("create"), Type.Literal("delete"), Type.Literal("restore")]),
  namespace: Type.String(),
  key: Type.String(),
  environment: Type.String(),
  baseVersion: Type.Union([Type.Integer(), Type.Null()], { description: "the key's version in this environment when proposed" }),
  secret: Type.Boolean(),
  restoreVersion: Type.Optional(Type.Integer()),
  diff: Type.Array(PatchOp, { description: "RFC 6902 patch from the current value to the proposed one; secret values masked" }),
});
export type ProposedChange = Static<typeof ProposedChange>;

export const ChangeRequest = Type.Object({
  id: Type.String(),
  status: ChangeRequestStatus,
  environments: Type.Array(Type.String()),
  namespaces: Type.Array(Type.String()),
  proposedBy: Type.String(),
  reason: Type.Union([Type.String(), Type.Null()]),
  diff: Type.Array(PatchOp, {
    description: "RFC 6902: against the current value for one change; for several, paths start with /<namespace/key@environment>",
  }),
  changes: Type.Array(ProposedChange),
  approval: Type.Optional(ApprovalStateSchema),
  createdAt: Type.String({ format: "date-time" }),
  expiresAt: Type.String({ format: "date-time" }),
  appliedAt: Type.Optional(Type.String({ format: "date-time" })),
  appliedBy: Type.Optional(Type.String()),
  result: Type.Optional(Type.Unknown()),
  links: Type.Object({
    self: Type.String(),
    approve: Type.String(),
    reject: Type.String(),
    apply: Type.String(),
  }),
});
export type ChangeRequest = Static<typeof ChangeRequest>;

export const ChangeRequestAccepted = Type.Object(
  { changeRequest: ChangeRequest },
  { description: "the environment requires approval: nothing changed yet; a change request was opened" },
);

export const ChangeRequestList = Type.Object({ items: Type.Array(ChangeRequest) });
export const ChangeRequestQuery = Type.Object({
  status: Type.Optional(ChangeRequestStatus),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
});
export const ChangeRequestParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
export const DecisionBody = Type.Object({ comment: Type.Optional(Type.String({ maxLength: 1024 })) }, { additionalProperties: false });
