import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildApp } from "../../src/app.js";
import { loadSettings } from "../../src/settings.js";
import { backends, build, inject, ns, serverUrl } from "../helper.js";

const url = (key: string, query = "") => `/api/v1/configs/${ns("cache/app")}/${key}${query}`;

for (const backend of backends()) {
  describe(`L1 read cache (${backend})`, () => {
    it("serves a repeated read from memory, and a write on the same replica is read back at once", async (t) => {
      const cairn = await build(t, backend);
      assert.equal((await cairn.call("PUT", url("k"), { value: { n: 1 } })).status, 200);
      const first = await cairn.call("GET", url("k"));
      const again = await cairn.call("GET", url("k"));
      assert.equal(again.text, first.text, "the cached body is the same bytes");
      assert.deepEqual(again.json.value, { n: 1 });
      for (let n = 2; n < 20; n++) {
        assert.equal((await cairn.call("PUT", url("k"), { value: { n } })).status, 200);
        assert.deepEqual((await cairn.call("GET", url("k"))).json.value, { n }, "read-your-writes");
      }
      // A write to a parent environment changes what production resolves to.
      assert.deepEqual((await cairn.call("GET", url("k", "?environment=production"))).json.value, { n: 19 });
      assert.equal((await cairn.call("PUT", url("k"), { value: "base" })).status, 200);
      const prod = await cairn.call("GET", url("k", "?environment=production"));
      assert.equal(prod.json.value, "base");
      assert.equal(prod.json.resolvedFrom, "base");
      // Bulk writes and deletes drop cached reads too.
      await cairn.call("POST", "/api/v1/configs/bulk", { operations: [{ op: "set", namespace: "cache/app", key: "k", value: "bulk" }] });
      assert.equal((await cairn.call("GET", url("k"))).json.value, "bulk");
      await cairn.call("DELETE", url("k"));
      assert.equal((await cairn.call("GET", url("k"))).status, 404);
    });

    it("after concurrent writers and readers settle, a read returns the newest version, never an older one", async (t) => {
      const cairn = await build(t, backend);
      for (let round = 0; round < 8; round++) {
        const ops = await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            i % 3 === 0 ? cairn.call("GET", url("race")) : cairn.call("PUT", url("race"), { value: `r${round}-w${i}` }),
          ),
        );
        const writes = ops.filter((r, i) => i % 3 !== 0 && r.status === 200);
        const newest = writes.reduce((a, b) => (b.json.version > a.json.version ? b : a));
        const read = await cairn.call("GET", url("race"));
        assert.equal(read.json.version, newest.json.version, `round ${round}`);
        assert.equal(read.json.value, newest.json.value);
      }
    });

    it("never serves a secret from the cache to a reveal, nor a revealed value to a plain read", async (t) => {
      const cairn = await build(t, backend);
      await cairn.call("PUT", url("password"), { value: "hunter2-cache-marker", secret: true });
      const masked = await cairn.call("GET", url("password"));
      assert.notEqual(masked.json.value, "hunter2-cache-marker");
      const revealed = await cairn.call("GET", url("password", "?reveal=true"));
      assert.equal(revealed.json.value, "hunter2-cache-marker");
      const maskedAgain = await cairn.call("GET", url("password"));
      assert.notEqual(maskedAgain.json.value, "hunter2-cache-marker", "the reveal was not cached");
    });
  });
}

for (const transport of ["redis", "postgres"] as const) {
  const skip = !serverUrl ? "needs DATABASE_URL" : transport === "redis" && !process.env.REDIS_URL ? "needs REDIS_URL" : false;
  describe(`cross-replica invalidation over ${transport === "redis" ? "Redis pub/sub" : "LISTEN/NOTIFY"}`, { skip }, () => {
    it("a replica that cached a value reads the new one within one message hop of a write elsewhere", async (t) => {
      const env = transport === "redis" ? { REDIS_URL: process.env.REDIS_URL as string } : { REDIS_URL: "" };
      const a = await build(t, "postgres", env);
      const b = await buildApp(loadSettings({ ...a.testStore.env, ...env, CAIRN_LOG_LEVEL: "silent" }));
      t.after(() => b.app.close());
      const onB = (method: string, u: string, body?: unknown) => inject(b, a.adminKey, method, u, body);
      const stale: number[] = [];
      for (let round = 0; round < 20; round++) {
        assert.equal((await a.call("PUT", url("shared"), { value: round })).status, 200);
        // B caches the value it sees, then A changes it. (Both apps share this process: a loop of cache
        // hits never waits for I/O, so it yields to let the bus socket be read.)
        for (;;) {
          if ((await onB("GET", url("shared"))).json.value === round) break;
          await new Promise((r) => setImmediate(r));
        }
        assert.equal((await a.call("PUT", url("shared"), { value: `next-${round}` })).status, 200);
        const acked = performance.now();
        for (let tries = 0; ; tries++) {
          if ((await onB("GET", url("shared"))).json.value === `next-${round}`) break;
          assert.ok(tries < 2000, "B never saw the write");
          await new Promise((r) => setTimeout(r, 1));
        }
        stale.push(performance.now() - acked);
      }
      stale.sort((x, y) => x - y);
      t.diagnostic(`staleness after a write on the other replica: median ${stale[10]?.toFixed(1)} ms, max ${stale[19]?.toFixed(1)} ms`);
    });
  });
}

describe("L2 head cache in Redis", { skip: serverUrl && process.env.REDIS_URL ? false : "needs DATABASE_URL and REDIS_URL" }, () => {
  it("holds ciphertext only, and serves a replica's first read without the database", async (t) => {
    const { Redis } = await import("ioredis");
    const redis = new Redis(process.env.REDIS_URL as string);
    t.after(() => redis.quit());
    const env = { REDIS_URL: process.env.REDIS_URL as string };
    const a = await build(t, "postgres", env);
    const b = await buildApp(loadSettings({ ...a.testStore.env, ...env, CAIRN_LOG_LEVEL: "silent" }));
    t.after(() => b.app.close());
    const marker = `l2-plaintext-marker-${Date.now()}`;
    await a.call("PUT", url("plain"), { value: marker });
    await a.call("PUT", url("hidden"), { value: `${marker}-secret`, secret: true });
    assert.equal((await a.call("GET", url("plain", "?environment=production"))).json.value, marker);
    assert.equal((await a.call("GET", url("hidden", "?reveal=true"))).json.value, `${marker}-secret`);

    const before = (await b.app.inject({ method: "GET", url: "/metrics" })).body;
    const hitsOf = (text: string) => Number(/cairn_cache_hits_total\{cache="heads"\} (\d+)/.exec(text)?.[1] ?? 0);
    assert.equal((await inject(b, a.adminKey, "GET", url("plain", "?environment=production"))).json.value, marker);
    const after = (await b.app.inject({ method: "GET", url: "/metrics" })).body;
    assert.equal(
      hitsOf(after) - hitsOf(before),
      1,
      `B's first read came from Redis: ${after
        .split("\n")
        .filter((l) => l.includes("cache"))
        .join("\n")}`,
    );

    let scanned = 0;
    for (const k of await redis.keys("cairn:heads:*")) {
      const fields = await redis.hgetall(k);
      scanned += 1;
      assert.ok(!JSON.stringify(fields).includes(marker), `Redis key ${k} holds a plaintext value`);
      assert.ok(!Buffer.from(JSON.stringify(fields)).toString("base64").includes(Buffer.from(marker).toString("base64")));
    }
    assert.ok(scanned >= 2);
  });
});
