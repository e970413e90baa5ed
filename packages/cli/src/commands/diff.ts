import { type CairnClient, isNotFound, type ResolvedConfig } from "@cairn/sdk";
import type { Command } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { UsageError } from "../errors.js";
import { positiveInt } from "../input.js";
import { type Change, diffValues, toPatch } from "../json-patch.js";
import { examples, jsonOption, revealOption } from "../options.js";
import { colour, note, printJson, printLine } from "../output.js";

interface DiffFlags {
  from?: number;
  to?: number;
  env?: string;
  env2?: string;
  reveal?: boolean;
  json?: boolean;
}

/** One side of the comparison: which environment and version, and what was found there. */
interface Side {
  environment: string | undefined;
  version: number | undefined;
  entry: ResolvedConfig | undefined;
}

export function registerDiff(program: Command): void {
  withConnectionOptions(
    program
      .command("diff")
      .description("compare two versions of a key, or its resolved value in two environments")
      .argument("<namespace>", "namespace path, e.g. production/api")
      .argument("<key>", "key name")
      .option("--from <version>", "the old version (in --env)", positiveInt)
      .option("--to <version>", "the new version (default: the current one)", positiveInt)
      .option("-e, --env <name>", "environment of the old side (default: base)")
      .option("--env2 <name>", "environment of the new side (default: same as --env)")
      .addOption(revealOption())
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      `${examples(
        "cairn diff production/api db.url --from 2 --to 3",
        "cairn diff production/api db.url --from 2            # version 2 against the current value",
        "cairn diff production/api db.url --env staging --env2 production",
      )}\nWith --json, prints {from, to, patch} where patch is the RFC 6902 JSON Patch from old to new.\n`,
    )
    .action(async (namespace: string, key: string, flags: DiffFlags, cmd: Command) => {
      if (flags.from === undefined && flags.env2 === undefined) {
        throw new UsageError("nothing to compare: give --from <version> [--to <version>], or --env <a> --env2 <b>");
      }
      const client = await connect(cmd);
      const read = (environment: string | undefined, version: number | undefined) =>
        readSide(client, namespace, key, environment, version, flags.reveal);
      const [before, after] = await Promise.all([read(flags.env, flags.from), read(flags.env2 ?? flags.env, flags.to)]);
      const changes = diffValues(before.entry?.value, after.entry?.value);

      if (flags.json) {
        return printJson({ from: summary(before), to: summary(after), patch: toPatch(changes) });
      }
      printLine(colour("red", `--- ${namespace} ${key} (${label(before)})`));
      printLine(colour("green", `+++ ${namespace} ${key} (${label(after)})`));
      if (changes.length === 0) printLine("no differences");
      for (const change of changes) printChange(change);
      if (!flags.reveal && (before.entry?.secret || after.entry?.secret)) {
        note("(secret values are masked, so they compare equal; add --reveal to compare them)");
      }
    });
}

async function readSide(
  client: CairnClient,
  namespace: string,
  key: string,
  environment: string | undefined,
  version: number | undefined,
  reveal: boolean | undefined,
): Promise<Side> {
  try {
    return { environment, version, entry: await client.get(namespace, key, { environment, version, reveal }) };
  } catch (e) {
    // A key missing from one environment is a difference worth showing; a missing version is a typo.
    if (isNotFound(e) && version === undefined) return { environment, version, entry: undefined };
    throw e;
  }
}

const label = (side: Side) => {
  const env = side.entry?.environment ?? side.environment ?? "base";
  if (!side.entry) return `${env}: absent`;
  const from = side.entry.resolvedFrom !== env ? ` from ${side.entry.resolvedFrom}` : "";
  return `${env} @ v${side.entry.version}${from}`;
};

const summary = (side: Side) => ({
  environment: side.entry?.environment ?? side.environment ?? "base",
  resolvedFrom: side.entry?.resolvedFrom ?? null,
  version: side.entry?.version ?? null,
  value: side.entry?.value ?? null,
});

function printChange({ path, before, after }: Change): void {
  const where = path === "" ? "" : `${path}: `;
  if (before !== undefined) printLine(colour("red", `- ${where}${JSON.stringify(before)}`));
  if (after !== undefined) printLine(colour("green", `+ ${where}${JSON.stringify(after)}`));
}
