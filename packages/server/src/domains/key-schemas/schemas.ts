import { type Static, Type } from "typebox";

export const PutKeySchemaBody = Type.Object(
  { schema: Type.Record(Type.String(), Type.Unknown(), { description: "a JSON Schema (draft 2020-12) object" }) },
  { additionalProperties: false },
);
export type PutKeySchemaBody = Static<typeof PutKeySchemaBody>;

export const KeySchema = Type.Object({
  namespace: Type.String(),
  key: Type.String(),
  schema: Type.Record(Type.String(), Type.Unknown()),
  updatedAt: Type.String({ format: "date-time" }),
  updatedBy: Type.String(),
});
export type KeySchema = Static<typeof KeySchema>;
