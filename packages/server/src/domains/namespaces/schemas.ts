import { type Static, Type } from "typebox";

export const NamespaceSummary = Type.Object({
  path: Type.String({ description: "e.g. production/ml-service" }),
  keys: Type.Integer({ description: "keys with a live value in any environment" }),
  createdAt: Type.String({ format: "date-time" }),
});
export type NamespaceSummary = Static<typeof NamespaceSummary>;

export const NamespaceList = Type.Object({ items: Type.Array(NamespaceSummary) });
export type NamespaceList = Static<typeof NamespaceList>;
