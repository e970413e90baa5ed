import type { Command } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { positiveInt } from "../input.js";
import { envOption, examples, jsonOption, revealOption } from "../options.js";
import { inlineValue, note, printJson, printTable } from "../output.js";

interface HistoryFlags {
  env?: string;
  limit?: number;
  reveal?: boolean;
  json?: boolean;
}

export function registerHistory(program: Command): void {
  withConnectionOptions(
    program
      .command("history")
      .description("versions of a key, or recent changes across a namespace (newest first)")
      .argument("<namespace>", "namespace path, e.g. production/api")
      .argument("[key]", "a key; omit it for the whole namespace")
      .addOption(envOption())
      .option("--limit <n>", "at most this many entries (default: 100)", positiveInt)
      .addOption(revealOption())
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn history production/api db.url", "cairn history production/api --limit 20 --json"))
    .action(async (namespace: string, key: string | undefined, flags: HistoryFlags, cmd: Command) => {
      const client = await connect(cmd);
      if (key === undefined) {
        const history = await client.namespaceHistory(namespace, { environment: flags.env, limit: flags.limit });
        if (flags.json) return printJson(history);
        if (history.items.length === 0) return note(`no changes in ${namespace}`);
        printTable(
          ["AT", "KEY", "ENV", "VERSION", "CHANGE", "ACTOR", "REASON"],
          history.items.map((c) => [c.at, c.key, c.environment, String(c.version), c.changeType, c.actor, c.reason ?? ""]),
        );
        return;
      }
      const history = await client.history(namespace, key, { environment: flags.env, limit: flags.limit, reveal: flags.reveal });
      if (flags.json) return printJson(history);
      if (history.items.length === 0) return note(`no versions of ${namespace} ${key} (${history.environment})`);
      printTable(
        ["VERSION", "CHANGE", "AT", "ACTOR", "VALUE", "REASON"],
        history.items.map((v) => [
          String(v.version),
          v.restoredFrom ? `${v.changeType} (from v${v.restoredFrom})` : v.changeType,
          v.at,
          v.actor,
          v.changeType === "delete" ? "" : "value" in v ? inlineValue(v.value, 32) : "(secret)",
          v.reason ?? "",
        ]),
      );
    });
}
