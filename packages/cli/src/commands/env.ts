import type { Command } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { examples, jsonOption } from "../options.js";
import { printJson, printLine, printTable } from "../output.js";

export function registerEnv(program: Command): void {
  const env = program.command("env").description("list and create environments (values resolve along an environment's chain of parents)");

  withConnectionOptions(env.command("ls").description("list environments and their resolution chains").addOption(jsonOption()))
    .addHelpText("after", examples("cairn env ls"))
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const client = await connect(cmd);
      const list = await client.environments.list();
      if (flags.json) return printJson(list);
      printTable(
        ["NAME", "PARENT", "CHAIN", "CREATED"],
        list.items.map((e) => [e.name, e.parent ?? "-", e.chain.join(" → "), e.createdAt]),
      );
    });

  withConnectionOptions(
    env
      .command("create")
      .description("create an environment")
      .argument("<name>", "a–z, 0–9, '_', '-', starting with a letter")
      .option("--parent <name>", "environment to inherit values from")
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn env create qa --parent staging"))
    .action(async (name: string, flags: { parent?: string; json?: boolean }, cmd: Command) => {
      const client = await connect(cmd);
      const created = await client.environments.create(name, { parent: flags.parent });
      if (flags.json) return printJson(created);
      printLine(`created environment ${created.name} (resolves ${created.chain.join(" → ")})`);
    });
}
