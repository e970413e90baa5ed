import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cairn, type RunningServer, startServer } from "./support/cairn.js";

// `cairn admin`: key rotations started, followed to the end, and refused for a non-admin.
let server: RunningServer;
let env: Record<string, string>;
const run = (...args: string[]) => cairn(args, { env });

before(async () => {
  server = await startServer();
  env = { CAIRN_URL: server.url, CAIRN_TOKEN: server.token };
});
after(() => server?.stop());

test("rotate-data-key --wait re-encrypts a namespace's values; values read back the same", async () => {
  assert.equal((await run("set", "rot/app", "a", "1")).code, 0);
  assert.equal((await run("set", "rot/app", "b", "2")).code, 0);
  await run("set", "rot/app", "a", "3");
  const rotated = await run("admin", "rotate-data-key", "rot/app", "--wait", "--json");
  assert.equal(rotated.code, 0, rotated.stderr);
  const job = JSON.parse(rotated.stdout);
  assert.equal(job.status, "completed", rotated.stdout);
  assert.ok(job.done >= 3, `every version re-encrypted: ${rotated.stdout}`);
  assert.equal((await run("get", "rot/app", "a")).stdout, "3\n");
  assert.equal((await run("get", "rot/app", "a", "--version", "1")).stdout, "1\n");

  const shown = await run("admin", "key-rotations", "show", job.id);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /completed/);
});

test("rotate-master-key --all rewraps every key; a key without admin rights is refused", async () => {
  const rotated = await run("admin", "rotate-master-key", "--all", "--wait", "--json");
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.equal(JSON.parse(rotated.stdout).status, "completed");
  assert.equal((await run("get", "rot/app", "b")).stdout, "2\n");

  const created = await run("keys", "create", "ops", "--role", "operator", "--json");
  assert.equal(created.code, 0, created.stderr);
  const operator = JSON.parse(created.stdout).key;
  const refused = await cairn(["admin", "rotate-master-key"], { env: { ...env, CAIRN_TOKEN: operator } });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /admin/);
});
