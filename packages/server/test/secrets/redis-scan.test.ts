import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { ns, useApp } from "../helper.js";

// Redis holds caches (L2 ciphertext heads, request status), rate-limit counters, pub/sub and queues: after
// secrets are written, read, revealed, resolved through references and rotated, none of their plaintext is
// in any key of any type.
const redisUrl = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL;

async function everything(redis: Redis): Promise<string> {
  let out = "";
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "COUNT", 500);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      out += `\n${key} `;
      if (type === "string") out += (await redis.getBuffer(key))?.toString("latin1") ?? "";
      else if (type === "hash") out += JSON.stringify(await redis.hgetall(key));
      else if (type === "list") out += (await redis.lrange(key, 0, -1)).join(" ");
      else if (type === "set") out += (await redis.smembers(key)).join(" ");
      else if (type === "zset") out += (await redis.zrange(key, 0, -1)).join(" ");
      else if (type === "stream") out += JSON.stringify(await redis.xrange(key, "-", "+"));
    }
  } while (cursor !== "0");
  return out;
}

describe("secrets never reach Redis in clear", { skip: redisUrl ? false : "needs REDIS_URL" }, () => {
  const cairn = useApp("postgres", { REDIS_URL: redisUrl as string });
  const redis = redisUrl ? new Redis(redisUrl) : undefined;
  after(() => redis?.disconnect());

  it("typed secrets, reveals, references and rotations leave only ciphertext and metadata behind", async () => {
    const password = `pw-${Math.random().toString(36).slice(2)}-plain`;
    const token = `tok-${Math.random().toString(36).slice(2)}-plain`;
    const db = { host: "db.internal", port: 5432, database: "app", username: "app", password };
    const secret = (key: string) => `/api/v1/secrets/${ns("scan/app")}/${key}`;
    assert.equal((await cairn.call("PUT", secret("db"), { type: "database_credentials", value: db })).status, 200);
    assert.equal((await cairn.call("PUT", secret("token"), { type: "api_key", value: token })).status, 200);
    await cairn.call("PUT", `/api/v1/configs/${ns("scan/app")}/dsn`, {
      value: "postgres://app:${ref:scan/app/db#password}@db.internal/app",
    });
    for (let i = 0; i < 3; i++) {
      assert.equal((await cairn.call("GET", secret("db"))).status, 200);
      assert.equal((await cairn.call("GET", `${secret("db")}?reveal=true`)).json.value.password, password);
      assert.match((await cairn.call("GET", `/api/v1/configs/${ns("scan/app")}/dsn?resolve=true&reveal=true`)).json.value, /plain/);
    }
    const rotated = await cairn.call("POST", `${secret("token")}/rotate`, { gracePeriodSeconds: 60 });
    assert.equal(rotated.status, 200, rotated.text);
    const next = (await cairn.call("GET", `${secret("token")}?reveal=true`)).json.value as string;
    assert.notEqual(next, token);

    const dump = await everything(redis as Redis);
    assert.ok(dump.length > 0, "the app did use Redis");
    for (const plain of [password, token, next]) assert.equal(dump.indexOf(plain), -1, `a secret is in Redis: ${plain.slice(0, 6)}…`);
  });
});
