import { randomBytes } from "node:crypto";
import type { AlertChannel, AlertRule, CairnClient, CreateChannelBody, CreateRuleBody, RuleFilter } from "@cairn/sdk";
import { type Command, InvalidArgumentError, Option } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { CliError, UsageError } from "../errors.js";
import { collect, collectMeta, port, positiveInt, rateLimit, readInputFile, readStdin } from "../input.js";
import { examples, jsonOption } from "../options.js";
import { inlineValue, note, orDash, printJson, printLine, printOnce, printTable } from "../output.js";

const SEVERITIES = ["info", "low", "medium", "high", "critical"];
const GROUP_BY = ["sourceIp", "actor", "namespace", "resource", "eventType"];
const RESULTS = ["success", "failure", "denied"];
const STATUSES = ["pending", "delivered", "dead", "cancelled"];

interface RuleFlags {
  event?: string[];
  namespace?: string[];
  env?: string[];
  result?: string[];
  meta?: Record<string, unknown>;
  minSeverity?: string;
  severity?: string;
  threshold?: { limit: number; windowSeconds: number };
  groupBy?: string;
  channel?: string[];
  description?: string;
  disabled?: boolean;
  file?: string;
  json?: boolean;
}

interface ChannelFlags {
  type?: "slack" | "email" | "webhook";
  webhookUrl?: string;
  secret?: string;
  host?: string;
  port?: number;
  tls?: string;
  username?: string;
  passwordStdin?: boolean;
  from?: string;
  to?: string[];
  slackChannel?: string;
  config?: string;
  disabled?: boolean;
  json?: boolean;
}

/** `--threshold 5/5m`: 5 events within 5 minutes. */
function threshold(raw: string): { limit: number; windowSeconds: number } {
  try {
    return rateLimit(raw);
  } catch {
    throw new InvalidArgumentError("expected <count>/<window>, e.g. 5/5m, 10/60s or 1/1h");
  }
}

const oneOf = (allowed: string[]) => (raw: string) => {
  if (!allowed.includes(raw)) throw new InvalidArgumentError(`expected one of ${allowed.join(", ")}`);
  return raw;
};

const repeatOneOf =
  (allowed: string[]) =>
  (raw: string, list: string[] = []) => [...list, oneOf(allowed)(raw)];

async function readJson(file: string, what: string): Promise<Record<string, unknown>> {
  const text = await readInputFile(file, what);
  try {
    const value = JSON.parse(text) as unknown;
    if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("not a JSON object");
    return value as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`${what} ${file === "-" ? "on stdin" : file} is not a JSON object: ${(e as Error).message}`);
  }
}

/** A rule by id (alr_…) or by name. */
async function findRule(client: CairnClient, ref: string): Promise<AlertRule> {
  if (/^alr_[0-9a-z]+$/.test(ref)) return client.alerts.rules.get(ref);
  const found = (await client.alerts.rules.list()).items.find((r) => r.name === ref);
  if (!found) throw new CliError(`no alert rule named "${ref}" (cairn alerts rules ls lists them)`);
  return found;
}

/** A channel by id (alc_…) or by name. */
async function findChannel(client: CairnClient, ref: string, channels?: AlertChannel[]): Promise<AlertChannel> {
  if (/^alc_[0-9a-z]+$/.test(ref) && !channels) return client.alerts.channels.get(ref);
  const list = channels ?? (await client.alerts.channels.list()).items;
  const found = list.find((c) => c.id === ref || c.name === ref);
  if (!found) throw new CliError(`no alert channel "${ref}" (cairn alerts channels ls lists them)`);
  return found;
}

const describeThreshold = (r: AlertRule) =>
  r.threshold.count === 1 ? "every event" : `${r.threshold.count} in ${r.threshold.windowSeconds}s`;

function target(c: AlertChannel): string {
  if (c.type === "email") return `${c.config.host}:${c.config.port} → ${(c.config.to ?? []).join(",")}`;
  return orDash(c.config.host);
}

export function registerAlerts(program: Command): void {
  const alerts = program
    .command("alerts")
    .description("alert rules over the audit log, channels (Slack, email, signed webhooks), deliveries")
    .addHelpText(
      "after",
      `\nEvery tenant has built-in rules (repeated auth failures from one source, a secret revealed in production,
a revoked key used, audit verification failure). A rule without channels sends to every enabled channel.
Channel secrets (webhook/Slack URLs, HMAC secrets, SMTP passwords) are stored encrypted and never shown again.
${examples(
  "cairn alerts channels add oncall --type webhook --webhook-url https://hooks.example.com/cairn",
  "cairn alerts rules create 'denied reveals' --event authz.denied --namespace 'production/**' --threshold 3/10m --group-by actor",
  "cairn alerts deliveries --status dead",
)}`,
    );

  alertsList(alerts);
  rules(alerts);
  channels(alerts);
  deliveries(alerts);
}

function alertsList(alerts: Command) {
  withConnectionOptions(
    alerts
      .command("ls")
      .description("alerts that fired, newest first, with how their deliveries stand")
      .option("--rule <rule>", "only this rule's (id or name)")
      .option("--limit <n>", "at most this many (default 100)", positiveInt)
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn alerts ls", "cairn alerts ls --rule 'Revoked API key used' --json"))
    .action(async (flags: { rule?: string; limit?: number; json?: boolean }, cmd: Command) => {
      const client = await connect(cmd);
      const ruleId = flags.rule ? (await findRule(client, flags.rule)).id : undefined;
      const list = await client.alerts.list({ ruleId, limit: flags.limit });
      if (flags.json) return printJson(list);
      if (list.items.length === 0) return note("no alerts have fired");
      printTable(
        ["ID", "FIRED", "SEVERITY", "EVENTS", "DELIVERED", "SUMMARY"],
        list.items.map((a) => [
          a.id,
          a.firedAt,
          a.severity,
          String(a.eventCount),
          `${a.deliveries.delivered}/${a.deliveries.delivered + a.deliveries.pending + a.deliveries.dead + a.deliveries.cancelled}`,
          inlineValue(a.summary, 80),
        ]),
      );
    });
}

function rules(alerts: Command) {
  const rules = alerts.command("rules").description("alert rules: which audit events, how many within what window, to which channels");

  withConnectionOptions(rules.command("ls").description("list alert rules (built-in ones included)").addOption(jsonOption()))
    .addHelpText("after", examples("cairn alerts rules ls", "cairn alerts rules ls --json | jq '.items[] | select(.builtin)'"))
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const list = await (await connect(cmd)).alerts.rules.list();
      if (flags.json) return printJson(list);
      printTable(
        ["ID", "NAME", "EVENTS", "THRESHOLD", "GROUP BY", "CHANNELS", "STATE"],
        list.items.map((r) => [
          r.id,
          r.name,
          inlineValue(r.events.join(","), 40),
          describeThreshold(r),
          orDash(r.groupBy),
          r.channels.length ? r.channels.join(",") : "all",
          `${r.enabled ? "enabled" : "disabled"}${r.builtin ? " (built-in)" : ""}`,
        ]),
      );
    });

  withConnectionOptions(
    rules
      .command("create")
      .description("create an alert rule")
      .argument("<name>", "unique in the tenant")
      .option("--event <type>", "an event type or glob, e.g. auth.failed or 'auth.*' (repeatable; required)", collect)
      .option("--namespace <pattern>", "only events in these namespaces, e.g. 'production/**' (repeatable)", collect)
      .option("--env <name>", "only events in these environments (metadata.environment; repeatable)", collect)
      .option("--result <result>", `only these results: ${RESULTS.join(", ")} (repeatable)`, repeatOneOf(RESULTS))
      .option("--meta <key=value>", "only events whose metadata has this value, e.g. reason=revoked (repeatable)", collectMeta)
      .option("--threshold <count/window>", "fire when this many match within the window, e.g. 5/5m (default: every event)", threshold)
      .option("--group-by <field>", `count separately per ${GROUP_BY.join(" | ")}`, oneOf(GROUP_BY))
      .option("--min-severity <level>", `ignore events below: ${SEVERITIES.join(" < ")}`, oneOf(SEVERITIES))
      .option("--severity <level>", "the alert's severity (default: the highest of its events)", oneOf(SEVERITIES))
      .option("--channel <channel>", "send to this channel, id or name (repeatable; default: every enabled channel)", collect)
      .option("--description <text>", "what the rule is for")
      .option("--disabled", "create it disabled")
      .option("--file <rule.json>", "the whole rule as JSON (- for stdin); flags override its fields")
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      `${examples(
        "cairn alerts rules create 'brute force' --event 'auth.*' --result failure --threshold 10/1m --group-by sourceIp",
        "cairn alerts rules create 'prod reveals' --event secret.reveal --namespace 'production/**' --channel oncall",
        "cairn alerts rules create 'revoked keys' --event auth.failed --meta reason=revoked --severity high",
        "cairn alerts rules create from-file --file rule.json",
      )}\nThe --namespace/--env/--result/--meta filters must all hold; use --file for alternatives (match: [{…}, {…}]).\n`,
    )
    .action(async (name: string, flags: RuleFlags, cmd: Command) => {
      const client = await connect(cmd);
      const base = flags.file ? await readJson(flags.file, "the rule") : {};
      const filter: RuleFilter = {};
      if (flags.namespace) filter.namespaces = flags.namespace;
      if (flags.env) filter.environments = flags.env;
      if (flags.result) filter.results = flags.result as RuleFilter["results"];
      if (flags.meta) filter.metadata = flags.meta as RuleFilter["metadata"];
      const body = { ...base, name } as Record<string, unknown>;
      if (flags.event) body.events = flags.event;
      if (Object.keys(filter).length > 0) body.match = [filter];
      if (flags.threshold) body.threshold = { count: flags.threshold.limit, windowSeconds: flags.threshold.windowSeconds };
      if (flags.groupBy) body.groupBy = flags.groupBy;
      if (flags.minSeverity) body.minSeverity = flags.minSeverity;
      if (flags.severity) body.severity = flags.severity;
      if (flags.description) body.description = flags.description;
      if (flags.disabled) body.enabled = false;
      if (flags.channel) {
        const all = (await client.alerts.channels.list()).items;
        body.channels = await Promise.all(flags.channel.map(async (c) => (await findChannel(client, c, all)).id));
      }
      if (!Array.isArray(body.events) || body.events.length === 0) throw new UsageError("give at least one --event (or events in --file)");
      const rule = await client.alerts.rules.create(body as CreateRuleBody);
      if (flags.json) return printJson(rule);
      printLine(`created alert rule ${rule.id} "${rule.name}" (${describeThreshold(rule)} of ${rule.events.join(", ")})`);
    });

  withConnectionOptions(
    rules
      .command("rm")
      .description("delete an alert rule (built-in rules cannot be deleted: disable them instead)")
      .argument("<rule>", "rule id (alr_…) or name"),
  )
    .addHelpText("after", examples("cairn alerts rules rm 'brute force'", "cairn alerts rules rm alr_01jq…"))
    .action(async (ref: string, _flags: unknown, cmd: Command) => {
      const client = await connect(cmd);
      const rule = await findRule(client, ref);
      await client.alerts.rules.delete(rule.id);
      printLine(`deleted alert rule ${rule.id} "${rule.name}"`);
    });

  for (const [verb, enabled] of [
    ["enable", true],
    ["disable", false],
  ] as const) {
    withConnectionOptions(
      rules.command(verb).description(`${verb} an alert rule (built-in ones too)`).argument("<rule>", "rule id (alr_…) or name"),
    )
      .addHelpText("after", examples(`cairn alerts rules ${verb} 'Secret revealed in production'`))
      .action(async (ref: string, _flags: unknown, cmd: Command) => {
        const client = await connect(cmd);
        const rule = await client.alerts.rules.update((await findRule(client, ref)).id, { enabled });
        printLine(`${enabled ? "enabled" : "disabled"} alert rule ${rule.id} "${rule.name}"`);
      });
  }
}

function channels(alerts: Command) {
  const channels = alerts.command("channels").description("where alerts go: Slack incoming webhooks, email (SMTP), signed webhooks");

  withConnectionOptions(channels.command("ls").description("list channels (never their secrets)").addOption(jsonOption()))
    .addHelpText("after", examples("cairn alerts channels ls"))
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const list = await (await connect(cmd)).alerts.channels.list();
      if (flags.json) return printJson(list);
      printTable(
        ["ID", "NAME", "TYPE", "TARGET", "SECRETS SET", "STATE"],
        list.items.map((c) => [c.id, c.name, c.type, target(c), orDash(c.secretsSet.join(",")), c.enabled ? "enabled" : "disabled"]),
      );
    });

  withConnectionOptions(
    channels
      .command("add")
      .description("add a channel; its secrets are stored encrypted and never shown again")
      .argument("<name>", "unique in the tenant")
      .addOption(new Option("--type <type>", "slack, email or webhook").choices(["slack", "email", "webhook"]).makeOptionMandatory())
      .option("--webhook-url <url>", "slack, webhook: where to POST (kept secret; --config keeps it out of shell history)")
      .option("--secret <secret>", "webhook: the HMAC-SHA256 key (≥ 16 characters); omitted → one is made and printed once")
      .option("--host <host>", "email: the SMTP server")
      .option("--port <port>", "email: the SMTP port (default 587, 465 with --tls implicit)", port)
      .addOption(new Option("--tls <mode>", "email: TLS mode (default auto)").choices(["auto", "starttls", "implicit", "none"]))
      .option("--username <name>", "email: SMTP login")
      .option("--password-stdin", "email: read the SMTP password from stdin")
      .option("--from <address>", "email: sender address")
      .option("--to <address>", "email: a recipient (repeatable)", collect)
      .option("--slack-channel <name>", "slack: post to this channel instead of the webhook's own")
      .option("--config <file>", "settings as a JSON object (- for stdin), e.g. to keep a URL out of shell history")
      .option("--disabled", "add it disabled")
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      `${examples(
        "cairn alerts channels add oncall --type webhook --webhook-url https://hooks.example.com/cairn",
        'cairn alerts channels add sec-slack --type slack --config - <<< \'{"url": "https://hooks.slack.com/services/T…/B…/…"}\'',
        'echo "$SMTP_PASSWORD" | cairn alerts channels add mail --type email --host smtp.example.com --username alerts \\\n      --password-stdin --from cairn@example.com --to oncall@example.com',
      )}\nWebhooks are POSTed as JSON with X-Cairn-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.\n`,
    )
    .action(async (name: string, flags: ChannelFlags, cmd: Command) => {
      const type = flags.type as "slack" | "email" | "webhook";
      if (flags.passwordStdin && flags.config === "-")
        throw new UsageError("--password-stdin and --config - both want stdin; use a file for one");
      const config: Record<string, unknown> = flags.config ? await readJson(flags.config, "the settings") : {};
      const set = (key: string, value: unknown) => {
        if (value !== undefined) config[key] = value;
      };
      set("url", flags.webhookUrl);
      set("secret", flags.secret);
      set("host", flags.host);
      set("port", flags.port);
      set("tls", flags.tls);
      set("username", flags.username);
      set("from", flags.from);
      set("to", flags.to);
      set("channel", flags.slackChannel);
      if (flags.passwordStdin) set("password", (await readStdin("password")).replace(/\r?\n$/, ""));
      let generated: string | undefined;
      if (type === "webhook" && config.secret === undefined) {
        generated = randomBytes(32).toString("hex");
        config.secret = generated;
      }
      const body: CreateChannelBody = { name, type, config, ...(flags.disabled ? { enabled: false } : {}) };
      const client = await connect(cmd);
      const channel = await client.alerts.channels.create(body);
      if (flags.json) return printJson(generated ? { ...channel, generatedSecret: generated } : channel);
      const intro = `added ${channel.type} channel ${channel.id} "${channel.name}" (${target(channel)})`;
      if (generated) printOnce(`${intro}; its webhook signing secret (give it to the receiver to verify X-Cairn-Signature):`, generated);
      else printLine(intro);
    });

  withConnectionOptions(
    channels
      .command("test")
      .description("send a test message now: exit 0 if the target accepted it, 1 if not")
      .argument("<channel>", "channel id (alc_…) or name")
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn alerts channels test oncall"))
    .action(async (ref: string, flags: { json?: boolean }, cmd: Command) => {
      const client = await connect(cmd);
      const channel = await findChannel(client, ref);
      const result = await client.alerts.channels.test(channel.id);
      if (flags.json) printJson(result);
      else if (result.delivered) printLine(`delivered a test message to "${channel.name}" in ${result.durationMs} ms`);
      else printLine(`not delivered to "${channel.name}": ${result.error ?? "unknown error"}`);
      process.exitCode = result.delivered ? 0 : 1;
    });

  withConnectionOptions(
    channels
      .command("rm")
      .description("delete a channel that no rule uses (its pending deliveries are cancelled)")
      .argument("<channel>", "channel id (alc_…) or name"),
  )
    .addHelpText("after", examples("cairn alerts channels rm oncall"))
    .action(async (ref: string, _flags: unknown, cmd: Command) => {
      const client = await connect(cmd);
      const channel = await findChannel(client, ref);
      await client.alerts.channels.delete(channel.id);
      printLine(`deleted alert channel ${channel.id} "${channel.name}"`);
    });
}

function deliveries(alerts: Command) {
  withConnectionOptions(
    alerts
      .command("deliveries")
      .description("deliveries of alerts to channels, newest first: attempts, last error, next attempt")
      .addOption(new Option("--status <status>", "only these").choices(STATUSES))
      .option("--channel <channel>", "only to this channel (id or name)")
      .option("--rule <rule>", "only from this rule (id or name)")
      .option("--limit <n>", "at most this many (default 100)", positiveInt)
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      `${examples("cairn alerts deliveries", "cairn alerts deliveries --status dead", "cairn alerts deliveries --channel oncall --json")}
A channel that is down delays deliveries (retried with backoff) until the last attempt; then they are dead:
queue one again with \`cairn alerts retry <delivery id>\`.
`,
    )
    .action(async (flags: { status?: string; channel?: string; rule?: string; limit?: number; json?: boolean }, cmd: Command) => {
      const client = await connect(cmd);
      const channelId = flags.channel ? (await findChannel(client, flags.channel)).id : undefined;
      const ruleId = flags.rule ? (await findRule(client, flags.rule)).id : undefined;
      const list = await client.alerts.deliveries.list({
        status: flags.status as "pending" | undefined,
        channelId,
        ruleId,
        limit: flags.limit,
      });
      if (flags.json) return printJson(list);
      if (list.items.length === 0) return note("no deliveries");
      printTable(
        ["ID", "STATUS", "ATTEMPTS", "CHANNEL", "SEVERITY", "ALERT", "LAST ERROR / NEXT ATTEMPT"],
        list.items.map((d) => [
          d.id,
          d.status,
          `${d.attempts}/${d.maxAttempts}`,
          d.channelId,
          d.alert.severity,
          inlineValue(d.alert.summary, 48),
          d.status === "pending" && d.nextAttemptAt
            ? `${d.lastError ? `${inlineValue(d.lastError, 48)}; ` : ""}next ${d.nextAttemptAt}`
            : orDash(d.lastError && inlineValue(d.lastError, 64)),
        ]),
      );
    });

  withConnectionOptions(
    alerts
      .command("retry")
      .description("queue a dead or cancelled delivery again, with a fresh count of attempts")
      .argument("<delivery>", "delivery id (ald_…)")
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      examples(
        "cairn alerts retry ald_01jq…",
        "cairn alerts deliveries --status dead --json | jq -r '.items[].id' | xargs -n1 cairn alerts retry",
      ),
    )
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const delivery = await (await connect(cmd)).alerts.deliveries.retry(id);
      if (flags.json) return printJson(delivery);
      printLine(`queued delivery ${delivery.id} again (${delivery.status})`);
    });
}
