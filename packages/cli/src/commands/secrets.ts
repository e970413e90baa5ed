import type { CairnClient } from "@cairn/sdk";
import { type Command, InvalidArgumentError, Option } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { UsageError } from "../errors.js";
import { collectTag, parseDuration, parseValue, positiveInt, readInputFile, readStdin } from "../input.js";
import { envOption, examples, jsonOption } from "../options.js";
import { formatValue, inlineValue, keyLabel, note, orDash, printFields, printJson, printLine, printTable } from "../output.js";
import { registerSecretsPolicy } from "./secrets-policy.js";

const TYPES = ["generic", "api_key", "database_credentials", "certificate", "ssh_key", "oauth_token", "jwt_signing_key"];

/** A secret as `/api/v1/secrets` returns it. */
interface Secret {
  namespace: string;
  key: string;
  environment: string;
  resolvedFrom: string;
  type: string;
  value: unknown;
  version: number;
  metadata: Record<string, unknown>;
  rotatedAt: string | null;
  previous: { version: number; expiresAt: string; retired: boolean } | null;
  updatedAt: string;
  updatedBy: string;
  warnings?: { code: string; path: string; message: string }[];
}

const secretPath = (namespace: string, key?: string, tail = "") =>
  `/api/v1/secrets/${encodeURIComponent(namespace)}${key === undefined ? "" : `/${encodeURIComponent(key)}`}${tail}`;

/** One call to the secrets API with the command's client (same credentials and typed errors as the SDK's own methods). */
function call<T>(
  client: CairnClient,
  method: "GET" | "PUT" | "POST" | "DELETE",
  path: string,
  options: { query?: Record<string, string | number | boolean | undefined>; body?: unknown; ifMatch?: number } = {},
): Promise<T> {
  // `false` flags are left out, as the server's defaults are.
  const query = Object.fromEntries(Object.entries(options.query ?? {}).filter(([, v]) => v !== false));
  return client.call<T>(method, path, { ...options, query });
}

const typeOption = (description = "secret type (default: the current type, else generic)") =>
  new Option("-t, --type <type>", description).choices(TYPES);

/** `--field name=value` (repeatable): one member of an object value; JSON where it parses (port=5432 is a number). */
function collectField(raw: string, fields: Record<string, string> = {}): Record<string, string> {
  const at = raw.indexOf("=");
  if (at < 1) throw new InvalidArgumentError("expected name=value, e.g. host=db.internal");
  return { ...fields, [raw.slice(0, at)]: raw.slice(at + 1) };
}

interface ValueFlags {
  fromFile?: string;
  field?: Record<string, string>;
  fieldFile?: Record<string, string>;
  string?: boolean;
}

/** The value from the argument, --from-file, --field/--field-file, or stdin (in that order; one source only). */
async function readValue(arg: string | undefined, flags: ValueFlags, stdinFallback: boolean): Promise<unknown> {
  const byField = flags.field || flags.fieldFile;
  const given = [arg !== undefined && arg !== "-", Boolean(flags.fromFile), Boolean(byField)].filter(Boolean).length;
  if (given > 1) throw new UsageError("give the value one way: as an argument, with --from-file, or with --field/--field-file");
  const mode = flags.string ? "string" : "auto";
  if (byField) {
    const value: Record<string, unknown> = {};
    for (const [name, text] of Object.entries(flags.field ?? {})) value[name] = parseValue(text, mode);
    for (const [name, file] of Object.entries(flags.fieldFile ?? {})) value[name] = await readInputFile(file, `--field-file ${name}`);
    return value;
  }
  if (flags.fromFile) {
    // Like $(cat file): one trailing newline dropped (a token file from `echo`); a PEM does not need it.
    const text = (await readInputFile(flags.fromFile, "value")).replace(/\r?\n$/, "");
    // A file of JSON is a structured secret (database_credentials…); anything else (a PEM, a token) is its text.
    return flags.string ? text : parseFileValue(text);
  }
  if (arg !== undefined && arg !== "-") return parseValue(arg, mode);
  if (!stdinFallback) return undefined;
  return parseValue((await readStdin("value")).replace(/\r?\n$/, ""), mode);
}

function parseFileValue(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      return JSON.parse(trimmed);
    } catch {
      // not JSON after all: the text itself
    }
  }
  return text;
}

function printWarnings(secret: Secret): void {
  for (const w of secret.warnings ?? []) note(`warning: ${w.message}`);
}

/** Facts worth a column: certificate expiry, key fingerprints, JWT kid. */
function facts(metadata: Record<string, unknown>): string {
  const pick = ["notAfter", "fingerprint", "kid", "expiresAt"].filter((k) => metadata[k] !== undefined);
  return pick.map((k) => `${k}=${String(metadata[k])}`).join(" ");
}

function previousText(p: Secret["previous"]): string {
  if (!p) return "-";
  return p.retired ? `v${p.version} retired ${p.expiresAt}` : `v${p.version} until ${p.expiresAt}`;
}

/** `cairn secrets …`: typed secrets over the config store (set, get, rotate, ls, rm; `policy` from secrets-policy.ts). */
export function registerSecrets(program: Command): void {
  const secrets = program
    .command("secrets")
    .description("typed secrets: set, get (masked unless --reveal), rotate with a grace period, ls, rm, policy")
    .addHelpText(
      "after",
      `\nTypes: ${TYPES.join(", ")}. Values are validated by type on every write; reveals and rotations are audited.\n`,
    );

  withConnectionOptions(
    secrets
      .command("set")
      .description("create or update a secret (validated by its type)")
      .argument("<namespace>", "namespace path, e.g. production/api")
      .argument("<key>", "key name: A–Z a–z 0–9 _ . -")
      .argument("[value]", "the value; omit it or give - to read stdin. JSON when it parses, else a string")
      .addOption(typeOption())
      .option("-f, --from-file <path>", "read the value from a file (a PEM, a token, or a JSON object)")
      .option("--field <name=value>", "one member of an object value (repeatable), e.g. --field port=5432", collectField)
      .option("--field-file <name=path>", "one member read from a file (repeatable), e.g. --field-file cert_pem=tls.crt", collectField)
      .option("--string", "store the value as a string even if it looks like JSON")
      .addOption(envOption())
      .option("--reason <text>", "why: kept in history and the audit log")
      .option("--tag <key=value>", "label this version (repeatable)", collectTag)
      .option("--if-match <version>", "only write if the secret is still at this version", positiveInt)
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      examples(
        "cairn secrets set prod/api stripe.key sk_live_abc123 --type api_key",
        "cairn secrets set prod/db main --type database_credentials --field host=db.internal --field port=5432 --field database=app --field username=app --field password=s3cret",
        "cairn secrets set prod/web tls --type certificate --field-file cert_pem=tls.crt --field-file private_key_pem=tls.key",
        "cairn secrets set prod/ci deploy-key --type ssh_key --from-file creds.json",
        'printf %s "$TOKEN" | cairn secrets set prod/api token --type api_key',
      ),
    )
    .action(
      async (
        namespace: string,
        key: string,
        valueArg: string | undefined,
        flags: ValueFlags & {
          type?: string;
          env?: string;
          reason?: string;
          tag?: Record<string, string>;
          ifMatch?: number;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const value = await readValue(valueArg, flags, true);
        const client = await connect(cmd);
        const secret = await call<Secret>(client, "PUT", secretPath(namespace, key), {
          query: { environment: flags.env },
          body: { value, type: flags.type, reason: flags.reason, tags: flags.tag },
          ifMatch: flags.ifMatch,
        });
        if (flags.json) return printJson(secret);
        printLine(`set ${keyLabel(namespace, key)} → version ${secret.version} (${secret.type}, ${secret.environment})`);
        printWarnings(secret);
      },
    );

  withConnectionOptions(
    secrets
      .command("get")
      .description("show a secret: its type and facts, or with --reveal its value")
      .argument("<namespace>", "namespace path")
      .argument("<key>", "key name")
      .option("--reveal", "print the value in clear (needs secrets:<ns>:reveal; audited)")
      .addOption(
        new Option("--version <which>", "current, or previous: the value before the last rotation, while its grace period lasts").choices([
          "current",
          "previous",
        ]),
      )
      .option("--field <name>", "print one member of an object value, e.g. --field password (with --reveal)")
      .addOption(envOption())
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      examples(
        "cairn secrets get prod/db main",
        "cairn secrets get prod/db main --reveal --field password",
        "cairn secrets get prod/db main --reveal --version previous",
        "PGPASSWORD=$(cairn secrets get prod/db main --reveal --field password) psql …",
      ),
    )
    .action(
      async (
        namespace: string,
        key: string,
        flags: { reveal?: boolean; version?: string; field?: string; env?: string; json?: boolean },
        cmd: Command,
      ) => {
        if (flags.field && !flags.reveal) throw new UsageError("--field reads a member of the value: add --reveal");
        const client = await connect(cmd);
        const secret = await call<Secret>(client, "GET", secretPath(namespace, key), {
          query: { environment: flags.env, reveal: flags.reveal, version: flags.version },
        });
        if (flags.field) {
          const value = secret.value as Record<string, unknown> | null;
          if (!value || typeof value !== "object" || !(flags.field in value)) {
            const members = value && typeof value === "object" ? Object.keys(value).join(", ") : "none: the value is not an object";
            throw new UsageError(`${keyLabel(namespace, key)} has no field "${flags.field}" (fields: ${members})`);
          }
          const member = value[flags.field];
          return flags.json ? printJson(member) : printLine(formatValue(member));
        }
        if (flags.json) return printJson(secret);
        if (flags.reveal) return printLine(formatValue(secret.value));
        printFields([
          [
            "secret",
            `${keyLabel(secret.namespace, secret.key)} (${secret.environment}${secret.resolvedFrom !== secret.environment ? `, from ${secret.resolvedFrom}` : ""})`,
          ],
          ["type", secret.type],
          ["value", formatValue(secret.value)],
          ["version", String(secret.version)],
          ["rotated", orDash(secret.rotatedAt)],
          ["previous", previousText(secret.previous)],
          ["updated", `${secret.updatedAt} by ${secret.updatedBy}`],
          ...Object.entries(secret.metadata)
            .filter(([, v]) => typeof v !== "object")
            .map(([k, v]) => [k, String(v)] as [string, string]),
        ]);
        note("(value masked; add --reveal to see it)");
      },
    );

  withConnectionOptions(
    secrets
      .command("rotate")
      .description("replace a secret's value (supplied, or generated by type); the previous one stays readable for the grace period")
      .argument("<namespace>", "namespace path")
      .argument("<key>", "key name")
      .option("--value <value>", "the next value (JSON when it parses); without it one is generated")
      .option("-f, --from-file <path>", "read the next value from a file")
      .option("--field <name=value>", "one member of the next (object) value (repeatable)", collectField)
      .option("--field-file <name=path>", "one member read from a file (repeatable)", collectField)
      .option(
        "--grace <duration>",
        "how long the previous value stays readable: 90s, 15m, 1h, 7d (default: the server's, 24h)",
        parseDuration,
      )
      .option("--reason <text>", "why: kept in history and the audit log")
      .addOption(typeOption("type of a secret that does not exist yet: rotate creates it with a generated value"))
      .option("--length <n>", "generated password length / token bytes", positiveInt)
      .addOption(
        new Option("--charset <name>", "generated password alphabet").choices([
          "alphanumeric",
          "alphanumeric-symbols",
          "hex",
          "base64url",
          "custom",
        ]),
      )
      .option("--characters <chars>", "the alphabet for --charset custom")
      .addOption(new Option("--algorithm <alg>", "generated key algorithm (ssh_key, jwt_signing_key)").choices(["ed25519", "rsa"]))
      .option("--prefix <text>", "generated api_key prefix, e.g. sk_live_")
      .addOption(envOption())
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      `${examples(
        "cairn secrets rotate prod/api stripe.key --value sk_live_new456",
        "cairn secrets rotate prod/db main --grace 1h                 # new generated password",
        "cairn secrets rotate prod/ci deploy-key --algorithm ed25519   # new SSH key pair",
        "cairn secrets rotate prod/auth signing --type jwt_signing_key  # creates it if missing",
      )}\nDuring the grace period the old value is read with: cairn secrets get <ns> <key> --reveal --version previous\n`,
    )
    .action(
      async (
        namespace: string,
        key: string,
        flags: ValueFlags & {
          value?: string;
          grace?: number;
          reason?: string;
          type?: string;
          length?: number;
          charset?: string;
          characters?: string;
          algorithm?: string;
          prefix?: string;
          env?: string;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const value = await readValue(flags.value, flags, false);
        const policy = Object.fromEntries(
          Object.entries({
            length: flags.length,
            charset: flags.charset,
            characters: flags.characters,
            algorithm: flags.algorithm,
            prefix: flags.prefix,
          }).filter(([, v]) => v !== undefined),
        );
        if (value !== undefined && Object.keys(policy).length > 0)
          throw new UsageError("generator options apply only when no value is given");
        const client = await connect(cmd);
        const secret = await call<Secret>(client, "POST", secretPath(namespace, key, "/rotate"), {
          query: { environment: flags.env },
          body: {
            value,
            type: flags.type,
            gracePeriodSeconds: flags.grace,
            reason: flags.reason,
            policy: Object.keys(policy).length ? policy : undefined,
          },
        });
        if (flags.json) return printJson(secret);
        const previous =
          secret.previous && !secret.previous.retired
            ? `; version ${secret.previous.version} readable until ${secret.previous.expiresAt}`
            : "";
        printLine(
          `rotated ${keyLabel(namespace, key)} → version ${secret.version} (${secret.type}${value === undefined ? ", generated" : ""})${previous}`,
        );
        printWarnings(secret);
      },
    );

  withConnectionOptions(
    secrets
      .command("ls")
      .description("list a namespace's secrets (values masked) with type, version and rotation state")
      .argument("<namespace>", "namespace path")
      .option("--prefix <text>", "only keys starting with this")
      .addOption(envOption())
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      examples("cairn secrets ls prod/api", "cairn secrets ls prod/api --json | jq '.items[] | select(.type == \"certificate\")'"),
    )
    .action(async (namespace: string, flags: { prefix?: string; env?: string; json?: boolean }, cmd: Command) => {
      const client = await connect(cmd);
      const list = await call<{ items: Secret[] }>(client, "GET", secretPath(namespace), {
        query: { environment: flags.env, prefix: flags.prefix },
      });
      if (flags.json) return printJson(list);
      if (list.items.length === 0) return note(`no secrets in ${namespace}`);
      printTable(
        ["KEY", "TYPE", "VERSION", "ROTATED", "PREVIOUS", "FACTS"],
        list.items.map((s) => [
          s.key,
          s.type,
          String(s.version),
          orDash(s.rotatedAt),
          previousText(s.previous),
          inlineValue(facts(s.metadata), 80),
        ]),
      );
    });

  withConnectionOptions(
    secrets
      .command("rm")
      .description("delete a secret (a tombstone version; history is kept)")
      .argument("<namespace>", "namespace path")
      .argument("<key>", "key name")
      .option("--reason <text>", "why")
      .addOption(envOption())
      .addOption(jsonOption()),
  ).action(async (namespace: string, key: string, flags: { reason?: string; env?: string; json?: boolean }, cmd: Command) => {
    const client = await connect(cmd);
    const deleted = await call<{ version: number }>(client, "DELETE", secretPath(namespace, key), {
      query: { environment: flags.env, reason: flags.reason },
    });
    if (flags.json) return printJson(deleted);
    printLine(`deleted ${keyLabel(namespace, key)} (tombstone version ${deleted.version})`);
  });

  registerSecretsPolicy(secrets);
}
