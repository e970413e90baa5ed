import { type Static, Type } from "typebox";

export const KeyRotationKind = Type.Union([Type.Literal("master"), Type.Literal("data")]);

export const StartKeyRotationBody = Type.Object(
  {
    kind: Type.Union([Type.Literal("master"), Type.Literal("data")], {
      description:
        "master: rewrap every data key (and every other KEK-wrapped key) under the current master key / KEK; " +
        "data: give a namespace a new data key and re-encrypt its values under it",
    }),
    namespace: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: "kind data: the namespace path" })),
    all: Type.Optional(
      Type.Boolean({
        description:
          "kind master: rewrap every blob, also those already under the current KEK (after rotating the key inside Vault or KMS)",
      }),
    ),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
export type StartKeyRotationBody = Static<typeof StartKeyRotationBody>;

export const KeyRotation = Type.Object({
  id: Type.String(),
  kind: KeyRotationKind,
  namespace: Type.Union([Type.String(), Type.Null()], { description: "kind data: the namespace" }),
  status: Type.Union([Type.Literal("pending"), Type.Literal("running"), Type.Literal("completed"), Type.Literal("failed")]),
  reason: Type.String(),
  total: Type.Integer({ minimum: 0, description: "rows to rewrap / re-encrypt (grows if writes under the old key arrive meanwhile)" }),
  done: Type.Integer({ minimum: 0 }),
  skipped: Type.Integer({
    minimum: 0,
    description: "rows that failed their integrity check and were left as they are (see integrity.failure events)",
  }),
  targetKek: Type.Union([Type.String(), Type.Null()], {
    description: "kind master: the KEK everything is moved under, `<provider>:<key>`",
  }),
  newDataKeyId: Type.Union([Type.String(), Type.Null()], { description: "kind data: the namespace's new data key" }),
  error: Type.Union([Type.String(), Type.Null()]),
  createdBy: Type.Union([Type.String(), Type.Null()]),
  startedAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  finishedAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
});
export type KeyRotation = Static<typeof KeyRotation>;

export const KeyRotationList = Type.Object({ items: Type.Array(KeyRotation) });
export type KeyRotationList = Static<typeof KeyRotationList>;

export const KeyRotationParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
