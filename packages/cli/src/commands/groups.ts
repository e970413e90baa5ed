import type { Command } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { examples, jsonOption } from "../options.js";
import { orDash, printJson, printLine, printTable } from "../output.js";
import { findGroup, userId } from "../subjects.js";

export function registerGroups(program: Command): void {
  const groups = program.command("groups").description("groups of users: bind a role to a group to grant it to every member");

  withConnectionOptions(groups.command("ls").description("list groups and their members").addOption(jsonOption()))
    .addHelpText("after", examples("cairn groups ls"))
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const list = await (await connect(cmd)).groups.list();
      if (flags.json) return printJson(list);
      printTable(
        ["ID", "NAME", "MEMBERS", "CREATED"],
        list.items.map((g) => [g.id, g.name, orDash(g.members.join(",")), g.createdAt]),
      );
    });

  withConnectionOptions(
    groups.command("create").description("create a group").argument("<name>", "A–Z a–z 0–9 _ - .").addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      examples(
        "cairn groups create payments-team",
        "cairn bindings create --role developer --group payments-team --namespace 'payments/**'",
      ),
    )
    .action(async (name: string, flags: { json?: boolean }, cmd: Command) => {
      const group = await (await connect(cmd)).groups.create(name);
      if (flags.json) return printJson(group);
      printLine(`created group ${group.name} (${group.id})`);
    });

  withConnectionOptions(
    groups
      .command("add")
      .description("add a user to a group (idempotent)")
      .argument("<group>", "group id (grp_…) or name")
      .argument("<user>", "user id (usr_…) or email")
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn groups add payments-team ana@example.com", "cairn groups add grp_01jq… usr_01jq…"))
    .action(async (groupRef: string, userRef: string, flags: { json?: boolean }, cmd: Command) => {
      const client = await connect(cmd);
      const [group, user] = await Promise.all([findGroup(client, groupRef), userId(client, userRef)]);
      const updated = await client.groups.addMember(group.id, user);
      if (flags.json) return printJson(updated);
      printLine(`added ${userRef} to group ${updated.name} (${updated.members.length} member${updated.members.length === 1 ? "" : "s"})`);
    });

  withConnectionOptions(
    groups
      .command("remove")
      .description("remove a user from a group")
      .argument("<group>", "group id (grp_…) or name")
      .argument("<user>", "user id (usr_…) or email"),
  )
    .addHelpText("after", examples("cairn groups remove payments-team ana@example.com"))
    .action(async (groupRef: string, userRef: string, _flags: unknown, cmd: Command) => {
      const client = await connect(cmd);
      const [group, user] = await Promise.all([findGroup(client, groupRef), userId(client, userRef)]);
      await client.groups.removeMember(group.id, user);
      printLine(`removed ${userRef} from group ${group.name}`);
    });

  withConnectionOptions(
    groups.command("rm").description("delete a group that no binding names").argument("<group>", "group id (grp_…) or name"),
  )
    .addHelpText("after", examples("cairn groups rm payments-team"))
    .action(async (groupRef: string, _flags: unknown, cmd: Command) => {
      const client = await connect(cmd);
      const group = await findGroup(client, groupRef);
      await client.groups.delete(group.id);
      printLine(`deleted group ${group.name}`);
    });
}
