import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:os";
import { type Command, Option } from "commander";
import { Follower } from "../agent/follower.js";
import { createLogger, type Logger } from "../agent/log.js";
import { type EnvironmentSet, environmentOf } from "../agent/names.js";
import { emptySnapshot, type Snapshot } from "../agent/snapshot.js";
import { connect, withConnectionOptions } from "../connection.js";
import { positiveInt } from "../input.js";
import { examples } from "../options.js";

interface RunFlags {
  namespace: string;
  environment: string;
  prefix?: string;
  preserveEnv?: boolean;
  watch?: boolean;
  grace: number;
  pollInterval: number;
}

/** Signals passed on to the child; the terminating ones also stop `--watch` from restarting it. */
const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const;
const TERMINATING = new Set<string>(["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"]);
/** Changes arriving together make one restart. */
const RESTART_DEBOUNCE_MS = 250;

export function registerRun(program: Command): void {
  withConnectionOptions(
    program
      .command("run")
      .description("run a command with a namespace's values as environment variables")
      .requiredOption("-n, --namespace <ns>", "namespace whose values to inject, e.g. production/api")
      .option("-e, --environment <name>", "environment to resolve in", "base")
      .option("--prefix <prefix>", "only keys starting with this")
      .option("--preserve-env", "variables already set keep their value (default: Cairn's values win)")
      .option("-w, --watch", "restart the command when a value changes (SIGTERM, then SIGKILL after --grace)")
      .addOption(new Option("--grace <seconds>", "how long a restarted command may take to stop").argParser(positiveInt).default(10))
      .addOption(
        new Option("--poll-interval <seconds>", "with --watch, the poll period when the server has no watch stream")
          .argParser(positiveInt)
          .default(30),
      )
      .argument("<command...>", "the command and its arguments (after --)")
      // Options after the command are the command's own.
      .passThroughOptions(),
  )
    .addHelpText(
      "after",
      `${examples(
        "cairn run -n production/api -e production -- node server.js",
        "cairn run -n production/api -e production --watch -- ./bin/api --port 8080",
        "cairn run -n ci/tests -- sh -c 'echo $DATABASE_URL'",
      )}
Names: a key becomes an environment variable by upper-casing it and turning every character other
than A-Z, 0-9 and _ into _ (database.url → DATABASE_URL, feature-flags.beta → FEATURE_FLAGS_BETA).
Two keys with one name are an error naming both. Strings are passed as they are; numbers, booleans,
objects and arrays as JSON. Secrets are injected when your credential may reveal them
(secrets:<ns>:reveal), otherwise left out with a warning. Cairn's values override variables already
set unless --preserve-env.

Exit code: the command's own; killed by a signal, cairn run dies of the same signal. 127 when the
command is not found, 126 when it cannot be executed. Signals (INT, TERM, HUP, QUIT, USR1, USR2)
are passed on to the command.
`,
    )
    .action(async (argv: string[], flags: RunFlags, cmd: Command) => {
      await runCommand(argv, flags, cmd);
    });
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Launched {
  child: ChildProcess;
  vars: Record<string, string>;
  exited: Promise<Exit>;
  /** Being stopped by a restart: its exit does not end the run. */
  replacing: boolean;
}

async function runCommand(argv: string[], flags: RunFlags, cmd: Command): Promise<void> {
  const log = createLogger("cairn run", { quiet: !flags.watch });
  const client = await connect(cmd);
  const follower = new Follower({
    client,
    namespace: flags.namespace,
    environment: flags.environment,
    prefix: flags.prefix,
    pollIntervalMs: flags.pollInterval * 1000,
    initial: emptySnapshot(flags.namespace, flags.environment),
    log,
    emptyWhenMissing: false,
    meanwhile: "the command keeps running with the values it has",
    onRevealRefused: () => undefined,
    onUpdate: (snapshot, changed) => onChange(snapshot, changed),
  });
  let onChange = (_snapshot: Snapshot, _changed: string[]): void => undefined;
  await follower.sync();
  const variables = variablesOf(log);
  const first = variables(follower.snapshot);

  let stopping = false;
  let finish: (exit: Exit) => void = () => undefined;
  const finished = new Promise<Exit>((resolve) => {
    finish = resolve;
  });
  const launch = (vars: Record<string, string>): Launched => {
    const env = flags.preserveEnv ? { ...vars, ...process.env } : { ...process.env, ...vars };
    const [file, ...args] = argv as [string, ...string[]];
    const child = spawn(file, args, { stdio: "inherit", env });
    const launched: Launched = { child, vars, replacing: false, exited: undefined as unknown as Promise<Exit> };
    launched.exited = new Promise<Exit>((resolve) => {
      child.once("error", (e: NodeJS.ErrnoException) => {
        // Could not start at all (no 'exit' follows).
        const code = e.code === "ENOENT" ? 127 : e.code === "EACCES" ? 126 : 1;
        const why = e.code === "ENOENT" ? "command not found" : e.code === "EACCES" ? "permission denied" : e.message;
        process.stderr.write(`error: cannot run ${file}: ${why}\n`);
        resolve({ code, signal: null });
      });
      child.once("exit", (code, signal) => resolve({ code, signal }));
    });
    launched.exited.then((exit) => {
      if (!launched.replacing || stopping) finish(exit);
    });
    return launched;
  };

  let current = launch(first.vars);

  const forward = (signal: NodeJS.Signals) => {
    if (TERMINATING.has(signal)) stopping = true;
    if (current.child.exitCode === null && current.child.signalCode === null) current.child.kill(signal);
  };
  for (const signal of FORWARDED) process.on(signal, forward);

  if (flags.watch) {
    let timer: NodeJS.Timeout | undefined;
    let restarts: Promise<void> = Promise.resolve();
    const restart = async () => {
      if (stopping) return;
      let next: EnvironmentSet;
      try {
        next = variables(follower.snapshot);
      } catch (e) {
        log.error(`${(e as Error).message}; the command keeps running with the values it has`);
        return;
      }
      const changed = changedNames(current.vars, next.vars);
      if (changed.length === 0) return;
      log.info(`${changed.join(", ")} changed: restarting ${argv[0]}`);
      const old = current;
      old.replacing = true;
      await stop(old, flags.grace * 1000);
      if (stopping) return;
      current = launch(next.vars);
    };
    // From now on (the command already runs with the first read), a change restarts it.
    onChange = (_snapshot, changed) => {
      if (changed.length === 0 || stopping) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        restarts = restarts.then(restart);
      }, RESTART_DEBOUNCE_MS);
    };
    follower.start();
    const exit = await finished;
    stopping = true;
    clearTimeout(timer);
    await follower.stop();
    await restarts;
    return end(exit);
  }
  return end(await finished);

  function end(exit: Exit): void {
    for (const signal of FORWARDED) process.off(signal, forward);
    if (exit.signal) {
      // Die of the same signal, so whoever started us sees what happened to the command.
      process.exitCode = 128 + (constants.signals[exit.signal] ?? 0);
      process.kill(process.pid, exit.signal);
      return;
    }
    process.exitCode = exit.code ?? 1;
  }
}

/** The variables of a snapshot; a warning lists the secrets left out (again only when that list changes). */
function variablesOf(log: Logger): (snapshot: Snapshot) => EnvironmentSet {
  let warned = "";
  return (snapshot) => {
    const set = environmentOf(snapshot.items, snapshot.revealed);
    const skipped = set.skipped.join(", ");
    if (skipped && skipped !== warned) {
      const what = set.skipped.length === 1 ? "a secret" : "secrets";
      log.warn(`left out ${what} your credential may not reveal (secrets:${snapshot.namespace}:reveal): ${skipped}`);
    }
    warned = skipped;
    return set;
  };
}

function changedNames(before: Record<string, string>, after: Record<string, string>): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((n) => before[n] !== after[n]).sort();
}

/** SIGTERM, then SIGKILL when it has not exited within the grace period. */
async function stop(launched: Launched, graceMs: number): Promise<void> {
  const { child } = launched;
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await launched.exited;
  clearTimeout(timer);
}
