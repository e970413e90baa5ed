import type { BulkOperation } from "@cairn/sdk";
import { type Command, Option } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { DOCUMENT_FORMATS, type DocumentFormat, detectFormat, parseDocument, toImportEntries } from "../documents.js";
import { UsageError } from "../errors.js";
import { readInputFile } from "../input.js";
import { envOption, examples, jsonOption } from "../options.js";
import { printJson, printLine } from "../output.js";

/** The server's limit on one bulk request; above it an import could not be atomic. */
const MAX_OPERATIONS = 1000;

interface ImportFlags {
  env?: string;
  format: (typeof DOCUMENT_FORMATS)[number];
  secret?: boolean;
  reason?: string;
  json?: boolean;
}

export function registerImport(program: Command): void {
  withConnectionOptions(
    program
      .command("import")
      .description("set many keys at once from a JSON, YAML or .env file, atomically (all or none)")
      .argument("<namespace>", "namespace path, e.g. production/api")
      .argument("<file>", "the document; - reads stdin")
      .addOption(envOption())
      .addOption(
        new Option("--format <format>", "document format (auto: from the file name, else the content)")
          .choices([...DOCUMENT_FORMATS])
          .default("auto"),
      )
      .option("--secret", "mark every imported value secret")
      .option("--reason <text>", "why: kept in every key's history")
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      `${examples(
        "cairn import production/api .env --env production --secret",
        "cairn import production/api settings.json",
        "cat settings.yaml | cairn import production/api - --format yaml",
      )}\nA JSON/YAML document must be an object: each top-level member becomes a key (values keep their\ntypes; nested objects are stored as one JSON value, not flattened). Each .env line becomes a string key.\nThe output of \`cairn export --format json\` imports as its keys, secret flags kept (export with --reveal).\n`,
    )
    .action(async (namespace: string, file: string, flags: ImportFlags, cmd: Command) => {
      const text = await readInputFile(file, "document");
      const format: DocumentFormat = flags.format === "auto" ? detectFormat(file, text) : flags.format;
      const source = file === "-" ? "stdin" : file;
      const entries = toImportEntries(parseDocument(text, format, source), source);
      if (entries.length === 0) throw new UsageError(`${source} has no keys to import`);
      if (entries.length > MAX_OPERATIONS) {
        throw new UsageError(`${source} has ${entries.length} keys; one atomic import takes at most ${MAX_OPERATIONS}`);
      }

      const operations: BulkOperation[] = entries.map((entry) => ({
        op: "set",
        namespace,
        key: entry.key,
        environment: flags.env,
        value: entry.value,
        secret: flags.secret || entry.secret,
        reason: flags.reason,
      }));
      const client = await connect(cmd);
      const result = await client.bulk(operations);
      if (flags.json) return printJson(result);

      const counts = new Map<string, number>();
      for (const r of result.results) counts.set(r.changeType, (counts.get(r.changeType) ?? 0) + 1);
      const breakdown = [...counts].map(([type, n]) => `${n} ${pastTense(type)}`).join(", ");
      printLine(`imported ${result.applied} keys into ${namespace} (${flags.env ?? "base"})${breakdown ? `: ${breakdown}` : ""}`);
    });
}

const pastTense = (changeType: string) => (changeType.endsWith("e") ? `${changeType}d` : `${changeType}ed`);
