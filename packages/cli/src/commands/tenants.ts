import type { Command } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { examples, jsonOption } from "../options.js";
import { printJson, printOnce, printTable } from "../output.js";

export function registerTenants(program: Command): void {
  const tenants = program
    .command("tenants")
    .description("tenants (organisations, walled off from each other): for the instance admin only");

  withConnectionOptions(tenants.command("ls").description("list every tenant").addOption(jsonOption()))
    .addHelpText("after", examples("cairn tenants ls"))
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const list = await (await connect(cmd)).tenants.list();
      if (flags.json) return printJson(list);
      printTable(
        ["ID", "NAME", "CREATED"],
        list.items.map((t) => [t.id, t.name, t.createdAt]),
      );
    });

  withConnectionOptions(
    tenants
      .command("create")
      .description("create a tenant; prints its admin API key once")
      .argument("<name>", "a–z 0–9 -")
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn tenants create acme", "ACME_ADMIN=$(cairn tenants create acme)    # stdout is the key alone"))
    .action(async (name: string, flags: { json?: boolean }, cmd: Command) => {
      const created = await (await connect(cmd)).tenants.create(name);
      if (flags.json) return printJson(created);
      printOnce(
        `created tenant ${created.tenant.name} (${created.tenant.id}); its admin API key (${created.adminKeyId}):`,
        created.adminKey,
      );
    });
}
