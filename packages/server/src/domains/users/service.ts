import type { AuditLog } from "../../audit/log.js";
import type { CallContext } from "../../auth/actor.js";
import { checkPasswordPolicy, hashPassword } from "../../auth/passwords.js";
import type { Db } from "../../db/database.js";
import type { UsersTable } from "../../db/types.js";
import { CairnError } from "../../errors.js";
import { newId } from "../../ids.js";
import type { UserRepository } from "./repository.js";
import type { CreateUser, User } from "./schemas.js";

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

export const userView = (row: Pick<UsersTable, "id" | "tenant_id" | "email" | "name" | "disabled_at"> & { created_at: Date }): User => ({
  id: row.id,
  tenantId: row.tenant_id,
  email: row.email,
  name: row.name,
  createdAt: new Date(row.created_at).toISOString(),
  disabled: row.disabled_at !== null,
});

/** People who log in with email + password. They get access through role bindings. */
export function createUserService(deps: {
  db: Db;
  repo: UserRepository;
  audit: AuditLog;
  onDisabled?: (userId: string, tenantId: string) => Promise<void>;
}) {
  return {
    async create(ctx: CallContext, input: CreateUser): Promise<User> {
      const email = normalizeEmail(input.email);
      checkPasswordPolicy(input.password, email);
      const passwordHash = await hashPassword(input.password);
      const tenantId = ctx.actor.tenantId;
      const row = await deps.db.transaction().execute(async (trx) => {
        const inserted = await deps.repo.insert(trx, { id: newId("user"), tenantId, email, passwordHash, name: input.name ?? null });
        if (!inserted) throw new CairnError("conflict", `a user with email ${email} already exists`);
        await deps.audit.append(trx, {
          tenantId,
          eventType: "user.created",
          action: "create",
          result: "success",
          ctx,
          resource: { type: "user", id: inserted.id },
          metadata: { email },
        });
        return inserted;
      });
      return userView(row);
    },

    async list(tenantId: string): Promise<User[]> {
      return (await deps.repo.list(tenantId)).map(userView);
    },

    async get(tenantId: string, id: string): Promise<User> {
      const row = await deps.repo.find(tenantId, id);
      if (!row) throw new CairnError("not_found", `user ${id} does not exist`);
      return userView(row);
    },

    /** Disables the account and ends its sessions; history keeps the user. */
    async disable(ctx: CallContext, id: string): Promise<void> {
      const tenantId = ctx.actor.tenantId;
      await deps.db.transaction().execute(async (trx) => {
        if (!(await deps.repo.find(tenantId, id, trx))) throw new CairnError("not_found", `user ${id} does not exist`);
        await deps.repo.disable(trx, tenantId, id);
        await trx
          .updateTable("refresh_tokens")
          .set({ revoked_at: new Date() })
          .where("user_id", "=", id)
          .where("revoked_at", "is", null)
          .execute();
        await deps.audit.append(trx, {
          tenantId,
          eventType: "user.disabled",
          action: "delete",
          result: "success",
          ctx,
          resource: { type: "user", id },
        });
      });
      await deps.onDisabled?.(id, tenantId);
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
