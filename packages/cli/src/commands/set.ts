import type { Command } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { UsageError } from "../errors.js";
import { collectTag, parseValue, positiveInt, readInputFile, readStdin, type ValueMode } from "../input.js";
import { envOption, examples, jsonOption } from "../options.js";
import { keyLabel, note, printJson, printLine } from "../output.js";

interface SetFlags {
  env?: string;
  file?: string;
  secret?: boolean;
  reason?: string;
  tag?: Record<string, string>;
  ifMatch?: number;
  string?: boolean;
  jsonValue?: boolean;
  json?: boolean;
}

export function registerSet(program: Command): void {
  withConnectionOptions(
    program
      .command("set")
      .description("create or update a key")
      .argument("<namespace>", "namespace path, e.g. production/api")
      .argument("<key>", "key name: A–Z a–z 0–9 _ . -")
      .argument("[value]", "the value; omit it or give - to read stdin. Parsed as JSON when it is JSON, else a string")
      .addOption(envOption())
      .option("-f, --file <path>", "read the value from a file")
      .option("--secret", "mark the value secret: masked in reads unless revealed")
      .option("--reason <text>", "why: kept in history like a commit message")
      .option("--tag <key=value>", "label this version (repeatable)", collectTag)
      .option("--if-match <version>", "only write if the key is still at this version", positiveInt)
      .option("--string", "store the value as a string even if it looks like JSON (e.g. 1.10, true)")
      .option("--json-value", "the value must be valid JSON")
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      examples(
        "cairn set production/api db.url postgres://db:5432/app",
        "cairn set production/api pool.size 20                      # stored as the number 20",
        'cairn set production/api version 1.10 --string             # stored as the string "1.10"',
        "cairn set production/api limits '{\"rps\": 100}' --env production --reason 'launch'",
        "cat key.pem | cairn set production/api tls.key --secret",
        "cairn set production/api tls.cert --file cert.pem --if-match 3",
      ),
    )
    .action(async (namespace: string, key: string, valueArg: string | undefined, flags: SetFlags, cmd: Command) => {
      if (flags.string && flags.jsonValue) throw new UsageError("--string and --json-value contradict each other");
      if (flags.file && valueArg !== undefined) throw new UsageError("give the value as an argument or with --file, not both");
      const mode: ValueMode = flags.string ? "string" : flags.jsonValue ? "json" : "auto";
      const value = parseValue(await valueText(valueArg, flags.file), mode);

      const client = await connect(cmd);
      const entry = await client.set(namespace, key, value, {
        environment: flags.env,
        secret: flags.secret,
        reason: flags.reason,
        tags: flags.tag,
        ifMatch: flags.ifMatch,
      });
      if (flags.json) return printJson(entry);
      // A protected environment (requireApproval) answers 202 with a change request instead of a version.
      const proposal = (entry as unknown as { changeRequest?: { id: string; environments: string[] } }).changeRequest;
      if (proposal) {
        printLine(
          `proposed ${keyLabel(namespace, key)}: change request ${proposal.id} waits for approval (${proposal.environments.join(", ")})`,
        );
        return note(`nothing changed yet; see it with: cairn change-requests show ${proposal.id}`);
      }
      const notes = [entry.environment, entry.secret ? "secret" : ""].filter(Boolean).join(", ");
      printLine(`set ${keyLabel(namespace, key)} → version ${entry.version} (${notes})`);
      // The leak guard's advice: the value was stored, but probably deserved --secret.
      for (const warning of entry.warnings ?? []) note(`warning: ${warning.message}`);
    });
}

async function valueText(arg: string | undefined, file: string | undefined): Promise<string> {
  if (file) return readInputFile(file, "value");
  if (arg !== undefined && arg !== "-") return arg;
  // Like $(…) in a shell: drop the newline `echo` and editors add at the end.
  return (await readStdin("value")).replace(/\r?\n$/, "");
}
