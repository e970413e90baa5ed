import { CairnApiError, CairnConnectionError } from "@cairn/sdk";
import { CommanderError } from "commander";

/** Bad invocation that commander cannot see (conflicting flags, missing input): exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A failure with a message meant for the user as-is (no server involved): exit code 1. */
export class CliError extends Error {
  override name = "CliError";
}

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

/** Print what went wrong to stderr and return the exit code. */
export function reportError(e: unknown): number {
  if (e instanceof CommanderError) {
    // commander has already printed its message (or the help); `--help` and `--version` exit 0.
    return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  if (e instanceof UsageError) {
    process.stderr.write(`error: ${e.message}\n(add --help for usage)\n`);
    return EXIT_USAGE;
  }
  if (e instanceof CairnApiError) {
    process.stderr.write(`error: ${e.message}\n`);
    for (const field of e.errors) process.stderr.write(`  - ${field.path || "(value)"}: ${field.message}\n`);
    const hint = hintFor(e);
    if (hint) process.stderr.write(`hint: ${hint}\n`);
    return EXIT_ERROR;
  }
  if (e instanceof CairnConnectionError || e instanceof CliError) {
    process.stderr.write(`error: ${e.message}\n`);
    return EXIT_ERROR;
  }
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`error: ${message}\n`);
  return EXIT_ERROR;
}

function hintFor(e: CairnApiError): string | undefined {
  switch (e.code) {
    case "unauthorized":
      return "run `cairn login`, or set CAIRN_TOKEN to a valid API key";
    case "precondition_failed":
      return e.currentVersion !== undefined
        ? `the key is now at version ${e.currentVersion}; re-read it, then retry with --if-match ${e.currentVersion}`
        : undefined;
    case "forbidden":
      return "`cairn whoami` shows who you are; `cairn authz check <resource> <action>` explains the decision; an admin grants roles with `cairn bindings create`";
    case "rate_limited":
      return e.retryAfter ? `retry in ${e.retryAfter}s` : undefined;
    default:
      return undefined;
  }
}
