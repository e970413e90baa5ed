/**
 * Test support for `cairn agent` and `cairn run`: a REAL Cairn server process that can be stopped and
 * started again on the same store and port (real PostgreSQL and Redis when DATABASE_URL / REDIS_URL are
 * set, else the embedded store), and a handle on a long-running CLI process (the agent, `run --watch`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adminKeyOf, type ServerProcess, startServerProcess, until } from "../../../server/test/fixtures/process.js";
import { freshStore, type TestStore } from "../../../server/test/helper.js";
import { CLI, freePort } from "./cairn.js";

export { until };

export interface RestartableServer {
  url: string;
  token: string;
  backend: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stop it and drop its store. */
  destroy(): Promise<void>;
}

export async function startRestartableServer(): Promise<RestartableServer> {
  const backend = process.env.DATABASE_URL ? "postgres" : "pglite";
  const store: TestStore = await freshStore(backend);
  const port = await freePort();
  const extra: Record<string, string> = { CAIRN_PORT: String(port), CAIRN_LOG_LEVEL: "warn" };
  if (process.env.REDIS_URL) extra.REDIS_URL = process.env.REDIS_URL;
  // Generous: on a busy machine, compiling and starting the server (and PGlite) can take a while.
  const startOn = () => startServerProcess({ ...store.env, ...extra }, 120_000);
  let server: ServerProcess | undefined = await startOn();
  const token = await adminKeyOf(server);
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    backend: `${backend}${process.env.REDIS_URL ? " + redis" : ""}`,
    async stop() {
      await server?.kill("SIGTERM");
      server = undefined;
    },
    async start() {
      server ??= await startOn();
    },
    async destroy() {
      await server?.kill("SIGTERM");
      server = undefined;
      await store.drop();
    },
  };
}

/** Environment for a CLI child: none of the caller's Cairn settings, an empty config home, plus `extra`. */
export function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", XDG_CONFIG_HOME: join(tmpdir(), "cairn-test-no-config") };
  for (const name of Object.keys(env)) if (name.startsWith("CAIRN_")) delete env[name];
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  return { ...env, ...extra };
}

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or 128 + signal number) once it has exited. */
  exited: Promise<number>;
  /** Waits until stderr matches, and returns the match. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** SIGTERM (or `signal`), then the exit code; SIGKILL if it does not exit in 15 s. */
  stop(signal?: NodeJS.Signals): Promise<number>;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Start the built CLI with these arguments, as a long-running process. */
export function startCli(args: string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env: cliEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? 128 + (SIGNALS[signal ?? ""] ?? 0))),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitFor(pattern, timeoutMs = 30_000) {
      await until(
        `${pattern} in the output of cairn ${args[0]}`,
        () => pattern.test(err) || child.exitCode !== null,
        timeoutMs,
        () => err,
      );
      const m = pattern.exec(err);
      if (!m) throw new Error(`cairn ${args[0]} exited with ${child.exitCode} before printing ${pattern}:\n${err}`);
      return m;
    },
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
