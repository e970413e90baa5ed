import { CairnApiError, type CairnClient, type PutRotationPolicyBody, type RotationPolicy } from "@cairn/sdk";
import { type Command, Option } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { UsageError } from "../errors.js";
import { envOption, examples, jsonOption } from "../options.js";
import { keyLabel, printFields, printJson, printLine } from "../output.js";

interface PolicyFlags {
  interval?: number;
  grace?: number;
  autoRotate?: boolean;
  notify?: boolean | string[];
  strategy?: NonNullable<RotationPolicy["strategy"]> | "none";
  adminSecret?: string;
  next?: string;
  show?: boolean;
  remove?: boolean;
  env?: string;
  json?: boolean;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** `30d`, `12h`, `90m`, `45s`, `2w`, or plain seconds → seconds. */
export function parseDuration(text: string, flag = "duration"): number {
  const m = /^(\d+)\s*([smhdw]?)$/i.exec(text.trim());
  if (!m) throw new UsageError(`${flag} must look like 30d, 12h, 90m, 45s, 2w or a number of seconds, got "${text}"`);
  return Number(m[1]) * (UNITS[(m[2] || "s").toLowerCase()] ?? 1);
}

/** Seconds → the largest exact unit: 2592000 → `30d`. */
export function formatDuration(seconds: number): string {
  for (const [unit, size] of [
    ["w", 604_800],
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

function parseNotify(text: string): boolean | string[] {
  if (/^(true|yes|on|all)$/i.test(text)) return true;
  if (/^(false|no|off|none)$/i.test(text)) return false;
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

const policyPath = (namespace: string, key: string) => `/api/v1/secrets/${encodeURIComponent(namespace)}/${encodeURIComponent(key)}/policy`;

/** One call to the policy API with the command's client (typed errors, no body on 204). */
function call<T>(
  client: CairnClient,
  method: "GET" | "PUT" | "DELETE",
  path: string,
  env: string | undefined,
  body?: unknown,
): Promise<T | undefined> {
  return client.call<T | undefined>(method, path, { query: { environment: env }, body });
}

function printPolicy(p: RotationPolicy): void {
  printFields([
    ["secret", `${keyLabel(p.namespace, p.key)} (${p.environment})`],
    ["interval", formatDuration(p.intervalSeconds)],
    ["grace", formatDuration(p.gracePeriodSeconds)],
    ["auto-rotate", p.autoRotate ? "yes" : "no"],
    ["next rotation", p.nextRotationAt ?? "-"],
    ["strategy", p.strategy ?? "generate by type"],
    ...(p.adminSecret ? ([["admin secret", p.adminSecret]] as [string, string][]) : []),
    ["notify", Array.isArray(p.notify) ? p.notify.join(", ") : p.notify ? "all channels" : "failures only"],
    ["last rotated", p.lastRotatedAt ? `${p.lastRotatedAt} (version ${p.lastRotatedVersion})` : "never"],
    ...(p.attempts > 0 || p.lastError
      ? ([
          ["failed attempts", String(p.attempts)],
          ["last error", p.lastError ?? "-"],
        ] as [string, string][])
      : []),
  ]);
}

/** `cairn secrets policy <ns> <key>`: set (flags), show (`--show`) or remove (`--remove`) a secret's rotation policy. */
export function registerSecretsPolicy(secrets: Command): void {
  withConnectionOptions(
    secrets
      .command("policy")
      .description("set, show or remove a secret's rotation policy (rotated on schedule by the server)")
      .argument("<namespace>", "namespace path, e.g. production/payments")
      .argument("<key>", "secret key")
      .addOption(
        new Option("--interval <duration>", "rotate this often: 30d, 12h, 2w (at least 60s)").argParser((v) =>
          parseDuration(v, "--interval"),
        ),
      )
      .addOption(
        new Option("--grace <duration>", "the previous value stays readable this long (shorter than the interval)").argParser((v) =>
          parseDuration(v, "--grace"),
        ),
      )
      .addOption(new Option("--auto-rotate", "rotate on schedule (default for a new policy)"))
      .addOption(new Option("--no-auto-rotate", "keep the policy but do not rotate on schedule"))
      .addOption(
        new Option("--notify <channels>", "who hears about rotations: true (all channels), false, or alert channel names a,b").argParser(
          parseNotify,
        ),
      )
      .addOption(
        new Option("--strategy <name>", "how the next value is made real: postgres-alternating-users, or none (generate by type)").choices([
          "postgres-alternating-users",
          "none",
        ]),
      )
      .addOption(
        new Option("--admin-secret <ns/key>", "database_credentials the strategy runs ALTER ROLE with (default: the secret's own login)"),
      )
      .addOption(new Option("--next <time>", "when to rotate next (RFC 3339; default: one interval from the last rotation or now)"))
      .addOption(
        new Option("--show", "print the policy").conflicts(["remove", "interval", "grace", "notify", "strategy", "adminSecret", "next"]),
      )
      .addOption(
        new Option("--remove", "remove the policy (the secret stays)").conflicts([
          "interval",
          "grace",
          "notify",
          "strategy",
          "adminSecret",
          "next",
        ]),
      )
      .addOption(envOption())
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      examples(
        "cairn secrets policy production/payments stripe --interval 30d --grace 1h",
        "cairn secrets policy production/db app --interval 7d --grace 1h --strategy postgres-alternating-users --admin-secret production/db/admin",
        "cairn secrets policy production/db app --show --json",
        "cairn secrets policy production/db app --remove",
      ),
    )
    .action(async (namespace: string, key: string, flags: PolicyFlags, cmd: Command) => {
      const client = await connect(cmd);
      const path = policyPath(namespace, key);
      if (flags.remove) {
        await call(client, "DELETE", path, flags.env);
        if (flags.json) return printJson({ namespace, key, environment: flags.env ?? "base", removed: true });
        return printLine(`rotation policy removed from ${keyLabel(namespace, key)}`);
      }
      const changing = ["interval", "grace", "autoRotate", "notify", "strategy", "adminSecret", "next"].some(
        (f) => flags[f as keyof PolicyFlags] !== undefined,
      );
      if (flags.show || !changing) {
        const policy = (await call<RotationPolicy>(client, "GET", path, flags.env)) as RotationPolicy;
        return flags.json ? printJson(policy) : printPolicy(policy);
      }
      // PUT replaces the policy: start from the current one so a flag changes only what it names.
      const existing = await call<RotationPolicy>(client, "GET", path, flags.env).catch((e: unknown) => {
        if (e instanceof CairnApiError && e.status === 404) return undefined;
        throw e;
      });
      const intervalSeconds = flags.interval ?? existing?.intervalSeconds;
      if (intervalSeconds === undefined) throw new UsageError("a new rotation policy needs --interval (e.g. --interval 30d)");
      const strategy = flags.strategy === undefined ? (existing?.strategy ?? null) : flags.strategy === "none" ? null : flags.strategy;
      const body: PutRotationPolicyBody = {
        intervalSeconds,
        gracePeriodSeconds: flags.grace ?? existing?.gracePeriodSeconds ?? 0,
        autoRotate: flags.autoRotate ?? existing?.autoRotate ?? true,
        notify: flags.notify ?? existing?.notify ?? true,
        strategy,
        adminSecret: strategy === null ? null : (flags.adminSecret ?? existing?.adminSecret ?? null),
        ...(flags.next ? { nextRotationAt: flags.next } : {}),
      };
      const saved = (await call<RotationPolicy>(client, "PUT", path, flags.env, body)) as RotationPolicy;
      if (flags.json) return printJson(saved);
      printLine(`rotation policy ${existing ? "updated" : "set"} for ${keyLabel(namespace, key)}`);
      printPolicy(saved);
    });
}
