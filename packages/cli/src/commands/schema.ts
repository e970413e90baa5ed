import type { Command } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { detectFormat, parseDocument } from "../documents.js";
import { readInputFile } from "../input.js";
import { examples, jsonOption } from "../options.js";
import { keyLabel, printJson, printLine } from "../output.js";

export function registerSchema(program: Command): void {
  const schema = program.command("schema").description("attach JSON Schemas (2020-12) to keys: writes that violate them are refused");

  withConnectionOptions(
    schema
      .command("set")
      .description("attach a JSON Schema to a key")
      .argument("<namespace>", "namespace path, e.g. production/api")
      .argument("<key>", "key name")
      .argument("<file>", "the schema as JSON or YAML; - reads stdin")
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn schema set production/api pool.size pool-size.schema.json"))
    .action(async (namespace: string, key: string, file: string, flags: { json?: boolean }, cmd: Command) => {
      const text = await readInputFile(file, "schema");
      const format = detectFormat(file, text) === "yaml" ? "yaml" : "json";
      const document = parseDocument(text, format, file === "-" ? "stdin" : file);
      const client = await connect(cmd);
      const saved = await client.putSchema(namespace, key, document);
      if (flags.json) return printJson(saved);
      printLine(`schema set for ${keyLabel(namespace, key)}`);
    });

  withConnectionOptions(
    schema
      .command("get")
      .description("print a key's JSON Schema")
      .argument("<namespace>", "namespace path, e.g. production/api")
      .argument("<key>", "key name")
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn schema get production/api pool.size"))
    .action(async (namespace: string, key: string, flags: { json?: boolean }, cmd: Command) => {
      const client = await connect(cmd);
      const saved = await client.getSchema(namespace, key);
      printJson(flags.json ? saved : saved.schema);
    });

  withConnectionOptions(
    schema
      .command("rm")
      .description("detach a key's JSON Schema")
      .argument("<namespace>", "namespace path, e.g. production/api")
      .argument("<key>", "key name"),
  ).action(async (namespace: string, key: string, _flags: unknown, cmd: Command) => {
    const client = await connect(cmd);
    await client.deleteSchema(namespace, key);
    printLine(`schema removed from ${keyLabel(namespace, key)}`);
  });
}
