import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { cairn, type RunningServer, startServer } from "./support/cairn.js";

// `cairn access` against a real server whose postgres provider points at the machine's PostgreSQL, and
// `cairn change-requests` for a protected environment.
const target = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
const table = `cli_access_${process.pid}`;

let server: RunningServer;
let env: Record<string, string>;
const run = (...args: string[]) => cairn(args, { env });

async function withPg<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function api(method: string, path: string, body?: unknown, token = server.token) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json().catch(() => undefined)) as any };
}

describe("cairn access and cairn change-requests", { skip: target ? false : "needs DATABASE_URL (a real PostgreSQL)" }, () => {
  before(async () => {
    await withPg(target as string, (c) => c.query(`create table if not exists ${table} (id int); insert into ${table} values (7)`));
    server = await startServer({ CAIRN_ACCESS_POSTGRES_URL: target as string, CAIRN_ACCESS_POLL_MS: "100" });
    env = { CAIRN_URL: server.url, CAIRN_TOKEN: server.token };
  });
  after(async () => {
    await server?.stop();
    await withPg(target as string, (c) => c.query(`drop table if exists ${table}`));
  });

  test("request waits until granted, prints the login once; ls --q understands plain words; the grant ends by itself", async () => {
    const granted = await run(
      "access",
      "request",
      "postgres",
      "--principal",
      "cli",
      "--permission",
      "SELECT",
      "--resource",
      `public.${table}`,
      "--duration",
      "3s",
      "--reason",
      "cli test",
    );
    assert.equal(granted.code, 0, granted.stderr);
    const user = /^username=(\S+)$/m.exec(granted.stdout)?.[1];
    const password = /^password=(\S+)$/m.exec(granted.stdout)?.[1];
    assert.ok(user && password, `credentials printed:\n${granted.stdout}`);
    const id = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/.exec(granted.stdout + granted.stderr)?.[1];
    assert.ok(id, "the correlation id is shown");

    const url = new URL(target as string);
    url.username = user;
    url.password = password;
    const rows = await withPg(url.toString(), (c) => c.query(`select id from ${table}`));
    assert.equal(rows.rows[0].id, 7, "the temporary login reads the table it was granted");

    const again = await run("access", "credentials", id);
    assert.notEqual(again.code, 0, "credentials are shown once");

    const listed = await run("access", "ls", "--q", "granted postgres requests for cli today", "--json");
    assert.equal(listed.code, 0, listed.stderr);
    const list = JSON.parse(listed.stdout);
    assert.ok(list.items.some((r: { correlationId: string }) => r.correlationId === id));
    assert.match(JSON.stringify(list.interpretedAs), /SUCCESS/);

    const deadline = Date.now() + 20_000;
    let status = "";
    while (Date.now() < deadline) {
      status = JSON.parse((await run("access", "show", id, "--json")).stdout).status;
      if (status === "EXPIRED") break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(status, "EXPIRED");
    const gone = await withPg(target as string, (c) => c.query("select 1 from pg_roles where rolname = $1", [user]));
    assert.equal(gone.rowCount, 0, "the login is dropped when the grant ends");
  });

  test("bad requests exit non-zero with the reason and create nothing", async () => {
    const before = JSON.parse((await run("access", "ls", "--json")).stdout).items.length;
    const tooLong = await run(
      "access",
      "request",
      "postgres",
      "--principal",
      "cli",
      "--role",
      "pg_monitor",
      "--duration",
      "400h",
      "--reason",
      "x",
    );
    assert.notEqual(tooLong.code, 0);
    assert.match(tooLong.stderr, /duration/i);
    const unknown = await run("access", "request", "oracle", "--principal", "cli", "--role", "r", "--duration", "1h", "--reason", "x");
    assert.notEqual(unknown.code, 0);
    assert.equal(JSON.parse((await run("access", "ls", "--json")).stdout).items.length, before);
  });

  test("a write to a protected environment becomes a change request: another admin approves, then it is applied", async () => {
    assert.equal((await api("PATCH", "/api/v1/environments/production", { requireApproval: true })).status, 200);
    const second = await api("POST", "/api/v1/keys", { name: "second-admin", roles: ["admin"] });
    assert.equal(second.status, 201);

    const proposed = await run("set", "shop/api", "limit", "100", "--env", "production");
    assert.equal(proposed.code, 0, proposed.stderr);
    assert.match(proposed.stdout + proposed.stderr, /change request/i);
    assert.equal((await run("get", "shop/api", "limit", "--env", "production")).code === 0, false, "nothing was written yet");

    const listed = JSON.parse((await run("change-requests", "ls", "--json")).stdout);
    const cr = listed.items[0];
    assert.equal(cr.status, "pending");
    const self = await run("change-requests", "approve", cr.id);
    assert.notEqual(self.code, 0, "the proposer cannot approve their own change");
    const approved = await cairn(["change-requests", "approve", cr.id], { env: { ...env, CAIRN_TOKEN: second.json.key } });
    assert.equal(approved.code, 0, approved.stderr);
    const applied = await run("change-requests", "apply", cr.id);
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal((await run("get", "shop/api", "limit", "--env", "production")).stdout, "100\n");
  });
});
