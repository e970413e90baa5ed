import { Option } from "commander";

/** Flags shared by many commands, defined once so their wording and short forms agree. */
export const envOption = () => new Option("-e, --env <name>", "environment (default: base)");
export const jsonOption = () => new Option("--json", "print the raw API response as JSON");
export const revealOption = () => new Option("--reveal", "show secret values in clear (audited)");
export const resolveOption = () =>
  new Option("--resolve", "replace ${ref:ns/key} references with the referenced values (secrets stay masked without --reveal)");

/** Attach an "Examples:" block to a command's --help. */
export const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;
