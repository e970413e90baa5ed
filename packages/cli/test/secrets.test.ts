import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { cairn, type RunningServer, startServer, tempDir } from "./support/cairn.js";

let server: RunningServer;
let env: Record<string, string>;
let dir: string;
const run = (...args: string[]) => cairn(args, { env });
const json = async (...args: string[]) => {
  const res = await run(...args, "--json");
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(res.stdout);
};

before(async () => {
  server = await startServer();
  env = { CAIRN_URL: server.url, CAIRN_TOKEN: server.token };
  dir = await tempDir("secrets");
});
after(() => server?.stop());

test("secrets set / get: masked by default, --reveal and --field print the value", async () => {
  const set = await run(
    "secrets",
    "set",
    "prod/db",
    "main",
    "--type",
    "database_credentials",
    "--field",
    "host=db.internal",
    "--field",
    "port=5432",
    "--field",
    "database=app",
    "--field",
    "username=app",
    "--field",
    "password=hunter2-x",
  );
  assert.equal(set.code, 0, set.stderr);
  assert.equal(set.stdout, "set prod/db main → version 1 (database_credentials, base)\n");

  const shown = await run("secrets", "get", "prod/db", "main");
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /type:\s+database_credentials/);
  assert.match(shown.stdout, /value:\s+••••/);
  assert.ok(!shown.stdout.includes("hunter2-x"));

  const password = await run("secrets", "get", "prod/db", "main", "--reveal", "--field", "password");
  assert.equal(password.stdout, "hunter2-x\n");
  assert.equal((await json("secrets", "get", "prod/db", "main", "--reveal")).value.port, 5432);

  // A PEM file and stdin.
  await writeFile(join(dir, "token.txt"), "tok_from_file_123\n");
  assert.equal((await run("secrets", "set", "prod/api", "filed", "--type", "api_key", "--from-file", join(dir, "token.txt"))).code, 0);
  const piped = await cairn(["secrets", "set", "prod/api", "piped", "--type", "api_key"], { env, input: "tok_from_stdin_456\n" });
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal((await run("secrets", "get", "prod/api", "piped", "--reveal")).stdout, "tok_from_stdin_456\n");
});

test("secrets rotate: generated or supplied; previous readable during the grace period; ls shows it", async () => {
  const rotated = await run("secrets", "rotate", "prod/db", "main", "--grace", "1h", "--length", "24");
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.match(rotated.stdout, /^rotated prod\/db main → version 2 \(database_credentials, generated\); version 1 readable until \d{4}-/);
  const next = await run("secrets", "get", "prod/db", "main", "--reveal", "--field", "password");
  assert.match(next.stdout, /^[A-Za-z0-9]{24}\n$/);
  const previous = await run("secrets", "get", "prod/db", "main", "--reveal", "--field", "password", "--version", "previous");
  assert.equal(previous.stdout, "hunter2-x\n");

  const supplied = await json("secrets", "rotate", "prod/api", "filed", "--value", "tok_supplied_789", "--grace", "0");
  assert.equal(supplied.version, 2);
  assert.equal(supplied.previous.retired, true);

  const ssh = await json("secrets", "rotate", "prod/ci", "deploy", "--type", "ssh_key");
  assert.match(ssh.metadata.publicKey, /^ssh-ed25519 AAAA/);

  const ls = await run("secrets", "ls", "prod/db");
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^KEY\s+TYPE\s+VERSION\s+ROTATED\s+PREVIOUS/);
  assert.match(ls.stdout, /main\s+database_credentials\s+2\s+\S+\s+v1 until/);
  assert.equal((await json("secrets", "ls", "prod/db")).items[0].value, "••••");
});

test("errors: a bad typed value names the field and exits 1; usage errors exit 2; --help works", async () => {
  const bad = await run("secrets", "set", "prod/db", "bad", "--type", "database_credentials", "--field", "host=h", "--field", "port=http");
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /\/value\/port: must be an integer/);
  assert.match(bad.stderr, /\/value\/password: required/);

  const noType = await run("secrets", "set", "prod/db", "bad", "x", "--type", "nope");
  assert.equal(noType.code, 2);
  const noReveal = await run("secrets", "get", "prod/db", "main", "--field", "password");
  assert.equal(noReveal.code, 2);
  assert.match(noReveal.stderr, /add --reveal/);
  const twoValues = await run("secrets", "rotate", "prod/api", "filed", "--value", "a", "--length", "20");
  assert.equal(twoValues.code, 2);
  const missing = await run("secrets", "get", "prod/db", "nothing");
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /error: .*nothing/);

  const help = await run("secrets", "--help");
  assert.equal(help.code, 0);
  for (const sub of ["set", "get", "rotate", "ls"]) assert.match(help.stdout, new RegExp(`\\n  ${sub}\\b`));
  const rotateHelp = await run("secrets", "rotate", "--help");
  assert.match(rotateHelp.stdout, /--grace <duration>/);
});
