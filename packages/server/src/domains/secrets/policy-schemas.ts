import { type Static, Type } from "typebox";
import type { StrategyName } from "../../secrets/strategies/types.js";

const EnvironmentQuery = Type.String({ minLength: 1, maxLength: 64, description: "environment; default base" });
export const PolicyQuery = Type.Object({ environment: Type.Optional(EnvironmentQuery) });

const Notify = Type.Union(
  [Type.Boolean(), Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 20, uniqueItems: true })],
  {
    description:
      "who hears about rotations: true = every enabled alert channel, false = nobody on success, or alert channel names. " +
      "A failed rotation always raises an alert (to the named channels when given).",
  },
);
const Strategy = Type.Union([Type.Literal("postgres-alternating-users" satisfies StrategyName), Type.Null()], {
  description: "null = the secret type's generator; postgres-alternating-users = really rotate a PostgreSQL login (database_credentials)",
});

export const PutPolicyBody = Type.Object(
  {
    intervalSeconds: Type.Integer({ minimum: 60, maximum: 10 * 366 * 86_400, description: "rotate this often" }),
    gracePeriodSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 366 * 86_400,
        description: "the previous value stays readable this long (default 0); < intervalSeconds",
      }),
    ),
    autoRotate: Type.Optional(
      Type.Boolean({ description: "rotate on schedule (default true); false keeps the policy for manual rotations" }),
    ),
    notify: Type.Optional(Notify),
    strategy: Type.Optional(Strategy),
    adminSecret: Type.Optional(
      Type.Union([Type.String({ minLength: 3, maxLength: 1400 }), Type.Null()], {
        description:
          "ns/key of database_credentials the strategy runs ALTER ROLE with (same environment); none = the secret's own login (needs CREATEROLE). " +
          "Setting it needs secrets:<its namespace>:reveal.",
      }),
    ),
    nextRotationAt: Type.Optional(
      Type.String({ format: "date-time", description: "when to rotate next (default: last rotation, or now, + interval)" }),
    ),
  },
  { additionalProperties: false },
);
export type PutPolicyBody = Static<typeof PutPolicyBody>;

export const RotationPolicy = Type.Object({
  namespace: Type.String(),
  key: Type.String(),
  environment: Type.String(),
  intervalSeconds: Type.Integer(),
  gracePeriodSeconds: Type.Integer(),
  autoRotate: Type.Boolean(),
  notify: Notify,
  strategy: Strategy,
  adminSecret: Type.Union([Type.String(), Type.Null()]),
  nextRotationAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()], { description: "null when autoRotate is false" }),
  attempts: Type.Integer({ description: "failed attempts since the last successful rotation" }),
  lastError: Type.Union([Type.String(), Type.Null()]),
  lastAttemptAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  lastRotatedAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  lastRotatedVersion: Type.Union([Type.Integer(), Type.Null()]),
  createdAt: Type.String({ format: "date-time" }),
  updatedAt: Type.String({ format: "date-time" }),
  updatedBy: Type.Union([Type.String(), Type.Null()]),
});
export type RotationPolicy = Static<typeof RotationPolicy>;
