import type { Binding, CairnClient, Subject } from "@cairn/sdk";
import { type Command, Option } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { UsageError } from "../errors.js";
import { pointInTime, timeFromNow } from "../input.js";
import { examples, jsonOption } from "../options.js";
import { orDash, printJson, printLine, printTable } from "../output.js";
import { findGroup, userId } from "../subjects.js";

interface SubjectFlags {
  user?: string;
  key?: string;
  group?: string;
}

const subjectOptions = (cmd: Command, verb: string) =>
  cmd
    .option("--user <id|email>", `${verb} a user`)
    .option("--key <id>", `${verb} an API key (key_…)`)
    .option("--group <id|name>", `${verb} a group`);

export function registerBindings(program: Command): void {
  const bindings = program
    .command("bindings")
    .description("role bindings: grant a role to a user, an API key or a group, within a namespace pattern");

  withConnectionOptions(
    subjectOptions(
      bindings.command("ls").description("list role bindings").option("--role <name>", "only this role's bindings"),
      "only those of",
    ).addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn bindings ls", "cairn bindings ls --role developer", "cairn bindings ls --user ana@example.com"))
    .action(async (flags: SubjectFlags & { role?: string; json?: boolean }, cmd: Command) => {
      atMostOneSubject(flags);
      const client = await connect(cmd);
      const subject = await optionalSubject(client, flags);
      const list = await client.bindings.list({ role: flags.role, subjectType: subject?.type, subjectId: subject?.id });
      if (flags.json) return printJson(list);
      printTable(
        ["ID", "ROLE", "SUBJECT", "NAMESPACE", "EXPIRES", "CREATED"],
        list.items.map((b) => [
          b.id,
          b.role,
          `${b.subject.type}:${b.subject.id}`,
          b.namespacePattern,
          b.expired ? `expired ${b.expiresAt}` : orDash(b.expiresAt),
          b.createdAt,
        ]),
      );
    });

  withConnectionOptions(
    subjectOptions(
      bindings
        .command("create")
        .description("bind a role to exactly one of --user, --key or --group")
        .requiredOption("--role <name>", "the role to grant")
        .option("--namespace <pattern>", "where it applies: * is one segment, ** any depth (default **, everywhere)")
        .addOption(
          new Option("--expires-at <time>", "grant nothing from this time on (RFC 3339)").argParser(pointInTime).conflicts("expiresIn"),
        )
        .addOption(new Option("--expires-in <duration>", "grant nothing after this long: 8h, 30d").argParser(timeFromNow)),
      "grant it to",
    ).addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      examples(
        "cairn bindings create --role developer --user ana@example.com --namespace 'payments/**'",
        "cairn bindings create --role viewer --group auditors",
        "cairn bindings create --role operator --user usr_01jq… --expires-in 8h      # break-glass access",
        "cairn bindings create --role payments-reader --key key_01jq…",
      ),
    )
    .action(
      async (
        flags: SubjectFlags & { role: string; namespace?: string; expiresAt?: string; expiresIn?: string; json?: boolean },
        cmd: Command,
      ) => {
        if (!flags.user && !flags.key && !flags.group) throw new UsageError("say who gets the role: --user, --key or --group");
        atMostOneSubject(flags);
        const client = await connect(cmd);
        const subject = (await optionalSubject(client, flags)) as Subject;
        const binding = await client.bindings.create({
          role: flags.role,
          subject,
          namespacePattern: flags.namespace,
          expiresAt: flags.expiresAt ?? flags.expiresIn,
        });
        if (flags.json) return printJson(binding);
        printLine(describe(binding));
      },
    );

  withConnectionOptions(
    bindings.command("rm").description("delete a role binding (takes effect at once)").argument("<id>", "binding id (rb_…)"),
  )
    .addHelpText("after", examples("cairn bindings rm rb_01jq0c4m5n6p7q8r9s"))
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      await (await connect(cmd)).bindings.delete(id);
      printLine(`deleted binding ${id}`);
    });
}

function atMostOneSubject(flags: SubjectFlags): void {
  const given = [flags.user && "--user", flags.key && "--key", flags.group && "--group"].filter(Boolean);
  if (given.length > 1) throw new UsageError(`give one of ${given.join(", ")}, not several`);
}

/** The subject the flags name, if any; users by id or email, groups by id or name. */
async function optionalSubject(client: CairnClient, flags: SubjectFlags): Promise<Subject | undefined> {
  if (flags.user) return { type: "user", id: await userId(client, flags.user) };
  if (flags.key) return { type: "key", id: flags.key };
  if (flags.group) return { type: "group", id: (await findGroup(client, flags.group)).id };
  return undefined;
}

const describe = (b: Binding) =>
  `bound role ${b.role} to ${b.subject.type} ${b.subject.id} on ${b.namespacePattern}${b.expiresAt ? ` until ${b.expiresAt}` : ""} (binding ${b.id})`;
