import type { Command } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { examples, jsonOption } from "../options.js";
import { orDash, printFields, printJson } from "../output.js";

export function registerWhoami(program: Command): void {
  withConnectionOptions(
    program.command("whoami").description("who the credential in use belongs to: user or API key, tenant, roles").addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn whoami", "cairn whoami --json | jq -r .tenant.name"))
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const me = await (await connect(cmd)).auth.whoami();
      if (flags.json) return printJson(me);
      printFields([
        ["name", me.name],
        ["id", me.id],
        ["type", me.type === "api_key" ? "API key" : me.type],
        ["tenant", `${me.tenant.name} (${me.tenant.id})`],
        ["roles", orDash(me.roles.join(", "))],
        ...(me.instanceAdmin ? ([["instance admin", "yes (may manage tenants)"]] as [string, string][]) : []),
      ]);
    });
}
