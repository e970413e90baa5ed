import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cairn, type RunningServer, startServer } from "./support/cairn.js";

let server: RunningServer;
let env: Record<string, string>;
const run = (...args: string[]) => cairn(args, { env });
const runWith = (input: string, ...args: string[]) => cairn(args, { env, input });

before(async () => {
  server = await startServer();
  env = { CAIRN_URL: server.url, CAIRN_TOKEN: server.token };
});
after(() => server?.stop());

test("set then get: strings print raw, JSON values pretty", async () => {
  const set = await run("set", "prod/api", "db.url", "postgres://db:5432/app");
  assert.equal(set.code, 0, set.stderr);
  assert.equal(set.stdout, "set prod/api db.url → version 1 (base)\n");

  const get = await run("get", "prod/api", "db.url");
  assert.equal(get.code, 0, get.stderr);
  assert.equal(get.stdout, "postgres://db:5432/app\n");

  await run("set", "prod/api", "limits", '{"rps":100}');
  const limits = await run("get", "prod/api", "limits");
  assert.equal(limits.stdout, '{\n  "rps": 100\n}\n');
});

test("set parses JSON when it can; --string forces a string; stdin and --file work", async () => {
  await run("set", "types/ns", "n", "8080");
  await run("set", "types/ns", "s", "1.10", "--string");
  const viaStdin = await runWith("line one\nline two\n", "set", "types/ns", "piped");
  assert.equal(viaStdin.code, 0, viaStdin.stderr);

  const n = JSON.parse((await run("get", "types/ns", "n", "--json")).stdout);
  assert.equal(n.value, 8080);
  const s = JSON.parse((await run("get", "types/ns", "s", "--json")).stdout);
  assert.equal(s.value, "1.10");
  const piped = JSON.parse((await run("get", "types/ns", "piped", "--json")).stdout);
  assert.equal(piped.value, "line one\nline two", "one trailing newline is dropped, as $(…) would");

  const bad = await run("set", "types/ns", "j", "{nope", "--json-value");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /not valid JSON/);
});

test("get --json prints the API's ResolvedConfig", async () => {
  await run("set", "json/ns", "k", "v", "--env", "staging");
  const res = await run("get", "json/ns", "k", "--env", "production", "--json");
  assert.equal(res.code, 0, res.stderr);
  const entry = JSON.parse(res.stdout);
  assert.equal(entry.value, "v");
  assert.equal(entry.environment, "production");
  assert.equal(entry.resolvedFrom, "staging");
});

test("secrets are masked unless --reveal", async () => {
  await run("set", "sec/ns", "password", "hunter2", "--secret");
  const masked = await run("get", "sec/ns", "password");
  assert.equal(masked.code, 0);
  assert.notEqual(masked.stdout.trim(), "hunter2");
  assert.match(masked.stderr, /--reveal/);
  const revealed = await run("get", "sec/ns", "password", "--reveal");
  assert.equal(revealed.stdout, "hunter2\n");
});

test("get of a missing key exits 1 with the server's explanation", async () => {
  const res = await run("get", "prod/api", "does.not.exist");
  assert.equal(res.code, 1);
  assert.match(res.stderr, /^error: .+/);
  assert.equal(res.stdout, "");
});

test("ls shows key, value, version and where it resolved from; --json parses", async () => {
  await run("set", "ls/ns", "a", "base-a");
  await run("set", "ls/ns", "b", "x".repeat(200), "--env", "production");
  const res = await run("ls", "ls/ns", "--env", "production");
  assert.equal(res.code, 0, res.stderr);
  const lines = res.stdout.trimEnd().split("\n");
  assert.match(lines[0] ?? "", /^KEY\s+VALUE\s+VERSION\s+FROM$/);
  assert.match(lines[1] ?? "", /^a\s+base-a\s+1\s+base$/);
  assert.match(lines[2] ?? "", /^b\s+x+…\s+1\s+production$/, "long values are truncated");

  const json = JSON.parse((await run("ls", "ls/ns", "--json")).stdout);
  assert.deepEqual(
    json.items.map((i: { key: string }) => i.key),
    ["a"],
  );
  const prefixed = JSON.parse((await run("ls", "ls/ns", "--env", "production", "--prefix", "b", "--json")).stdout);
  assert.equal(prefixed.items.length, 1);
});

test("If-Match: a stale --if-match exits 1 and names the current version", async () => {
  await run("set", "cas/ns", "k", "1");
  await run("set", "cas/ns", "k", "2");
  const stale = await run("set", "cas/ns", "k", "3", "--if-match", "1");
  assert.equal(stale.code, 1);
  assert.match(stale.stderr, /version 2/);
  const ok = await run("set", "cas/ns", "k", "3", "--if-match", "2");
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /version 3/);
});

test("rm deletes (tombstone) and get then exits 1; history keeps every version", async () => {
  await run("set", "rm/ns", "gone", "v1", "--reason", "first");
  const rm = await run("rm", "rm/ns", "gone", "--reason", "cleanup");
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal(rm.stdout, "deleted rm/ns gone → version 2 (base)\n");
  assert.equal((await run("get", "rm/ns", "gone")).code, 1);

  const history = JSON.parse((await run("history", "rm/ns", "gone", "--json")).stdout);
  assert.deepEqual(
    history.items.map((i: { version: number; changeType: string }) => [i.version, i.changeType]),
    [
      [2, "delete"],
      [1, "create"],
    ],
  );
  const table = await run("history", "rm/ns", "gone");
  assert.match(table.stdout, /^VERSION\s+CHANGE/);
  assert.match(table.stdout, /cleanup/);
});

test("history without a key lists the namespace's changes", async () => {
  await run("set", "nsh/ns", "a", "1");
  await run("set", "nsh/ns", "b", "2");
  const res = await run("history", "nsh/ns", "--json");
  assert.equal(res.code, 0, res.stderr);
  const keys = JSON.parse(res.stdout).items.map((i: { key: string }) => i.key);
  assert.deepEqual(keys, ["b", "a"]);
  assert.match((await run("history", "nsh/ns", "--limit", "1")).stdout.trim(), /^AT.*\n.*\bb\b/);
});

test("rollback restores an old value as a new version", async () => {
  await run("set", "rb/ns", "k", "old");
  await run("set", "rb/ns", "k", "new");
  const res = await run("rollback", "rb/ns", "k", "1", "--reason", "bad deploy");
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stdout, "rolled back rb/ns k to version 1 → version 3 (base)\n");
  assert.equal((await run("get", "rb/ns", "k")).stdout, "old\n");
  const latest = JSON.parse((await run("history", "rb/ns", "k", "--json")).stdout).items[0];
  assert.equal(latest.changeType, "restore");
});

test("diff between versions, and between environments", async () => {
  await run("set", "diff/ns", "cfg", '{"host":"a","port":1}');
  await run("set", "diff/ns", "cfg", '{"host":"b","port":1,"tls":true}');
  const versions = await run("diff", "diff/ns", "cfg", "--from", "1", "--to", "2");
  assert.equal(versions.code, 0, versions.stderr);
  assert.match(versions.stdout, /^--- diff\/ns cfg \(base @ v1\)\n\+\+\+ diff\/ns cfg \(base @ v2\)\n/);
  assert.match(versions.stdout, /^- \/host: "a"$/m);
  assert.match(versions.stdout, /^\+ \/host: "b"$/m);
  assert.match(versions.stdout, /^\+ \/tls: true$/m);

  const json = JSON.parse((await run("diff", "diff/ns", "cfg", "--from", "1", "--json")).stdout);
  assert.deepEqual(json.patch, [
    { op: "replace", path: "/host", value: "b" },
    { op: "add", path: "/tls", value: true },
  ]);

  await run("set", "diff/ns", "cfg", '{"host":"prod","port":1,"tls":true}', "--env", "production");
  const envs = await run("diff", "diff/ns", "cfg", "--env", "staging", "--env2", "production", "--json");
  assert.equal(envs.code, 0, envs.stderr);
  const envDiff = JSON.parse(envs.stdout);
  assert.equal(envDiff.from.resolvedFrom, "base");
  assert.equal(envDiff.to.resolvedFrom, "production");
  assert.deepEqual(envDiff.patch, [{ op: "replace", path: "/host", value: "prod" }]);

  const same = await run("diff", "diff/ns", "cfg", "--from", "2", "--to", "2");
  assert.match(same.stdout, /no differences/);
  const nothing = await run("diff", "diff/ns", "cfg");
  assert.equal(nothing.code, 2, "neither --from nor --env2 is a usage error");
});

test("set warns about a plain value that looks like a credential; get and ls --resolve follow references", async () => {
  const leaked = await run("set", "refs/cli", "aws_key", "AKIAIOSFODNN7EXAMPLE");
  assert.equal(leaked.code, 0, leaked.stderr);
  assert.match(leaked.stderr, /warning: .*looks like an AWS access key id.*secret/);
  assert.ok(!leaked.stderr.includes("AKIAIOSFODNN7EXAMPLE"), "the warning does not echo the value");

  await run("set", "refs/cli", "password", "pw-cli-1", "--secret");
  await run("set", "refs/cli", "host", "db.internal");
  await run("set", "refs/cli", "dsn", "postgres://app:${ref:refs/cli/password}@${ref:refs/cli/host}/app");
  assert.equal((await run("get", "refs/cli", "dsn")).stdout, "postgres://app:${ref:refs/cli/password}@${ref:refs/cli/host}/app\n");
  assert.equal((await run("get", "refs/cli", "dsn", "--resolve")).stdout, "postgres://app:••••@db.internal/app\n");
  assert.equal((await run("get", "refs/cli", "dsn", "--resolve", "--reveal")).stdout, "postgres://app:pw-cli-1@db.internal/app\n");
  const list = JSON.parse((await run("ls", "refs/cli", "--resolve", "--json")).stdout);
  assert.equal(list.items.find((i: { key: string }) => i.key === "dsn").value, "postgres://app:••••@db.internal/app");

  await run("set", "refs/cli", "a", "${ref:refs/cli/b}");
  const cycle = await run("set", "refs/cli", "b", "${ref:refs/cli/a}");
  assert.notEqual(cycle.code, 0);
  assert.match(cycle.stderr, /reference cycle: refs\/cli\/b → refs\/cli\/a → refs\/cli\/b/);
});
