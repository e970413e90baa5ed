import assert from "node:assert/strict";
import { after, before, test } from "node:test";
// A real server, started through the built CLI (shared with the CLI tests).
import { freePort, type RunningServer, startServer } from "../../cli/test/support/cairn.js";
import {
  CairnApiError,
  type CairnClient,
  CairnConnectionError,
  createClient,
  isApiError,
  isConflict,
  isNotFound,
  isPreconditionFailed,
  isUnauthorized,
  isValidationFailed,
} from "../src/index.js";

let server: RunningServer;
let client: CairnClient;

before(async () => {
  server = await startServer();
  client = createClient({ url: server.url, token: server.token });
});
after(() => server?.stop());

/** Run `fn`, expecting it to reject with a CairnApiError; return that error. */
async function apiError(fn: () => Promise<unknown>): Promise<CairnApiError> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof CairnApiError, `expected CairnApiError, got ${e}`);
    return e;
  }
  assert.fail("expected the call to fail");
}

test("set/get round trip keeps the JSON type; namespaces with '/' are one path segment", async () => {
  const value = { url: "postgres://db/app", pool: 5, flags: [true, null] };
  const written = await client.set("team/svc/api", "db", value, { reason: "initial", tags: { owner: "me" } });
  assert.equal(written.version, 1);
  assert.equal(written.namespace, "team/svc/api");
  assert.deepEqual(written.tags, { owner: "me" });

  const read = await client.get("team/svc/api", "db");
  assert.deepEqual(read.value, value);
  assert.equal(read.resolvedFrom, "base");

  const inProduction = await client.get("team/svc/api", "db", { environment: "production" });
  assert.equal(inProduction.environment, "production");
  assert.equal(inProduction.resolvedFrom, "base");
});

test("404 is a CairnApiError with code not_found, a detail and a request id", async () => {
  const e = await apiError(() => client.get("team/svc/api", "missing"));
  assert.equal(e.status, 404);
  assert.equal(e.code, "not_found");
  assert.ok(isNotFound(e));
  assert.ok(isApiError(e, "not_found"));
  assert.ok(!isConflict(e));
  assert.ok(e.message.length > 0);
  assert.equal(e.message, e.problem.detail);
  assert.ok(e.requestId);
});

test("If-Match: a matching version writes; a stale one is 412 carrying currentVersion", async () => {
  await client.set("cas/ns", "k", "v1");
  const second = await client.set("cas/ns", "k", "v2", { ifMatch: 1 });
  assert.equal(second.version, 2);

  const e = await apiError(() => client.set("cas/ns", "k", "v3", { ifMatch: 1 }));
  assert.equal(e.status, 412);
  assert.ok(isPreconditionFailed(e));
  assert.equal(e.currentVersion, 2);
  assert.equal((await client.get("cas/ns", "k")).value, "v2", "the stale write changed nothing");

  const del = await apiError(() => client.delete("cas/ns", "k", { ifMatch: 1 }));
  assert.equal(del.currentVersion, 2);
});

test("create is create-only: 409 conflict when the key exists", async () => {
  const created = await client.create("create/ns", "k", 1);
  assert.equal(created.version, 1);
  const e = await apiError(() => client.create("create/ns", "k", 2));
  assert.equal(e.code, "conflict");
  assert.equal(e.status, 409);
});

test("delete writes a tombstone; history and rollback bring it back", async () => {
  await client.set("hist/ns", "k", { a: 1 });
  await client.set("hist/ns", "k", { a: 2 });
  const tombstone = await client.delete("hist/ns", "k", { reason: "cleanup" });
  assert.equal(tombstone.value, null);
  assert.equal(tombstone.version, 3);
  assert.ok(isNotFound(await apiError(() => client.get("hist/ns", "k"))));

  const history = await client.history("hist/ns", "k");
  assert.deepEqual(
    history.items.map((i) => i.changeType),
    ["delete", "update", "create"],
  );
  assert.deepEqual(history.items[1]?.diff, [{ op: "replace", path: "/a", value: 2 }]);

  const restored = await client.rollback("hist/ns", "k", 1, { reason: "undo" });
  assert.equal(restored.version, 4);
  assert.deepEqual((await client.get("hist/ns", "k")).value, { a: 1 });
  assert.deepEqual((await client.get("hist/ns", "k", { version: 2 })).value, { a: 2 });

  const changes = await client.namespaceHistory("hist/ns", { limit: 2 });
  assert.equal(changes.items.length, 2);
  assert.equal(changes.items[0]?.changeType, "restore");
});

test("list, point-in-time list, and export as text", async () => {
  await client.set("list/ns", "a", 1);
  const before = new Date();
  await new Promise((r) => setTimeout(r, 20));
  await client.set("list/ns", "b", "two");

  const list = await client.list("list/ns");
  assert.deepEqual(
    list.items.map((i) => [i.key, i.value]),
    [
      ["a", 1],
      ["b", "two"],
    ],
  );
  const then = await client.list("list/ns", { at: before });
  assert.deepEqual(
    then.items.map((i) => i.key),
    ["a"],
  );
  assert.equal(await client.export("list/ns", { format: "dotenv" }), "A=1\nB=two\n");
});

test("secrets are masked unless revealed", async () => {
  await client.set("sec/ns", "pw", "hunter2", { secret: true });
  const masked = await client.get("sec/ns", "pw");
  assert.equal(masked.secret, true);
  assert.notEqual(masked.value, "hunter2");
  assert.equal((await client.get("sec/ns", "pw", { reveal: true })).value, "hunter2");
});

test("schemas: validate writes nothing; a violating set is 422 with field errors", async () => {
  await client.set("schema/ns", "port", 8080);
  await client.putSchema("schema/ns", "port", { type: "integer", maximum: 65535 });
  assert.deepEqual((await client.getSchema("schema/ns", "port")).schema, { type: "integer", maximum: 65535 });

  const result = await client.validate("schema/ns", { port: 70000 });
  assert.equal(result.valid, false);
  assert.equal(result.results.port?.hasSchema, true);

  const e = await apiError(() => client.set("schema/ns", "port", "http"));
  assert.equal(e.status, 422);
  assert.ok(isValidationFailed(e));
  assert.ok(e.errors.length > 0);

  await client.deleteSchema("schema/ns", "port");
  assert.ok(isNotFound(await apiError(() => client.getSchema("schema/ns", "port"))));
});

test("bulk is atomic: one bad operation and nothing is applied", async () => {
  const ok = await client.bulk([
    { op: "set", namespace: "bulk/ns", key: "a", value: 1 },
    { op: "set", namespace: "bulk/ns", key: "b", value: 2, environment: "staging" },
  ]);
  assert.equal(ok.applied, 2);

  const e = await apiError(() =>
    client.bulk([
      { op: "set", namespace: "bulk/ns", key: "a", value: 100 },
      { op: "set", namespace: "bulk/ns", key: "bad key!", value: 1 },
    ]),
  );
  assert.equal(e.status, 400);
  assert.equal((await client.get("bulk/ns", "a")).value, 1);
});

test("environments: list and create", async () => {
  const created = await client.environments.create("sdk-qa", { parent: "staging" });
  assert.deepEqual(created.chain, ["sdk-qa", "staging", "development", "base"]);
  const names = (await client.environments.list()).items.map((e) => e.name);
  assert.ok(names.includes("sdk-qa"));
});

test("a bad token is 401 unauthorized", async () => {
  const stranger = createClient({ url: server.url, token: "cairn_AAAAAAAA_notarealsecret" });
  const e = await apiError(() => stranger.environments.list());
  assert.equal(e.status, 401);
  assert.ok(isUnauthorized(e));
});

test("health and ready need no token", async () => {
  const anonymous = createClient({ url: `${server.url}/api/v1/` });
  assert.ok(await anonymous.health());
  assert.ok(await anonymous.ready());
});

test("an unreachable server is a CairnConnectionError that says what to do", async () => {
  const url = `http://127.0.0.1:${await freePort()}`;
  const offline = createClient({ url, token: server.token });
  await assert.rejects(offline.get("a/b", "k"), (e: unknown) => {
    assert.ok(e instanceof CairnConnectionError);
    assert.equal(e.url, url);
    assert.match(e.message, /cannot reach Cairn at .*ECONNREFUSED.*npx cairn serve/);
    return true;
  });
});
