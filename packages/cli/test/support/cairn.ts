/**
 * Test support: a REAL Cairn server started through the built CLI (`cairn serve`), and a runner for
 * the built CLI binary. Build first (`npx tsc -b`): these tests exercise what users run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../../bin/cairn.js", import.meta.url));

const ADMIN_KEY = /cairn_[0-9A-Za-z]{8}_[0-9A-Za-z]+/;
const START_TIMEOUT_MS = 60_000;

export interface RunningServer {
  url: string;
  token: string;
  stop(): Promise<void>;
}

/** A port nobody listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Environment for child processes without the caller's Cairn settings, so tests never touch a real setup. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", ...extra };
  for (const name of Object.keys(env)) {
    // DATABASE_URL/REDIS_URL too: every test server gets its own embedded store, so it starts empty
    // and prints a fresh admin key.
    if (name.startsWith("CAIRN_") && !(name in extra)) delete env[name];
  }
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  return env;
}

/**
 * Start `cairn serve` on a free port with a fresh data dir; resolves once /ready answers 200.
 * `env`: extra server settings (e.g. `CAIRN_ALERTS_ALLOW_PRIVATE_TARGETS`).
 */
export async function startServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const dataDir = await mkdtemp(join(tmpdir(), "cairn-test-data-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [CLI, "serve", "--port", String(port), "--data-dir", dataDir], {
    env: cleanEnv({ CAIRN_LOG_LEVEL: "warn", ...env }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });

  const stop = async () => {
    await terminate(child);
    await rm(dataDir, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`cairn serve exited with ${child.exitCode}:\n${stdout}\n${stderr}`);
      if (Date.now() > deadline) throw new Error(`cairn serve did not become ready in time:\n${stdout}\n${stderr}`);
      const token = ADMIN_KEY.exec(stdout)?.[0];
      if (token && (await isReady(url))) return { url, token, stop };
      await sleep(100);
    }
  } catch (e) {
    await stop();
    throw e;
  }
}

async function isReady(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/ready`)).status === 200;
  } catch {
    return false;
  }
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Extra environment (CAIRN_URL, CAIRN_TOKEN, XDG_CONFIG_HOME, …). */
  env?: Record<string, string>;
  /** Written to stdin; stdin is closed either way (never a TTY in tests). */
  input?: string;
}

/** Run the built CLI binary, as a user would. */
export function cairn(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    // Never the developer's own login: an empty config home unless the test gives one.
    const env = cleanEnv({ XDG_CONFIG_HOME: join(tmpdir(), "cairn-test-no-config"), ...options.env });
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

/** A private temp dir for one test file (a config home, files to import), removed by the caller. */
export const tempDir = (prefix: string) => mkdtemp(join(tmpdir(), `cairn-test-${prefix}-`));
