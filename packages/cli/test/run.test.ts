/**
 * `cairn run` against a real server process: values become environment variables (documented names),
 * secrets only when the caller may reveal them, the child's exit code passes through, `--watch` restarts
 * the child on change.
 */
import assert from "node:assert/strict";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type CliProcess, type RestartableServer, startCli, startRestartableServer } from "./support/agent-server.js";
import { cairn, tempDir } from "./support/cairn.js";

let server: RestartableServer;
let env: Record<string, string>;
let dir: string;
const NS = "run/api";
const running: CliProcess[] = [];

const cli = (args: string[], extra: Record<string, string> = {}) => cairn(args, { env: { ...env, ...extra } });
const set = async (...args: string[]) => {
  const res = await cli(["set", NS, ...args]);
  assert.equal(res.code, 0, res.stderr);
};
/** A node one-liner as the child command. */
const node = (script: string) => [process.execPath, "-e", script];
const printEnv = node("process.stdout.write(JSON.stringify(process.env))");

before(async () => {
  server = await startRestartableServer();
  env = { CAIRN_URL: server.url, CAIRN_TOKEN: server.token };
  dir = await tempDir("run");
  await set("database.url", "postgres://db.internal/app");
  await set("database.url", "postgres://db.prod/app", "--env", "production");
  await set("pool", '{"size":5}');
  await set("feature-flags.beta", "true");
  await set("api.key", "sk_run_secret", "--secret");
});

after(async () => {
  for (const p of running) await p.stop("SIGKILL");
  await server?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test(`injects resolved values as environment variables (${process.env.DATABASE_URL ? "postgres" : "pglite"})`, async () => {
  const res = await cli(["run", "-n", NS, "-e", "production", "--", ...printEnv], { POOL: "from-the-caller", KEEP_ME: "1" });
  assert.equal(res.code, 0, res.stderr);
  const child = JSON.parse(res.stdout) as Record<string, string>;
  assert.equal(child.DATABASE_URL, "postgres://db.prod/app", "resolved in production");
  assert.equal(child.POOL, '{"size":5}', "objects as JSON; Cairn's value wins over the caller's");
  assert.equal(child.FEATURE_FLAGS_BETA, "true", "feature-flags.beta → FEATURE_FLAGS_BETA");
  assert.equal(child.API_KEY, "sk_run_secret", "the admin key may reveal secrets");
  assert.equal(child.KEEP_ME, "1", "the rest of the environment is kept");

  const preserved = await cli(["run", "-n", NS, "--preserve-env", "--", ...printEnv], { POOL: "from-the-caller" });
  assert.equal(JSON.parse(preserved.stdout).POOL, "from-the-caller");

  // Options after the command are the command's own.
  const passed = await cli(["run", "-n", NS, process.execPath, "-e", "console.log(process.argv.slice(1).join(' '))", "--", "-n", "x"]);
  assert.equal(passed.code, 0, passed.stderr);
  assert.equal(passed.stdout.trim(), "-n x");
});

test("passes the exit code (and a death by signal) through", async () => {
  assert.equal((await cli(["run", "-n", NS, "--", ...node("process.exit(3)")])).code, 3);
  assert.equal((await cli(["run", "-n", NS, "--", ...node("process.exit(0)")])).code, 0);
  const killed = await cli(["run", "-n", NS, "--", ...node("process.kill(process.pid, 'SIGTERM')")]);
  assert.equal(killed.code, null, "cairn run died of the same signal");
  const missing = await cli(["run", "-n", NS, "--", "no-such-command-xyz"]);
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /no-such-command-xyz: command not found/);
});

test("secrets the caller may not reveal are left out with a warning", async () => {
  const key = await cli(["keys", "create", "run-developer", "--role", "developer"]);
  assert.equal(key.code, 0, key.stderr);
  const res = await cli(["run", "-n", NS, "--", ...printEnv], { CAIRN_TOKEN: key.stdout.trim() });
  assert.equal(res.code, 0, res.stderr);
  const child = JSON.parse(res.stdout) as Record<string, string>;
  assert.equal(child.API_KEY, undefined);
  assert.equal(child.DATABASE_URL, "postgres://db.internal/app");
  assert.match(res.stderr, /warning: left out a secret your credential may not reveal .*: api\.key/);
});

test("two keys with one variable name: an error naming both", async () => {
  const ns = "run/collide";
  await cli(["set", ns, "a.b", "1"]);
  await cli(["set", ns, "a_b", "2"]);
  const res = await cli(["run", "-n", ns, "--", ...printEnv]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /"a\.b" and "a_b" both become the variable A_B/);
  assert.equal(res.stdout, "", "the command did not run");
});

test("--watch restarts the command on a change: SIGTERM, then SIGKILL after --grace", async () => {
  const log = join(dir, "watch.log");
  // Each start appends "<pid> <value>"; it ignores SIGTERM, so the restart needs the SIGKILL after --grace.
  const script = `require("node:fs").appendFileSync(${JSON.stringify(log)}, process.pid + " " + process.env.POOL + "\\n");
    process.on("SIGTERM", () => {}); setInterval(() => {}, 1000);`;
  const watcher = startCli(["run", "-n", NS, "--watch", "--grace", "1", "--poll-interval", "1", "--", ...node(script)], env);
  running.push(watcher);
  const lines = async () => (await readFile(log, "utf8").catch(() => "")).trim().split("\n").filter(Boolean);
  await untilAsync("the first start", async () => (await lines()).length === 1, 30_000, watcher.stderr);
  assert.match((await lines())[0] as string, / \{"size":5\}$/);

  await set("pool", '{"size":6}');
  await untilAsync("the restart", async () => (await lines()).length === 2, 30_000, watcher.stderr);
  const [first, second] = (await lines()).map((l) => l.split(" ")) as [string[], string[]];
  assert.equal(second[1], '{"size":6}');
  assert.notEqual(first[0], second[0], "a new process");
  assert.throws(() => process.kill(Number(first[0]), 0), "the old process is gone");
  assert.match(watcher.stderr(), /POOL changed: restarting/);

  // A new version with the same value changes no variable: no restart.
  await set("pool", '{"size":6}');
  await new Promise((r) => setTimeout(r, 2_000));
  assert.equal((await lines()).length, 2, "the same value again: no restart");

  // SIGINT to cairn run reaches the command (which does not ignore it), and its end is cairn run's.
  const code = await watcher.stop("SIGINT");
  assert.equal(code, 130);
});

test("bad input exits 2 with a message", async () => {
  const missingNs = await cli(["run", "--", "true"]);
  assert.equal(missingNs.code, 2);
  assert.match(missingNs.stderr, /--namespace/);
  const noCommand = await cli(["run", "-n", NS]);
  assert.equal(noCommand.code, 2);
  assert.match(noCommand.stderr, /missing required argument 'command'/);
  const badGrace = await cli(["run", "-n", NS, "--grace", "soon", "--", "true"]);
  assert.equal(badGrace.code, 2);
  const help = await cairn(["run", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /DATABASE_URL/);
});

async function untilAsync(what: string, cond: () => Promise<boolean>, timeoutMs: number, detail?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}${detail ? `:\n${detail()}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
