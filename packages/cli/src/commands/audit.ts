import { createReadStream, createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { createGunzip } from "node:zlib";
import { CairnApiError, type CairnClient, CairnConnectionError, type Problem } from "@cairn/sdk";
import type { AuditEvent, AuditEventList, AuditHashResult, AuditPublicKey, AuditRetentionRun } from "@cairn/server/contract";
import { type Command, Option } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { CliError, UsageError } from "../errors.js";
import { nonNegativeInt, parseDuration, parseValue, pastTime, pointInTime, positiveInt, readStdin } from "../input.js";
import { examples, jsonOption } from "../options.js";
import { colour, note, orDash, printJson, printLine, printTable } from "../output.js";

type Query = Record<string, string | number | undefined>;

interface FilterFlags {
  from?: string;
  to?: string;
  since?: string;
  actor?: string;
  type?: string;
  namespace?: string;
  result?: "success" | "failure" | "denied";
}

interface RangeFlags {
  from?: string;
  to?: string;
  fromIndex?: number;
  toIndex?: number;
}

/** `GET` on the audit API with the command's credential; problems become the SDK's typed errors. */
async function request(client: CairnClient, path: string, query: Query = {}): Promise<Response> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const qs = params.toString();
  const url = `${client.url}/api/v1${path}${qs ? `?${qs}` : ""}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: client.token ? { authorization: `Bearer ${client.token}` } : {} });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause;
    throw new CairnConnectionError(client.url, cause?.code ?? (e as Error).message, e);
  }
  if (res.ok) return res;
  const text = await res.text().catch(() => "");
  let problem: Partial<Problem> = {};
  try {
    problem = JSON.parse(text) as Partial<Problem>;
  } catch {
    // not a problem document (a proxy answered)
  }
  throw new CairnApiError(
    {
      type: "about:blank",
      title: res.statusText,
      detail: `HTTP ${res.status} ${text.slice(0, 200)}`,
      code: res.status >= 500 ? "internal" : "bad_request",
      requestId: "",
      ...problem,
      status: res.status,
    } as Problem,
    Number(res.headers.get("retry-after")) || undefined,
  );
}

const getJson = async <T>(client: CairnClient, path: string, query?: Query) => (await (await request(client, path, query)).json()) as T;

async function postJson<T>(client: CairnClient, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${client.url}/api/v1${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(client.token ? { authorization: `Bearer ${client.token}` } : {}) },
    body: JSON.stringify(body),
  }).catch((e: unknown) => {
    throw new CairnConnectionError(client.url, (e as Error).message, e);
  });
  if (!res.ok) {
    const problem = (await res.json().catch(() => ({}))) as Problem;
    throw new CairnApiError({ ...problem, status: res.status } as Problem);
  }
  return (await res.json()) as T;
}

function filterQuery(flags: FilterFlags): Query {
  if (flags.since && flags.from) throw new UsageError("give --since or --from, not both");
  return {
    from: flags.since ?? flags.from,
    to: flags.to,
    actor: flags.actor,
    eventType: flags.type,
    namespace: flags.namespace,
    result: flags.result,
  };
}

function rangeQuery(flags: RangeFlags): Query {
  if (flags.from && flags.fromIndex !== undefined) throw new UsageError("give --from or --from-index, not both");
  if (flags.to && flags.toIndex !== undefined) throw new UsageError("give --to or --to-index, not both");
  return { from: flags.from, to: flags.to, fromIndex: flags.fromIndex, toIndex: flags.toIndex };
}

const withFilters = (cmd: Command) =>
  cmd
    .option("--from <time>", "events at or after this time (RFC 3339, or a date)", pointInTime)
    .option("--to <time>", "events before this time", pointInTime)
    .option("--since <duration|time>", "events of the last 15m, 24h, 7d (or since a time)", pastTime)
    .option("--actor <id>", "who acted: key_…, usr_…, system")
    .option("--type <eventType>", "event type, or a prefix ending in *: config.update, config.*, auth.failed")
    .option("--namespace <ns>", "a namespace, or ns/** for it and everything below")
    .addOption(new Option("--result <result>", "outcome").choices(["success", "failure", "denied"]));

const withRange = (cmd: Command) =>
  cmd
    .option("--from <time>", "start at the first event at or after this time", pointInTime)
    .option("--to <time>", "end after the last event before this time", pointInTime)
    .option("--from-index <n>", "start at this leaf index", nonNegativeInt)
    .option("--to-index <n>", "end before this leaf index", nonNegativeInt);

const resourceOf = (e: AuditEvent) => e.resource.id ?? e.resource.namespace ?? e.resource.type ?? "";

function eventRow(e: AuditEvent): string[] {
  const result = e.result === "success" ? e.result : colour("red", e.result);
  return [String(e.index), e.timestamp, e.eventType, result, orDash(e.actor.id), orDash(resourceOf(e))];
}

const EVENT_HEADERS = ["INDEX", "TIME", "EVENT", "RESULT", "ACTOR", "RESOURCE"];

/** One line per event for `tail`: aligned like the table, without its header. */
const tailLine = (e: AuditEvent) => {
  const [index, time, type, result, actor, resource] = eventRow(e);
  return `${(index ?? "").padStart(6)}  ${time}  ${(type ?? "").padEnd(18)} ${(result ?? "").padEnd(7)}  ${(actor ?? "").padEnd(30)}  ${resource}`;
};

/** The export's lines, streamed (server or file): never the whole export in memory. */
async function* lines(stream: NodeJS.ReadableStream): AsyncGenerator<string> {
  const rl = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of rl) yield line;
}

/** Gzip input (retention archives, `.ndjson.gz`) is recognised by its magic bytes and decompressed on the way. */
function ungzip(input: NodeJS.ReadableStream): Readable {
  return Readable.from(gunzipIfGzip(input));
}

async function* gunzipIfGzip(input: NodeJS.ReadableStream): AsyncGenerator<Buffer> {
  const chunks = (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  while (head.length < 2) {
    const next = await chunks.next();
    if (next.done) {
      if (head.length > 0) yield head;
      return;
    }
    head = Buffer.concat([head, Buffer.from(next.value)]);
  }
  async function* all(): AsyncGenerator<Buffer> {
    yield head;
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield Buffer.from(next.value);
  }
  if (head[0] === 0x1f && head[1] === 0x8b) yield* Readable.from(all()).pipe(createGunzip());
  else yield* all();
}

/** The server's export starts after what retention archived: say so, and where those leaves are. */
function noteArchived(headerLine: string): void {
  let archived: { end?: number; archives?: { fromIndex: number; toIndex: number; month: string; file: string }[] } | undefined;
  try {
    archived = (JSON.parse(headerLine) as { header?: { archived?: typeof archived } }).header?.archived;
  } catch {
    return; // the verifier reports a bad header
  }
  if (!archived?.end) return;
  note(
    `leaves 0..${archived.end - 1} were archived by audit retention; verifying from index ${archived.end}. The archives (on the server):`,
  );
  for (const a of archived.archives ?? []) note(`  leaves ${a.fromIndex}..${a.toIndex - 1} (${a.month}): ${a.file}`);
  note("verify them with: cairn audit verify --file <archive> --public-key <key>");
}

const bodyOf = (res: Response) => Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);

/** `--public-key`: a file holding the key (or the JSON of GET /audit/public-key), or the key itself. */
async function trustedKeyText(arg: string): Promise<string> {
  if (arg === "-") return readStdin("public key");
  try {
    return await readFile(arg, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENAMETOOLONG") return arg;
    throw new CliError(`cannot read the public key file ${arg}: ${(e as Error).message}`);
  }
}

export function registerAudit(program: Command): void {
  const audit = program
    .command("audit")
    .description("the tamper-evident audit log: list, follow, export, verify offline")
    .addHelpText(
      "after",
      `
Every change, secret reveal, auth failure and denial is an event in the tenant's Merkle log (RFC 6962),
with Ed25519-signed checkpoints. Values never appear in it: an event about a value carries its HMAC.
${examples(
  "cairn audit ls --since 24h --type 'config.*'",
  "cairn audit tail -f",
  "cairn audit public-key > audit.pub && cairn audit export -o audit.ndjson",
  "cairn audit verify --file audit.ndjson --public-key audit.pub",
)}`,
    );

  withConnectionOptions(
    withFilters(audit.command("ls").description("list audit events, newest first"))
      .option("--limit <n>", "at most this many events (default: 100)", positiveInt)
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      examples(
        "cairn audit ls",
        "cairn audit ls --since 7d --result denied",
        "cairn audit ls --namespace 'payments/**' --type config.update --limit 20",
        "cairn audit ls --actor key_01jq0c4m5n6p7q8r9s --json | jq '.items[].eventType'",
      ),
    )
    .action(async (flags: FilterFlags & { limit?: number; json?: boolean }, cmd: Command) => {
      const client = await connect(cmd);
      const wanted = flags.limit ?? 100;
      const items: AuditEvent[] = [];
      let cursor: string | undefined;
      do {
        const page = await getJson<AuditEventList>(client, "/audit", {
          ...filterQuery(flags),
          limit: Math.min(1000, wanted - items.length),
          cursor,
        });
        items.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor && items.length < wanted);
      if (flags.json) return printJson({ items });
      if (items.length === 0) return note("no audit events match");
      printTable(EVENT_HEADERS, items.map(eventRow));
    });

  withConnectionOptions(
    withFilters(audit.command("tail").description("the latest events, oldest first; -f keeps following new ones"))
      .option("-n, --lines <n>", "how many of the latest events to show first (default: 10)", nonNegativeInt)
      .option("-f, --follow", "keep running and print events as they are appended")
      .option("--interval <duration>", "how often to ask for new events when following (default: 1s)", parseDuration)
      .addOption(new Option("--json", "one JSON event per line (NDJSON)")),
  )
    .addHelpText(
      "after",
      examples("cairn audit tail", "cairn audit tail -f", "cairn audit tail -f --type 'auth.*' --json | jq -c '{index, requestContext}'"),
    )
    .action(async (flags: FilterFlags & { lines?: number; follow?: boolean; interval?: number; json?: boolean }, cmd: Command) => {
      const client = await connect(cmd);
      const query = filterQuery(flags);
      const show = (e: AuditEvent) => printLine(flags.json ? JSON.stringify(e) : tailLine(e));
      const first = flags.lines ?? 10;
      // The newest events (newest first), printed oldest first.
      const latest = await getJson<AuditEventList>(client, "/audit", {
        ...query,
        limit: Math.max(1, Math.min(first, 1000)),
        order: "desc",
      });
      const shown = first === 0 ? [] : latest.items.slice(0, first).reverse();
      for (const e of shown) show(e);
      if (!flags.follow) return;
      // Leaf indexes are gapless and given in commit order, so "after the last index seen" misses nothing.
      let after: number | undefined = latest.items[0]?.index;
      const intervalMs = Math.max(1, flags.interval ?? 1) * 1000;
      for (;;) {
        const page = await getJson<AuditEventList>(client, "/audit", {
          ...query,
          order: "asc",
          limit: 1000,
          cursor: after === undefined ? undefined : String(after),
        });
        for (const e of page.items) show(e);
        after = page.items.at(-1)?.index ?? after;
        if (!page.nextCursor) await new Promise((r) => setTimeout(r, intervalMs));
      }
    });

  withConnectionOptions(
    withRange(
      audit
        .command("export")
        .description("the log as NDJSON: events exactly as hashed, committed leaf hashes, signed checkpoints with consistency proofs"),
    ).option("-o, --output <file>", "write to this file instead of stdout"),
  )
    .addHelpText(
      "after",
      `${examples(
        "cairn audit export -o audit-$(date +%F).ndjson",
        "cairn audit export --from 2026-01-01 --to 2026-02-01 -o january.ndjson",
        "cairn audit export --from-index 1000 | gzip > tail.ndjson.gz",
      )}
Verify it anywhere, without the server: cairn audit verify --file <export> --public-key <key>
`,
    )
    .action(async (flags: RangeFlags & { output?: string }, cmd: Command) => {
      const client = await connect(cmd);
      const res = await request(client, "/audit/export", rangeQuery(flags));
      if (!flags.output) return pipeline(bodyOf(res), process.stdout, { end: false });
      await pipeline(bodyOf(res), createWriteStream(flags.output, { mode: 0o600 }));
      note(`wrote the audit export to ${flags.output}`);
    });

  withConnectionOptions(
    withRange(
      audit
        .command("verify")
        .description("recompute the Merkle tree, check every checkpoint's signature and their consistency; name the first bad index"),
    )
      .option("--file <export>", "verify this export (from `cairn audit export`, or - for stdin) instead of asking the server")
      .option(
        "--public-key <file|key>",
        "the log's key: a file, a verifier key (name+id+base64) or base64 Ed25519 key (default: the server's)",
      )
      .option("--origin <origin>", "the log the export must be of, e.g. cairn.example.com/cairn/audit/ten_…")
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      `${examples(
        "cairn audit verify",
        "cairn audit verify --public-key audit.pub",
        "cairn audit verify --file audit.ndjson --public-key audit.pub",
        "zcat archive.ndjson.gz | cairn audit verify --file - --public-key 'cairn.local/cairn/audit/ten_…+1a2b3c4d+AZ…'",
        "cairn audit verify --file audit-archive/ten_…/2026-01_0-5120.ndjson.gz --public-key audit.pub",
      )}
A retention archive (gzip NDJSON, from \`cairn audit archive\`) is verified as it is: gzip is recognised.
Prints "verified N events, root <base64>" and exits 0, or the first bad index and why and exits 1.
Pin the key: without --public-key the server's key is used, which checks the log against the server's own word.
`,
    )
    .action(async (flags: RangeFlags & { file?: string; publicKey?: string; origin?: string; json?: boolean }, cmd: Command) => {
      const { AuditVerifier, describeVerification } = await import("@cairn/server");
      let publicKey: string;
      let input: NodeJS.ReadableStream;
      if (flags.file !== undefined) {
        if (!flags.publicKey) throw new UsageError("--file needs --public-key: an export proves nothing against a key that came with it");
        if (flags.from || flags.to || flags.fromIndex !== undefined || flags.toIndex !== undefined) {
          throw new UsageError("--from/--to/--from-index/--to-index choose what the server exports; a --file is verified whole");
        }
        publicKey = await trustedKeyText(flags.publicKey);
        input = flags.file === "-" ? process.stdin : createReadStream(flags.file);
        input.on("error", () => {}); // reported by the read loop below
      } else {
        const client = await connect(cmd);
        publicKey = flags.publicKey
          ? await trustedKeyText(flags.publicKey)
          : (await getJson<AuditPublicKey>(client, "/audit/public-key")).verifierKey;
        input = bodyOf(await request(client, "/audit/export", rangeQuery(flags)));
      }
      let verifier: InstanceType<typeof AuditVerifier>;
      try {
        verifier = new AuditVerifier({ publicKey, origin: flags.origin });
      } catch (e) {
        throw new UsageError(`--public-key: ${(e as Error).message}`);
      }
      try {
        let first = true;
        for await (const line of lines(ungzip(input))) {
          if (first && flags.file === undefined && !flags.json) noteArchived(line);
          first = false;
          if (!verifier.push(line)) break;
        }
      } catch (e) {
        throw new CliError(`cannot read ${flags.file ?? "the export"}: ${(e as Error).message}`);
      }
      const result = verifier.finish();
      if (flags.json) printJson(result);
      else printLine(result.ok ? colour("green", describeVerification(result)) : colour("red", describeVerification(result)));
      process.exitCode = result.ok ? 0 : 1;
      if (input !== process.stdin) (input as Readable).destroy?.();
    });

  withConnectionOptions(
    audit
      .command("archive")
      .description("run audit retention now (instance admin): archive month partitions older than the retention, then drop them")
      .option(
        "--older-than <days>",
        "archive months that ended more than this many days ago (default: CAIRN_AUDIT_RETENTION_DAYS)",
        positiveInt,
      )
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      `${examples("cairn audit archive", "cairn audit archive --older-than 365", "cairn audit archive --json | jq '.partitions[].archives[].file'")}
Each archive is gzip NDJSON in the export format, written on the server (CAIRN_AUDIT_ARCHIVE_DIR), read back and
verified before its partition is dropped. Verify it anywhere: cairn audit verify --file <archive> --public-key <key>
`,
    )
    .action(async (flags: { olderThan?: number; json?: boolean }, cmd: Command) => {
      const run = await postJson<AuditRetentionRun>(
        await connect(cmd),
        "/audit/retention/run",
        flags.olderThan === undefined ? {} : { retentionDays: flags.olderThan },
      );
      if (flags.json) return printJson(run);
      if (run.retentionDays === null) {
        note("no retention is set (CAIRN_AUDIT_RETENTION_DAYS, or --older-than): nothing archived");
      } else if (run.partitions.length === 0) {
        note(`no month partition ended before ${run.cutoff} (retention ${run.retentionDays} days): nothing to archive`);
      } else {
        printTable(
          ["PARTITION", "MONTH", "STATUS", "EVENTS", "ARCHIVES"],
          run.partitions.map((p) => [
            p.partition,
            p.month,
            p.status === "archived" ? p.status : colour("red", p.status),
            String(p.events),
            p.archives.map((a) => `${a.file} (leaves ${a.fromIndex}..${a.toIndex - 1})`).join(", ") || orDash(p.reason ?? null),
          ]),
        );
        for (const p of run.partitions) if (p.reason && p.archives.length > 0) note(`${p.partition}: ${p.reason}`);
      }
      if (run.created.length > 0) note(`partitions created: ${run.created.join(", ")}`);
      if (run.partitions.some((p) => p.status === "failed")) process.exitCode = 1;
    });

  withConnectionOptions(audit.command("public-key").description("print the key that signs the log's checkpoints").addOption(jsonOption()))
    .addHelpText(
      "after",
      examples("cairn audit public-key > audit.pub   # give this file to your auditors", "cairn audit public-key --json"),
    )
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const key = await getJson<AuditPublicKey>(await connect(cmd), "/audit/public-key");
      if (flags.json) return printJson(key);
      printLine(key.verifierKey);
      note(`origin ${key.origin}, Ed25519, key ID ${key.keyId}`);
    });

  withConnectionOptions(
    audit
      .command("hash")
      .description("the HMAC an audit event carries for a value: was this value written?")
      .argument("[value]", "the value (JSON if it parses, else a string); omit it or give - to read stdin")
      .option("--string", "take the value as a string even if it parses as JSON"),
  )
    .addHelpText(
      "after",
      `${examples(
        "cairn audit hash 'postgres://db.internal/app'",
        'cairn audit ls --type config.update --json | grep "$(cairn audit hash 42)"',
        'printf %s "$OLD_PASSWORD" | cairn audit hash --string',
      )}
Needs audit:**:reveal (admins have it); each use is itself audited (without the value).
`,
    )
    .action(async (valueArg: string | undefined, flags: { string?: boolean }, cmd: Command) => {
      const text = valueArg !== undefined && valueArg !== "-" ? valueArg : await readStdin("value");
      const value = parseValue(text, flags.string ? "string" : "auto");
      const { hash } = await postJson<AuditHashResult>(await connect(cmd), "/audit/hash", { value });
      printLine(hash);
    });
}
