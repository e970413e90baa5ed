import assert from "node:assert/strict";
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { cairn, type RunningServer, startServer, tempDir } from "./support/cairn.js";

let server: RunningServer;
let env: Record<string, string>;
let dir: string;
const run = (...args: string[]) => cairn(args, { env });

before(async () => {
  [server, dir] = await Promise.all([startServer(), tempDir("files")]);
  env = { CAIRN_URL: server.url, CAIRN_TOKEN: server.token };
});
after(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

const values = async (ns: string, ...flags: string[]) => {
  const list = JSON.parse((await run("ls", ns, "--json", ...flags)).stdout) as { items: { key: string; value: unknown }[] };
  return Object.fromEntries(list.items.map((i) => [i.key, i.value]));
};

test("import a .env file: every line becomes a string key, atomically", async () => {
  const file = join(dir, "app.env");
  await writeFile(file, '# comment\nPORT=8080\nexport NAME="two words"\nQUOTED=\'lit $x\'\nMULTI="a\\nb"\nTRAIL=v # note\n');
  const res = await run("import", "imp/env", file, "--env", "staging");
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stdout, "imported 5 keys into imp/env (staging): 5 created\n");
  assert.deepEqual(await values("imp/env", "--env", "staging"), {
    MULTI: "a\nb",
    NAME: "two words",
    PORT: "8080",
    QUOTED: "lit $x",
    TRAIL: "v",
  });
});

test("import a JSON file: top-level members become keys and keep their types", async () => {
  const file = join(dir, "settings.json");
  await writeFile(file, JSON.stringify({ "pool.size": 20, feature: { on: true }, hosts: ["a", "b"] }));
  const res = await run("import", "imp/json", file, "--json");
  assert.equal(res.code, 0, res.stderr);
  assert.equal(JSON.parse(res.stdout).applied, 3);
  assert.deepEqual(await values("imp/json"), { feature: { on: true }, hosts: ["a", "b"], "pool.size": 20 });

  const again = await run("import", "imp/json", file);
  assert.match(again.stdout, /imported 3 keys into imp\/json \(base\): 3 updated/);
});

test("import from stdin with an explicit format, and --secret", async () => {
  const res = await cairn(["import", "imp/yaml", "-", "--format", "yaml", "--secret"], { env, input: "token: abc\nretries: 3\n" });
  assert.equal(res.code, 0, res.stderr);
  const list = JSON.parse((await run("ls", "imp/yaml", "--json", "--reveal")).stdout);
  assert.deepEqual(
    list.items.map((i: { key: string; value: unknown; secret: boolean }) => [i.key, i.value, i.secret]),
    [
      ["retries", 3, true],
      ["token", "abc", true],
    ],
  );
});

test("a bad import changes nothing: invalid key names fail the whole batch", async () => {
  const file = join(dir, "bad.json");
  await writeFile(file, JSON.stringify({ good: 1, "bad key!": 2 }));
  const res = await run("import", "imp/bad", file);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /^error: /);
  assert.equal((await run("get", "imp/bad", "good")).code, 1, "the valid key was not written either");

  await writeFile(join(dir, "array.json"), "[1,2]");
  const notObject = await run("import", "imp/bad", join(dir, "array.json"));
  assert.equal(notObject.code, 1);
  assert.match(notObject.stderr, /expected an object/);
});

test("export as json, yaml and dotenv; -o writes a 0600 file", async () => {
  await run("set", "exp/ns", "db.url", "postgres://x");
  await run("set", "exp/ns", "pool", "5");

  const json = await run("export", "exp/ns");
  assert.equal(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout);
  assert.deepEqual(
    doc.items.map((i: { key: string }) => i.key),
    ["db.url", "pool"],
  );

  const yaml = await run("export", "exp/ns", "--format", "yaml");
  assert.deepEqual(parseYaml(yaml.stdout), { "db.url": "postgres://x", pool: 5 });

  const out = join(dir, "exp.env");
  const dotenv = await run("export", "exp/ns", "--format", "dotenv", "-o", out);
  assert.equal(dotenv.code, 0, dotenv.stderr);
  assert.equal(dotenv.stdout, "");
  assert.equal(await readFile(out, "utf8"), "DB_URL=postgres://x\nPOOL=5\n");
  assert.equal((await stat(out)).mode & 0o777, 0o600);

  const bad = await run("export", "exp/ns", "--format", "toml");
  assert.equal(bad.code, 2);
});

test("export --format json then import round-trips, secrets included when revealed", async () => {
  await run("set", "rt/src", "plain", '{"a":1}');
  await run("set", "rt/src", "secret", "s3cret", "--secret");

  const masked = join(dir, "masked.json");
  await writeFile(masked, (await run("export", "rt/src")).stdout);
  const refused = await run("import", "rt/dst", masked);
  assert.equal(refused.code, 1, "importing masked secrets would overwrite them with dots");
  assert.match(refused.stderr, /secret.*--reveal/);

  const revealed = join(dir, "revealed.json");
  assert.equal((await run("export", "rt/src", "--reveal", "-o", revealed)).code, 0);
  const res = await run("import", "rt/dst", revealed);
  assert.equal(res.code, 0, res.stderr);
  const copied = JSON.parse((await run("ls", "rt/dst", "--json", "--reveal")).stdout);
  assert.deepEqual(
    copied.items.map((i: { key: string; value: unknown; secret: boolean }) => [i.key, i.value, i.secret]),
    [
      ["plain", { a: 1 }, false],
      ["secret", "s3cret", true],
    ],
  );
});
