import { type Static, Type } from "typebox";

export const Email = Type.String({ format: "email", minLength: 3, maxLength: 254 });

export const CreateUser = Type.Object(
  {
    email: Email,
    password: Type.String({ minLength: 1, maxLength: 256, description: "at least 12 characters, not a common password" }),
    name: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type CreateUser = Static<typeof CreateUser>;

export const User = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  email: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: "date-time" }),
  disabled: Type.Boolean(),
});
export type User = Static<typeof User>;

export const UserList = Type.Object({ items: Type.Array(User) });
export const UserIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
