import { type Static, Type } from "typebox";

export const KeyId = Type.String({ pattern: "^key_[0-9a-z]{1,64}$", description: "key id, e.g. key_01jq…" });
export const KeyIdParams = Type.Object({ id: KeyId });

const Timestamp = Type.String({ format: "date-time" });
const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

export const Conditions = Type.Object(
  {
    environments: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 64 })),
    sourceIps: Type.Optional(
      Type.Array(Type.String({ minLength: 2, maxLength: 64, description: "CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32" }), {
        minItems: 1,
        maxItems: 64,
      }),
    ),
    timeWindow: Type.Optional(
      Type.Object(
        {
          start: Type.String({ pattern: "^([01][0-9]|2[0-3]):[0-5][0-9]$", description: "HH:MM, UTC" }),
          end: Type.String({ pattern: "^([01][0-9]|2[0-4]):[0-5][0-9]$", description: "HH:MM, UTC" }),
          days: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 7 }), { minItems: 1, maxItems: 7 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, description: "ABAC conditions: all given must hold" },
);

export const Rule = Type.Object(
  {
    effect: Type.Union([Type.Literal("allow"), Type.Literal("deny")]),
    permission: Type.String({
      minLength: 5,
      maxLength: 1200,
      pattern: "^[^:\\s]+:[^:\\s]+:[^:\\s]+$",
      description: "resource:namespacePattern:action, e.g. configs:payments/**:read",
    }),
    conditions: Type.Optional(Conditions),
  },
  { additionalProperties: false },
);

export const RateLimit = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: "requests allowed per window" }),
    windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400, description: "the sliding window, in seconds" }),
  },
  { additionalProperties: false },
);
export type RateLimit = Static<typeof RateLimit>;

const Meta = Type.Record(Type.String({ maxLength: 128 }), Type.Unknown(), {
  description: "free-form JSON returned by verify (at most 8 KiB); never put secrets here",
});

export const CreateKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    roles: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 32, description: "roles of this tenant" })),
    permissions: Type.Optional(Type.Array(Rule, { maxItems: 100, description: "rules attached to the key itself" })),
    expiresAt: Type.Optional(Type.String({ format: "date-time", description: "RFC 3339; must be in the future" })),
    rateLimit: Type.Optional(RateLimit),
    remaining: Type.Optional(
      Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "usage quota: uses left; omit for unlimited" }),
    ),
    meta: Type.Optional(Meta),
  },
  { additionalProperties: false },
);
export type CreateKeyBody = Static<typeof CreateKeyBody>;

export const KeyStatus = Type.Union([Type.Literal("active"), Type.Literal("rotating"), Type.Literal("revoked"), Type.Literal("expired")]);
export type KeyStatus = Static<typeof KeyStatus>;

export const KeyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  prefix: Type.String({ description: "public part of the key: cairn_<prefix>_…" }),
  status: KeyStatus,
  createdAt: Timestamp,
  createdBy: Type.Union([Type.String(), Type.Null()]),
  lastUsedAt: NullableTimestamp,
  usageCount: Type.Integer(),
  expiresAt: NullableTimestamp,
  revokedAt: NullableTimestamp,
  graceUntil: Type.Union([Timestamp, Type.Null()], { description: "a rotated key works until then" }),
  rotatedTo: Type.Union([Type.String(), Type.Null()], { description: "the key that replaced this one" }),
  roles: Type.Array(Type.String()),
  permissions: Type.Array(Rule),
  rateLimit: Type.Union([RateLimit, Type.Null()]),
  remaining: Type.Union([Type.Integer(), Type.Null()], { description: "uses left; null = unlimited" }),
  meta: Meta,
});
export type KeyView = Static<typeof KeyView>;

export const CreatedKey = Type.Object({
  ...KeyView.properties,
  key: Type.String({ description: "the API key: shown this once, stored only as a hash" }),
});
export type CreatedKey = Static<typeof CreatedKey>;

export const RotatedKey = Type.Object({
  ...CreatedKey.properties,
  rotatedFrom: KeyView,
});
export type RotatedKey = Static<typeof RotatedKey>;

export const ListKeysQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  after: Type.Optional(KeyId),
});
export type ListKeysQuery = Static<typeof ListKeysQuery>;

export const KeyList = Type.Object({
  items: Type.Array(KeyView),
  nextCursor: Type.Optional(Type.String({ description: "pass as ?after= for the next page" })),
});
export type KeyList = Static<typeof KeyList>;

export const RotateKeyBody = Type.Object(
  {
    gracePeriodSeconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 30 * 86_400, default: 0, description: "how long the old key keeps working" }),
    ),
  },
  { additionalProperties: false },
);
export type RotateKeyBody = Static<typeof RotateKeyBody>;

export const VerifyKeyBody = Type.Object({ key: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false });

export const VerifyCode = Type.Union([
  Type.Literal("VALID"),
  Type.Literal("NOT_FOUND"),
  Type.Literal("REVOKED"),
  Type.Literal("EXPIRED"),
  Type.Literal("RATE_LIMITED"),
  Type.Literal("USAGE_EXCEEDED"),
]);

export const VerifyResult = Type.Object({
  valid: Type.Boolean(),
  code: VerifyCode,
  keyId: Type.Optional(Type.String()),
  tenant: Type.Optional(Type.String({ description: "tenant id" })),
  name: Type.Optional(Type.String()),
  roles: Type.Array(Type.String()),
  permissions: Type.Array(Rule),
  remaining: Type.Union([Type.Integer(), Type.Null()], { description: "uses left after this one; null = unlimited" }),
  ratelimit: Type.Optional(
    Type.Object({
      limit: Type.Integer(),
      remaining: Type.Integer(),
      reset: Type.Integer({ description: "epoch milliseconds when the window resets (or the next request is allowed)" }),
    }),
  ),
  expiresAt: Type.Optional(NullableTimestamp),
  meta: Type.Optional(Meta),
});
export type VerifyResult = Static<typeof VerifyResult>;

export const UsageQuery = Type.Object({
  since: Type.Optional(Type.String({ format: "date-time", description: "RFC 3339; default 24 hours ago" })),
});

export const KeyUsage = Type.Object({
  keyId: Type.String(),
  since: Timestamp,
  total: Type.Integer(),
  items: Type.Array(Type.Object({ hour: Timestamp, count: Type.Integer() })),
});
export type KeyUsage = Static<typeof KeyUsage>;
