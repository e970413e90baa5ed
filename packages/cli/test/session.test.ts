import assert from "node:assert/strict";
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { cairn, freePort, type RunningServer, startServer, tempDir } from "./support/cairn.js";

let server: RunningServer;
let env: Record<string, string>;
let dir: string;
const run = (...args: string[]) => cairn(args, { env });

before(async () => {
  [server, dir] = await Promise.all([startServer(), tempDir("session")]);
  env = { CAIRN_URL: server.url, CAIRN_TOKEN: server.token };
});
after(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

test("login verifies the token, stores it 0600 in a 0700 dir, and later commands use it", async () => {
  const home = join(dir, "config-home");
  const asUser = (args: string[], input?: string) => cairn(args, { env: { XDG_CONFIG_HOME: home }, input });

  const login = await asUser(["login", "--url", server.url], `${server.token}\n`);
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stdout, /^logged in to http:\/\/127\.0\.0\.1:\d+/);
  assert.ok(!login.stdout.includes(server.token), "the token is never echoed");

  const file = join(home, "cairn", "config.json");
  assert.deepEqual(JSON.parse(await readFile(file, "utf8")), { url: server.url, token: server.token });
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal((await stat(join(home, "cairn"))).mode & 0o777, 0o700);

  const set = await asUser(["set", "login/ns", "k", "v"]);
  assert.equal(set.code, 0, set.stderr);
  assert.equal((await asUser(["get", "login/ns", "k"])).stdout, "v\n");

  // The stored token is only sent to the URL it was stored for.
  const elsewhere = await cairn(["get", "login/ns", "k"], { env: { XDG_CONFIG_HOME: home, CAIRN_URL: "http://127.0.0.1:1" } });
  assert.equal(elsewhere.code, 1);
  assert.match(elsewhere.stderr, /not logged in to http:\/\/127\.0\.0\.1:1/);

  const logout = await asUser(["logout"]);
  assert.equal(logout.code, 0);
  await assert.rejects(stat(file));
});

test("login with a bad token exits 1 and saves nothing", async () => {
  const home = join(dir, "bad-login");
  const res = await cairn(["login", "--url", server.url, "--token", "cairn_AAAAAAAA_notarealsecret"], { env: { XDG_CONFIG_HOME: home } });
  assert.equal(res.code, 1);
  assert.match(res.stderr, /^error: .*rejected this token/);
  await assert.rejects(stat(join(home, "cairn", "config.json")));

  const empty = await cairn(["login", "--url", server.url], { env: { XDG_CONFIG_HOME: home }, input: "" });
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /no token given/);
});

test("a bad token exits 1 with the server's message and a hint", async () => {
  const res = await cairn(["ls", "any/ns"], { env: { CAIRN_URL: server.url, CAIRN_TOKEN: "cairn_AAAAAAAA_notarealsecret" } });
  assert.equal(res.code, 1);
  assert.match(res.stderr, /^error: .+\nhint: run `cairn login`/);
});

test("no token at all exits 1 before calling the server", async () => {
  const res = await cairn(["ls", "any/ns"], { env: { CAIRN_URL: server.url } });
  assert.equal(res.code, 1);
  assert.match(res.stderr, /not logged in.*cairn login/);
});

test("server down exits 1 with a helpful message", async () => {
  const url = `http://127.0.0.1:${await freePort()}`;
  const res = await cairn(["get", "a/b", "k"], { env: { CAIRN_URL: url, CAIRN_TOKEN: server.token } });
  assert.equal(res.code, 1);
  assert.match(res.stderr, new RegExp(`cannot reach Cairn at ${url}.*is it running\\? start it with \`npx cairn serve\``));
});

test("--url and --token flags override the environment", async () => {
  const res = await cairn(["env", "ls", "--json", "--url", server.url, "--token", server.token], {
    env: { CAIRN_URL: "http://127.0.0.1:1", CAIRN_TOKEN: "wrong" },
  });
  assert.equal(res.code, 0, res.stderr);
  const before = await cairn(["--url", server.url, "--token", server.token, "env", "ls", "--json"]);
  assert.equal(before.code, 0, before.stderr);
});

test("env ls and env create", async () => {
  const ls = await run("env", "ls", "--json");
  assert.equal(ls.code, 0, ls.stderr);
  const names = JSON.parse(ls.stdout).items.map((e: { name: string }) => e.name);
  for (const name of ["base", "development", "staging", "production"]) assert.ok(names.includes(name), name);

  const created = await run("env", "create", "qa", "--parent", "staging");
  assert.equal(created.code, 0, created.stderr);
  assert.equal(created.stdout, "created environment qa (resolves qa → staging → development → base)\n");
  const table = await run("env", "ls");
  assert.match(table.stdout, /^NAME\s+PARENT\s+CHAIN\s+CREATED$/m);
  assert.match(table.stdout, /^qa\s+staging\s+qa → staging → development → base\s/m);

  const duplicate = await run("env", "create", "qa");
  assert.equal(duplicate.code, 1);
  assert.match(duplicate.stderr, /^error: .*qa/);
});

test("schema set/get, and writes that violate it exit 1 with field errors", async () => {
  const file = join(dir, "pool.schema.json");
  await writeFile(file, JSON.stringify({ type: "integer", minimum: 1 }));
  const set = await run("schema", "set", "sch/ns", "pool", file);
  assert.equal(set.code, 0, set.stderr);
  assert.deepEqual(JSON.parse((await run("schema", "get", "sch/ns", "pool")).stdout), { type: "integer", minimum: 1 });
  assert.equal(JSON.parse((await run("schema", "get", "sch/ns", "pool", "--json")).stdout).key, "pool");

  const violation = await run("set", "sch/ns", "pool", "0");
  assert.equal(violation.code, 1);
  assert.match(violation.stderr, /^error: .+\n {2}- .+/);
  assert.equal((await run("set", "sch/ns", "pool", "3")).code, 0);

  assert.equal((await run("schema", "rm", "sch/ns", "pool")).code, 0);
  assert.equal((await run("schema", "get", "sch/ns", "pool")).code, 1);
});

test("--help exits 0 for the program and every command", async () => {
  const commands = [
    [],
    ["serve"],
    ["login"],
    ["get"],
    ["set"],
    ["ls"],
    ["rm"],
    ["history"],
    ["rollback"],
    ["diff"],
    ["export"],
    ["import"],
    ["env"],
    ["env", "ls"],
    ["env", "create"],
    ["schema"],
    ["schema", "set"],
    ["schema", "get"],
  ];
  for (const command of commands) {
    const res = await cairn([...command, "--help"]);
    assert.equal(res.code, 0, `${command.join(" ")} --help: ${res.stderr}`);
    assert.match(res.stdout, /^Usage: cairn/, command.join(" "));
  }
  assert.match((await cairn(["get", "--help"])).stdout, /Examples:\n {2}\$ cairn get/);
});

test("usage errors exit 2", async () => {
  for (const args of [
    ["get", "only-namespace"],
    ["frobnicate"],
    ["ls", "a/b", "--no-such-flag"],
    ["get", "a/b", "k", "--version", "abc"],
    ["rollback", "a/b", "k", "zero"],
    ["set", "a/b", "k", "v", "--string", "--json-value"],
    [],
  ]) {
    const res = await cairn(args, { env });
    assert.equal(res.code, 2, `${args.join(" ")}: ${res.stderr}`);
    assert.match(res.stderr, /error|Usage/, args.join(" "));
  }
});

test("--version prints the CLI version", async () => {
  const res = await cairn(["--version"]);
  assert.equal(res.code, 0);
  assert.match(res.stdout, /^\d+\.\d+\.\d+\n$/);
});
