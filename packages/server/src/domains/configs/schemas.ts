import { type Static, Type } from "typebox";

export const NamespaceParam = Type.String({
  minLength: 1,
  maxLength: 1100,
  description: "namespace path with '/' percent-encoded as %2F, e.g. production%2Fml-service",
});
export const KeyParam = Type.String({ minLength: 1, maxLength: 256, description: "config key: A–Z a–z 0–9 _ . -" });

export const NsParams = Type.Object({ ns: NamespaceParam });
export const NsKeyParams = Type.Object({ ns: NamespaceParam, key: KeyParam });

export const Tags = Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 256 }), {
  description: "free-form string labels, kept with each version",
});

const EnvironmentQuery = Type.String({ minLength: 1, maxLength: 64, description: "environment; default base" });
const Reveal = Type.Boolean({ description: "return secret values in clear (the reveal is audited)" });
const Resolve = Type.Boolean({
  description: "replace ${ref:ns/key} and ${ref:ns/key#field} references with the referenced values (each needs read permission)",
});

export const JsonValue = Type.Unknown({ description: "any JSON value" });

export const PutConfigBody = Type.Object(
  {
    value: JsonValue,
    secret: Type.Optional(Type.Boolean({ description: "mask the value in reads unless revealed" })),
    reason: Type.Optional(Type.String({ maxLength: 1024, description: "why: kept in history like a commit message" })),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);
export type PutConfigBody = Static<typeof PutConfigBody>;

export const WriteQuery = Type.Object({ environment: Type.Optional(EnvironmentQuery) });
export const DeleteQuery = Type.Object({
  environment: Type.Optional(EnvironmentQuery),
  reason: Type.Optional(Type.String({ maxLength: 1024 })),
});

export const GetConfigQuery = Type.Object({
  environment: Type.Optional(EnvironmentQuery),
  version: Type.Optional(Type.Integer({ minimum: 1, description: "read this version of the key in this environment" })),
  reveal: Type.Optional(Reveal),
  resolve: Type.Optional(Resolve),
});

export const WriteWarning = Type.Object({
  code: Type.String({ description: "e.g. looks_like_secret" }),
  path: Type.String({ description: "JSON pointer into the value" }),
  message: Type.String(),
});

export const ConfigEntry = Type.Object({
  namespace: Type.String(),
  key: Type.String(),
  environment: Type.String({ description: "the environment asked for" }),
  value: JsonValue,
  version: Type.Integer(),
  secret: Type.Boolean(),
  tags: Tags,
  updatedAt: Type.String({ format: "date-time" }),
  updatedBy: Type.String(),
  warnings: Type.Optional(Type.Array(WriteWarning, { description: "on writes: things worth a second look (the write was made)" })),
});
export type ConfigEntry = Static<typeof ConfigEntry>;

export const ResolvedConfig = Type.Object({
  ...ConfigEntry.properties,
  resolvedFrom: Type.String({ description: "the environment in the chain the value came from" }),
});
export type ResolvedConfig = Static<typeof ResolvedConfig>;

export const ListQuery = Type.Object({
  environment: Type.Optional(EnvironmentQuery),
  prefix: Type.Optional(Type.String({ maxLength: 256 })),
  at: Type.Optional(Type.String({ format: "date-time", description: "RFC 3339: the namespace as it was then" })),
  format: Type.Optional(Type.Union([Type.Literal("json"), Type.Literal("yaml"), Type.Literal("dotenv")])),
  reveal: Type.Optional(Reveal),
  resolve: Type.Optional(Resolve),
});
export type ListQuery = Static<typeof ListQuery>;

export const ConfigList = Type.Object({
  namespace: Type.String(),
  environment: Type.String(),
  at: Type.Optional(Type.String({ format: "date-time" })),
  items: Type.Array(ResolvedConfig),
});
export type ConfigList = Static<typeof ConfigList>;

export const ChangeType = Type.Union([Type.Literal("create"), Type.Literal("update"), Type.Literal("delete"), Type.Literal("restore")]);
export type ChangeType = Static<typeof ChangeType>;

export const JsonPatchOp = Type.Object(
  { op: Type.String(), path: Type.String(), from: Type.Optional(Type.String()), value: Type.Optional(JsonValue) },
  { description: "RFC 6902 operation" },
);

export const HistoryEntry = Type.Object({
  version: Type.Integer(),
  changeType: ChangeType,
  actor: Type.String(),
  reason: Type.Union([Type.String(), Type.Null()]),
  at: Type.String({ format: "date-time" }),
  secret: Type.Boolean(),
  tags: Tags,
  restoredFrom: Type.Union([Type.Integer(), Type.Null()]),
  value: Type.Optional(JsonValue),
  diff: Type.Union([Type.Array(JsonPatchOp), Type.Null()], {
    description: "RFC 6902 patch from the previous version; null for a secret unless revealed",
  }),
});
export type HistoryEntry = Static<typeof HistoryEntry>;

export const HistoryQuery = Type.Object({
  environment: Type.Optional(EnvironmentQuery),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  reveal: Type.Optional(Reveal),
});

export const KeyHistory = Type.Object({
  namespace: Type.String(),
  key: Type.String(),
  environment: Type.String(),
  items: Type.Array(HistoryEntry),
});
export type KeyHistory = Static<typeof KeyHistory>;

export const NamespaceHistoryQuery = Type.Object({
  environment: Type.Optional(EnvironmentQuery),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
});

export const NamespaceChange = Type.Object({
  key: Type.String(),
  environment: Type.String(),
  version: Type.Integer(),
  changeType: ChangeType,
  actor: Type.String(),
  reason: Type.Union([Type.String(), Type.Null()]),
  at: Type.String({ format: "date-time" }),
});
export const NamespaceHistory = Type.Object({ namespace: Type.String(), items: Type.Array(NamespaceChange) });
export type NamespaceHistory = Static<typeof NamespaceHistory>;

export const RollbackBody = Type.Object(
  { version: Type.Integer({ minimum: 1 }), reason: Type.Optional(Type.String({ maxLength: 1024 })) },
  { additionalProperties: false },
);
export type RollbackBody = Static<typeof RollbackBody>;

export const ValidateBody = Type.Object(
  {
    values: Type.Record(Type.String(), JsonValue),
    environment: Type.Optional(EnvironmentQuery),
  },
  { additionalProperties: false },
);
export const FieldError = Type.Object({ path: Type.String(), message: Type.String() });
export const ValidateResult = Type.Object({
  valid: Type.Boolean(),
  results: Type.Record(Type.String(), Type.Object({ valid: Type.Boolean(), hasSchema: Type.Boolean(), errors: Type.Array(FieldError) })),
});
export type ValidateResult = Static<typeof ValidateResult>;

export const BulkOperation = Type.Object(
  {
    op: Type.Union([Type.Literal("set"), Type.Literal("delete")]),
    namespace: Type.String({ minLength: 1, maxLength: 1100 }),
    key: KeyParam,
    environment: Type.Optional(EnvironmentQuery),
    value: Type.Optional(JsonValue),
    secret: Type.Optional(Type.Boolean()),
    reason: Type.Optional(Type.String({ maxLength: 1024 })),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);
export type BulkOperation = Static<typeof BulkOperation>;

export const BulkBody = Type.Object(
  { operations: Type.Array(BulkOperation, { minItems: 1, maxItems: 1000 }) },
  { additionalProperties: false },
);
export type BulkBody = Static<typeof BulkBody>;

export const BulkResult = Type.Object({
  applied: Type.Integer(),
  results: Type.Array(
    Type.Object({
      namespace: Type.String(),
      key: Type.String(),
      environment: Type.String(),
      version: Type.Integer(),
      changeType: ChangeType,
    }),
  ),
});
export type BulkResult = Static<typeof BulkResult>;
