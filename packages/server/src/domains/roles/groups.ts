import type { AuditLog } from "../../audit/log.js";
import type { CallContext } from "../../auth/actor.js";
import type { CairnAuthorizer } from "../../authz/authorizer.js";
import type { Db } from "../../db/database.js";
import { CairnError } from "../../errors.js";
import { newId } from "../../ids.js";
import type { RoleRepository } from "./repository.js";
import type { Group } from "./schemas.js";
import { checkName } from "./service.js";

type GroupRow = NonNullable<Awaited<ReturnType<RoleRepository["getGroup"]>>>;

const view = (g: GroupRow, members: string[]): Group => ({
  id: g.id,
  name: g.name,
  members,
  createdAt: new Date(g.created_at).toISOString(),
});

/**
 * Groups of users, a subject role bindings can name. Membership changes alter decisions, so each one
 * commits with its audit event and then tells the authorizer (`authz.changed`).
 */
export function createGroupService(deps: { db: Db; repo: RoleRepository; audit: AuditLog; authorizer: CairnAuthorizer }) {
  const { repo } = deps;
  const notFound = (id: string) => new CairnError("not_found", `group "${id.slice(0, 128)}" does not exist`);

  async function changeMembership(ctx: CallContext, groupId: string, userId: string, add: boolean): Promise<Group> {
    const tenantId = ctx.actor.tenantId;
    const group = await deps.db.transaction().execute(async (trx) => {
      const group = await repo.getGroup(trx, tenantId, groupId);
      if (!group) throw notFound(groupId);
      if (!(await repo.findUser(trx, tenantId, userId))) throw new CairnError("not_found", `user "${userId.slice(0, 128)}" does not exist`);
      const changed = add ? await repo.addMember(trx, group.id, userId) : await repo.removeMember(trx, group.id, userId);
      if (!add && !changed) throw new CairnError("not_found", `user "${userId}" is not a member of group "${group.name}"`);
      if (changed) {
        await deps.audit.append(trx, {
          tenantId,
          eventType: add ? "group.member_added" : "group.member_removed",
          action: "update",
          result: "success",
          ctx,
          resource: { type: "group", id: group.id },
          metadata: { group: group.name, userId },
        });
      }
      return group;
    });
    await deps.authorizer.changed(tenantId);
    return view(group, (await repo.membersOf(deps.db, [group.id])).get(group.id) ?? []);
  }

  return {
    async list(ctx: CallContext): Promise<Group[]> {
      const rows = await repo.listGroups(deps.db, ctx.actor.tenantId);
      const members = await repo.membersOf(
        deps.db,
        rows.map((g) => g.id),
      );
      return rows.map((g) => view(g, members.get(g.id) ?? []));
    },

    async get(ctx: CallContext, id: string): Promise<Group> {
      const row = await repo.getGroup(deps.db, ctx.actor.tenantId, id);
      if (!row) throw notFound(id);
      return view(row, (await repo.membersOf(deps.db, [row.id])).get(row.id) ?? []);
    },

    async create(ctx: CallContext, name: string): Promise<Group> {
      const tenantId = ctx.actor.tenantId;
      checkName(name, "/name", "group name");
      const row = await deps.db.transaction().execute(async (trx) => {
        const inserted = await repo.insertGroup(trx, { id: newId("group"), tenantId, name });
        if (!inserted) throw new CairnError("conflict", `group "${name}" already exists`);
        await deps.audit.append(trx, {
          tenantId,
          eventType: "group.created",
          action: "create",
          result: "success",
          ctx,
          resource: { type: "group", id: inserted.id },
          metadata: { name },
        });
        return inserted;
      });
      return view(row, []);
    },

    async delete(ctx: CallContext, id: string): Promise<void> {
      const tenantId = ctx.actor.tenantId;
      await deps.db.transaction().execute(async (trx) => {
        await repo.lockRoles(trx, tenantId); // bindings are created under this lock: none can appear meanwhile
        const group = await repo.getGroup(trx, tenantId, id);
        if (!group) throw notFound(id);
        const bindings = await repo.listBindings(trx, tenantId, { subjectType: "group", subjectId: group.id });
        if (bindings.length > 0) {
          throw new CairnError("conflict", `group "${group.name}" is still bound by ${bindings.length} role binding(s); delete them first`);
        }
        await repo.deleteGroup(trx, tenantId, group.id);
        await deps.audit.append(trx, {
          tenantId,
          eventType: "group.deleted",
          action: "delete",
          result: "success",
          ctx,
          resource: { type: "group", id: group.id },
          metadata: { name: group.name },
        });
      });
      await deps.authorizer.changed(tenantId);
    },

    addMember: (ctx: CallContext, groupId: string, userId: string) => changeMembership(ctx, groupId, userId, true),
    removeMember: (ctx: CallContext, groupId: string, userId: string) =>
      changeMembership(ctx, groupId, userId, false).then(() => undefined),
  };
}

export type GroupService = ReturnType<typeof createGroupService>;
