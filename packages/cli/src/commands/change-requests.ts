import { CairnApiError } from "@cairn/sdk";
import { type Command, InvalidArgumentError, Option } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { parseDuration } from "../input.js";
import { examples, jsonOption } from "../options.js";
import { orDash, printFields, printJson, printLine, printTable } from "../output.js";

type Patch = { op: string; path: string; value?: unknown; from?: string }[];
type ChangeRequest = {
  id: string;
  status: string;
  environments: string[];
  namespaces: string[];
  proposedBy: string;
  reason: string | null;
  diff: Patch;
  changes: { op: string; namespace: string; key: string; environment: string; baseVersion: number | null; secret: boolean; diff: Patch }[];
  approval?: {
    state: string;
    approvals: number;
    required: number;
    decisions: { approver: string; decision: string; comment?: string; at: string }[];
  };
  createdAt: string;
  expiresAt: string;
  appliedAt?: string;
  appliedBy?: string;
};
type Policy = {
  id: string;
  name: string;
  kind: string;
  match: Record<string, string>;
  autoApproveBelowSeconds?: number;
  maxDurationSeconds?: number;
  requiredApprovals: number;
  approverGroup?: string;
  approvalTtlSeconds: number;
};

/** The API through the SDK client of the command's connection (flags, env, login), with its typed errors. */
async function api(cmd: Command) {
  const client = await connect(cmd);
  return <T>(method: "GET" | "POST" | "PUT" | "DELETE", path: string, body?: unknown): Promise<T> => client.call<T>(method, path, { body });
}

const patchLine = (p: Patch[number]) => `  ${p.op} ${p.path || "/"}${"value" in p ? ` ${JSON.stringify(p.value)}` : ""}`;

function printChangeRequest(cr: ChangeRequest): void {
  printFields([
    ["id", cr.id],
    ["status", cr.status],
    ["environment", cr.environments.join(", ")],
    ["proposed by", cr.proposedBy],
    ["reason", orDash(cr.reason)],
    ["approvals", cr.approval ? `${cr.approval.approvals} of ${cr.approval.required}` : "-"],
    ["created", cr.createdAt],
    ["expires", cr.expiresAt],
    ["applied", cr.appliedAt ? `${cr.appliedAt} by ${cr.appliedBy}` : "-"],
  ]);
  for (const c of cr.changes) {
    printLine(`\n${c.op} ${c.namespace} ${c.key} (${c.environment}, from version ${c.baseVersion ?? "none"}${c.secret ? ", secret" : ""})`);
    for (const p of c.diff) printLine(patchLine(p));
  }
  for (const d of cr.approval?.decisions ?? [])
    printLine(`\n${d.decision} by ${d.approver} at ${d.at}${d.comment ? `: ${d.comment}` : ""}`);
}

const STATUSES = ["pending", "approved", "rejected", "applied", "expired"];
const CR = "/api/v1/change-requests";

export function registerChangeRequests(program: Command): void {
  const crs = program
    .command("change-requests")
    .alias("cr")
    .description("changes proposed to protected environments (requireApproval): review, approve or reject, then apply");

  withConnectionOptions(
    crs
      .command("ls")
      .description("list change requests, newest first")
      .addOption(new Option("--status <status>", "only these").choices(STATUSES))
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn change-requests ls --status pending"))
    .action(async (flags: { status?: string; json?: boolean }, cmd: Command) => {
      const list = await (await api(cmd))<{ items: ChangeRequest[] }>("GET", `${CR}${flags.status ? `?status=${flags.status}` : ""}`);
      if (flags.json) return printJson(list);
      printTable(
        ["ID", "STATUS", "ENV", "CHANGES", "BY", "APPROVALS", "CREATED"],
        list.items.map((c) => [
          c.id,
          c.status,
          c.environments.join(","),
          c.changes.map((x) => `${x.op} ${x.namespace}/${x.key}`).join(", "),
          c.proposedBy,
          c.approval ? `${c.approval.approvals}/${c.approval.required}` : "-",
          c.createdAt,
        ]),
      );
    });

  withConnectionOptions(
    crs.command("show").description("one change request: its diff and approvals").argument("<id>").addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn change-requests show chr_06h…"))
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const cr = await (await api(cmd))<ChangeRequest>("GET", `${CR}/${encodeURIComponent(id)}`);
      if (flags.json) return printJson(cr);
      printChangeRequest(cr);
    });

  for (const [verb, path, help] of [
    ["approve", "approve", "approve (you cannot approve your own)"],
    ["reject", "reject", "reject: any rejection closes it"],
  ] as const) {
    withConnectionOptions(
      crs.command(verb).description(help).argument("<id>").option("-m, --comment <text>", "why").addOption(jsonOption()),
    )
      .addHelpText("after", examples(`cairn change-requests ${verb} chr_06h… -m "looks right"`))
      .action(async (id: string, flags: { comment?: string; json?: boolean }, cmd: Command) => {
        const cr = await (await api(cmd))<ChangeRequest>("POST", `${CR}/${encodeURIComponent(id)}/${path}`, {
          ...(flags.comment ? { comment: flags.comment } : {}),
        });
        if (flags.json) return printJson(cr);
        printLine(`${cr.id}: ${cr.status}${cr.approval ? ` (${cr.approval.approvals} of ${cr.approval.required} approvals)` : ""}`);
      });
  }

  withConnectionOptions(
    crs
      .command("apply")
      .description("apply an approved change request (fails if a key moved since)")
      .argument("<id>")
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn change-requests apply chr_06h…"))
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const cr = await (await api(cmd))<
        ChangeRequest & { result?: { versions?: { namespace: string; key: string; environment: string; version: number }[] } }
      >("POST", `${CR}/${encodeURIComponent(id)}/apply`);
      if (flags.json) return printJson(cr);
      for (const v of cr.result?.versions ?? []) printLine(`${v.namespace} ${v.key} (${v.environment}) → version ${v.version}`);
      printLine(`${cr.id}: applied`);
    });
}

function seconds(raw: string): number {
  const s = parseDuration(raw);
  if (s < 0) throw new InvalidArgumentError("expected a duration like 30m, 1h, 7d");
  return s;
}

function positive(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a whole number of at least 1");
  return n;
}

const P = "/api/v1/approval-policies";

export function registerApprovalPolicies(program: Command): void {
  const policies = program
    .command("approval-policies")
    .description("who must approve access requests and protected-environment changes; the most specific matching policy wins");

  withConnectionOptions(
    policies
      .command("ls")
      .description("list approval policies")
      .addOption(new Option("--kind <kind>").choices(["access_request", "config_change"]))
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn approval-policies ls"))
    .action(async (flags: { kind?: string; json?: boolean }, cmd: Command) => {
      const list = await (await api(cmd))<{ items: Policy[] }>("GET", `${P}${flags.kind ? `?kind=${flags.kind}` : ""}`);
      if (flags.json) return printJson(list);
      printTable(
        ["NAME", "KIND", "MATCH", "AUTO ≤", "MAX", "APPROVALS", "GROUP", "TTL"],
        list.items.map((p) => [
          p.name,
          p.kind,
          orDash(
            Object.entries(p.match)
              .map(([k, v]) => `${k}=${v}`)
              .join(","),
          ),
          p.autoApproveBelowSeconds === undefined ? "-" : `${p.autoApproveBelowSeconds}s`,
          p.maxDurationSeconds === undefined ? "-" : `${p.maxDurationSeconds}s`,
          String(p.requiredApprovals),
          orDash(p.approverGroup),
          `${p.approvalTtlSeconds}s`,
        ]),
      );
    });

  withConnectionOptions(
    policies
      .command("set")
      .description("create or replace a policy by name")
      .argument("<name>")
      .addOption(new Option("--kind <kind>", "what it guards").choices(["access_request", "config_change"]).default("access_request"))
      .option("--provider <p>", "match: aws | azure | gcp | postgres (a trailing * matches a prefix)")
      .option("--role <role>", "match: the requested role")
      .option("--environment <env>", "match: the environment (config changes)")
      .option("--namespace <ns>", "match: the namespace (config changes)")
      .option("--auto-approve-below <duration>", "auto-approve requests of at most this long, e.g. 1h", seconds)
      .option("--max-duration <duration>", "refuse requests longer than this, e.g. 8h", seconds)
      .option("--approvals <n>", "approvals needed (default 1)", positive)
      .option("--group <group>", "only members of this group may approve")
      .option("--ttl <duration>", "how long approval may take (default 1d)", seconds)
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      examples(
        "cairn approval-policies set pg-readonly --provider postgres --role readonly --auto-approve-below 1h --max-duration 8h",
        "cairn approval-policies set aws-admin --provider aws --role 'admin*' --approvals 2 --group sre --ttl 4h",
        "cairn approval-policies set prod-configs --kind config_change --environment production --approvals 2 --group release",
      ),
    )
    .action(async (name: string, flags: Record<string, string | number | boolean | undefined>, cmd: Command) => {
      const call = await api(cmd);
      const match = Object.fromEntries(
        (["provider", "role", "environment", "namespace"] as const).filter((k) => flags[k] !== undefined).map((k) => [k, flags[k]]),
      );
      const body = {
        name,
        kind: flags.kind,
        match,
        requiredApprovals: flags.approvals ?? 1,
        ...(flags.autoApproveBelow !== undefined ? { autoApproveBelowSeconds: flags.autoApproveBelow } : {}),
        ...(flags.maxDuration !== undefined ? { maxDurationSeconds: flags.maxDuration } : {}),
        ...(flags.group !== undefined ? { approverGroup: flags.group } : {}),
        ...(flags.ttl !== undefined ? { approvalTtlSeconds: flags.ttl } : {}),
      };
      let policy: Policy;
      try {
        policy = await call<Policy>("PUT", `${P}/${encodeURIComponent(name)}`, body);
      } catch (e) {
        if (!(e instanceof CairnApiError) || e.status !== 404) throw e;
        policy = await call<Policy>("POST", P, body);
      }
      if (flags.json) return printJson(policy);
      printLine(
        `approval policy ${policy.name} (${policy.id}): ${policy.requiredApprovals} approval(s)${policy.approverGroup ? ` from ${policy.approverGroup}` : ""}`,
      );
    });

  withConnectionOptions(policies.command("rm").description("delete a policy").argument("<name>", "policy name or id"))
    .addHelpText("after", examples("cairn approval-policies rm pg-readonly"))
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      await (await api(cmd))("DELETE", `${P}/${encodeURIComponent(name)}`);
      printLine(`deleted approval policy ${name}`);
    });
}
