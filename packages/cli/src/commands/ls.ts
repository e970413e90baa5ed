import type { Command } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { pointInTime } from "../input.js";
import { envOption, examples, jsonOption, resolveOption, revealOption } from "../options.js";
import { inlineValue, note, printJson, printTable } from "../output.js";

interface LsFlags {
  env?: string;
  prefix?: string;
  at?: string;
  reveal?: boolean;
  resolve?: boolean;
  json?: boolean;
}

export function registerLs(program: Command): void {
  withConnectionOptions(
    program
      .command("ls")
      .description("list a namespace's keys with their resolved values")
      .argument("<namespace>", "namespace path, e.g. production/api")
      .addOption(envOption())
      .option("--prefix <prefix>", "only keys starting with this")
      .option("--at <time>", "the namespace as it was at this time (RFC 3339)", pointInTime)
      .addOption(revealOption())
      .addOption(resolveOption())
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      examples(
        "cairn ls production/api",
        "cairn ls production/api --env production --prefix db.",
        "cairn ls production/api --at 2025-01-31T12:00:00Z",
      ),
    )
    .action(async (namespace: string, flags: LsFlags, cmd: Command) => {
      const client = await connect(cmd);
      const { env: environment, prefix, at, reveal, resolve } = flags;
      const list = await client.list(namespace, { environment, prefix, at, reveal, resolve });
      if (flags.json) return printJson(list);
      if (list.items.length === 0) return note(`no keys in ${namespace} (${list.environment})`);
      printTable(
        ["KEY", "VALUE", "VERSION", "FROM"],
        list.items.map((item) => [item.key, inlineValue(item.value), String(item.version), item.resolvedFrom]),
      );
    });
}
