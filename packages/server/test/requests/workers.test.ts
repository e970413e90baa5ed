import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { adminKeyOf, httpClient, type ServerProcess, startOn } from "../fixtures/process.js";
import { freshStore, serverUrl, type TestStore, until, withPg } from "../helper.js";

// Real processes on one PostgreSQL store (PostgreSQL-backed queue, LISTEN/NOTIFY bus) granting on the
// machine's PostgreSQL: the process that granted is killed; two fresh workers revoke on time, once.
const TARGET = serverUrl;

describe("access workers as processes", { skip: TARGET ? false : "needs DATABASE_URL (a real PostgreSQL)" }, () => {
  let store: TestStore | undefined;
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const s of servers) await s.kill("SIGKILL");
    await store?.drop();
  });

  it("a worker killed after granting, and two restarted workers: the grant is revoked at its expiry, exactly once", async () => {
    store = await freshStore("postgres");
    const env = { CAIRN_ACCESS_POSTGRES_URL: TARGET as string, CAIRN_ACCESS_POLL_MS: "100" };
    const first = await startOn(store, { ...env, CAIRN_ROLE: "all" });
    servers.push(first);
    const key = await adminKeyOf(first);
    const api = httpClient(first.url, key);
    const res = await api("POST", "/api/v1/requests", {
      provider: "postgres",
      principal: "proc",
      role: "pg_read_all_data",
      durationSeconds: 6,
      justification: "worker restart test",
    });
    assert.equal(res.status, 202, res.text);
    const id = res.json.correlationId;
    const granted = await until(
      "the grant",
      async () => {
        const r = await api("GET", `/api/v1/requests/${id}`);
        return ["SUCCESS", "FAILED"].includes(r.json?.status) ? r.json : undefined;
      },
      30_000,
    );
    assert.equal(granted.status, "SUCCESS", JSON.stringify(granted.errorDetails));
    const creds = (await api("POST", `/api/v1/requests/${id}/credentials`)).json.credentials;
    assert.ok(creds.password);

    // the process that granted dies without a chance to clean up
    await first.kill("SIGKILL");
    const workers = await Promise.all([startOn(store, { ...env, CAIRN_ROLE: "worker" }), startOn(store, { ...env, CAIRN_ROLE: "worker" })]);
    servers.push(...workers);
    const viaWorker = httpClient(workers[0]?.url as string, key);
    const ended = await until(
      "the revocation",
      async () => {
        const r = await viaWorker("GET", `/api/v1/requests/${id}`);
        return ["EXPIRED", "REVOKED"].includes(r.json?.status) ? r.json : undefined;
      },
      30_000,
    );
    assert.equal(ended.status, "EXPIRED");
    assert.ok(new Date(ended.revokedAt) >= new Date(ended.expiresAt), "not before its expiry");
    const role = await withPg(TARGET as string, (c) => c.query("select 1 from pg_roles where rolname = $1", [creds.username]));
    assert.equal(role.rowCount, 0, "the login role is gone");

    // let both workers sweep a few more times, then count
    await new Promise((r) => setTimeout(r, 500));
    const revoked = await withPg(store.databaseUrl as string, (c) =>
      c.query("select count(*)::int as n from audit_events where resource_id = $1 and event_type = 'request.revoked'", [id]),
    );
    assert.equal(revoked.rows[0].n, 1, "revoked exactly once");
    for (const s of servers) assert.ok(!s.output().includes(creds.password), "no plaintext password in any log");
  });
});
