import type { Command } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { positiveInt } from "../input.js";
import { envOption, examples, jsonOption } from "../options.js";
import { keyLabel, printJson, printLine } from "../output.js";

interface RollbackFlags {
  env?: string;
  reason?: string;
  ifMatch?: number;
  json?: boolean;
}

export function registerRollback(program: Command): void {
  withConnectionOptions(
    program
      .command("rollback")
      .description("restore an earlier version's value as a new version")
      .argument("<namespace>", "namespace path, e.g. production/api")
      .argument("<key>", "key name")
      .argument("<version>", "the version to restore (see `cairn history`)", positiveInt)
      .addOption(envOption())
      .option("--reason <text>", "why: kept in history")
      .option("--if-match <version>", "only roll back if the key is still at this version", positiveInt)
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn rollback production/api db.url 2 --reason 'bad deploy'"))
    .action(async (namespace: string, key: string, version: number, flags: RollbackFlags, cmd: Command) => {
      const client = await connect(cmd);
      const entry = await client.rollback(namespace, key, version, {
        environment: flags.env,
        reason: flags.reason,
        ifMatch: flags.ifMatch,
      });
      if (flags.json) return printJson(entry);
      printLine(`rolled back ${keyLabel(namespace, key)} to version ${version} → version ${entry.version} (${entry.environment})`);
    });
}
