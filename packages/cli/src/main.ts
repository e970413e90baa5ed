import { readFileSync } from "node:fs";
import { Command } from "commander";
import { registerAccess } from "./commands/access.js";
import { registerAdmin } from "./commands/admin.js";
import { registerAgent } from "./commands/agent.js";
import { registerAlerts } from "./commands/alerts.js";
import { registerAudit } from "./commands/audit.js";
import { registerAuthz } from "./commands/authz.js";
import { registerBindings } from "./commands/bindings.js";
import { registerApprovalPolicies, registerChangeRequests } from "./commands/change-requests.js";
import { registerDiff } from "./commands/diff.js";
import { registerEnv } from "./commands/env.js";
import { registerExport } from "./commands/export.js";
import { registerGet } from "./commands/get.js";
import { registerGroups } from "./commands/groups.js";
import { registerHistory } from "./commands/history.js";
import { registerImport } from "./commands/import.js";
import { registerKeys } from "./commands/keys.js";
import { registerLogin } from "./commands/login.js";
import { registerLs } from "./commands/ls.js";
import { registerRm } from "./commands/rm.js";
import { registerRoles } from "./commands/roles.js";
import { registerRollback } from "./commands/rollback.js";
import { registerRun } from "./commands/run.js";
import { registerSchema } from "./commands/schema.js";
import { registerSecrets } from "./commands/secrets.js";
import { registerServe } from "./commands/serve.js";
import { registerSet } from "./commands/set.js";
import { registerTenants } from "./commands/tenants.js";
import { registerUsers } from "./commands/users.js";
import { registerWhoami } from "./commands/whoami.js";
import { reportError } from "./errors.js";
import { examples } from "./options.js";

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };

export function buildProgram(): Command {
  const program = new Command("cairn")
    .description("Cairn: configuration and secrets, versioned, per environment; API keys, users and roles")
    .version(version, "-V, --version", "print the CLI version")
    // Program options are only read before the subcommand, so `get --version 3` stays the key's version;
    // each server command declares --url/--token itself so they also work after it.
    .enablePositionalOptions()
    .option("--url <url>", "server URL (default: $CAIRN_URL, else your login, else http://127.0.0.1:8080)")
    .option("--token <token>", "API key (default: $CAIRN_TOKEN, else your login)")
    // Throw instead of exiting, so usage errors can exit 2 (set before adding commands: they inherit it).
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    .addHelpText(
      "after",
      `${examples(
        "cairn serve",
        "cairn login --url http://127.0.0.1:8080",
        "cairn set production/api db.url postgres://db:5432/app --env production",
        "cairn get production/api db.url --env production",
        "cairn ls production/api",
        "cairn history production/api db.url",
        "cairn keys create ci-deploy --role developer --expires-in 90d",
        "cairn login --email ana@example.com && cairn whoami",
      )}\nExit codes: 0 ok, 1 error (the server's explanation is printed), 2 usage.\n`,
    );

  registerServe(program);
  registerLogin(program);
  registerWhoami(program);
  registerGet(program);
  registerSet(program);
  registerLs(program);
  registerRm(program);
  registerHistory(program);
  registerRollback(program);
  registerDiff(program);
  registerExport(program);
  registerRun(program);
  registerAgent(program);
  registerImport(program);
  registerEnv(program);
  registerSchema(program);
  registerSecrets(program);
  registerKeys(program);
  registerRoles(program);
  registerBindings(program);
  registerGroups(program);
  registerUsers(program);
  registerTenants(program);
  registerAuthz(program);
  registerAlerts(program);
  registerAudit(program);
  registerAdmin(program);
  registerAccess(program);
  registerChangeRequests(program);
  registerApprovalPolicies(program);
  return program;
}

/** Run the CLI; sets `process.exitCode` rather than exiting, so piped output is flushed. */
export async function main(argv: string[]): Promise<void> {
  // `cairn ls … | head` closes the pipe early: that is the reader's choice, not a crash.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    process.exitCode = reportError(e);
  }
}
