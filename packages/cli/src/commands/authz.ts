import type { Action, AuthzCheckBody, CheckResult, Resource } from "@cairn/sdk";
import type { Command } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { UsageError } from "../errors.js";
import { pointInTime } from "../input.js";
import { examples, jsonOption } from "../options.js";
import { colour, printFields, printJson } from "../output.js";
import { formatRule } from "../rules.js";
import { findGroup, userId } from "../subjects.js";

interface CheckFlags {
  namespace?: string;
  env?: string;
  user?: string;
  key?: string;
  group?: string;
  ip?: string;
  at?: string;
  json?: boolean;
}

export function registerAuthz(program: Command): void {
  const authz = program.command("authz").description("explain access decisions");

  withConnectionOptions(
    authz
      .command("check")
      .description("would this be allowed? prints the decision and the rule that made it; exit 0 allowed, 1 denied")
      .argument("<resource>", "configs, secrets, keys, audit, roles, environments, requests, users or tenants")
      .argument("<action>", "read, write, delete, list, reveal, rotate, approve or admin")
      .option("--namespace <path>", "the namespace (for configs and secrets), e.g. payments/api")
      .option("-e, --env <name>", "the environment the request would be in (rules with env=)")
      .option("--user <id|email>", "for this user instead of you")
      .option("--key <id>", "for this API key instead of you")
      .option("--group <id|name>", "for this group instead of you")
      .option("--ip <address>", "as if the request came from this address (rules with ip=)")
      .option("--at <time>", "as if it were this time (rules with time= and days=), RFC 3339", pointInTime)
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      examples(
        "cairn authz check configs read --namespace payments/api",
        "cairn authz check secrets reveal --namespace payments/api --env production --user ana@example.com",
        "cairn authz check keys admin --key key_01jq0c4m5n6p7q8r9s",
      ),
    )
    .action(async (resource: string, action: string, flags: CheckFlags, cmd: Command) => {
      const given = [flags.user && "--user", flags.key && "--key", flags.group && "--group"].filter(Boolean);
      if (given.length > 1) throw new UsageError(`give one of ${given.join(", ")}, not several`);
      const client = await connect(cmd);
      let subject: AuthzCheckBody["subject"];
      if (flags.user) subject = { type: "user", id: await userId(client, flags.user) };
      else if (flags.key) subject = { type: "key", id: flags.key };
      else if (flags.group) subject = { type: "group", id: (await findGroup(client, flags.group)).id };
      const result = await client.authz.check({
        subject,
        // Checked by the server, which lists the valid values when these are wrong.
        resource: resource as Resource,
        action: action as Action,
        namespace: flags.namespace,
        environment: flags.env,
        sourceIp: flags.ip,
        at: flags.at,
      });
      if (flags.json) printJson(result);
      else printDecision(result);
      process.exitCode = result.allowed ? 0 : 1;
    });
}

function printDecision(r: CheckResult): void {
  const by = r.decidedBy;
  const via = by
    ? [
        by.source === "key" ? "the key's own rules" : by.source === "role" ? "" : by.source.replace("_", " "),
        by.path && by.path.length > 0 ? `role ${by.path.join(" → ")}` : by.role ? `role ${by.role}` : "",
        by.bindingId ? `binding ${by.bindingId}` : "",
      ]
        .filter(Boolean)
        .join(", ")
    : "";
  printFields([
    ["decision", r.allowed ? colour("green", "allowed") : colour("red", "denied")],
    ["permission", r.permission],
    ["subject", `${r.subject.type} ${r.subject.id}`],
    ["rule", by ? formatRule(by.rule) : "none matched"],
    ...(via ? ([["via", via]] as [string, string][]) : []),
    ["reason", r.reason],
  ]);
}
