import { type Static, Type } from "typebox";

export const EnvironmentName = Type.String({ minLength: 1, maxLength: 64, description: "a–z, 0–9, '_', '-', starting with a letter" });

export const Environment = Type.Object({
  name: Type.String(),
  parent: Type.Union([Type.String(), Type.Null()]),
  chain: Type.Array(Type.String(), { description: "resolution order: this environment first, then its ancestors" }),
  requireApproval: Type.Boolean({ description: "writes become change requests that need approval (POST /change-requests/{id}/apply)" }),
  createdAt: Type.String({ format: "date-time" }),
});
export type Environment = Static<typeof Environment>;

export const EnvironmentList = Type.Object({ items: Type.Array(Environment) });
export type EnvironmentList = Static<typeof EnvironmentList>;

export const CreateEnvironment = Type.Object(
  {
    name: EnvironmentName,
    parent: Type.Optional(Type.Union([EnvironmentName, Type.Null()])),
    requireApproval: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CreateEnvironment = Static<typeof CreateEnvironment>;

export const UpdateEnvironment = Type.Object({ requireApproval: Type.Boolean() }, { additionalProperties: false });
export type UpdateEnvironment = Static<typeof UpdateEnvironment>;
export const EnvironmentParams = Type.Object({ name: EnvironmentName });
