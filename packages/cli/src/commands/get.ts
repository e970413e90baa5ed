import type { Command } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { positiveInt } from "../input.js";
import { envOption, examples, jsonOption, resolveOption, revealOption } from "../options.js";
import { formatValue, note, printJson, printLine } from "../output.js";

interface GetFlags {
  env?: string;
  version?: number;
  reveal?: boolean;
  resolve?: boolean;
  json?: boolean;
}

export function registerGet(program: Command): void {
  withConnectionOptions(
    program
      .command("get")
      .description("print a key's value, resolved along the environment chain")
      .argument("<namespace>", "namespace path, e.g. production/api")
      .argument("<key>", "key name")
      .addOption(envOption())
      .option("--version <n>", "read this version instead of the current one", positiveInt)
      .addOption(revealOption())
      .addOption(resolveOption())
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      examples(
        "cairn get production/api db.url",
        "cairn get production/api db.password --env production --reveal",
        "cairn get production/api db.url --version 2 --json",
        "cairn get production/api dsn --resolve --reveal",
      ),
    )
    .action(async (namespace: string, key: string, flags: GetFlags, cmd: Command) => {
      const client = await connect(cmd);
      const entry = await client.get(namespace, key, {
        environment: flags.env,
        version: flags.version,
        reveal: flags.reveal,
        resolve: flags.resolve,
      });
      if (flags.json) return printJson(entry);
      printLine(formatValue(entry.value));
      if (entry.secret && !flags.reveal) note("(secret: value masked; add --reveal to see it)");
    });
}
