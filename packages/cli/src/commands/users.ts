import type { User } from "@cairn/sdk";
import type { Command } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { examples, jsonOption } from "../options.js";
import { orDash, printFields, printJson, printLine, printTable } from "../output.js";
import { readPassword } from "../prompt.js";
import { userId } from "../subjects.js";

export function registerUsers(program: Command): void {
  const users = program
    .command("users")
    .description("people who log in with email and password; grant them access with `cairn bindings create --user`");

  withConnectionOptions(users.command("ls").description("list the tenant's users").addOption(jsonOption()))
    .addHelpText("after", examples("cairn users ls"))
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const list = await (await connect(cmd)).users.list();
      if (flags.json) return printJson(list);
      printTable(
        ["ID", "EMAIL", "NAME", "STATUS", "CREATED"],
        list.items.map((u) => [u.id, u.email, orDash(u.name), u.disabled ? "disabled" : "active", u.createdAt]),
      );
    });

  withConnectionOptions(
    users
      .command("create")
      .description("create a user; the password is asked twice without echo")
      .argument("<email>", "their login")
      .option("--name <name>", "display name")
      .option("--password-stdin", "read the password from stdin instead (scripts)")
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      `${examples(
        "cairn users create ana@example.com --name 'Ana Lima'",
        'printf %s "$PASSWORD" | cairn users create ci-bot@example.com --password-stdin',
        "cairn bindings create --role developer --user ana@example.com",
      )}\nPasswords: at least 12 characters, and not a common one.\n`,
    )
    .action(async (email: string, flags: { name?: string; passwordStdin?: boolean; json?: boolean }, cmd: Command) => {
      const client = await connect(cmd);
      const password = await readPassword({ fromStdin: flags.passwordStdin, confirm: true });
      const user = await client.users.create({ email, password, name: flags.name });
      if (flags.json) return printJson(user);
      printLine(`created user ${user.id} (${user.email}); grant access with \`cairn bindings create --role <role> --user ${user.email}\``);
    });

  withConnectionOptions(
    users.command("show").description("show a user").argument("<user>", "user id (usr_…) or email").addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn users show ana@example.com", "cairn users show usr_01jq0c4m5n6p7q8r9s --json"))
    .action(async (ref: string, flags: { json?: boolean }, cmd: Command) => {
      const client = await connect(cmd);
      const user = await client.users.get(await userId(client, ref));
      if (flags.json) return printJson(user);
      printUser(user);
    });

  withConnectionOptions(
    users
      .command("disable")
      .description("disable a user and end their sessions (history keeps them)")
      .argument("<user>", "user id (usr_…) or email"),
  )
    .addHelpText("after", examples("cairn users disable ana@example.com"))
    .action(async (ref: string, _flags: unknown, cmd: Command) => {
      const client = await connect(cmd);
      const id = await userId(client, ref);
      await client.users.disable(id);
      printLine(`disabled user ${ref === id ? id : `${id} (${ref})`}; their sessions have ended`);
    });
}

function printUser(user: User): void {
  printFields([
    ["id", user.id],
    ["email", user.email],
    ["name", orDash(user.name)],
    ["status", user.disabled ? "disabled" : "active"],
    ["tenant", user.tenantId],
    ["created", user.createdAt],
  ]);
}
