import type { Command } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { positiveInt } from "../input.js";
import { envOption, examples, jsonOption } from "../options.js";
import { keyLabel, printJson, printLine } from "../output.js";

interface RmFlags {
  env?: string;
  ifMatch?: number;
  reason?: string;
  json?: boolean;
}

export function registerRm(program: Command): void {
  withConnectionOptions(
    program
      .command("rm")
      .description("delete a key (a tombstone version: history is kept, rollback can restore it)")
      .argument("<namespace>", "namespace path, e.g. production/api")
      .argument("<key>", "key name")
      .addOption(envOption())
      .option("--if-match <version>", "only delete if the key is still at this version", positiveInt)
      .option("--reason <text>", "why: kept in history")
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn rm production/api old.flag", "cairn rm production/api db.url --env production --if-match 4"))
    .action(async (namespace: string, key: string, flags: RmFlags, cmd: Command) => {
      const client = await connect(cmd);
      const entry = await client.delete(namespace, key, { environment: flags.env, ifMatch: flags.ifMatch, reason: flags.reason });
      if (flags.json) return printJson(entry);
      printLine(`deleted ${keyLabel(namespace, key)} → version ${entry.version} (${entry.environment})`);
    });
}
