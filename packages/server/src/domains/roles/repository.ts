import { sql } from "kysely";
import type { Rule } from "../../authz/types.js";
import type { Conn } from "../../db/database.js";

const ROLES_LOCK = 0x726f6c65; // "role": one lock space for role writes, keyed by tenant

/** Roles, role bindings and groups: Kysely only, every query scoped by tenant. */
export function createRoleRepository() {
  return {
    /** Serialises role writes of one tenant, so two concurrent edits cannot close an inheritance cycle. */
    async lockRoles(conn: Conn, tenantId: string) {
      await sql`select pg_advisory_xact_lock(${ROLES_LOCK}, hashtext(${tenantId}))`.execute(conn);
    },

    listRoles(conn: Conn, tenantId: string) {
      return conn.selectFrom("roles").selectAll().where("tenant_id", "=", tenantId).orderBy("builtin", "desc").orderBy("name").execute();
    },

    getRole(conn: Conn, tenantId: string, name: string) {
      return conn.selectFrom("roles").selectAll().where("tenant_id", "=", tenantId).where("name", "=", name).executeTakeFirst();
    },

    insertRole(conn: Conn, tenantId: string, role: { name: string; description: string | null; rules: Rule[]; inherits: string[] }) {
      return conn
        .insertInto("roles")
        .values({
          tenant_id: tenantId,
          name: role.name,
          description: role.description,
          rules: JSON.stringify(role.rules),
          inherits: JSON.stringify(role.inherits),
        })
        .onConflict((oc) => oc.columns(["tenant_id", "name"]).doNothing())
        .returningAll()
        .executeTakeFirst();
    },

    updateRole(conn: Conn, tenantId: string, role: { name: string; description: string | null; rules: Rule[]; inherits: string[] }) {
      return conn
        .updateTable("roles")
        .set({
          description: role.description,
          rules: JSON.stringify(role.rules),
          inherits: JSON.stringify(role.inherits),
          updated_at: sql`now()`,
        })
        .where("tenant_id", "=", tenantId)
        .where("name", "=", role.name)
        .where("builtin", "=", false)
        .returningAll()
        .executeTakeFirst();
    },

    async deleteRole(conn: Conn, tenantId: string, name: string) {
      const r = await conn
        .deleteFrom("roles")
        .where("tenant_id", "=", tenantId)
        .where("name", "=", name)
        .where("builtin", "=", false)
        .executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },

    async countBindingsOfRole(conn: Conn, tenantId: string, role: string) {
      const r = await conn
        .selectFrom("role_bindings")
        .select((eb) => eb.fn.countAll<string>().as("n"))
        .where("tenant_id", "=", tenantId)
        .where("role", "=", role)
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },

    /** Names of the roles inheriting from `role`. */
    async rolesInheriting(conn: Conn, tenantId: string, role: string) {
      const rows = await conn
        .selectFrom("roles")
        .select("name")
        .where("tenant_id", "=", tenantId)
        .where(sql<boolean>`inherits @> ${JSON.stringify([role])}::jsonb`)
        .orderBy("name")
        .execute();
      return rows.map((r) => r.name);
    },

    /** How many live API keys carry `role` directly. */
    async countKeysWithRole(conn: Conn, tenantId: string, role: string) {
      const r = await conn
        .selectFrom("api_keys")
        .select((eb) => eb.fn.countAll<string>().as("n"))
        .where("tenant_id", "=", tenantId)
        .where("revoked_at", "is", null)
        .where(sql<boolean>`roles @> ${JSON.stringify([role])}::jsonb`)
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },

    listBindings(conn: Conn, tenantId: string, filter: { role?: string; subjectType?: "user" | "key" | "group"; subjectId?: string }) {
      let q = conn.selectFrom("role_bindings").selectAll().where("tenant_id", "=", tenantId);
      if (filter.role) q = q.where("role", "=", filter.role);
      if (filter.subjectType) q = q.where("subject_type", "=", filter.subjectType);
      if (filter.subjectId) q = q.where("subject_id", "=", filter.subjectId);
      return q.orderBy("created_at").orderBy("id").execute();
    },

    getBinding(conn: Conn, tenantId: string, id: string) {
      return conn.selectFrom("role_bindings").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirst();
    },

    insertBinding(
      conn: Conn,
      row: {
        id: string;
        tenantId: string;
        role: string;
        subjectType: "user" | "key" | "group";
        subjectId: string;
        namespacePattern: string;
        expiresAt: Date | null;
        createdBy: string;
      },
    ) {
      return conn
        .insertInto("role_bindings")
        .values({
          id: row.id,
          tenant_id: row.tenantId,
          role: row.role,
          subject_type: row.subjectType,
          subject_id: row.subjectId,
          namespace_pattern: row.namespacePattern,
          expires_at: row.expiresAt,
          created_by: row.createdBy,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    },

    async deleteBinding(conn: Conn, tenantId: string, id: string) {
      const r = await conn.deleteFrom("role_bindings").where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },

    findKey(conn: Conn, tenantId: string, id: string) {
      return conn
        .selectFrom("api_keys")
        .select(["id", "roles", "permissions", "instance_admin", "revoked_at"])
        .where("tenant_id", "=", tenantId)
        .where("id", "=", id)
        .executeTakeFirst();
    },

    findUser(conn: Conn, tenantId: string, id: string) {
      return conn.selectFrom("users").select(["id"]).where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirst();
    },

    listGroups(conn: Conn, tenantId: string) {
      return conn.selectFrom("groups").selectAll().where("tenant_id", "=", tenantId).orderBy("name").execute();
    },

    getGroup(conn: Conn, tenantId: string, id: string) {
      return conn.selectFrom("groups").selectAll().where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirst();
    },

    insertGroup(conn: Conn, row: { id: string; tenantId: string; name: string }) {
      return conn
        .insertInto("groups")
        .values({ id: row.id, tenant_id: row.tenantId, name: row.name })
        .onConflict((oc) => oc.columns(["tenant_id", "name"]).doNothing())
        .returningAll()
        .executeTakeFirst();
    },

    async deleteGroup(conn: Conn, tenantId: string, id: string) {
      const r = await conn.deleteFrom("groups").where("tenant_id", "=", tenantId).where("id", "=", id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },

    /** user ids per group id, for the given groups. */
    async membersOf(conn: Conn, groupIds: string[]) {
      const out = new Map<string, string[]>(groupIds.map((id) => [id, []]));
      if (groupIds.length === 0) return out;
      const rows = await conn
        .selectFrom("group_members")
        .select(["group_id", "user_id"])
        .where("group_id", "in", groupIds)
        .orderBy("user_id")
        .execute();
      for (const r of rows) out.get(r.group_id)?.push(r.user_id);
      return out;
    },

    async addMember(conn: Conn, groupId: string, userId: string) {
      const r = await conn
        .insertInto("group_members")
        .values({ group_id: groupId, user_id: userId })
        .onConflict((oc) => oc.columns(["group_id", "user_id"]).doNothing())
        .returning("user_id")
        .executeTakeFirst();
      return r !== undefined;
    },

    async removeMember(conn: Conn, groupId: string, userId: string) {
      const r = await conn.deleteFrom("group_members").where("group_id", "=", groupId).where("user_id", "=", userId).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
  };
}

export type RoleRepository = ReturnType<typeof createRoleRepository>;
