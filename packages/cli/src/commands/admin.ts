import type { CairnClient } from "@cairn/sdk";
import type { KeyRotation } from "@cairn/server/contract";
import type { Command } from "commander";
import { connect, withConnectionOptions } from "../connection.js";
import { examples, jsonOption } from "../options.js";
import { note, printFields, printJson } from "../output.js";

/** A call on the admin API with the command's client (its credentials and typed errors). */
const call = <T>(client: CairnClient, method: "GET" | "POST", path: string, body?: unknown): Promise<T> =>
  client.call<T>(method, `/api/v1${path}`, { body });

const finished = (r: KeyRotation) => r.status === "completed" || r.status === "failed";

/** `[#######.............]  35%  70/200 keys`: on a terminal redrawn in place, otherwise one line per 10 %. */
export function progressLine(r: KeyRotation, width = 30): string {
  const fraction = r.total === 0 ? (finished(r) ? 1 : 0) : Math.min(1, r.done / r.total);
  const filled = Math.round(fraction * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${r.done}/${r.total} ${r.kind === "master" ? "keys rewrapped" : "values re-encrypted"}  ${r.status}`;
}

function printRotation(r: KeyRotation): void {
  printFields([
    ["id", r.id],
    ["kind", r.kind],
    ...(r.namespace ? ([["namespace", r.namespace]] as [string, string][]) : []),
    ["status", r.status],
    ["progress", `${r.done}/${r.total}${r.skipped ? ` (${r.skipped} failed their integrity check and were left as they are)` : ""}`],
    ...(r.targetKek ? ([["target KEK", r.targetKek]] as [string, string][]) : []),
    ...(r.newDataKeyId ? ([["new data key", r.newDataKeyId]] as [string, string][]) : []),
    ["reason", r.reason],
    ["started", r.startedAt ?? "-"],
    ["finished", r.finishedAt ?? "-"],
    ...(r.error ? ([["error", r.error]] as [string, string][]) : []),
  ]);
}

/** Polls until the rotation finished, drawing progress on stderr (in place on a terminal). */
async function follow(client: CairnClient, first: KeyRotation, quiet: boolean, intervalMs = 500): Promise<KeyRotation> {
  const tty = process.stderr.isTTY === true;
  let r = first;
  let lastDecile = -1;
  for (;;) {
    if (!quiet) {
      if (tty) process.stderr.write(`\r${progressLine(r)}\u001b[K`);
      else {
        const decile = r.total === 0 ? 10 : Math.floor((10 * r.done) / r.total);
        if (decile !== lastDecile || finished(r)) process.stderr.write(`${progressLine(r)}\n`);
        lastDecile = decile;
      }
    }
    if (finished(r)) break;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    r = await call<KeyRotation>(client, "GET", `/admin/key-rotations/${encodeURIComponent(r.id)}`);
  }
  if (!quiet && tty) process.stderr.write("\n");
  return r;
}

async function started(cmd: Command, body: Record<string, unknown>, flags: { wait?: boolean; json?: boolean }) {
  const client = await connect(cmd);
  let r = await call<KeyRotation>(client, "POST", "/admin/key-rotations", body);
  if (flags.wait) r = await follow(client, r, Boolean(flags.json));
  if (flags.json) return printJson(r);
  printRotation(r);
  if (!flags.wait) note(`follow it with: cairn admin key-rotations show ${r.id} --wait`);
  if (r.status === "failed") process.exitCode = 1;
}

export function registerAdmin(program: Command): void {
  const admin = program.command("admin").description("instance administration: master-key and data-key rotations");

  withConnectionOptions(
    admin
      .command("rotate-master-key")
      .description(
        "rewrap every data key (and every other KEK-wrapped key) under the server's current master key / KEK, in the background (instance admin)",
      )
      .option("--wait", "follow the rotation with a progress bar on stderr until it finished")
      .option("--all", "rewrap every key, also those already under the current KEK (after rotating the key inside Vault or KMS)")
      .option("--reason <text>", "recorded in the audit log")
      .addOption(jsonOption()),
  )
    .addHelpText(
      "after",
      `${examples(
        "CAIRN_MASTER_KEY=<new> CAIRN_MASTER_KEYS_PREVIOUS=<old> cairn serve   # restart with the new key first",
        "cairn admin rotate-master-key --wait",
        "cairn admin rotate-master-key --json | jq -r .id",
      )}Reads and writes keep working throughout. Once it completed, drop the old key from CAIRN_MASTER_KEYS_PREVIOUS.\n`,
    )
    .action((flags: { wait?: boolean; all?: boolean; reason?: string; json?: boolean }, cmd: Command) =>
      started(cmd, { kind: "master", ...(flags.all ? { all: true } : {}), ...(flags.reason ? { reason: flags.reason } : {}) }, flags),
    );

  withConnectionOptions(
    admin
      .command("rotate-data-key")
      .description("give a namespace a new data key (new writes use it at once) and re-encrypt its values under it, in the background")
      .argument("<namespace>", "e.g. production/api")
      .option("--wait", "follow the rotation with a progress bar on stderr until it finished")
      .option("--reason <text>", "recorded in the audit log")
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn admin rotate-data-key production/api --wait"))
    .action((namespace: string, flags: { wait?: boolean; reason?: string; json?: boolean }, cmd: Command) =>
      started(cmd, { kind: "data", namespace, ...(flags.reason ? { reason: flags.reason } : {}) }, flags),
    );

  const rotations = admin.command("key-rotations").description("key rotations started by rotate-master-key / rotate-data-key");
  withConnectionOptions(
    rotations
      .command("show")
      .description("a key rotation's progress")
      .argument("<id>", "krot_…")
      .option("--wait", "follow it with a progress bar on stderr until it finished")
      .addOption(jsonOption()),
  )
    .addHelpText("after", examples("cairn admin key-rotations show krot_06h… --wait"))
    .action(async (id: string, flags: { wait?: boolean; json?: boolean }, cmd: Command) => {
      const client = await connect(cmd);
      let r = await call<KeyRotation>(client, "GET", `/admin/key-rotations/${encodeURIComponent(id)}`);
      if (flags.wait) r = await follow(client, r, Boolean(flags.json));
      if (flags.json) return printJson(r);
      printRotation(r);
      if (r.status === "failed") process.exitCode = 1;
    });
}
