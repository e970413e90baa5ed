// Two real server processes sharing PostgreSQL (and Redis): what one replica does, the other honours.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { generateApiKey } from "../../src/auth/api-key.js";
import { httpClient, type ServerProcess, startServerProcess } from "../fixtures/process.js";
import { freshStore, serverUrl, type TestStore, withPg } from "../helper.js";
import { redisUrl, sleep } from "./support.js";

/** Two replicas on one fresh database; both know the admin key from CAIRN_BOOTSTRAP_ADMIN_KEY. */
function useReplicas(withRedis: boolean) {
  const state = {} as { a: ServerProcess; b: ServerProcess; store: TestStore; admin: string; env: Record<string, string> };
  before(async () => {
    state.store = await freshStore("postgres");
    state.admin = generateApiKey().key;
    state.env = {
      ...state.store.env,
      REDIS_URL: withRedis ? (redisUrl as string) : "",
      CAIRN_BOOTSTRAP_ADMIN_KEY: state.admin,
      CAIRN_USAGE_FLUSH_SECONDS: "1",
    };
    state.a = await startServerProcess(state.env);
    state.b = await startServerProcess(state.env);
  });
  after(async () => {
    await state.a?.kill();
    await state.b?.kill();
    await state.store?.drop();
  });
  return state;
}

/** Revoke on A, then poll B: B must refuse the key within a second. */
async function revokeReachesOtherReplica(r: ReturnType<typeof useReplicas>): Promise<number> {
  const created = await httpClient(r.a.url, r.admin)("POST", "/api/v1/keys", { name: "replicated", roles: ["admin"] });
  assert.equal(created.status, 201, created.text);
  const key = created.json.key as string;
  // both replicas have verified (and cached) the key
  assert.equal((await httpClient(r.a.url, key)("GET", "/api/v1/environments")).status, 200);
  assert.equal((await httpClient(r.b.url, key)("GET", "/api/v1/environments")).status, 200);
  assert.equal((await httpClient(r.b.url, key)("GET", "/api/v1/environments")).status, 200);

  const revoked = await httpClient(r.a.url, r.admin)("POST", `/api/v1/keys/${created.json.id}/revoke`);
  assert.equal(revoked.status, 200, revoked.text);
  const at = Date.now();
  assert.equal((await httpClient(r.a.url, key)("GET", "/api/v1/environments")).status, 401);
  let status = 200;
  while (Date.now() - at < 1_000) {
    status = (await httpClient(r.b.url, key)("GET", "/api/v1/environments")).status;
    if (status === 401) break;
    await sleep(10);
  }
  const elapsed = Date.now() - at;
  assert.equal(status, 401, "replica B still accepts the key a second after the revoke");
  return elapsed;
}

const needs = (what: string[]) => (what.length ? `needs ${what.join(" and ")}` : false);

describe("two replicas sharing PostgreSQL + Redis", {
  skip: needs([...(serverUrl ? [] : ["DATABASE_URL"]), ...(redisUrl ? [] : ["REDIS_URL"])]),
}, () => {
  const r = useReplicas(true);
  const issued: string[] = [];

  it("a revoke on one replica is refused on the other within 1 s", async () => {
    const elapsed = await revokeReachesOtherReplica(r);
    assert.ok(elapsed < 1_000, `took ${elapsed} ms`);
  });

  it("a limit of 10 per window across both replicas admits exactly 10 of 30 concurrent requests", async () => {
    const created = await httpClient(r.a.url, r.admin)("POST", "/api/v1/keys", {
      name: "limited",
      roles: ["admin"],
      rateLimit: { limit: 10, windowSeconds: 60 },
    });
    assert.equal(created.status, 201, created.text);
    const key = created.json.key as string;
    issued.push(key);
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => httpClient(i % 2 ? r.b.url : r.a.url, key)("GET", "/api/v1/environments")),
    );
    const admitted = results.filter((x) => x.status === 200).length;
    assert.equal(admitted, 10, `statuses: ${results.map((x) => x.status).join(",")}`);
    assert.equal(results.filter((x) => x.status === 429).length, 20);
    for (const x of results.filter((y) => y.status === 429)) assert.ok(Number(x.headers.get("retry-after")) >= 1);
  });

  it("rotation on one replica: the old key keeps working on both until the grace ends, then 401 on both", async () => {
    const created = await httpClient(r.a.url, r.admin)("POST", "/api/v1/keys", { name: "rotating", roles: ["admin"] });
    const old = created.json.key as string;
    issued.push(old);
    for (const base of [r.a.url, r.b.url]) assert.equal((await httpClient(base, old)("GET", "/api/v1/environments")).status, 200);
    const rotated = await httpClient(r.b.url, r.admin)("POST", `/api/v1/keys/${created.json.id}/rotate`, { gracePeriodSeconds: 1 });
    assert.equal(rotated.status, 200, rotated.text);
    issued.push(rotated.json.key);
    for (const base of [r.a.url, r.b.url]) {
      assert.equal((await httpClient(base, old)("GET", "/api/v1/environments")).status, 200);
      assert.equal((await httpClient(base, rotated.json.key)("GET", "/api/v1/environments")).status, 200);
    }
    await sleep(Math.max(0, Date.parse(rotated.json.rotatedFrom.graceUntil) - Date.now()) + 50);
    for (const base of [r.a.url, r.b.url]) {
      assert.equal((await httpClient(base, old)("GET", "/api/v1/environments")).status, 401);
      assert.equal((await httpClient(base, rotated.json.key)("GET", "/api/v1/environments")).status, 200);
    }
  });

  it("no plaintext API key in any table, any Redis key or value, or any log line", async () => {
    // exercise every path that handles a key: create, verify, use on both replicas, flush usage
    for (let i = 0; i < 3; i++) {
      const created = await httpClient(r.a.url, r.admin)("POST", "/api/v1/keys", { name: `scan-${i}`, roles: ["viewer"], remaining: 10 });
      assert.equal(created.status, 201);
      issued.push(created.json.key);
      await httpClient(r.b.url, r.admin)("POST", "/api/v1/keys/verify", { key: created.json.key });
      await httpClient(r.b.url, created.json.key)("GET", "/api/v1/environments");
      await httpClient(r.a.url, created.json.key)("GET", "/api/v1/environments");
    }
    await httpClient(r.a.url, `${r.admin.slice(0, -2)}zz`)("GET", "/api/v1/environments"); // a failed attempt is logged and audited
    await sleep(1_500); // a usage flush on both replicas
    const secrets = [r.admin, ...issued];
    const needles = secrets.flatMap((k) => [k, k.split("_")[2] as string]);
    const found = (text: string) => needles.filter((n) => text.includes(n));

    const tables = await withPg(r.store.databaseUrl as string, async (client) => {
      const names = await client.query<{ table_name: string }>(
        "select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'",
      );
      const out: Record<string, string> = {};
      for (const { table_name } of names.rows) {
        const rows = await client.query(`select t::text as row from "${table_name}" t`);
        out[table_name] = rows.rows.map((x) => x.row).join("\n");
      }
      return out;
    });
    assert.ok(Object.keys(tables).includes("api_keys") && Object.keys(tables).includes("key_usage"));
    assert.ok(tables.key_usage?.length, "usage was flushed");
    for (const [table, text] of Object.entries(tables)) assert.deepEqual(found(text), [], `table ${table}`);

    const redis = new Redis(redisUrl as string);
    try {
      let cursor = "0";
      let scanned = 0;
      const ours: string[] = [];
      do {
        const [next, keys] = await redis.scan(cursor, "COUNT", 1000);
        cursor = next;
        for (const k of keys) {
          scanned++;
          if (k.startsWith("cairn:")) ours.push(k);
          const type = await redis.type(k);
          let value: unknown;
          if (type === "string") value = await redis.get(k);
          else if (type === "hash") value = await redis.hgetall(k);
          else if (type === "list") value = await redis.lrange(k, 0, -1);
          else if (type === "set") value = await redis.smembers(k);
          else if (type === "zset") value = await redis.zrange(k, 0, -1, "WITHSCORES");
          else if (type === "stream") value = await redis.xrange(k, "-", "+");
          assert.deepEqual(found(`${k}\n${JSON.stringify(value)}`), [], `Redis key ${k}`);
        }
      } while (cursor !== "0");
      assert.ok(scanned > 0 && ours.some((k) => k.startsWith("cairn:rl:")), "the rate limit buckets are in Redis");
    } finally {
      redis.disconnect();
    }

    for (const [name, p] of [
      ["A", r.a],
      ["B", r.b],
    ] as const) {
      const logs = p.output();
      assert.ok(logs.split("\n").length > 10, `replica ${name} logged requests`);
      assert.deepEqual(found(logs), [], `log of replica ${name}`);
    }
  });
});

describe("two replicas sharing PostgreSQL only (LISTEN/NOTIFY)", { skip: needs(serverUrl ? [] : ["DATABASE_URL"]) }, () => {
  const r = useReplicas(false);

  it("a revoke on one replica is refused on the other within 1 s", async () => {
    const elapsed = await revokeReachesOtherReplica(r);
    assert.ok(elapsed < 1_000, `took ${elapsed} ms`);
  });

  it("the replicas started without Redis: the event bus is PostgreSQL", async () => {
    const listeners = await withPg(r.store.databaseUrl as string, async (client) => {
      const res = await client.query(
        "select count(*)::int as n from pg_stat_activity where application_name = 'cairn-events' and datname = current_database()",
      );
      return res.rows[0].n as number;
    });
    assert.equal(listeners, 2);
  });
});

describe("a replica that cannot reach Redis refuses to start", () => {
  it("exits with a message naming REDIS_URL", async (t) => {
    const store = await freshStore("pglite");
    t.after(() => store.drop());
    const unused = `redis://127.0.0.1:${20_000 + (randomBytes(2).readUInt16BE() % 10_000)}`;
    await assert.rejects(startServerProcess({ ...store.env, REDIS_URL: unused }, 20_000), /cannot connect to Redis at .*REDIS_URL/);
  });
});
