import { sql } from "kysely";
import type { Conn } from "../db/database.js";
import type { Rule } from "./types.js";

const allow = (resources: string[], actions: string[]): Rule[] =>
  resources.flatMap((r) => actions.map((a): Rule => ({ effect: "allow", permission: `${r}:**:${a}` })));

/** The roles every tenant has. They cannot be changed or deleted; build on them with `inherits`. */
export const builtinRoles: { name: string; description: string; rules: Rule[] }[] = [
  { name: "admin", description: "everything in the tenant", rules: [{ effect: "allow", permission: "*:**:*" }] },
  {
    name: "operator",
    description: "runs configuration, secrets and environments; reads keys, the audit log, alerts and access requests; asks for access",
    rules: [
      ...allow(["configs", "secrets", "environments"], ["read", "list", "write", "delete", "rotate"]),
      ...allow(["keys", "audit", "alerts"], ["read", "list"]),
      ...allow(["requests"], ["read", "list", "write"]),
    ],
  },
  {
    name: "developer",
    description: "reads and writes configuration; lists secrets and reads them masked (no reveal); asks for temporary access",
    rules: [
      ...allow(["configs"], ["read", "list", "write"]),
      ...allow(["secrets"], ["list", "read"]),
      ...allow(["environments"], ["read", "list"]),
      ...allow(["requests"], ["write"]),
    ],
  },
  { name: "viewer", description: "reads configuration and environments", rules: allow(["configs", "environments"], ["read", "list"]) },
];

export const builtinRoleNames: ReadonlySet<string> = new Set(builtinRoles.map((r) => r.name));

/**
 * Creates the built-in roles of a tenant, or brings them up to date with this version's definitions.
 * Idempotent and safe to run concurrently: a tenant initializer, run at tenant creation and again for
 * every tenant at each start (bootstrap), so tenants older than a definition change get it too.
 */
export async function ensureBuiltinRoles(conn: Conn, tenantId: string): Promise<void> {
  await conn
    .insertInto("roles")
    .values(
      builtinRoles.map((r) => ({
        tenant_id: tenantId,
        name: r.name,
        description: r.description,
        rules: JSON.stringify(r.rules),
        inherits: "[]",
        builtin: true,
      })),
    )
    .onConflict((oc) =>
      oc
        .columns(["tenant_id", "name"])
        .doUpdateSet({
          description: (eb) => eb.ref("excluded.description"),
          rules: (eb) => eb.ref("excluded.rules"),
          inherits: (eb) => eb.ref("excluded.inherits"),
          updated_at: sql`now()`,
        })
        .where(
          sql<boolean>`roles.builtin and (roles.rules is distinct from excluded.rules
            or roles.description is distinct from excluded.description or roles.inherits is distinct from excluded.inherits)`,
        ),
    )
    .execute();
}
