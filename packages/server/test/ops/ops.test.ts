// Operations surface: liveness, readiness, the OpenAPI document and its UI, request ids, and the shape of
// errors an operator sees (404 for unknown routes, a fixed text for internal errors, 503 when the
// database is unreachable).

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { sql } from "kysely";
import { backends, build, ns, type TestApp, withPg } from "../helper.js";

const PROBLEM = /^application\/problem\+json/;

function assertProblem(r: { status: number; headers: Record<string, unknown>; json: any; text: string }, status: number, code?: string) {
  assert.equal(r.status, status, r.text);
  assert.match(String(r.headers["content-type"]), PROBLEM, `content-type of ${r.text}`);
  assert.equal(r.json?.status, status);
  assert.equal(typeof r.json?.title, "string");
  assert.equal(typeof r.json?.detail, "string");
  assert.equal(r.json?.requestId, r.headers["x-request-id"], "the problem names the request id sent in x-request-id");
  if (code) assert.equal(r.json?.code, code);
}

const noAuth = { authorization: "" };

for (const backend of backends()) {
  describe(`operations (${backend})`, () => {
    let cairn: TestApp;
    const cleanups: (() => Promise<void>)[] = [];
    before(
      async () => {
        // No read cache: some tests damage rows behind the server's back and must see it read them.
        cairn = await build({ after: (fn: () => Promise<void>) => cleanups.push(fn) }, backend, { CAIRN_CACHE_MB: "0" });
      },
      { timeout: 60_000 },
    );
    after(async () => {
      for (const fn of cleanups.reverse()) await fn();
    });

    test("/health answers 200 without credentials", async () => {
      const r = await cairn.call("GET", "/health", undefined, noAuth);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.status, "ok");
    });

    test("/ready answers 200 with the kind of database", async () => {
      const r = await cairn.call("GET", "/ready", undefined, noAuth);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { status: "ready", database: backend });
    });

    test("/docs/json is an OpenAPI 3.1 document of the config API with bearer auth", async () => {
      const r = await cairn.call("GET", "/docs/json", undefined, noAuth);
      assert.equal(r.status, 200, r.text);
      const doc = r.json;
      assert.match(doc.openapi, /^3\.1\./);
      assert.equal(typeof doc.info?.title, "string");
      const paths = doc.paths as Record<string, Record<string, any>>;
      const methods = (p: string) => Object.keys(paths[p] ?? {}).sort();
      assert.deepEqual(methods("/api/v1/configs/{ns}/{key}"), ["delete", "get", "post", "put"]);
      for (const p of [
        "/api/v1/configs/{ns}",
        "/api/v1/configs/{ns}/{key}/history",
        "/api/v1/configs/{ns}/history",
        "/api/v1/configs/{ns}/{key}/rollback",
        "/api/v1/configs/{ns}/validate",
        "/api/v1/configs/bulk",
        "/api/v1/schemas/{ns}/{key}",
        "/api/v1/environments",
        "/health",
        "/ready",
      ]) {
        assert.ok(paths[p], `the document has ${p}; it has ${Object.keys(paths).join(", ")}`);
      }
      const put = paths["/api/v1/configs/{ns}/{key}"]?.put;
      assert.deepEqual(
        (put.parameters as { name: string; in: string }[])
          .filter((p) => p.in === "path")
          .map((p) => p.name)
          .sort(),
        ["key", "ns"],
      );
      assert.ok(put.requestBody?.content?.["application/json"]?.schema, "PUT documents its body");
      assert.ok(put.responses?.["200"], "PUT documents its 200");
      assert.deepEqual(doc.components?.securitySchemes?.bearer, {
        type: "http",
        scheme: "bearer",
        description: doc.components.securitySchemes.bearer.description,
      });
      assert.deepEqual(doc.security, [{ bearer: [] }], "the API requires the bearer scheme by default");
      assert.deepEqual(paths["/health"]?.get?.security, [], "/health is documented as unauthenticated");
      assert.deepEqual(paths["/ready"]?.get?.security, [], "/ready is documented as unauthenticated");
    });

    test("/docs serves the HTML documentation UI without credentials", async () => {
      let r = await cairn.call("GET", "/docs", undefined, noAuth);
      for (let hops = 0; r.status >= 300 && r.status < 400 && hops < 3; hops++) {
        const location = String(r.headers.location);
        r = await cairn.call("GET", new URL(location, "http://x/docs").pathname, undefined, noAuth);
      }
      assert.equal(r.status, 200, r.text.slice(0, 300));
      assert.match(String(r.headers["content-type"]), /^text\/html/);
      assert.match(r.text, /<html/i);
      assert.match(r.text, /swagger/i);
    });

    test("every response carries x-request-id; a caller's X-Request-Id is echoed; an unsafe one is replaced", async () => {
      const seen = new Set<string>();
      const responses = [
        await cairn.call("GET", "/health", undefined, noAuth),
        await cairn.call("GET", "/ready", undefined, noAuth),
        await cairn.call("GET", "/docs/json", undefined, noAuth),
        await cairn.call("GET", "/api/v1/environments"),
        await cairn.call("GET", "/api/v1/environments", undefined, noAuth),
        await cairn.call("GET", "/api/v1/configs/nope/nothing"),
        await cairn.call("PUT", "/api/v1/configs/ops/k", { value: 1, bogus: true }),
        await cairn.call("GET", "/no/such/route", undefined, noAuth),
      ];
      for (const r of responses) {
        const id = r.headers["x-request-id"];
        assert.equal(typeof id, "string", `x-request-id on ${r.status} ${r.text.slice(0, 100)}`);
        assert.match(id as string, /^[A-Za-z0-9._:-]{1,128}$/);
        seen.add(id as string);
      }
      assert.equal(seen.size, responses.length, "request ids are unique");

      const mine = `trace-${randomBytes(6).toString("hex")}`;
      const ok = await cairn.call("GET", "/api/v1/environments", undefined, { "x-request-id": mine });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers["x-request-id"], mine);
      const missing = await cairn.call("GET", `/api/v1/configs/${ns("ops/none")}/k`, undefined, { "x-request-id": mine });
      assertProblem(missing, 404, "not_found");
      assert.equal(missing.json.requestId, mine);
      const unauth = await cairn.call("GET", "/api/v1/environments", undefined, { authorization: "", "x-request-id": mine });
      assertProblem(unauth, 401, "unauthorized");
      assert.equal(unauth.json.requestId, mine);

      // An id that would corrupt a log line or a header is not echoed.
      for (const unsafe of ["has space", "x".repeat(200), 'quote"d', "semi;colon"]) {
        const r = await cairn.call("GET", "/health", undefined, { "x-request-id": unsafe });
        assert.equal(r.status, 200);
        assert.notEqual(r.headers["x-request-id"], unsafe);
        assert.match(String(r.headers["x-request-id"]), /^[A-Za-z0-9._:-]{1,128}$/);
      }
    });

    test("an unknown route is a 404 problem", async () => {
      assertProblem(await cairn.call("GET", "/no/such/route", undefined, noAuth), 404, "not_found");
      assertProblem(await cairn.call("GET", "/api/v1/no-such-thing"), 404, "not_found");
      assertProblem(await cairn.call("POST", "/api/v1/configs/bulk/extra/segments", { operations: [] }), 404, "not_found");
      const wrongMethod = await cairn.call("PATCH", "/api/v1/configs/ops/k", { value: 1 });
      assert.ok(wrongMethod.status === 404 || wrongMethod.status === 405, wrongMethod.text);
      assertProblem(wrongMethod, wrongMethod.status);
    });

    test("a failure inside the server is a 500 problem with a fixed text, whatever its cause", async () => {
      const db = cairn.store.db;
      for (const key of ["junk", "moved", "other"]) {
        const r = await cairn.call("PUT", `/api/v1/configs/ops-internal/${key}`, { value: `${key} value` });
        assert.equal(r.status, 200, r.text);
      }
      // Two different failures inside the server: a ciphertext that is not one, and one that belongs to another row.
      await sql`update configs set value_sealed = decode('00ff', 'hex') where key = 'junk'`.execute(db);
      await sql`update configs set value_sealed = (select value_sealed from configs where key = 'other') where key = 'moved'`.execute(db);
      const id = `internal-${randomBytes(4).toString("hex")}`;
      const a = await cairn.call("GET", "/api/v1/configs/ops-internal/junk", undefined, { "x-request-id": id });
      const b = await cairn.call("GET", "/api/v1/configs/ops-internal/moved");
      // Damaged ciphertext is named as such (integrity_failure), never shown.
      assertProblem(a, 500, "integrity_failure");
      assertProblem(b, 500, "integrity_failure");
      assert.equal(a.json.requestId, id, "the caller can find the failure in the log by its id");
      assert.equal(a.json.detail, b.json.detail, "one fixed text");
      for (const r of [a, b]) {
        assert.doesNotMatch(r.text, /\n\s+at |\.ts:\d+|node_modules|Error\b|sealed|value_sealed/, `internals in ${r.text}`);
        assert.ok(!r.text.includes("other value") && !r.text.includes("moved value"), r.text);
      }
      // Only the damaged rows fail.
      const fine = await cairn.call("GET", "/api/v1/configs/ops-internal/other");
      assert.equal(fine.json?.value, "other value", fine.text);
    });

    if (backend === "postgres") {
      test("when PostgreSQL cannot be reached: /ready is 503, API calls are 503 problems, and both recover", {
        timeout: 60_000,
      }, async () => {
        const url = cairn.testStore.databaseUrl as string;
        const dbName = new URL(url).pathname.slice(1);
        const admin = new URL(url);
        admin.pathname = "/postgres";
        const setAllowed = (allowed: boolean) =>
          withPg(admin.toString(), async (c) => {
            await c.query(`alter database ${dbName} allow_connections ${allowed}`);
            if (!allowed) await c.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1", [dbName]);
          });
        const warm = await cairn.call("PUT", "/api/v1/configs/ops-down/k", { value: 1 });
        assert.equal(warm.status, 200, warm.text);
        await setAllowed(false);
        try {
          const ready = await cairn.call("GET", "/ready", undefined, noAuth);
          assert.equal(ready.status, 503, ready.text);
          assert.equal(ready.json.database, "postgres");
          const health = await cairn.call("GET", "/health", undefined, noAuth);
          assert.equal(health.status, 200, "liveness does not depend on the database");
          const read = await cairn.call("GET", "/api/v1/configs/ops-down/k");
          assertProblem(read, 503, "unavailable");
          assert.doesNotMatch(read.text, /\n\s+at |\.ts:\d+|node_modules/);
        } finally {
          await setAllowed(true);
        }
        const ready = await cairn.call("GET", "/ready", undefined, noAuth);
        assert.equal(ready.status, 200, ready.text);
        const read = await cairn.call("GET", "/api/v1/configs/ops-down/k");
        assert.equal(read.status, 200, read.text);
      });
    }
  });
}
