import type { CreateRoleBody, Role, Rule } from "@cairn/sdk";
import type { Command } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { detectFormat, parseDocument } from "../documents.js";
import { CliError, UsageError } from "../errors.js";
import { readInputFile } from "../input.js";
import { examples, jsonOption } from "../options.js";
import { inlineValue, orDash, printFields, printJson, printLine, printTable } from "../output.js";
import { collectRule, formatRule, parseRule } from "../rules.js";

const RULE_SYNTAX =
  "\nRule syntax: [allow|deny] resource:namespacePattern:action [env=a,b] [ip=10.0.0.0/8] [time=09:00-17:00] [days=1-5]\n" +
  "  resources: configs secrets keys audit alerts roles environments requests users tenants (* = all)\n" +
  "  actions:   read write delete list reveal rotate approve admin (* = all)\n" +
  "  patterns:  * is one namespace segment, ** any depth. Deny wins over allow.\n";

interface RoleFlags {
  rule?: Rule[];
  addRule?: Rule[];
  inherits?: string[];
  description?: string;
  file?: string;
  json?: boolean;
}

/** `--inherits a --inherits b` or `--inherits a,b`. */
const collectNames = (raw: string, list: string[] = []) => [
  ...list,
  ...raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
];

export function registerRoles(program: Command): void {
  const roles = program
    .command("roles")
    .description("roles: named sets of allow/deny rules, granted with `cairn bindings create`")
    .addHelpText("after", "\nBuilt-in roles (cannot be changed): admin, operator, developer, viewer.\n");

  withConnectionOptions(roles.command("ls").description("list the tenant's roles, built-in ones first").addOption(jsonOption()))
    .addHelpText("after", examples("cairn roles ls"))
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const list = await (await connect(cmd)).roles.list();
      if (flags.json) return printJson(list);
      printTable(
        ["NAME", "BUILTIN", "RULES", "INHERITS", "DESCRIPTION"],
        list.items.map((r) => [
          r.name,
          r.builtin ? "yes" : "no",
          String(r.rules.length),
          orDash(r.inherits.join(",")),
          inlineValue(r.description ?? ""),
        ]),
      );
    });

  withConnectionOptions(
    roles.command("show").description("show a role and its rules").argument("<name>", "role name").addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn roles show developer", "cairn roles show payments-reader --json > role.json"))
    .action(async (name: string, flags: { json?: boolean }, cmd: Command) => {
      const role = await (await connect(cmd)).roles.get(name);
      if (flags.json) return printJson(role);
      printRole(role);
    });

  withConnectionOptions(
    roles
      .command("create")
      .description("create a role from --rule flags, or from a file holding the API body")
      .argument("[name]", "A–Z a–z 0–9 _ - . (optional with --file, which names it)")
      .option("--rule <rule>", 'e.g. "allow configs:payments/**:read" (repeatable)', collectRule)
      .option("--inherits <role>", "include another role's rules (repeatable, or comma-separated)", collectNames)
      .option("--description <text>", "what the role is for")
      .option("-f, --file <path>", "JSON or YAML: {name, description?, rules, inherits?}; - reads stdin")
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      `${examples(
        'cairn roles create payments-reader --rule "allow configs:payments/**:read" --rule "allow configs:payments/**:list"',
        'cairn roles create payments-oncall --inherits payments-reader --rule "allow secrets:payments/**:reveal env=production time=00:00-24:00 days=6-7"',
        'cairn roles create no-prod-secrets --rule "deny secrets:**:* env=production" --description "guard rail"',
        "cairn roles create --file role.json",
      )}${RULE_SYNTAX}`,
    )
    .action(async (nameArg: string | undefined, flags: RoleFlags, cmd: Command) => {
      let body: CreateRoleBody;
      if (flags.file) {
        if (flags.rule || flags.inherits || flags.description !== undefined)
          throw new UsageError("give the role with --file, or with --rule/--inherits/--description, not both");
        const fromFile = await readRoleFile(flags.file);
        const name = nameArg ?? (typeof fromFile.name === "string" ? fromFile.name : undefined);
        if (!name) throw new UsageError(`no role name: give it as an argument or as "name" in ${flags.file}`);
        if (nameArg && fromFile.name !== undefined && fromFile.name !== nameArg) {
          throw new UsageError(`the argument names the role "${nameArg}" but ${flags.file} names it "${String(fromFile.name)}"`);
        }
        body = { ...fromFile, name } as CreateRoleBody;
      } else {
        if (!nameArg) throw new UsageError("no role name given");
        if (!flags.rule && !flags.inherits)
          throw new UsageError("a role needs rules: add --rule (repeatable) or --inherits, or use --file");
        body = { name: nameArg, rules: flags.rule ?? [], inherits: flags.inherits, description: flags.description };
      }
      const role = await (await connect(cmd)).roles.create(body);
      if (flags.json) return printJson(role);
      printLine(`created role ${role.name} (${ruleCount(role)})`);
    });

  withConnectionOptions(
    roles
      .command("update")
      .description("change a role: what you give replaces what it had, the rest stays")
      .argument("<name>", "role name")
      .option("--rule <rule>", "the role's rules from now on: replaces all of them (repeatable)", collectRule)
      .option("--add-rule <rule>", "add a rule to those it has (repeatable)", collectRule)
      .option("--inherits <role>", "the roles it inherits from now on (repeatable, or comma-separated; '' for none)", collectNames)
      .option("--description <text>", "what the role is for")
      .option("-f, --file <path>", "JSON or YAML: {description?, rules, inherits?}: replaces the whole role; - reads stdin")
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      `${examples(
        'cairn roles update payments-reader --add-rule "deny configs:payments/legacy/**:*"',
        'cairn roles update payments-reader --rule "allow configs:payments/**:read" --inherits viewer',
        "cairn roles show payments-reader --json > role.json && $EDITOR role.json && cairn roles update payments-reader --file role.json",
      )}${RULE_SYNTAX}`,
    )
    .action(async (name: string, flags: RoleFlags, cmd: Command) => {
      const client = await connect(cmd);
      let role: Role;
      if (flags.file) {
        if (flags.rule || flags.addRule || flags.inherits || flags.description !== undefined) {
          throw new UsageError("give the role with --file, or with --rule/--add-rule/--inherits/--description, not both");
        }
        const { name: named, builtin: _b, createdAt: _c, updatedAt: _u, ...body } = await readRoleFile(flags.file);
        if (named !== undefined && named !== name)
          throw new UsageError(`the argument names the role "${name}" but ${flags.file} names it "${String(named)}"`);
        await client.roles.get(name); // update, not create: a mistyped name is an error
        role = await client.roles.put(name, body as Parameters<typeof client.roles.put>[1]);
      } else {
        if (!flags.rule && !flags.addRule && !flags.inherits && flags.description === undefined) {
          throw new UsageError("nothing to change: give --rule, --add-rule, --inherits, --description or --file");
        }
        const current = await client.roles.get(name);
        if (current.builtin) throw new CliError(`${name} is a built-in role and cannot be changed; create your own role instead`);
        role = await client.roles.put(name, {
          description: flags.description ?? current.description ?? undefined,
          rules: [...(flags.rule ?? current.rules), ...(flags.addRule ?? [])],
          inherits: flags.inherits ?? current.inherits,
        });
      }
      if (flags.json) return printJson(role);
      printLine(`updated role ${role.name} (${ruleCount(role)})`);
    });

  withConnectionOptions(roles.command("rm").description("delete a role that no binding, role or key uses").argument("<name>", "role name"))
    .addHelpText("after", examples("cairn roles rm payments-reader"))
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      await (await connect(cmd)).roles.delete(name);
      printLine(`deleted role ${name}`);
    });
}

/** A role body from JSON or YAML; rules may be objects (the API's form) or one-line strings. */
async function readRoleFile(file: string): Promise<Record<string, unknown>> {
  const text = await readInputFile(file, "role");
  const source = file === "-" ? "stdin" : file;
  const body = parseDocument(text, detectFormat(file, text) === "json" ? "json" : "yaml", source);
  if (Array.isArray(body.rules)) {
    body.rules = body.rules.map((r: unknown) => {
      if (typeof r !== "string") return r;
      try {
        return parseRule(r);
      } catch (e) {
        throw new UsageError(`${source}: ${(e as Error).message}`);
      }
    });
  }
  return body;
}

const ruleCount = (role: Role) =>
  `${role.rules.length} rule${role.rules.length === 1 ? "" : "s"}${role.inherits.length > 0 ? `, inherits ${role.inherits.join(", ")}` : ""}`;

function printRole(role: Role): void {
  printFields([
    ["name", role.name],
    ["description", orDash(role.description)],
    ["builtin", role.builtin ? "yes" : "no"],
    ["inherits", orDash(role.inherits.join(", "))],
    ["updated", role.updatedAt],
  ]);
  printLine("rules:");
  if (role.rules.length === 0) printLine("  (none of its own)");
  for (const rule of role.rules) printLine(`  ${formatRule(rule)}`);
}
