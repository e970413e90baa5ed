// Two server processes on one PostgreSQL, each doing 500 config writes at once: the tenant's log must get
// every event exactly once, leaf indexes 0..n-1 without a gap, and `cairn audit verify` must verify it
// (checkpoints signed by whichever replica held the lock, all consistent with each other).

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { adminKeyOf, httpClient, type ServerProcess, startOn } from "../fixtures/process.js";
import { freshStore, ns, serverUrl, withPg } from "../helper.js";
import { cairnCli, eventually } from "./support.js";

const WRITES = 500;
const IN_FLIGHT = 8;

describe("audit log across two replicas (postgres)", { skip: serverUrl ? false : "needs DATABASE_URL" }, () => {
  test("500 concurrent writes on each of two processes → a gapless log that verifies", { timeout: 300_000 }, async (t) => {
    const store = await freshStore("postgres");
    const dir = await mkdtemp(path.join(tmpdir(), "cairn-replicas-"));
    const servers: ServerProcess[] = [];
    t.after(async () => {
      for (const s of servers) await s.kill("SIGKILL");
      await store.drop();
      await rm(dir, { recursive: true, force: true });
    });
    const env = { CAIRN_AUDIT_CHECKPOINT_EVENTS: "100", CAIRN_LOG_LEVEL: "warn" };
    const a = await startOn(store, env);
    servers.push(a);
    const adminKey = await adminKeyOf(a);
    const b = await startOn(store, env);
    servers.push(b);

    const drive = async (server: ServerProcess, name: string) => {
      const call = httpClient(server.url, adminKey);
      let next = 0;
      const worker = async () => {
        while (next < WRITES) {
          const i = next++;
          const r = await call("PUT", `/api/v1/configs/${ns(`replicas/${name}`)}/k${i % 25}`, { value: { i, from: name } });
          assert.equal(r.status, 200, `${name} write ${i}: ${r.text}`);
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    };
    const started = Date.now();
    await Promise.all([drive(a, "a"), drive(b, "b")]);
    const elapsed = Date.now() - started;
    t.diagnostic(`${2 * WRITES} audited writes on two replicas in ${elapsed} ms (${Math.round((2 * WRITES * 1000) / elapsed)}/s)`);

    const tenant = (await httpClient(a.url, adminKey)("GET", "/api/v1/audit?limit=1")).json.items[0].tenant as string;
    const count = async () =>
      withPg(store.databaseUrl as string, async (c) => {
        const r = await c.query(
          `select count(*)::int as n, count(leaf_index)::int as sequenced, coalesce(max(leaf_index), -1)::int as top,
                  count(distinct leaf_index)::int as distinct_indexes
           from audit_events where tenant_id = $1`,
          [tenant],
        );
        return r.rows[0] as { n: number; sequenced: number; top: number; distinct_indexes: number };
      });
    await eventually("every event sequenced", async () => {
      const c = await count();
      return c.sequenced === c.n;
    });
    const c = await count();
    assert.ok(c.n >= 2 * WRITES, `${c.n} events`);
    assert.equal(c.distinct_indexes, c.n, "no index twice");
    assert.equal(c.top, c.n - 1, "no gap: indexes are exactly 0..n-1");
    const configEvents = await withPg(
      store.databaseUrl as string,
      async (pgc) =>
        (await pgc.query(`select count(*)::int as n from audit_events where tenant_id = $1 and event_type like 'config.%'`, [tenant]))
          .rows[0].n as number,
    );
    assert.equal(configEvents, 2 * WRITES, "one event per write, none lost, none doubled");

    for (const server of [a, b]) {
      const r = await cairnCli(["audit", "verify"], { CAIRN_URL: server.url, CAIRN_TOKEN: adminKey }, dir);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^verified \d+ events, root [A-Za-z0-9+/]{43}=\n$/);
      const verified = Number(/^verified (\d+)/.exec(r.stdout)?.[1]);
      assert.ok(verified >= c.n, `${verified} ≥ ${c.n}`);
    }
    const checkpoints = (await httpClient(b.url, adminKey)("GET", "/api/v1/audit/checkpoints?limit=1000")).json.items.length;
    assert.ok(checkpoints >= 5, `checkpoints every 100 events: ${checkpoints}`);
  });
});
