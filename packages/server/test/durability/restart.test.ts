// Durability across a graceful restart: the real server in its own OS process, stopped with SIGTERM and
// started again on the same store. Everything a user wrote must still be there, byte for byte, and the
// admin key printed on the first start must still work (and must not be printed again).

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import http from "node:http";
import { describe, test } from "node:test";
import { adminKeyOf, httpClient, type ServerProcess, startOn, until } from "../fixtures/process.js";
import { backends, freshStore, ns } from "../helper.js";

const BANNER = "Admin API key (shown once";

const count = (haystack: string, needle: string) => haystack.split(needle).length - 1;

/** Everything a user can read back, as comparable data (request ids differ per request and are dropped). */
async function snapshot(call: ReturnType<typeof httpClient>, urls: string[]) {
  const out: Record<string, unknown> = {};
  for (const url of urls) {
    const r = await call("GET", url);
    let body: unknown = r.json ?? r.text;
    if (body && typeof body === "object" && "requestId" in body) {
      const { requestId: _drop, ...rest } = body as Record<string, unknown>;
      body = rest;
    }
    out[url] = { status: r.status, etag: r.headers.get("etag"), body };
  }
  return out;
}

for (const backend of backends()) {
  describe(`restart after SIGTERM (${backend})`, () => {
    test("values, versions, history, secrets, schemas, environments and the admin key survive a restart", {
      timeout: 180_000,
    }, async (t) => {
      const store = await freshStore(backend);
      const servers: ServerProcess[] = [];
      t.after(async () => {
        for (const s of servers) await s.kill("SIGKILL");
        await store.drop();
      });

      const first = await startOn(store);
      servers.push(first);
      const adminKey = await adminKeyOf(first);
      assert.equal(count(first.output(), BANNER), 1, "the first start prints the admin key banner once");
      let call = httpClient(first.url, adminKey);

      const N = ns("prod/api");
      const cfg = (key: string, q = "") => `/api/v1/configs/${N}/${key}${q}`;
      const put = async (key: string, body: unknown, q = "") => {
        const r = await call("PUT", cfg(key, q), body);
        assert.equal(r.status, 200, `PUT ${key}${q}: ${r.text}`);
        return r.json;
      };

      // db.url: three versions, then a rollback to v1 (v4, restore).
      await put("db.url", { value: "postgres://one", reason: "first" });
      await put("db.url", { value: { host: "two", port: 5432, opts: ["ssl", null, 1.5] }, tags: { owner: "team-a" } });
      await put("db.url", { value: "postgres://three" });
      const rolled = await call("POST", cfg("db.url", "/rollback"), { version: 1 });
      assert.equal(rolled.status, 200, rolled.text);
      assert.equal(rolled.json.version, 4);
      // feature.flag: created, then deleted (tombstone v2).
      await put("feature.flag", { value: true });
      const del = await call("DELETE", cfg("feature.flag"));
      assert.equal(del.status, 200, del.text);
      assert.equal(del.json.version, 2);
      // A secret.
      const secretValue = `s3cr3t-${randomBytes(8).toString("hex")}`;
      await put("api.token", { value: secretValue, secret: true });
      // A schema, and a value that satisfies it.
      const schema = await call("PUT", `/api/v1/schemas/${N}/port`, { schema: { type: "integer", minimum: 1, maximum: 65535 } });
      assert.equal(schema.status, 200, schema.text);
      await put("port", { value: 8080 });
      // An environment qa (development → base) with its own value.
      const env = await call("POST", "/api/v1/environments", { name: "qa", parent: "development" });
      assert.equal(env.status, 201, env.text);
      await put("db.url", { value: "postgres://qa" }, "?environment=qa");
      // A bulk write, in another namespace.
      const bulk = await call("POST", "/api/v1/configs/bulk", {
        operations: [
          { op: "set", namespace: "shared", key: "region", value: "eu-west-1" },
          { op: "set", namespace: "shared", key: "zones", value: [1, 2, 3], environment: "production" },
        ],
      });
      assert.equal(bulk.status, 200, bulk.text);

      const urls = [
        cfg("db.url"),
        ...[1, 2, 3, 4].map((v) => cfg("db.url", `?version=${v}`)),
        cfg("db.url", "?environment=qa"),
        cfg("db.url", "?environment=production"),
        cfg("db.url", "/history"),
        cfg("db.url", "/history?environment=qa"),
        cfg("feature.flag"),
        cfg("feature.flag", "?version=1"),
        cfg("feature.flag", "?version=2"),
        cfg("feature.flag", "/history"),
        cfg("api.token"),
        cfg("api.token", "?reveal=true"),
        cfg("api.token", "/history?reveal=true"),
        cfg("port"),
        cfg("port", "?environment=qa"),
        `/api/v1/configs/${N}`,
        `/api/v1/configs/${N}?environment=qa&reveal=true`,
        `/api/v1/configs/${N}?environment=qa&reveal=true&format=dotenv`,
        `/api/v1/configs/${N}/history`,
        `/api/v1/schemas/${N}/port`,
        "/api/v1/environments",
        "/api/v1/configs/shared/region",
        "/api/v1/configs/shared/zones?environment=production",
      ];
      const before = await snapshot(call, urls);

      // What the user expects to read back (checked before the restart so the comparison below is meaningful).
      const b = before as Record<string, { status: number; etag: string | null; body: any }>;
      assert.equal(b[cfg("db.url")]?.body.value, "postgres://one");
      assert.equal(b[cfg("db.url")]?.body.version, 4);
      assert.deepEqual(b[cfg("db.url", "?version=2")]?.body.value, { host: "two", port: 5432, opts: ["ssl", null, 1.5] });
      assert.equal(b[cfg("db.url", "?environment=qa")]?.body.value, "postgres://qa");
      assert.equal(b[cfg("db.url", "?environment=qa")]?.body.resolvedFrom, "qa");
      assert.deepEqual(
        b[cfg("db.url", "/history")]?.body.items.map((i: any) => [i.version, i.changeType]),
        [
          [4, "restore"],
          [3, "update"],
          [2, "update"],
          [1, "create"],
        ],
      );
      assert.equal(b[cfg("feature.flag")]?.status, 404);
      assert.equal(b[cfg("feature.flag", "?version=1")]?.body.value, true);
      assert.equal(b[cfg("api.token")]?.body.secret, true);
      assert.notEqual(b[cfg("api.token")]?.body.value, secretValue, "a secret is masked without reveal");
      assert.equal(b[cfg("api.token", "?reveal=true")]?.body.value, secretValue);
      assert.equal(b[cfg("port", "?environment=qa")]?.body.resolvedFrom, "base");
      assert.deepEqual(b[`/api/v1/schemas/${N}/port`]?.body.schema, { type: "integer", minimum: 1, maximum: 65535 });
      assert.deepEqual(b["/api/v1/environments"]?.body.items.find((e: any) => e.name === "qa")?.chain, ["qa", "development", "base"]);

      const firstExit = await first.kill("SIGTERM");
      assert.equal(firstExit, 0, `SIGTERM on an idle server exits 0:\n${first.output().slice(-2000)}`);

      const second = await startOn(store);
      servers.push(second);
      assert.equal(count(second.output(), BANNER), 0, `the second start prints no admin key:\n${second.output()}`);
      assert.equal(second.adminKey, undefined, "no key at all appears in the second start's output");
      call = httpClient(second.url, adminKey);

      const after = await snapshot(call, urls);
      assert.deepEqual(after, before, "every read answers exactly as before the restart");

      // The same admin key still authenticates; a wrong one still does not.
      const wrong = await httpClient(second.url, `cairn_${"A".repeat(8)}_${"b".repeat(33)}`)("GET", "/api/v1/environments");
      assert.equal(wrong.status, 401);
      // The schema is still enforced; qa still exists; numbering continues.
      const bad = await call("PUT", cfg("port"), { value: "eighty" });
      assert.equal(bad.status, 422, bad.text);
      const dup = await call("POST", "/api/v1/environments", { name: "qa", parent: "development" });
      assert.equal(dup.status, 409, dup.text);
      const next = await call("PUT", cfg("db.url"), { value: "postgres://five" }, { "if-match": '"4"' });
      assert.equal(next.status, 200, next.text);
      assert.equal(next.json.version, 5);
      const restoredFlag = await call("POST", cfg("feature.flag", "/rollback"), { version: 1 });
      assert.equal(restoredFlag.status, 200, restoredFlag.text);
      assert.equal(restoredFlag.json.version, 3);
      assert.equal((await call("GET", cfg("feature.flag"))).json.value, true);

      assert.equal(await second.kill("SIGTERM"), 0, `second SIGTERM exits 0:\n${second.output().slice(-2000)}`);
    });

    test("SIGTERM during a burst of writes drains: exit code 0, every acknowledged write is kept", { timeout: 180_000 }, async (t) => {
      const store = await freshStore(backend);
      const servers: ServerProcess[] = [];
      // A client that keeps its connections open between requests, as SDKs, agents and load balancers do.
      const agent = new http.Agent({ keepAlive: true });
      t.after(async () => {
        agent.destroy();
        for (const s of servers) await s.kill("SIGKILL");
        await store.drop();
      });
      const server = await startOn(store);
      servers.push(server);
      const adminKey = await adminKeyOf(server);
      const headers = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };
      const tag = randomBytes(4).toString("hex");

      // One request that is certainly in flight when the signal arrives: its headers are sent (the server
      // logs it by its request id), its body only after the server has started draining.
      const slowId = `drain-slow-${tag}`;
      const slowValue = { drained: tag };
      const slowBody = Buffer.from(JSON.stringify({ value: slowValue }));
      let slowStatus: number | undefined;
      let slowText = "";
      const slowReq = http.request(`${server.url}/api/v1/configs/drain/slow`, {
        method: "PUT",
        agent,
        headers: { ...headers, "x-request-id": slowId, "content-length": slowBody.length },
      });
      const slowDone = new Promise<void>((resolve) => {
        slowReq.on("response", (res) => {
          slowStatus = res.statusCode;
          res.on("data", (d) => {
            slowText += d;
          });
          res.on("end", resolve);
        });
        slowReq.on("error", (e) => {
          slowText = String(e);
          resolve();
        });
      });
      slowReq.write(slowBody.subarray(0, 5));
      await until(
        "the server to receive the slow request's headers",
        () => server.output().includes(`"reqId":"${slowId}"`),
        20_000,
        () => server.output().slice(-3000),
      );

      // ~50 concurrent PUTs to distinct keys.
      type Outcome = { key: string; value: unknown; status?: number; version?: number; error?: string; body?: string };
      const outcomes: Outcome[] = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: { i, tag } }));
      const burst = outcomes.map(
        (o) =>
          new Promise<void>((resolve) => {
            const body = Buffer.from(JSON.stringify({ value: o.value }));
            const req = http.request(`${server.url}/api/v1/configs/drain/${o.key}`, {
              method: "PUT",
              agent,
              headers: { ...headers, "content-length": body.length },
            });
            req.on("response", (res) => {
              let text = "";
              res.on("data", (d) => {
                text += d;
              });
              res.on("end", () => {
                o.status = res.statusCode;
                o.body = text;
                if (res.statusCode === 200) o.version = JSON.parse(text).version;
                resolve();
              });
            });
            req.on("error", (e) => {
              o.error = (e as NodeJS.ErrnoException).code ?? String(e);
              resolve();
            });
            req.end(body);
          }),
      );
      await until(
        "the server to receive a request of the burst",
        () => server.output().includes('"url":"/api/v1/configs/drain/k'),
        20_000,
        () => server.output().slice(-3000),
      );
      const exited = server.kill("SIGTERM");
      await until(
        "the server to start draining",
        () => server.output().includes('"msg":"draining"'),
        20_000,
        () => server.output().slice(-3000),
      );
      slowReq.end(slowBody.subarray(5));
      await Promise.all([slowDone, ...burst]);
      const code = await exited;

      assert.equal(slowStatus, 200, `a request in flight when SIGTERM arrived completes: ${slowText}`);
      const acked = outcomes.filter((o) => o.status === 200);
      assert.ok(acked.length > 0, "some writes of the burst were acknowledged");
      for (const o of outcomes) {
        if (o.status === undefined) continue; // connection closed before the request was taken: not acknowledged
        assert.ok(o.status === 200 || o.status === 503, `${o.key}: an answer during a drain is 200 or 503, got ${o.status} ${o.body}`);
      }
      t.diagnostic(
        `burst: ${acked.length} × 200, ${outcomes.filter((o) => o.status === 503).length} × 503, ` +
          `${outcomes.filter((o) => o.error).length} connection errors`,
      );
      assert.equal(code, 0, `the server exits 0 once drained:\n${server.output().slice(-3000)}`);

      const again = await startOn(store);
      servers.push(again);
      const call = httpClient(again.url, adminKey);
      const slow = await call("GET", "/api/v1/configs/drain/slow");
      assert.equal(slow.status, 200, slow.text);
      assert.deepEqual(slow.json.value, slowValue);
      for (const o of acked) {
        const r = await call("GET", `/api/v1/configs/drain/${o.key}?version=${o.version}`);
        assert.equal(r.status, 200, `${o.key} v${o.version} was acknowledged before shutdown: ${r.text}`);
        assert.deepEqual(r.json.value, o.value);
      }
      for (const o of outcomes.filter((x) => x.status === 503)) {
        const r = await call("GET", `/api/v1/configs/drain/${o.key}`);
        assert.equal(r.status, 404, `${o.key} was refused with 503, so it was not written: ${r.text}`);
      }
      assert.equal(await again.kill("SIGTERM"), 0);
    });
  });
}
