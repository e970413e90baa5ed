import type { AcceptedRequest, AccessCredentials, AccessRequest, CreateRequestBody, DecisionResult, RequestList } from "@cairn/sdk";
import { type Command, InvalidArgumentError } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { CliError } from "../errors.js";
import { collect, parseDuration } from "../input.js";
import { examples, jsonOption } from "../options.js";
import { note, orDash, printFields, printJson, printLine, printTable } from "../output.js";

/** The API's shapes (the server's schemas, via @cairn/sdk). */
type View = AccessRequest;

/** `errorDetails.message` when the failure named one. */
function errorMessage(v: View): string | undefined {
  const message = v.errorDetails?.message;
  return typeof message === "string" ? message : undefined;
}

const FINAL: ReadonlySet<View["status"]> = new Set(["DENIED", "FAILED", "REVOKED", "EXPIRED"]);
const PROVIDERS: View["provider"][] = ["aws", "azure", "gcp", "postgres"];

/** The API through the SDK client of the command's connection (flags, env, login), with its typed errors. */
async function api(cmd: Command) {
  const client = await connect(cmd);
  return <T>(method: "GET" | "POST", path: string, body?: unknown, headers?: Record<string, string>): Promise<T> =>
    client.call<T>(method, path, { body, headers });
}

function duration(raw: string): number {
  const seconds = parseDuration(raw);
  if (seconds < 1) throw new InvalidArgumentError("expected a duration of at least 1s");
  return seconds;
}

function printView(v: View): void {
  printFields([
    ["correlation id", v.correlationId],
    ["status", v.status],
    ["provider", v.provider],
    ["principal", v.principal],
    [v.role ? "role" : "permissions", v.role ?? `${(v.permissions ?? []).join(", ")} on ${orDash(v.resource)}`],
    ["duration", `${v.durationSeconds}s`],
    ["justification", v.justification],
    ["requested by", v.requestedBy],
    ["received", v.receivedAt],
    ["approval until", orDash(v.approvalExpiresAt)],
    ["expires", orDash(v.expiresAt)],
    ["revoked", orDash(v.revokedAt)],
    ["grant", v.grant ? JSON.stringify(v.grant) : "-"],
    ["credentials", v.credentialsAvailable ? "waiting to be revealed once: cairn access credentials <id>" : "-"],
    ["error", orDash(errorMessage(v))],
  ]);
}

function printCredentials(id: string, body: AccessCredentials): void {
  note(`credentials of ${id}${body.expiresAt ? ` (valid until ${body.expiresAt})` : ""}:`);
  for (const [k, v] of Object.entries(body.credentials)) printLine(`${k}=${String(v)}`);
  note("save them now: they are shown only this once (Cairn no longer holds them)");
}

export function registerAccess(program: Command): void {
  for (const name of ["access", "requests"]) {
    const access = program
      .command(name)
      .description(
        name === "access"
          ? "temporary access (postgres logins, AWS/Azure/GCP roles): request, approve, revoke"
          : "alias of `cairn access`: access requests",
      )
      .addHelpText("after", "\nA request is granted by a worker, and revoked by one when its duration is up.\n");

    withConnectionOptions(
      access
        .command("request")
        .description("ask for temporary access; waits until granted (prints postgres credentials once) unless --no-wait")
        .argument("<provider>", `one of ${PROVIDERS.join(", ")}`)
        .requiredOption("--principal <who>", "who gets access (postgres: the login name's prefix, e.g. ana)")
        .option("--role <role>", "a role to grant (PostgreSQL role, IAM policy ARN, Azure/GCP role)")
        .option("--permission <p>", "or a permission, e.g. SELECT (repeatable; postgres needs --resource)", collect)
        .option("--resource <what>", "what the permissions apply to: schema.table, schema.*, an ARN, a scope, a project")
        .requiredOption("--duration <d>", "how long: 90s, 15m, 1h, 1h30m", duration)
        .requiredOption("--reason <text>", "why (kept in the audit log)")
        .option("--idempotency-key <key>", "retrying with the same key never makes a second request")
        .option("--no-wait", "return once the request is accepted")
        .addOption(jsonOption()),
    )
      .addHelpText(
        "after",
        examples(
          `cairn ${name} request postgres --principal ana --role app_readonly --duration 1h --reason "incident 42"`,
          `cairn ${name} request postgres --principal ana --permission SELECT --resource public.orders --duration 15m --reason "report"`,
          `cairn ${name} request aws --principal arn:aws:iam::123456789012:user/ana --role arn:aws:iam::aws:policy/ReadOnlyAccess --duration 2h --reason "audit" --no-wait`,
        ),
      )
      .action(
        async (
          provider: string,
          flags: {
            principal: string;
            role?: string;
            permission?: string[];
            resource?: string;
            duration: number;
            reason: string;
            idempotencyKey?: string;
            wait: boolean;
            json?: boolean;
          },
          cmd: Command,
        ) => {
          const call = await api(cmd);
          // The provider is checked by the server (one 400 lists every problem), so it is sent as typed.
          const body: Omit<CreateRequestBody, "provider"> & { provider: string } = {
            provider,
            principal: flags.principal,
            role: flags.role,
            permissions: flags.permission,
            resource: flags.resource,
            durationSeconds: flags.duration,
            justification: flags.reason,
          };
          const accepted = await call<AcceptedRequest>(
            "POST",
            "/api/v1/requests",
            body,
            flags.idempotencyKey ? { "idempotency-key": flags.idempotencyKey } : {},
          );
          const id = accepted.correlationId;
          if (!flags.wait) {
            if (flags.json) return printJson(accepted);
            return printLine(`${id} ${accepted.status}`);
          }
          note(`request ${id}: ${accepted.status}`);
          let last = accepted.status;
          let view: View;
          for (;;) {
            view = await call<View>("GET", `/api/v1/requests/${id}`);
            if (view.status !== last) {
              note(`request ${id}: ${view.status}${view.status === "AWAITING_APPROVAL" ? ` (until ${view.approvalExpiresAt})` : ""}`);
              last = view.status;
            }
            if (view.status === "SUCCESS" || FINAL.has(view.status)) break;
            await new Promise((r) => setTimeout(r, 500));
          }
          if (view.status !== "SUCCESS") {
            if (flags.json) printJson(view);
            const why = errorMessage(view);
            throw new CliError(`request ${id} ended ${view.status}${why ? `: ${why}` : ""}`);
          }
          const creds = view.credentialsAvailable ? await call<AccessCredentials>("POST", `/api/v1/requests/${id}/credentials`) : undefined;
          if (flags.json) return printJson({ ...view, credentialsAvailable: false, ...(creds ? { credentials: creds.credentials } : {}) });
          note(`granted until ${view.expiresAt}`);
          if (creds) printCredentials(id, creds);
        },
      );

    withConnectionOptions(
      access
        .command("ls")
        .description("list access requests, newest first")
        .option("--q <words>", 'plain words, e.g. "failed requests for AWS yesterday"')
        .option("--status <s>", "comma-separated: PENDING, AWAITING_APPROVAL, SUCCESS, FAILED, …")
        .option("--provider <p>", "comma-separated providers")
        .option("--principal <who>")
        .option("--limit <n>", "at most this many (default 50)")
        .addOption(jsonOption()),
    )
      .addHelpText(
        "after",
        examples(
          `cairn ${name} ls`,
          `cairn ${name} ls --q "failed requests for aws yesterday"`,
          `cairn ${name} ls --status AWAITING_APPROVAL`,
        ),
      )
      .action(
        async (
          flags: { q?: string; status?: string; provider?: string; principal?: string; limit?: string; json?: boolean },
          cmd: Command,
        ) => {
          const query = new URLSearchParams();
          for (const [k, v] of Object.entries({
            q: flags.q,
            status: flags.status,
            provider: flags.provider,
            principal: flags.principal,
            limit: flags.limit,
          })) {
            if (v !== undefined) query.set(k, v);
          }
          const list = await (await api(cmd))<RequestList>("GET", `/api/v1/requests${query.size ? `?${query}` : ""}`);
          if (flags.json) return printJson(list);
          if (list.interpretedAs)
            note(`read as: ${list.interpretedAs}${list.ignored?.length ? ` (ignored: ${list.ignored.join(" ")})` : ""}`);
          if (!list.items.length) return note("no access requests");
          printTable(
            ["ID", "STATUS", "PROVIDER", "PRINCIPAL", "ROLE", "DURATION", "RECEIVED", "EXPIRES"],
            list.items.map((v) => [
              v.correlationId,
              v.status,
              v.provider,
              v.principal,
              orDash(v.role ?? v.permissions?.join(",")),
              `${v.durationSeconds}s`,
              v.receivedAt,
              orDash(v.expiresAt),
            ]),
          );
        },
      );

    withConnectionOptions(
      access.command("show").description("show an access request").argument("<id>", "correlation id").addOption(jsonOption()),
    )
      .addHelpText("after", examples(`cairn ${name} show 01937c1e-…`))
      .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
        const view = await (await api(cmd))<View>("GET", `/api/v1/requests/${encodeURIComponent(id)}`);
        if (flags.json) return printJson(view);
        printView(view);
      });

    for (const decision of ["approve", "deny"] as const) {
      withConnectionOptions(
        access
          .command(decision)
          .description(decision === "approve" ? "approve someone else's access request" : "deny an access request")
          .argument("<id>", "correlation id")
          .option("--comment <text>", "kept with the decision")
          .addOption(jsonOption()),
      )
        .addHelpText("after", examples(`cairn ${name} ${decision} 01937c1e-… --comment "ok for incident 42"`))
        .action(async (id: string, flags: { comment?: string; json?: boolean }, cmd: Command) => {
          const result = await (await api(cmd))<DecisionResult>("POST", `/api/v1/requests/${encodeURIComponent(id)}/${decision}`, {
            comment: flags.comment,
          });
          if (flags.json) return printJson(result);
          printLine(`${id}: ${result.status} (${result.approval.approvals}/${result.approval.required} approvals)`);
        });
    }

    withConnectionOptions(
      access
        .command("revoke")
        .description("end access now (a request not granted yet is cancelled)")
        .argument("<id>", "correlation id")
        .option("--reason <text>", "kept in the audit log")
        .addOption(jsonOption()),
    )
      .addHelpText("after", examples(`cairn ${name} revoke 01937c1e-… --reason "done"`))
      .action(async (id: string, flags: { reason?: string; json?: boolean }, cmd: Command) => {
        const result = await (await api(cmd))<AcceptedRequest>("POST", `/api/v1/requests/${encodeURIComponent(id)}/revoke`, {
          comment: flags.reason,
        });
        if (flags.json) return printJson(result);
        printLine(`${id}: ${result.status === "REVOKED" ? "REVOKED" : "revocation due now (a worker removes the access)"}`);
      });

    withConnectionOptions(
      access
        .command("credentials")
        .description("reveal the credentials of your granted request, once")
        .argument("<id>", "correlation id")
        .addOption(jsonOption()),
    ).action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const body = await (await api(cmd))<AccessCredentials>("POST", `/api/v1/requests/${encodeURIComponent(id)}/credentials`);
      if (flags.json) return printJson(body);
      printCredentials(id, body);
    });
  }
}
