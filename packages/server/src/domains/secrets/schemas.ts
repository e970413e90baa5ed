import { type Static, Type } from "typebox";
import { secretTypes } from "../../secrets/types.js";
import { JsonValue, NsKeyParams, NsParams, Tags, WriteWarning } from "../configs/schemas.js";

export { NsKeyParams, NsParams };

export const SecretType = Type.Union(
  [
    Type.Literal("generic"),
    Type.Literal("api_key"),
    Type.Literal("database_credentials"),
    Type.Literal("certificate"),
    Type.Literal("ssh_key"),
    Type.Literal("oauth_token"),
    Type.Literal("jwt_signing_key"),
  ],
  { description: `what the value is; checked on every write: ${secretTypes.join(", ")}` },
);

const EnvironmentQuery = Type.String({ minLength: 1, maxLength: 64, description: "environment; default base" });
const Reason = Type.String({ maxLength: 1024, description: "why: kept in history and the audit log" });

export const GeneratorPolicy = Type.Object(
  {
    length: Type.Optional(Type.Integer({ minimum: 8, maximum: 4096, description: "password length (default 32); token bytes for keys" })),
    charset: Type.Optional(
      Type.Union(
        [
          Type.Literal("alphanumeric"),
          Type.Literal("alphanumeric-symbols"),
          Type.Literal("hex"),
          Type.Literal("base64url"),
          Type.Literal("custom"),
        ],
        { description: "password alphabet (default alphanumeric)" },
      ),
    ),
    characters: Type.Optional(Type.String({ minLength: 2, maxLength: 512, description: 'the alphabet when charset is "custom"' })),
    algorithm: Type.Optional(
      Type.Union([Type.Literal("ed25519"), Type.Literal("rsa")], { description: "ssh_key / jwt_signing_key (default ed25519)" }),
    ),
    rsaBits: Type.Optional(Type.Union([Type.Literal(2048), Type.Literal(3072), Type.Literal(4096)])),
    prefix: Type.Optional(Type.String({ maxLength: 64, pattern: "^[A-Za-z0-9_.-]*$", description: "api_key: prefix, e.g. sk_live_" })),
  },
  { additionalProperties: false, description: "how a generated value is made" },
);

export const PutSecretBody = Type.Object(
  {
    type: Type.Optional(SecretType),
    value: JsonValue,
    reason: Type.Optional(Reason),
    tags: Type.Optional(Tags),
  },
  { additionalProperties: false },
);
export type PutSecretBody = Static<typeof PutSecretBody>;

export const RotateBody = Type.Object(
  {
    value: Type.Optional(JsonValue),
    type: Type.Optional(SecretType),
    gracePeriodSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 31_536_000,
        description: "how long the previous value stays readable as ?version=previous (default CAIRN_SECRET_GRACE_SECONDS)",
      }),
    ),
    reason: Type.Optional(Reason),
    policy: Type.Optional(GeneratorPolicy),
  },
  { additionalProperties: false },
);
export type RotateBody = Static<typeof RotateBody>;

export const WriteSecretQuery = Type.Object({ environment: Type.Optional(EnvironmentQuery) });
export const DeleteSecretQuery = Type.Object({ environment: Type.Optional(EnvironmentQuery), reason: Type.Optional(Reason) });
export const GetSecretQuery = Type.Object({
  environment: Type.Optional(EnvironmentQuery),
  reveal: Type.Optional(Type.Boolean({ description: "return the value in clear (needs secrets:<ns>:reveal; audited first)" })),
  version: Type.Optional(
    Type.Union([Type.Literal("current"), Type.Literal("previous")], {
      description: "previous: the value before the last rotation, until its grace period ends",
    }),
  ),
});
export const ListSecretsQuery = Type.Object({
  environment: Type.Optional(EnvironmentQuery),
  prefix: Type.Optional(Type.String({ maxLength: 256 })),
  reveal: Type.Optional(Type.Boolean()),
});

export const PreviousVersion = Type.Object({
  version: Type.Integer(),
  expiresAt: Type.String({ format: "date-time", description: "when the grace period ends and the value is retired" }),
  retired: Type.Boolean(),
});

export const SecretEntry = Type.Object({
  namespace: Type.String(),
  key: Type.String(),
  environment: Type.String({ description: "the environment asked for" }),
  resolvedFrom: Type.String({ description: "the environment in the chain the value came from" }),
  type: SecretType,
  value: JsonValue,
  version: Type.Integer(),
  metadata: Type.Record(Type.String(), Type.Unknown(), {
    description: "facts about the value that are not secret: certificate expiry and fingerprint, SSH fingerprint, JWT kid and public JWK…",
  }),
  tags: Tags,
  rotatedAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  previous: Type.Union([PreviousVersion, Type.Null()], { description: "the version before the last rotation" }),
  updatedAt: Type.String({ format: "date-time" }),
  updatedBy: Type.String(),
});
export type SecretEntry = Static<typeof SecretEntry>;

export const SecretWriteResult = Type.Object({
  ...SecretEntry.properties,
  warnings: Type.Array(WriteWarning, { description: "e.g. a certificate expiring within 30 days; the write was made" }),
});
export type SecretWriteResult = Static<typeof SecretWriteResult>;

export const SecretList = Type.Object({ namespace: Type.String(), environment: Type.String(), items: Type.Array(SecretEntry) });
export type SecretList = Static<typeof SecretList>;

export const DeletedSecret = Type.Object({
  namespace: Type.String(),
  key: Type.String(),
  environment: Type.String(),
  version: Type.Integer({ description: "the tombstone version" }),
});
export type DeletedSecret = Static<typeof DeletedSecret>;
