import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { type Kysely, sql } from "kysely";
import pg from "pg";
import {
  alternateUser,
  createPostgresAlternatingUsers,
  credentialsOf,
  scramVerifier,
} from "../../src/secrets/strategies/postgres-alternating-users.js";
import { StrategyError } from "../../src/secrets/strategies/types.js";
import { backends, ns, serverUrl, useApp, withPg } from "../helper.js";

// The strategy against the machine's real PostgreSQL. Its pg_hba may trust 127.0.0.1 (then any password
// logs in), so besides logging in, each password is checked against the SCRAM verifier the server stored.

const url = serverUrl ? new URL(serverUrl) : undefined;
const target = url ? { host: url.hostname, port: Number(url.port || 5432), database: url.pathname.slice(1) || "postgres" } : undefined;

/** Does `password` authenticate as `role` on the server (per the SCRAM-SHA-256 verifier in pg_authid)? */
export async function passwordMatches(admin: pg.Client, role: string, password: string): Promise<boolean> {
  const row = (await admin.query<{ rolpassword: string | null }>("select rolpassword from pg_authid where rolname = $1", [role])).rows[0];
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(row?.rolpassword ?? "");
  if (!m) return false;
  return scramVerifier(password, Buffer.from(m[2] as string, "base64"), Number(m[1])) === row?.rolpassword;
}

export async function login(c: { host: string; port: number; database: string; username: string; password: string }) {
  const client = new pg.Client({ host: c.host, port: c.port, database: c.database, user: c.username, password: c.password });
  await client.connect();
  try {
    return (await client.query<{ s: string; c: string }>("select session_user as s, current_user as c")).rows[0];
  } finally {
    await client.end();
  }
}

describe("postgres-alternating-users: helpers", () => {
  test("alternates app ↔ app_clone and refuses names that would not fit", () => {
    assert.deepEqual(alternateUser("app"), { base: "app", standby: "app_clone" });
    assert.deepEqual(alternateUser("app_clone"), { base: "app", standby: "app" });
    assert.throws(() => alternateUser("x".repeat(60)), StrategyError);
  });
  test("credentialsOf says which field is missing", () => {
    assert.throws(() => credentialsOf({ host: "h", database: "d", username: "u" }, "the secret"), /has no password/);
    assert.equal(credentialsOf(JSON.stringify({ host: "h", database: "d", username: "u", password: "p" }), "s").port, 5432);
  });
});

describe("postgres-alternating-users against PostgreSQL", { skip: target ? false : "needs DATABASE_URL" }, () => {
  const base = `cairn_rot_${randomBytes(4).toString("hex")}`;
  const table = `${base}_t`;
  const oldPassword = randomBytes(12).toString("hex");
  const strategy = createPostgresAlternatingUsers({ timeoutMs: 5000 });
  const t = target as NonNullable<typeof target>;
  const admin = { ...t, username: url?.username || "postgres", password: decodeURIComponent(url?.password ?? "") || "unused" };

  before(async () => {
    await withPg(serverUrl as string, async (c) => {
      await c.query(`create role ${base} with login createrole password '${oldPassword}'`);
      await c.query(`create table ${table} (n int)`);
      await c.query(`insert into ${table} values (1)`);
      await c.query(`grant select on ${table} to ${base}`);
    });
  });
  after(async () => {
    await withPg(serverUrl as string, async (c) => {
      await c.query(`drop table if exists ${table}`);
      await c.query(`drop role if exists ${base}_clone`);
      await c.query(`drop role if exists ${base}`);
    });
  });

  test("rotates through the clone and back; the previous login keeps working; rights carry over", async () => {
    const first = { ...t, username: base, password: oldPassword };
    // First rotation: with an admin secret (the AWS "master secret"); creates the clone.
    const r1 = await strategy.prepare({ current: first, admin });
    const v1 = r1.value as typeof first;
    assert.equal(v1.username, `${base}_clone`);
    assert.notEqual(v1.password, oldPassword);
    assert.match(r1.note ?? "", /created/);
    await withPg(serverUrl as string, async (c) => {
      assert.ok(await passwordMatches(c, `${base}_clone`, v1.password), "the clone has the new password");
      assert.ok(await passwordMatches(c, base, oldPassword), "the previous login is untouched (grace)");
      const sql = `select rolpassword from pg_authid where rolname = '${base}_clone'`;
      assert.ok(!(await c.query(sql)).rows[0].rolpassword.includes(v1.password), "only a verifier is stored");
    });
    assert.deepEqual(await login(v1), { s: `${base}_clone`, c: base }, "the clone acts as the base role");
    const rows = await withPgAs(v1, (c) => c.query(`select n from ${table}`));
    assert.equal(rows.rows[0].n, 1, "the clone inherits the base role's grants");

    // Second rotation without an admin secret: the clone itself (CREATEROLE copied) changes base's password.
    const r2 = await strategy.prepare({ current: v1 });
    const v2 = r2.value as typeof first;
    assert.equal(v2.username, base);
    await withPg(serverUrl as string, async (c) => {
      assert.ok(await passwordMatches(c, base, v2.password), "base has the new password");
      assert.ok(!(await passwordMatches(c, base, oldPassword)), "base's old password is gone");
      assert.ok(await passwordMatches(c, `${base}_clone`, v1.password), "the clone's password is unchanged (grace)");
    });
    assert.equal((await login(v2))?.s, base);
  });

  test("refuses superusers and reports a bad admin login without the password", async () => {
    await assert.rejects(strategy.prepare({ current: { ...t, username: "postgres", password: "x" } }), /superuser/);
    const wrongHost = { ...admin, port: 1, password: "hunter2-admin" };
    await assert.rejects(
      strategy.prepare({ current: { ...t, username: base, password: "p" }, admin: wrongHost }),
      (e: Error) => e instanceof StrategyError && /admin login/.test(e.message) && !e.message.includes("hunter2"),
    );
  });
});

async function withPgAs<T>(
  c: { host: string; port: number; database: string; username: string; password: string },
  fn: (client: pg.Client) => Promise<T>,
) {
  const client = new pg.Client({ host: c.host, port: c.port, database: c.database, user: c.username, password: c.password });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Every row of every table in the store's public schema, as text: what someone with the database alone sees. */
async function dumpTables(db: Kysely<any>): Promise<string> {
  const tables = await sql<{
    name: string;
  }>`select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`.execute(db);
  let out = "";
  for (const { name } of tables.rows) {
    const rows = await sql<{ r: string }>`select t::text as r from ${sql.id(name)} t`.execute(db);
    out += rows.rows.map((r) => r.r).join("\n");
  }
  return out;
}

for (const backend of backends()) {
  describe(`postgres-alternating-users end to end (${backend})`, { skip: target ? false : "needs DATABASE_URL" }, () => {
    const cairn = useApp(backend, { CAIRN_ROTATION_POLL_SECONDS: "3600" });
    const role = `cairn_rot_${randomBytes(4).toString("hex")}`;
    const t = target as NonNullable<typeof target>;
    const p0 = randomBytes(12).toString("hex");
    const NS = ns("prod/db");
    after(async () => {
      await withPg(serverUrl as string, async (c) => {
        await c.query(`drop role if exists ${role}_clone`);
        await c.query(`drop role if exists ${role}`);
      });
    });

    test("scheduled and manual rotations flip between the users; the previous login works in grace; no plaintext at rest", async () => {
      await withPg(serverUrl as string, (c) => c.query(`create role ${role} with login password '${p0}'`));
      const admin = { ...t, username: url?.username || "postgres", password: "admin-password-not-checked-by-trust" };
      assert.equal(
        (await cairn.call("PUT", `/api/v1/secrets/${NS}/admin`, { type: "database_credentials", value: admin })).status < 300,
        true,
      );
      const app = { ...t, username: role, password: p0 };
      const put = await cairn.call("PUT", `/api/v1/secrets/${NS}/app`, { type: "database_credentials", value: app });
      assert.ok(put.status < 300, put.text);
      const policy = await cairn.call("PUT", `/api/v1/secrets/${NS}/app/policy`, {
        intervalSeconds: 86400,
        gracePeriodSeconds: 3600,
        strategy: "postgres-alternating-users",
        adminSecret: "prod/db/admin",
        nextRotationAt: new Date(Date.now() - 1000).toISOString(),
      });
      assert.equal(policy.status, 201, policy.text);

      const [outcome] = await cairn.rotation.runOnce();
      assert.equal(outcome?.ok, true, outcome?.error);
      const v1 = (await cairn.call("GET", `/api/v1/secrets/${NS}/app?reveal=true`)).json;
      assert.equal(v1.value.username, `${role}_clone`);
      const previous = (await cairn.call("GET", `/api/v1/secrets/${NS}/app?reveal=true&version=previous`)).json;
      assert.deepEqual(previous.value, app, "the previous credentials stay readable in grace");
      assert.equal((await login(v1.value))?.s, `${role}_clone`, "logs in with the new credentials");
      assert.equal((await login(app))?.s, role, "the old credentials still log in");
      await withPg(serverUrl as string, async (c) => {
        assert.ok(await passwordMatches(c, `${role}_clone`, v1.value.password));
        assert.ok(await passwordMatches(c, role, p0), "the previous login's password is unchanged");
      });

      // A manual rotation (POST …/rotate, no value) goes through the same strategy.
      const manual = await cairn.call("POST", `/api/v1/secrets/${NS}/app/rotate`, { gracePeriodSeconds: 600 });
      assert.ok(manual.status < 300, manual.text);
      const v2 = (await cairn.call("GET", `/api/v1/secrets/${NS}/app?reveal=true`)).json;
      assert.equal(v2.value.username, role);
      await withPg(serverUrl as string, async (c) => {
        assert.ok(await passwordMatches(c, role, v2.value.password));
        assert.ok(await passwordMatches(c, `${role}_clone`, v1.value.password), "the clone keeps its password through grace");
      });

      await cairn.sequencer.flush();
      const dump = await dumpTables(cairn.store.db);
      for (const secret of [p0, v1.value.password, v2.value.password, admin.password]) {
        assert.ok(!dump.includes(secret), "no plaintext password in any table");
      }
    });
  });
}
