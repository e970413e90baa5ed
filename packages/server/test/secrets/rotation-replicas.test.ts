import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { adminKeyOf, httpClient, type ServerProcess, startOn } from "../fixtures/process.js";
import { freshStore, ns, serverUrl, type TestStore, withPg } from "../helper.js";

// The scheduler across real server processes on one PostgreSQL: two replicas rotate a batch of due
// secrets while one of them is killed (SIGKILL) and a third starts; a claim left by a "crashed" replica
// lapses and is rotated by another. Every secret must end up rotated exactly once.

const N = 40;
const env = { CAIRN_ROTATION_POLL_SECONDS: "1", CAIRN_ROTATION_LEASE_SECONDS: "5", CAIRN_LOG_LEVEL: "warn" };

describe("rotation scheduler across replicas", { skip: serverUrl ? false : "needs DATABASE_URL" }, () => {
  const servers: ServerProcess[] = [];
  let store: TestStore;
  after(async () => {
    for (const s of servers) await s.kill("SIGKILL");
    await store?.drop();
  });

  test("each due secret is rotated once: two replicas, one killed mid-way, one started", async (t) => {
    store = await freshStore("postgres");
    const url = store.databaseUrl as string;
    const a = await startOn(store, { ...env, CAIRN_LOG_LEVEL: "info" });
    servers.push(a);
    const key = await adminKeyOf(a);
    const callA = httpClient(a.url, key);
    const later = new Date(Date.now() + 3600_000).toISOString();
    for (let i = 0; i < N; i++) {
      const put = await callA("PUT", `/api/v1/secrets/${ns("prod/fleet")}/k${i}`, {
        type: "api_key",
        value: `initial-value-${i}-abcdefghijklmnop`,
      });
      assert.ok(put.status < 300, put.text);
      const policy = await callA("PUT", `/api/v1/secrets/${ns("prod/fleet")}/k${i}/policy`, {
        intervalSeconds: 86400,
        nextRotationAt: later,
      });
      assert.equal(policy.status, 201, policy.text);
    }
    const b = await startOn(store, env);
    servers.push(b);

    await withPg(url, async (c) => {
      // One row as a replica that claimed it and died would leave it: leased for a few seconds, attempt counted.
      await c.query(
        "update secret_rotation_policies set claim_id = 'rcl_crashed', locked_until = now() + interval '3 seconds', attempts = 1, next_rotation_at = now() where key = 'k0'",
      );
      await c.query("update secret_rotation_policies set next_rotation_at = now() where key <> 'k0'");
    });
    const rotated = async () =>
      withPg(url, async (c) =>
        Number((await c.query("select count(*) as n from secret_rotation_policies where last_rotated_at is not null")).rows[0].n),
      );
    async function waitRotated(atLeast: number) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const seen = await rotated();
        if (seen >= atLeast) return;
        if (Date.now() > deadline)
          throw new Error(`only ${seen} of ${atLeast} rotated:\n${a.output().slice(-2000)}\n${b.output().slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    // Kill a replica while rotations are under way; start another on the same database.
    await waitRotated(3);
    await a.kill("SIGKILL");
    t.diagnostic(`replica A killed after ${await rotated()} of ${N} rotations`);
    const c = await startOn(store, env);
    servers.push(c);
    await waitRotated(N);

    const facts = await withPg(url, async (pgc) => {
      const policies = (
        await pgc.query(
          "select key, last_rotated_version, attempts, claim_id, next_rotation_at > now() + interval '23 hours' as later from secret_rotation_policies",
        )
      ).rows;
      const events = (await pgc.query("select resource_id from audit_events where event_type = 'secret.rotated'")).rows;
      return { policies, events };
    });
    assert.equal(facts.policies.length, N);
    for (const p of facts.policies) {
      assert.equal(p.last_rotated_version, 2, `${p.key} rotated once (version 2)`);
      assert.equal(p.attempts, 0);
      assert.equal(p.claim_id, null);
      assert.equal(p.later, true, `${p.key} next due one interval later`);
    }
    assert.equal(facts.events.length, N, "one secret.rotated event per secret");
    assert.equal(new Set(facts.events.map((e) => e.resource_id)).size, N);
    const callC = httpClient(c.url, key);
    for (const i of [0, 1, N - 1]) {
      const got = await callC("GET", `/api/v1/secrets/${ns("prod/fleet")}/k${i}`);
      assert.equal(got.json.version, 2, `k${i} has exactly one new version`);
    }
  });
});
