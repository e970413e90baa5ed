import assert from "node:assert/strict";
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { sql } from "kysely";
import pg from "pg";
import { type Backend, serverUrl, type TestApp, until, useApp, withPg } from "../helper.js";

// End to end with the postgres provider on the machine's real PostgreSQL: the issued login works, and stops
// working when the grant expires (the worker's revocation drops it). Once with BullMQ on Redis and the
// embedded store, once with the PostgreSQL-backed queue and PostgreSQL as the store.
const TARGET = serverUrl ? new URL(serverUrl).toString() : undefined;
const redisUrl = process.env.REDIS_URL;
const table = `access_e2e_${process.pid}`;

const statusIs = (cairn: TestApp, id: string, wanted: string[]) =>
  until(`request ${id} to be ${wanted.join("/")}`, async () => {
    const res = await cairn.call("GET", `/api/v1/requests/${id}`);
    return wanted.includes(res.json?.status) ? res.json : undefined;
  });

/** Checks a password against the SCRAM verifier PostgreSQL stores (the target trusts 127.0.0.1, so login alone proves little). */
function scramMatches(verifier: string, password: string): boolean {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier);
  if (!m) return false;
  const salted = pbkdf2Sync(password, Buffer.from(m[2] as string, "base64"), Number(m[1]), 32, "sha256");
  const stored = createHash("sha256").update(createHmac("sha256", salted).update("Client Key").digest()).digest("base64");
  return stored === m[3];
}

/** Every row of every table of the store, as text. */
async function storeText(cairn: TestApp): Promise<string> {
  const tables = await sql<{ t: string }>`select tablename as t from pg_tables where schemaname = 'public'`.execute(cairn.store.db);
  let out = "";
  for (const { t } of tables.rows) {
    const rows = await sql<{ r: string }>`select x::text as r from ${sql.table(t)} x`.execute(cairn.store.db);
    out += rows.rows.map((r) => r.r).join("\n");
  }
  return out;
}

const variants: { name: string; backend: Backend; env: Record<string, string> }[] = [
  ...(redisUrl ? [{ name: "BullMQ on Redis, embedded store", backend: "pglite" as Backend, env: { REDIS_URL: redisUrl } }] : []),
  { name: "PostgreSQL queue and store", backend: "postgres", env: {} },
];

describe("access requests: the postgres provider", { skip: TARGET ? false : "needs DATABASE_URL (a real PostgreSQL)" }, () => {
  before(async () => {
    await withPg(TARGET as string, async (c) => {
      await c.query(`create table if not exists ${table} (id int)`);
      await c.query(`insert into ${table} values (42)`);
    });
  });
  after(async () => {
    await withPg(TARGET as string, (c) => c.query(`drop table if exists ${table}`));
  });

  for (const v of variants) {
    describe(v.name, () => {
      const cairn = useApp(v.backend, {
        ...v.env,
        CAIRN_ACCESS_POSTGRES_URL: TARGET as string,
        CAIRN_ACCESS_POLL_MS: "100",
        CAIRN_ACCESS_RETRY_BASE_MS: "20",
      });

      it("grants a login that works, reveals its credentials once, and revokes it when it expires", async () => {
        const res = await cairn.call("POST", "/api/v1/requests", {
          provider: "postgres",
          principal: "e2e",
          permissions: ["SELECT"],
          resource: `public.${table}`,
          durationSeconds: 2,
          justification: "end-to-end test",
        });
        assert.equal(res.status, 202, res.text);
        const id = res.json.correlationId;
        const granted = await statusIs(cairn, id, ["SUCCESS", "FAILED"]);
        assert.equal(granted.status, "SUCCESS", JSON.stringify(granted.errorDetails));
        assert.equal(granted.credentialsAvailable, true);

        const shown = await cairn.call("POST", `/api/v1/requests/${id}/credentials`);
        assert.equal(shown.status, 200, shown.text);
        assert.equal(shown.headers["cache-control"], "no-store");
        const creds = shown.json.credentials;
        assert.equal(creds.username, granted.grant.roleName);
        assert.equal((await cairn.call("POST", `/api/v1/requests/${id}/credentials`)).status, 410, "revealed once only");
        assert.equal((await cairn.call("GET", `/api/v1/requests/${id}`)).json.credentialsAvailable, false);

        const login = new pg.Client({ connectionString: creds.url });
        await login.connect();
        const read = await login.query(`select id from ${table}`);
        assert.equal(read.rows[0].id, 42);
        await assert.rejects(login.query(`insert into ${table} values (1)`), /permission denied/);
        const verifier = await withPg(TARGET as string, (c) =>
          c.query("select rolpassword, rolvaliduntil from pg_authid where rolname = $1", [creds.username]),
        );
        assert.ok(scramMatches(verifier.rows[0].rolpassword, creds.password), "the role's password is the one revealed");
        assert.ok(verifier.rows[0].rolvaliduntil, "VALID UNTIL is set");
        login.on("error", () => {});

        const ended = await statusIs(cairn, id, ["EXPIRED", "REVOKED"]);
        assert.equal(ended.status, "EXPIRED");
        // the open session was terminated, and a new login is refused: the role is gone
        await assert.rejects(login.query("select 1"));
        await login.end().catch(() => {});
        const again = new pg.Client({ connectionString: creds.url });
        await assert.rejects(again.connect(), /does not exist|authentication failed/);
        const left = await withPg(TARGET as string, (c) => c.query("select 1 from pg_roles where rolname = $1", [creds.username]));
        assert.equal(left.rowCount, 0);

        const events = await cairn.store.db
          .selectFrom("audit_events")
          .select("event_type")
          .where("resource_id", "=", id)
          .where("event_type", "like", "request.%")
          .orderBy("seq")
          .execute();
        assert.deepEqual(
          events.map((e) => e.event_type),
          [
            "request.created",
            "request.approved",
            "request.processing",
            "request.granted",
            "request.credentials_revealed",
            "request.revoked",
          ],
        );

        // the password is nowhere in the store (nor in Redis): sealed until revealed, then gone
        assert.ok(!(await storeText(cairn)).includes(creds.password), "no plaintext password in any table");
        if (v.env.REDIS_URL) {
          const redis = new Redis(v.env.REDIS_URL);
          try {
            const keys = await redis.keys("cairn:queue:postgres:*");
            assert.ok(keys.length > 0, "BullMQ keys of the postgres queue are in Redis");
            for (const key of [...(await redis.keys("cairn:queue:postgres:*")), ...(await redis.keys("cairn:requests:*"))]) {
              const type = await redis.type(key);
              const text = type === "string" ? await redis.get(key) : type === "hash" ? JSON.stringify(await redis.hgetall(key)) : "";
              assert.ok(!text?.includes(creds.password), `no plaintext password in ${key}`);
            }
          } finally {
            redis.disconnect();
          }
        }
      });

      it("ends access early on POST /revoke, and fails at once on a permanent provider error", async () => {
        const res = await cairn.call("POST", "/api/v1/requests", {
          provider: "postgres",
          principal: "early",
          role: "pg_read_all_data",
          durationSeconds: 600,
          justification: "revoked early",
        });
        const id = res.json.correlationId;
        const granted = await statusIs(cairn, id, ["SUCCESS", "FAILED"]);
        assert.equal(granted.status, "SUCCESS", JSON.stringify(granted.errorDetails));
        const revoked = await cairn.call("POST", `/api/v1/requests/${id}/revoke`, { comment: "done" });
        assert.equal(revoked.status, 202, revoked.text);
        assert.equal((await statusIs(cairn, id, ["REVOKED"])).status, "REVOKED");
        const left = await withPg(TARGET as string, (c) => c.query("select 1 from pg_roles where rolname = $1", [granted.grant.roleName]));
        assert.equal(left.rowCount, 0);

        const bad = await cairn.call("POST", "/api/v1/requests", {
          provider: "postgres",
          principal: "nope",
          role: "no_such_role_here",
          durationSeconds: 60,
          justification: "permanent failure",
        });
        const failed = await statusIs(cairn, bad.json.correlationId, ["FAILED", "SUCCESS"]);
        assert.equal(failed.status, "FAILED");
        assert.equal(failed.errorDetails.attempts, 1);
        assert.match(failed.errorDetails.message, /no role "no_such_role_here"/);
      });
    });
  }

  describe("an unreachable target", () => {
    const cairn = useApp("postgres", {
      CAIRN_ACCESS_POSTGRES_URL: "postgres://postgres@127.0.0.1:1/test",
      CAIRN_ACCESS_POLL_MS: "50",
      CAIRN_ACCESS_RETRY_BASE_MS: "20",
      CAIRN_ACCESS_MAX_ATTEMPTS: "3",
    });

    it("retries transient errors with backoff, then dead-letters the request as FAILED", async () => {
      const res = await cairn.call("POST", "/api/v1/requests", {
        provider: "postgres",
        principal: "retry",
        role: "pg_read_all_data",
        durationSeconds: 60,
        justification: "transient failures",
      });
      const failed = await statusIs(cairn, res.json.correlationId, ["FAILED", "SUCCESS"]);
      assert.equal(failed.status, "FAILED");
      assert.equal(failed.errorDetails.attempts, 3);
      assert.equal(failed.errorDetails.transient, true);
      const events = await cairn.store.db
        .selectFrom("audit_events")
        .select("event_type")
        .where("resource_id", "=", res.json.correlationId)
        .where("event_type", "in", ["request.retry", "request.failed"])
        .execute();
      assert.deepEqual(events.map((e) => e.event_type).sort(), ["request.failed", "request.retry", "request.retry"]);
    });
  });
});
