/** `cairn users`, `login --email`, `whoami`, `logout` and `tenants` against a real server, through the built binary. */
import assert from "node:assert/strict";
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { cairn, type RunningServer, startServer, tempDir } from "./support/cairn.js";

const KEY = /^cairn_[0-9A-Za-z]{8}_[0-9A-Za-z]+$/;
const PASSWORD = "granite-kettle-orbit-42";

let server: RunningServer;
let env: Record<string, string>;
let dir: string;
const run = (...args: string[]) => cairn(args, { env });

before(async () => {
  [server, dir] = await Promise.all([startServer(), tempDir("sessions")]);
  env = { CAIRN_URL: server.url, CAIRN_TOKEN: server.token };
});
after(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

const json = <T = Record<string, unknown>>(stdout: string) => JSON.parse(stdout) as T;

interface StoredFile {
  url: string;
  token?: string;
  session?: { email: string; userId: string; tenantId: string; accessToken: string; refreshToken: string; expiresAt: string };
}

/** A user made by the admin, with a role binding so they can do something. */
async function createUser(email: string, role = "viewer"): Promise<string> {
  const made = await cairn(["users", "create", email, "--name", "Test User", "--password-stdin", "--json"], {
    env,
    input: `${PASSWORD}\n`,
  });
  assert.equal(made.code, 0, made.stderr);
  const user = json<{ id: string; email: string; disabled: boolean }>(made.stdout);
  assert.equal(user.email, email);
  assert.equal(user.disabled, false);
  const bound = await run("bindings", "create", "--role", role, "--user", email);
  assert.equal(bound.code, 0, bound.stderr);
  return user.id;
}

test("users create (--password-stdin), ls, show by id or email; weak passwords and no terminal are refused", async () => {
  const made = await cairn(["users", "create", "ana@example.com", "--name", "Ana Lima", "--password-stdin"], {
    env,
    input: `${PASSWORD}\n`,
  });
  assert.equal(made.code, 0, made.stderr);
  assert.match(
    made.stdout,
    /^created user usr_\w+ \(ana@example\.com\); grant access with `cairn bindings create --role <role> --user ana@example\.com`\n$/,
  );
  const id = /usr_\w+/.exec(made.stdout)?.[0] as string;

  const ls = await run("users", "ls");
  assert.match(ls.stdout, /^ID\s+EMAIL\s+NAME\s+STATUS\s+CREATED$/m);
  assert.match(ls.stdout, new RegExp(`^${id}\\s+ana@example\\.com\\s+Ana Lima\\s+active\\s`, "m"));
  const byEmail = await run("users", "show", "ana@example.com");
  assert.equal(byEmail.code, 0, byEmail.stderr);
  assert.match(byEmail.stdout, new RegExp(`^id: +${id}$`, "m"));
  assert.equal(json((await run("users", "show", id, "--json")).stdout).email, "ana@example.com");

  const weak = await cairn(["users", "create", "weak@example.com", "--password-stdin"], { env, input: "password\n" });
  assert.equal(weak.code, 1);
  assert.match(weak.stderr, /^error: /);
  const duplicate = await cairn(["users", "create", "ana@example.com", "--password-stdin"], { env, input: `${PASSWORD}\n` });
  assert.equal(duplicate.code, 1);
  assert.match(duplicate.stderr, /^error: .*ana@example\.com/);

  const noTerminal = await cairn(["users", "create", "bob@example.com"], { env });
  assert.equal(noTerminal.code, 2);
  assert.match(noTerminal.stderr, /^error: no terminal to ask for the password on: pipe it in with --password-stdin/);
  assert.equal((await run("users", "show", "nobody@example.com")).code, 1);
});

test("login --email --password-stdin stores the session 0600; whoami shows the user; logout revokes it", async () => {
  const userId = await createUser("dev@example.com", "developer");
  const home = join(dir, "login-home");
  const asUser = (args: string[], input?: string) => cairn(args, { env: { XDG_CONFIG_HOME: home }, input });

  const login = await asUser(["login", "--url", server.url, "--email", "dev@example.com", "--password-stdin"], `${PASSWORD}\n`);
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stdout, /^logged in to http:\/\/127\.0\.0\.1:\d+ as dev@example\.com \(saved to .+config\.json\)$/m);
  assert.ok(!login.stdout.includes(PASSWORD) && !login.stderr.includes(PASSWORD));

  const file = join(home, "cairn", "config.json");
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const stored = json<StoredFile>(await readFile(file, "utf8"));
  assert.equal(stored.url, server.url);
  assert.equal(stored.token, undefined);
  assert.equal(stored.session?.email, "dev@example.com");
  assert.equal(stored.session?.userId, userId);
  assert.ok(Date.parse(stored.session?.expiresAt as string) > Date.now());
  assert.ok(!JSON.stringify(stored).includes(PASSWORD), "the password is never stored");

  const me = await asUser(["whoami"]);
  assert.equal(me.code, 0, me.stderr);
  assert.match(me.stdout, /^name: +dev@example\.com$/m);
  assert.match(me.stdout, new RegExp(`^id: +${userId}$`, "m"));
  assert.match(me.stdout, /^type: +user$/m);
  assert.match(me.stdout, /^tenant: +default \(ten_\w+\)$/m);

  // The session is a credential like a key: the developer role lets the user write configuration.
  const set = await asUser(["set", "sessions/ns", "k", "v"]);
  assert.equal(set.code, 0, set.stderr);
  assert.equal((await asUser(["get", "sessions/ns", "k"])).stdout, "v\n");

  const logout = await asUser(["logout"]);
  assert.equal(logout.code, 0, logout.stderr);
  assert.match(logout.stdout, /^logged out dev@example\.com \(session revoked, removed .+config\.json\)\n$/);
  await assert.rejects(stat(file));
  const reuse = await fetch(`${server.url}/api/v1/auth/refresh`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refreshToken: stored.session?.refreshToken }),
  });
  assert.equal(reuse.status, 401, "logout revoked the refresh token on the server");
  assert.equal((await asUser(["whoami"])).code, 1);
});

test("an expired access token is renewed with the refresh token and the new pair stored; a refused one too", async () => {
  await createUser("renew@example.com");
  const home = join(dir, "renew-home");
  const asUser = (args: string[], input?: string) => cairn(args, { env: { XDG_CONFIG_HOME: home }, input });
  const file = join(home, "cairn", "config.json");
  const login = await asUser(["login", "--url", server.url, "--email", "renew@example.com", "--password-stdin"], PASSWORD);
  assert.equal(login.code, 0, login.stderr);
  const first = json<StoredFile>(await readFile(file, "utf8"));

  // Expired by the clock: renewed before the request.
  await writeFile(file, JSON.stringify({ ...first, session: { ...first.session, expiresAt: new Date(Date.now() - 1000).toISOString() } }));
  const me = await asUser(["whoami", "--json"]);
  assert.equal(me.code, 0, me.stderr);
  assert.equal(json(me.stdout).name, "renew@example.com");
  const second = json<StoredFile>(await readFile(file, "utf8"));
  assert.notEqual(second.session?.refreshToken, first.session?.refreshToken, "the spent refresh token was replaced");
  assert.ok(Date.parse(second.session?.expiresAt as string) > Date.now());
  assert.equal((await stat(file)).mode & 0o777, 0o600);

  // Refused by the server although the clock says it is fine: renewed on the 401, then retried.
  await writeFile(file, JSON.stringify({ ...second, session: { ...second.session, accessToken: "not-a-valid-session-token" } }));
  const again = await asUser(["whoami", "--json"]);
  assert.equal(again.code, 0, again.stderr);
  const third = json<StoredFile>(await readFile(file, "utf8"));
  assert.notEqual(third.session?.refreshToken, second.session?.refreshToken);
  assert.notEqual(third.session?.accessToken, "not-a-valid-session-token");

  // Several commands at once with an expired token: one renews (under a lock), the others use its pair.
  // Were the refresh token presented twice, the server would end the whole session and some would fail.
  await writeFile(file, JSON.stringify({ ...third, session: { ...third.session, expiresAt: new Date(0).toISOString() } }));
  const parallel = await Promise.all([1, 2, 3, 4].map(() => asUser(["whoami", "--json"])));
  for (const res of parallel) assert.equal(res.code, 0, res.stderr);
  assert.equal((await asUser(["whoami"])).code, 0);

  // A spent refresh token: the session has ended, and the message says how to start a new one.
  await writeFile(file, JSON.stringify({ ...third, session: { ...first.session, expiresAt: new Date(0).toISOString() } }));
  const ended = await asUser(["whoami"]);
  assert.equal(ended.code, 1);
  assert.match(ended.stderr, /^error: your session as renew@example\.com at .+ has ended .*cairn login --email renew@example\.com/);
});

test("login refuses a wrong password (exit 1, nothing saved); a disabled user cannot log in", async () => {
  const userId = await createUser("gone@example.com");
  const home = join(dir, "refused-home");
  const asUser = (args: string[], input?: string) => cairn(args, { env: { XDG_CONFIG_HOME: home }, input });

  const wrong = await asUser(
    ["login", "--url", server.url, "--email", "gone@example.com", "--password-stdin"],
    "not-the-password-at-all\n",
  );
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^error: .*refused this email and password .*nothing was saved/);
  await assert.rejects(stat(join(home, "cairn", "config.json")));

  const noTerminal = await asUser(["login", "--url", server.url, "--email", "gone@example.com"]);
  assert.equal(noTerminal.code, 2);
  assert.match(noTerminal.stderr, /--password-stdin/);

  const disabled = await run("users", "disable", "gone@example.com");
  assert.equal(disabled.code, 0, disabled.stderr);
  assert.equal(disabled.stdout, `disabled user ${userId} (gone@example.com); their sessions have ended\n`);
  assert.equal(json((await run("users", "show", userId, "--json")).stdout).disabled, true);
  const after = await asUser(["login", "--url", server.url, "--email", "gone@example.com", "--password-stdin"], PASSWORD);
  assert.equal(after.code, 1);
});

test("whoami with an API key; tenants create prints an admin key that works in the new tenant only", async () => {
  const me = await run("whoami", "--json");
  assert.equal(me.code, 0, me.stderr);
  const admin = json<{ type: string; instanceAdmin: boolean; tenant: { name: string } }>(me.stdout);
  assert.equal(admin.instanceAdmin, true);
  assert.equal(admin.tenant.name, "default");
  assert.match((await run("whoami")).stdout, /^instance admin: yes/m);

  const made = await run("tenants", "create", "acme");
  assert.equal(made.code, 0, made.stderr);
  const key = made.stdout.trim();
  assert.match(key, KEY);
  assert.equal(made.stdout, `${key}\n`);
  assert.match(made.stderr, /^created tenant acme \(ten_\w+\); its admin API key \(key_\w+\):/);
  assert.match(made.stderr, /save it now/);

  const acme = { CAIRN_URL: server.url, CAIRN_TOKEN: key };
  const who = await cairn(["whoami", "--json"], { env: acme });
  assert.equal(who.code, 0, who.stderr);
  const acmeAdmin = json<{ tenant: { name: string }; roles: string[]; instanceAdmin: boolean }>(who.stdout);
  assert.equal(acmeAdmin.tenant.name, "acme");
  assert.deepEqual(acmeAdmin.roles, ["admin"]);
  assert.equal(acmeAdmin.instanceAdmin, false);
  const created = await cairn(["keys", "create", "acme-ci", "--role", "viewer"], { env: acme });
  assert.equal(created.code, 0, created.stderr);
  assert.ok(!(await run("keys", "ls")).stdout.includes("acme-ci"), "tenants are walled off");

  const ls = await run("tenants", "ls");
  assert.match(ls.stdout, /^ID\s+NAME\s+CREATED$/m);
  assert.match(ls.stdout, /^ten_\w+\s+acme\s/m);
  const notInstanceAdmin = await cairn(["tenants", "ls"], { env: acme });
  assert.equal(notInstanceAdmin.code, 1);
  assert.match(notInstanceAdmin.stderr, /^error: /);
  const taken = await run("tenants", "create", "acme");
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, /^error: .*acme/);
});
