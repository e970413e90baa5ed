import { writeFile } from "node:fs/promises";
import { type Command, Option } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { pointInTime } from "../input.js";
import { envOption, examples, revealOption } from "../options.js";
import { note } from "../output.js";

interface ExportFlags {
  env?: string;
  format: "json" | "yaml" | "dotenv";
  prefix?: string;
  at?: string;
  reveal?: boolean;
  output?: string;
}

export function registerExport(program: Command): void {
  withConnectionOptions(
    program
      .command("export")
      .description("print a namespace as a JSON, YAML or .env document")
      .argument("<namespace>", "namespace path, e.g. production/api")
      .addOption(envOption())
      .addOption(new Option("--format <format>", "document format").choices(["json", "yaml", "dotenv"]).default("json"))
      .option("--prefix <prefix>", "only keys starting with this")
      .option("--at <time>", "the namespace as it was at this time (RFC 3339)", pointInTime)
      .addOption(revealOption())
      .option("-o, --output <file>", "write to this file (created with mode 0600) instead of stdout"),
  )
    .addHelpText(
      "after",
      examples(
        "cairn export production/api --format dotenv --env production --reveal -o .env",
        "cairn export production/api --format yaml > api.yaml",
      ),
    )
    .action(async (namespace: string, flags: ExportFlags, cmd: Command) => {
      const client = await connect(cmd);
      const text = await client.export(namespace, {
        environment: flags.env,
        format: flags.format,
        prefix: flags.prefix,
        at: flags.at,
        reveal: flags.reveal,
      });
      // The server sends compact JSON; indent it for people (and diffs of committed exports).
      const pretty = flags.format === "json" ? JSON.stringify(JSON.parse(text), null, 2) : text;
      const body = pretty.endsWith("\n") || pretty === "" ? pretty : `${pretty}\n`;
      if (!flags.output) {
        process.stdout.write(body);
        return;
      }
      // Exports may hold revealed secrets: never readable by other users.
      await writeFile(flags.output, body, { mode: 0o600 });
      note(`wrote ${namespace} (${flags.env ?? "base"}, ${flags.format}) to ${flags.output}`);
    });
}
