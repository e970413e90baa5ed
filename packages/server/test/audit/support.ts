// Test support for the audit suites: the built CLI binary and a polling guard.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import type { CairnApp } from "../../src/app.js";

const CLI = fileURLToPath(new URL("../../../cli/bin/cairn.js", import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `cairn` binary with only the given Cairn settings (never the developer's login). */
export function cairnCli(args: string[], env: Record<string, string>, configHome: string): Promise<CliRun> {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("CAIRN_") && k !== "DATABASE_URL" && k !== "REDIS_URL"),
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...clean, NO_COLOR: "1", XDG_CONFIG_HOME: configHome, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Polls an async condition; a guard against hanging, not an assertion about time. */
export async function eventually(what: string, cond: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits until every committed audit event has its leaf index (in-process app). `sequencer.flush()` alone can
 * return while a kick's follow-up run is still only scheduled, so this asks the table.
 */
export async function settle(cairn: Pick<CairnApp, "sequencer" | "store">): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    await cairn.sequencer.flush();
    const { rows } = await sql<{ n: string }>`select count(*) as n from audit_events where leaf_index is null`.execute(cairn.store.db);
    if (Number(rows[0]?.n) === 0) return;
    if (Date.now() > deadline) throw new Error("audit events stay unsequenced");
    await new Promise((r) => setTimeout(r, 10));
  }
}
