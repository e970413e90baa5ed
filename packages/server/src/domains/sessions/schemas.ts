import { type Static, Type } from "typebox";

export const LoginBody = Type.Object(
  { email: Type.String({ minLength: 1, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 256 }) },
  { additionalProperties: false },
);
export type LoginBody = Static<typeof LoginBody>;

export const RefreshBody = Type.Object({ refreshToken: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });

export const TokenPair = Type.Object({
  tokenType: Type.Literal("Bearer"),
  accessToken: Type.String({ description: "EdDSA JWT, valid for expiresIn seconds" }),
  expiresIn: Type.Integer(),
  refreshToken: Type.String({ description: "shown once; exchange at /auth/refresh; revoked by /auth/logout" }),
  refreshExpiresIn: Type.Integer(),
  user: Type.Object({ id: Type.String(), email: Type.String(), tenantId: Type.String() }),
});
export type TokenPair = Static<typeof TokenPair>;

export const WhoAmI = Type.Object({
  id: Type.String(),
  type: Type.String(),
  name: Type.String(),
  tenant: Type.Object({ id: Type.String(), name: Type.String() }),
  roles: Type.Array(Type.String()),
  instanceAdmin: Type.Boolean(),
});
export type WhoAmI = Static<typeof WhoAmI>;
