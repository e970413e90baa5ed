import type { CairnClient, Group } from "@cairn/sdk";
import { CliError } from "./errors.js";

/** A user named by id (`usr_…`) or by email: emails are looked up in the tenant's users. */
export async function userId(client: CairnClient, ref: string): Promise<string> {
  if (!ref.includes("@")) return ref;
  const email = ref.trim().toLowerCase();
  const user = (await client.users.list()).items.find((u) => u.email.toLowerCase() === email);
  if (!user) throw new CliError(`no user with email ${ref} in this tenant (see \`cairn users ls\`)`);
  return user.id;
}

/** A group named by id (`grp_…`) or by name. */
export async function findGroup(client: CairnClient, ref: string): Promise<Group> {
  const group = (await client.groups.list()).items.find((g) => g.id === ref || g.name === ref);
  if (!group) throw new CliError(`no group ${ref} in this tenant (see \`cairn groups ls\`)`);
  return group;
}
