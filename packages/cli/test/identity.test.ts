/** `cairn keys|roles|bindings|groups|authz` against a real server, through the built binary. */
import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { cairn, type RunningServer, startServer, tempDir } from "./support/cairn.js";

const KEY = /^cairn_[0-9A-Za-z]{8}_[0-9A-Za-z]+$/;

let server: RunningServer;
let env: Record<string, string>;
let dir: string;
/** As the bootstrap admin. */
const run = (...args: string[]) => cairn(args, { env });
/** With another API key. */
const as = (token: string, args: string[], input?: string) => cairn(args, { env: { CAIRN_URL: server.url, CAIRN_TOKEN: token }, input });

before(async () => {
  [server, dir] = await Promise.all([startServer(), tempDir("identity")]);
  env = { CAIRN_URL: server.url, CAIRN_TOKEN: server.token };
});
after(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

const json = <T = Record<string, unknown>>(stdout: string) => JSON.parse(stdout) as T;

/** `cairn keys create …`: the key alone on stdout. */
async function createKey(...args: string[]): Promise<string> {
  const res = await run("keys", "create", ...args);
  assert.equal(res.code, 0, res.stderr);
  const key = res.stdout.trim();
  assert.match(key, KEY);
  return key;
}

async function keyId(name: string): Promise<string> {
  const ls = await run("keys", "ls", "--json");
  assert.equal(ls.code, 0, ls.stderr);
  const key = json<{ items: { id: string; name: string }[] }>(ls.stdout).items.findLast((k) => k.name === name);
  assert.ok(key, `no key named ${name}`);
  return key.id;
}

test("keys create prints the key once (stdout: the key alone; stderr: what it is and a warning); the key works", async () => {
  const res = await run(
    "keys",
    "create",
    "ci-deploy",
    "--role",
    "viewer",
    "--rate-limit",
    "100/60s",
    "--remaining",
    "50",
    "--meta",
    "plan=pro",
    "--meta",
    "tier=3",
    "--expires-in",
    "30d",
  );
  assert.equal(res.code, 0, res.stderr);
  const key = res.stdout.trim();
  assert.match(key, KEY);
  assert.equal(res.stdout, `${key}\n`, "stdout is the key and nothing else, so $(…) captures it");
  assert.match(res.stderr, /^created API key key_\w+ "ci-deploy" \(roles: viewer, expires \d{4}-/);
  assert.match(res.stderr, /save it now: it is shown only this once/);

  const id = await keyId("ci-deploy");
  const show = await run("keys", "show", id, "--json");
  assert.equal(show.code, 0, show.stderr);
  const view = json(show.stdout);
  assert.equal(view.name, "ci-deploy");
  assert.equal(view.status, "active");
  assert.deepEqual(view.roles, ["viewer"]);
  assert.deepEqual(view.rateLimit, { limit: 100, windowSeconds: 60 });
  assert.equal(view.remaining, 50);
  assert.deepEqual(view.meta, { plan: "pro", tier: 3 });
  assert.ok(Date.parse(String(view.expiresAt)) > Date.now() + 29 * 86_400_000);
  assert.ok(!show.stdout.includes(key.split("_")[2] as string), "show never prints the secret");

  const human = await run("keys", "show", id);
  assert.match(human.stdout, /^id: +key_\w+$/m);
  assert.match(human.stdout, /^status: +active$/m);
  assert.match(human.stdout, /^rate limit: +100 per 60s$/m);

  const table = await run("keys", "ls");
  assert.match(table.stdout, /^ID\s+NAME\s+PREFIX\s+STATUS\s+ROLES\s+USES\s+LAST USED\s+EXPIRES$/m);
  assert.match(table.stdout, new RegExp(`^${id}\\s+ci-deploy\\s+${key.split("_")[1]}\\s+active\\s+viewer\\s`, "m"));

  const me = await as(key, ["whoami", "--json"]);
  assert.equal(me.code, 0, me.stderr);
  assert.equal(json(me.stdout).name, "ci-deploy");

  const asJson = await run("keys", "create", "json-key", "--permission", "allow configs:payments/**:read", "--json");
  assert.equal(asJson.code, 0, asJson.stderr);
  const created = json(asJson.stdout);
  assert.match(String(created.key), KEY);
  assert.deepEqual(created.permissions, [{ effect: "allow", permission: "configs:payments/**:read" }]);
});

test("keys rotate: a new key, the old one keeps working through the grace; revoke: verify exits 1 with the code", async () => {
  const old = await createKey("rotating", "--role", "viewer");
  const oldId = await keyId("rotating");

  const rotated = await run("keys", "rotate", oldId, "--grace", "1h");
  assert.equal(rotated.code, 0, rotated.stderr);
  const fresh = rotated.stdout.trim();
  assert.match(fresh, KEY);
  assert.notEqual(fresh, old);
  assert.match(rotated.stderr, new RegExp(`^rotated ${oldId} → key_\\w+ "rotating": the old key keeps working until \\d{4}-`));
  assert.match(rotated.stderr, /save it now/);
  assert.equal(json((await run("keys", "show", oldId, "--json")).stdout).status, "rotating");

  for (const key of [old, fresh]) {
    const verified = await run("keys", "verify", key);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /^VALID key_\w+ "rotating"/);
  }
  // From stdin, as a script would (keeps the key out of argv and shell history).
  const piped = await cairn(["keys", "verify", "--json"], { env, input: `${fresh}\n` });
  assert.equal(piped.code, 0, piped.stderr);
  const result = json(piped.stdout);
  assert.equal(result.valid, true);
  assert.equal(result.code, "VALID");

  const freshId = String(result.keyId);
  const revoked = await run("keys", "revoke", freshId);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal(revoked.stdout, `revoked ${freshId} "rotating"\n`);

  const refused = await run("keys", "verify", fresh);
  assert.equal(refused.code, 1);
  assert.match(refused.stdout, /^REVOKED key_\w+/);
  const refusedJson = await run("keys", "verify", fresh, "--json");
  assert.equal(refusedJson.code, 1);
  assert.equal(json(refusedJson.stdout).code, "REVOKED");

  const unknown = await run("keys", "verify", "cairn_AAAAAAAA_notarealsecretnotarealsecret12");
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stdout, "NOT_FOUND\n");

  const used = await as(old, ["env", "ls"]);
  assert.equal(used.code, 0, used.stderr);
  const usage = await run("keys", "usage", oldId, "--since", "1d", "--json");
  assert.equal(usage.code, 0, usage.stderr);
  assert.equal(json(usage.stdout).keyId, oldId);
  const usageText = await run("keys", "usage", oldId);
  assert.match(usageText.stdout, /\d+ uses since \d{4}-/);
});

test("a viewer key cannot create keys: 403 exits 1 with the server's detail and a hint", async () => {
  const viewer = await createKey("just-a-viewer", "--role", "viewer");
  const direct = await fetch(`${server.url}/api/v1/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${viewer}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "escalation", roles: ["admin"] }),
  });
  assert.equal(direct.status, 403);
  const { detail } = (await direct.json()) as { detail: string };

  const res = await as(viewer, ["keys", "create", "escalation", "--role", "admin"]);
  assert.equal(res.code, 1);
  assert.equal(res.stdout, "");
  assert.ok(res.stderr.startsWith(`error: ${detail}\n`), res.stderr);
  assert.match(res.stderr, /^hint: .*cairn authz check/m);
  assert.ok(!(await run("keys", "ls")).stdout.includes("escalation"), "nothing was created");
});

test("roles create with rules, show, update, create --file; bindings grant them; authz check explains", async () => {
  const created = await run(
    "roles",
    "create",
    "payments-reader",
    "--rule",
    "allow configs:payments/**:read",
    "--rule",
    "deny configs:payments/vault/**:* env=production",
    "--inherits",
    "viewer",
    "--description",
    "reads payments",
  );
  assert.equal(created.code, 0, created.stderr);
  assert.equal(created.stdout, "created role payments-reader (2 rules, inherits viewer)\n");

  const shown = await run("roles", "show", "payments-reader");
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^description: reads payments$/m);
  assert.match(shown.stdout, /^ {2}allow configs:payments\/\*\*:read$/m);
  assert.match(shown.stdout, /^ {2}deny configs:payments\/vault\/\*\*:\* env=production$/m);
  const role = json<{ rules: unknown[]; builtin: boolean }>((await run("roles", "show", "payments-reader", "--json")).stdout);
  assert.equal(role.builtin, false);
  assert.deepEqual(role.rules[1], {
    effect: "deny",
    permission: "configs:payments/vault/**:*",
    conditions: { environments: ["production"] },
  });

  const updated = await run("roles", "update", "payments-reader", "--add-rule", "allow configs:payments/**:list");
  assert.equal(updated.code, 0, updated.stderr);
  assert.equal(updated.stdout, "updated role payments-reader (3 rules, inherits viewer)\n");
  assert.match((await run("roles", "show", "payments-reader")).stdout, /^description: reads payments$/m, "what was not given stays");

  const builtin = await run("roles", "update", "admin", "--description", "mine now");
  assert.equal(builtin.code, 1);
  assert.match(builtin.stderr, /^error: admin is a built-in role/);

  const file = join(dir, "role.yaml");
  await writeFile(
    file,
    "name: auditor\ndescription: reads the audit log\nrules:\n  - allow audit:**:read\n  - effect: allow\n    permission: audit:**:list\n",
  );
  const fromFile = await run("roles", "create", "--file", file);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.equal(fromFile.stdout, "created role auditor (2 rules)\n");
  const listed = await run("roles", "ls");
  assert.match(listed.stdout, /^auditor\s+no\s+2\s+-\s+reads the audit log$/m);
  assert.match(listed.stdout, /^viewer\s+yes\s/m);

  // A key with no roles at all, granted payments-reader on payments/** by a binding.
  await createKey("payments-svc");
  const id = await keyId("payments-svc");
  const denied = await run("authz", "check", "configs", "read", "--namespace", "payments/api", "--key", id);
  assert.equal(denied.code, 1, denied.stderr);
  assert.match(denied.stdout, /^decision: +denied$/m);

  const bound = await run(
    "bindings",
    "create",
    "--role",
    "payments-reader",
    "--key",
    id,
    "--namespace",
    "payments/**",
    "--expires-in",
    "8h",
  );
  assert.equal(bound.code, 0, bound.stderr);
  assert.match(
    bound.stdout,
    new RegExp(`^bound role payments-reader to key ${id} on payments/\\*\\* until \\d{4}-.+ \\(binding (rb_\\w+)\\)\n$`),
  );
  const bindingId = /\(binding (rb_\w+)\)/.exec(bound.stdout)?.[1] as string;

  const allowed = await run("authz", "check", "configs", "read", "--namespace", "payments/api", "--key", id);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stdout, /^decision: +allowed$/m);
  assert.match(allowed.stdout, /^rule: +allow configs:payments\/\*\*:read$/m);
  assert.match(allowed.stdout, new RegExp(`^via: .*binding ${bindingId}`, "m"));

  const vault = await run(
    "authz",
    "check",
    "configs",
    "read",
    "--namespace",
    "payments/vault/x",
    "--env",
    "production",
    "--key",
    id,
    "--json",
  );
  assert.equal(vault.code, 1);
  const decision = json<{ allowed: boolean; decidedBy: { rule: { effect: string } } }>(vault.stdout);
  assert.equal(decision.allowed, false);
  assert.equal(decision.decidedBy.rule.effect, "deny");

  const elsewhere = await run("authz", "check", "configs", "read", "--namespace", "orders/api", "--key", id);
  assert.equal(elsewhere.code, 1, "the binding is scoped to payments/**");

  const bindings = await run("bindings", "ls", "--key", id, "--json");
  assert.equal(bindings.code, 0, bindings.stderr);
  assert.deepEqual(
    json<{ items: { id: string }[] }>(bindings.stdout).items.map((b) => b.id),
    [bindingId],
  );
  assert.match(
    (await run("bindings", "ls")).stdout,
    new RegExp(`^${bindingId}\\s+payments-reader\\s+key:${id}\\s+payments/\\*\\*\\s`, "m"),
  );

  const inUse = await run("roles", "rm", "payments-reader");
  assert.equal(inUse.code, 1, "a bound role cannot be deleted");
  assert.match(inUse.stderr, /^error: /);
  assert.equal((await run("bindings", "rm", bindingId)).code, 0);
  assert.equal((await run("authz", "check", "configs", "read", "--namespace", "payments/api", "--key", id)).code, 1);
  const removed = await run("roles", "rm", "payments-reader");
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(removed.stdout, "deleted role payments-reader\n");
  assert.equal((await run("roles", "show", "payments-reader")).code, 1);
});

test("groups: create, ls, rm; a role bound to a group", async () => {
  const made = await run("groups", "create", "payments-team");
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stdout, /^created group payments-team \(grp_\w+\)\n$/);
  const ls = await run("groups", "ls", "--json");
  const group = json<{ items: { id: string; name: string; members: string[] }[] }>(ls.stdout).items.find((g) => g.name === "payments-team");
  assert.ok(group);
  assert.deepEqual(group.members, []);

  const bound = await run("bindings", "create", "--role", "developer", "--group", "payments-team");
  assert.equal(bound.code, 0, bound.stderr);
  assert.match(bound.stdout, new RegExp(`^bound role developer to group ${group.id} on \\*\\* \\(binding rb_\\w+\\)\n$`));
  const bindingId = /\(binding (rb_\w+)\)/.exec(bound.stdout)?.[1] as string;
  assert.equal((await run("bindings", "rm", bindingId)).code, 0);

  const removed = await run("groups", "rm", "payments-team");
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal((await run("groups", "add", "payments-team", "usr_nobody")).code, 1);
});

test("--help exits 0 for every identity command, with examples", async () => {
  const commands = [
    ["keys"],
    ["keys", "create"],
    ["keys", "ls"],
    ["keys", "show"],
    ["keys", "rotate"],
    ["keys", "revoke"],
    ["keys", "verify"],
    ["keys", "usage"],
    ["roles"],
    ["roles", "ls"],
    ["roles", "show"],
    ["roles", "create"],
    ["roles", "update"],
    ["roles", "rm"],
    ["bindings"],
    ["bindings", "ls"],
    ["bindings", "create"],
    ["bindings", "rm"],
    ["groups"],
    ["groups", "ls"],
    ["groups", "create"],
    ["groups", "add"],
    ["groups", "remove"],
    ["groups", "rm"],
    ["users"],
    ["users", "ls"],
    ["users", "create"],
    ["users", "show"],
    ["users", "disable"],
    ["tenants"],
    ["tenants", "ls"],
    ["tenants", "create"],
    ["whoami"],
    ["authz"],
    ["authz", "check"],
    ["login"],
    ["logout"],
  ];
  for (const command of commands) {
    const res = await cairn([...command, "--help"]);
    assert.equal(res.code, 0, `${command.join(" ")} --help: ${res.stderr}`);
    assert.match(res.stdout, /^Usage: cairn/, command.join(" "));
    // Leaf commands show how they are used.
    if (command.length > 1 || ["whoami", "login", "logout"].includes(command[0] as string)) {
      assert.match(res.stdout, /Examples:\n {2}\$ cairn /, command.join(" "));
    }
  }
  assert.match((await cairn(["roles", "create", "--help"])).stdout, /Rule syntax: \[allow\|deny\]/);
});

test("usage errors exit 2, before anything reaches the server", async () => {
  for (const args of [
    ["keys", "create"],
    ["keys", "create", "k", "--expires-at", "2030-01-01", "--expires-in", "30d"],
    ["keys", "create", "k", "--expires-in", "soon"],
    ["keys", "create", "k", "--rate-limit", "lots"],
    ["keys", "create", "k", "--remaining", "-1"],
    ["keys", "create", "k", "--permission", "configs-read"],
    ["keys", "create", "k", "--meta", "novalue"],
    ["keys", "rotate", "key_x", "--grace", "a while"],
    ["keys", "show"],
    ["keys", "usage", "key_x", "--since", "whenever"],
    ["keys", "frobnicate"],
    ["roles", "create", "r"],
    ["roles", "create", "r", "--rule", "allow configs:a:read colour=red"],
    ["roles", "create", "--rule", "allow configs:a:read"],
    ["roles", "update", "r"],
    ["bindings", "create", "--user", "usr_x"],
    ["bindings", "create", "--role", "viewer"],
    ["bindings", "create", "--role", "viewer", "--user", "usr_x", "--key", "key_x"],
    ["bindings", "ls", "--key", "key_x", "--group", "g"],
    ["groups", "add", "only-group"],
    ["authz", "check", "configs"],
    ["authz", "check", "configs", "read", "--user", "usr_x", "--key", "key_x"],
    ["users", "create"],
    ["tenants", "create"],
    ["login", "--password-stdin"],
    ["login", "--email", "a@example.com", "--token", "cairn_AAAAAAAA_x"],
  ]) {
    const res = await cairn(args, { env });
    assert.equal(res.code, 2, `${args.join(" ")}: ${res.stdout}${res.stderr}`);
    assert.match(res.stderr, /error|Usage/, args.join(" "));
  }
  // Nothing to read a key from: an empty pipe.
  const empty = await cairn(["keys", "verify"], { env, input: "" });
  assert.equal(empty.code, 2, empty.stderr);
  assert.match(empty.stderr, /^error: no key given/);
});
