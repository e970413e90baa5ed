import type { CairnClient, KeyView, VerifyResult } from "@cairn/sdk";
import { type Command, Option } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { UsageError } from "../errors.js";
import { collect, collectMeta, nonNegativeInt, parseDuration, pastTime, pointInTime, rateLimit, readStdin, timeFromNow } from "../input.js";
import { examples, jsonOption } from "../options.js";
import { orDash, printFields, printJson, printLine, printOnce, printTable } from "../output.js";
import { collectRule, formatRule } from "../rules.js";

interface CreateFlags {
  role?: string[];
  permission?: ReturnType<typeof collectRule>;
  expiresAt?: string;
  expiresIn?: string;
  rateLimit?: { limit: number; windowSeconds: number };
  remaining?: number;
  meta?: Record<string, unknown>;
  json?: boolean;
}

export function registerKeys(program: Command): void {
  const keys = program
    .command("keys")
    .description("API keys (service accounts): create, list, rotate, revoke, verify")
    .addHelpText("after", "\nA key looks like cairn_<prefix>_<secret>. Cairn stores only its SHA-256: it is shown once, when made.\n");

  withConnectionOptions(
    keys
      .command("create")
      .description("create an API key; prints the key once")
      .argument("<name>", "what the key is for, e.g. ci-deploy")
      .option("--role <name>", "a role of your tenant (repeatable)", collect)
      .option("--permission <rule>", 'a rule of the key\'s own, e.g. "allow configs:payments/**:read" (repeatable)', collectRule)
      .addOption(new Option("--expires-at <time>", "stop working at this time (RFC 3339)").argParser(pointInTime).conflicts("expiresIn"))
      .addOption(new Option("--expires-in <duration>", "stop working after this long: 90m, 12h, 30d, 2w").argParser(timeFromNow))
      .option("--rate-limit <n/window>", "at most n requests per sliding window, e.g. 100/60s or 1000/1h", rateLimit)
      .option("--remaining <n>", "usage quota: the key works this many times, then answers 429", nonNegativeInt)
      .option("--meta <key=value>", "free-form data returned by verify, never secrets (repeatable)", collectMeta)
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      `${examples(
        "cairn keys create ci-deploy --role developer --expires-in 90d",
        'cairn keys create payments-reader --permission "allow configs:payments/**:read" --permission "deny configs:payments/secrets/**:*"',
        "cairn keys create partner-api --role viewer --rate-limit 100/60s --remaining 10000 --meta plan=pro",
        "KEY=$(cairn keys create ci --role viewer)    # stdout is the key alone",
      )}\nRule syntax: [allow|deny] resource:namespacePattern:action [env=a,b] [ip=10.0.0.0/8] [time=09:00-17:00] [days=1-5]\n`,
    )
    .action(async (name: string, flags: CreateFlags, cmd: Command) => {
      const client = await connect(cmd);
      const created = await client.keys.create({
        name,
        roles: flags.role,
        permissions: flags.permission,
        expiresAt: flags.expiresAt ?? flags.expiresIn,
        rateLimit: flags.rateLimit,
        remaining: flags.remaining,
        meta: flags.meta,
      });
      if (flags.json) return printJson(created);
      printOnce(
        `created API key ${created.id} "${created.name}" (${grants(created)}${created.expiresAt ? `, expires ${created.expiresAt}` : ""})`,
        created.key,
      );
    });

  withConnectionOptions(keys.command("ls").description("list the tenant's API keys (never the keys themselves)").addOption(jsonOption()))
    .addHelpText("after", examples("cairn keys ls", "cairn keys ls --json | jq '.items[] | select(.status == \"active\") | .id'"))
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const items = await allKeys(await connect(cmd));
      if (flags.json) return printJson({ items });
      printTable(
        ["ID", "NAME", "PREFIX", "STATUS", "ROLES", "USES", "LAST USED", "EXPIRES"],
        items.map((k) => [
          k.id,
          k.name,
          k.prefix,
          k.status,
          orDash(k.roles.join(",")),
          String(k.usageCount),
          orDash(k.lastUsedAt),
          orDash(k.expiresAt),
        ]),
      );
    });

  withConnectionOptions(
    keys.command("show").description("show an API key's settings and status").argument("<id>", "key id (key_…)").addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn keys show key_01jq0c4m5n6p7q8r9s"))
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const key = await (await connect(cmd)).keys.get(id);
      if (flags.json) return printJson(key);
      printKey(key);
    });

  withConnectionOptions(
    keys
      .command("rotate")
      .description("issue a replacement key with the same settings; prints the new key once")
      .argument("<id>", "key id (key_…)")
      .option("--grace <duration>", "how long the old key keeps working: 0 (default), 90s, 1h, 7d", parseDuration)
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      examples("cairn keys rotate key_01jq0c4m5n6p7q8r9s --grace 1h", "NEW=$(cairn keys rotate key_01jq0c4m5n6p7q8r9s --grace 24h)"),
    )
    .action(async (id: string, flags: { grace?: number; json?: boolean }, cmd: Command) => {
      const rotated = await (await connect(cmd)).keys.rotate(id, { gracePeriodSeconds: flags.grace });
      if (flags.json) return printJson(rotated);
      const old = rotated.rotatedFrom;
      const until = old.graceUntil ? `keeps working until ${old.graceUntil}` : "stopped working now";
      printOnce(`rotated ${old.id} → ${rotated.id} "${rotated.name}": the old key ${until}`, rotated.key);
    });

  withConnectionOptions(
    keys
      .command("revoke")
      .description("revoke an API key: refused everywhere within a second")
      .argument("<id>", "key id (key_…)")
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn keys revoke key_01jq0c4m5n6p7q8r9s"))
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const key = await (await connect(cmd)).keys.revoke(id);
      if (flags.json) return printJson(key);
      printLine(`revoked ${key.id} "${key.name}"`);
    });

  withConnectionOptions(
    keys
      .command("verify")
      .description("check a key of your tenant, as a service protecting its own API would: exit 0 if valid, 1 if not")
      .argument("[key]", "the key; omit it or give - to read stdin (keeps it out of shell history)")
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      `${examples("cairn keys verify cairn_AbCdEfGh_…", 'echo "$PARTNER_KEY" | cairn keys verify', "cairn keys verify - --json < key.txt")}
Prints VALID or why not: NOT_FOUND, REVOKED, EXPIRED, RATE_LIMITED, USAGE_EXCEEDED.
A valid check counts as a use of the key (its quota and rate limit), as a real request would.
`,
    )
    .action(async (keyArg: string | undefined, flags: { json?: boolean }, cmd: Command) => {
      const key = (keyArg !== undefined && keyArg !== "-" ? keyArg : await readStdin("key")).trim();
      if (!key) throw new UsageError("no key given: pass it as an argument or pipe it on stdin");
      const result = await (await connect(cmd)).keys.verify(key);
      if (flags.json) printJson(result);
      else printLine(describeVerification(result));
      process.exitCode = result.valid ? 0 : 1;
    });

  withConnectionOptions(
    keys
      .command("usage")
      .description("uses of a key per hour")
      .argument("<id>", "key id (key_…)")
      .option("--since <time>", "from this time (RFC 3339) or this long ago (7d); default the last 24 hours", pastTime)
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn keys usage key_01jq0c4m5n6p7q8r9s", "cairn keys usage key_01jq0c4m5n6p7q8r9s --since 7d --json"))
    .action(async (id: string, flags: { since?: string; json?: boolean }, cmd: Command) => {
      const usage = await (await connect(cmd)).keys.usage(id, { since: flags.since });
      if (flags.json) return printJson(usage);
      if (usage.items.length > 0) {
        printTable(
          ["HOUR", "USES"],
          usage.items.map((b) => [b.hour, String(b.count)]),
        );
      }
      printLine(`${usage.total} uses since ${usage.since}`);
    });
}

/** Every page of `GET /keys`. */
async function allKeys(client: CairnClient): Promise<KeyView[]> {
  const items: KeyView[] = [];
  let after: string | undefined;
  do {
    const page = await client.keys.list({ limit: 1000, after });
    items.push(...page.items);
    after = page.nextCursor;
  } while (after);
  return items;
}

function grants(key: KeyView): string {
  const parts = [];
  if (key.roles.length > 0) parts.push(`roles: ${key.roles.join(", ")}`);
  if (key.permissions.length > 0) parts.push(`${key.permissions.length} rule${key.permissions.length === 1 ? "" : "s"}`);
  return parts.length > 0 ? parts.join(", ") : "no roles or rules: it can do nothing yet";
}

function printKey(key: KeyView): void {
  printFields([
    ["id", key.id],
    ["name", key.name],
    ["prefix", `cairn_${key.prefix}_…`],
    ["status", key.status],
    ["roles", orDash(key.roles.join(", "))],
    ["rate limit", key.rateLimit ? `${key.rateLimit.limit} per ${key.rateLimit.windowSeconds}s` : "-"],
    ["remaining", key.remaining === null ? "unlimited" : String(key.remaining)],
    ["uses", String(key.usageCount)],
    ["last used", orDash(key.lastUsedAt)],
    ["created", `${key.createdAt}${key.createdBy ? ` by ${key.createdBy}` : ""}`],
    ["expires", orDash(key.expiresAt)],
    ...(key.graceUntil ? ([["grace until", key.graceUntil]] as [string, string][]) : []),
    ...(key.rotatedTo ? ([["rotated to", key.rotatedTo]] as [string, string][]) : []),
    ...(key.revokedAt ? ([["revoked", key.revokedAt]] as [string, string][]) : []),
    ...(Object.keys(key.meta).length > 0 ? ([["meta", JSON.stringify(key.meta)]] as [string, string][]) : []),
  ]);
  if (key.permissions.length > 0) {
    printLine("rules:");
    for (const rule of key.permissions) printLine(`  ${formatRule(rule)}`);
  }
}

function describeVerification(r: VerifyResult): string {
  if (!r.valid) return r.keyId ? `${r.code} ${r.keyId}${r.name ? ` "${r.name}"` : ""}` : r.code;
  const facts = [r.roles.length > 0 ? `roles: ${r.roles.join(", ")}` : "", r.remaining !== null ? `remaining: ${r.remaining}` : ""];
  if (r.ratelimit) facts.push(`rate limit: ${r.ratelimit.remaining}/${r.ratelimit.limit} left`);
  const detail = facts.filter(Boolean).join("; ");
  return `VALID ${r.keyId ?? ""}${r.name ? ` "${r.name}"` : ""}${detail ? ` (${detail})` : ""}`;
}
