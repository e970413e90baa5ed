import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { backends, ns, useApp } from "../helper.js";
import { contiguous, listen, openWatch, type Stream } from "./support.js";

/** On PostgreSQL the app uses Redis pub/sub when one is configured (LISTEN/NOTIFY is covered by replicas.test.ts). */
const redisUrl = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL;
const busOf = (backend: string): Record<string, string> => (backend === "postgres" && redisUrl ? { REDIS_URL: redisUrl } : {});

const put = (value: unknown, extra: Record<string, unknown> = {}) => ({ value, ...extra });

for (const backend of backends()) {
  describe(`watch: stream, resume, filters (${backend})`, () => {
    const cairn = useApp(backend, { CAIRN_WATCH_HEARTBEAT_SECONDS: "1", CAIRN_WATCH_RETENTION: "5000", ...busOf(backend) });
    const open: Stream[] = [];
    after(() => {
      for (const s of open) s.close();
    });
    const watch = async (query: Record<string, string | number | undefined> = {}, headers: Record<string, string> = {}, key?: string) => {
      const s = await openWatch(await listen(cairn), key ?? cairn.adminKey, query, headers);
      open.push(s);
      return s;
    };
    const write = async (namespace: string, key: string, value: unknown, query = "") => {
      const res = await cairn.call("PUT", `/api/v1/configs/${ns(namespace)}/${key}${query}`, put(value));
      assert.equal(res.status, 200, res.text);
      return res.json;
    };

    it("without since: `ready` with the current revision, then each write as a change event (no value)", async () => {
      await write("first/app", "warmup", 1);
      await cairn.sequencer.flush();
      const s = await watch();
      assert.equal(s.status, 200);
      assert.match(s.headers.get("content-type") ?? "", /^text\/event-stream/);
      await s.waitFor("ready", (e) => e.some((x) => x.event === "ready"));
      const ready = s.events.find((e) => e.event === "ready");
      assert.ok(ready && ready.json.revision >= 1, `ready carries the revision: ${ready?.data}`);
      assert.equal(ready.id, String(ready.json.revision), "ready's id is the resume point");

      await write("first/app", "url", "postgres://db");
      await s.waitFor("the change", () => s.changes().length === 1);
      const [change] = s.changes();
      assert.deepEqual(Object.keys(change).sort(), ["changeType", "environment", "key", "namespace", "revision", "version"]);
      assert.deepEqual(
        { ...change, revision: 0 },
        { revision: 0, namespace: "first/app", key: "url", environment: "base", version: 1, changeType: "create" },
      );
      assert.equal(change.revision, ready.json.revision + 1);
      const event = s.events.find((e) => e.event === "change");
      assert.equal(event?.id, String(change.revision), "id: <revision>");
      s.close();
    });

    it("a watcher disconnected during 1,000 writes resumes with Last-Event-ID: contiguous, no gap, no duplicate", async () => {
      const s = await watch({ namespace: "burst" });
      await s.waitFor("ready", (e) => e.some((x) => x.event === "ready"));
      await write("burst/a", "k0", 0);
      await s.waitFor("first change", () => s.changes().length === 1);
      const resumeFrom = s.lastEventId();
      s.close();
      await s.ended;

      // 1,000 writes while nobody watches: bulk batches and single writes racing each other.
      const bulk = (from: number) =>
        cairn.call("POST", "/api/v1/configs/bulk", {
          operations: Array.from({ length: 200 }, (_, i) => ({ op: "set", namespace: "burst/a", key: `b${from + i}`, value: from + i })),
        });
      const singles = Array.from({ length: 200 }, (_, i) => write("burst/b", `s${i % 20}`, i));
      const results = await Promise.all([bulk(0), bulk(200), bulk(400), bulk(600), ...singles]);
      for (const r of results.slice(0, 4)) assert.equal((r as { status: number }).status, 200);

      // Resume while more writes are still happening (replay and live overlap).
      const resumed = await watch({ namespace: "burst" }, { "last-event-id": String(resumeFrom) });
      const more = Array.from({ length: 50 }, (_, i) => write("burst/c", `m${i}`, i));
      await Promise.all(more);
      await resumed.waitFor("1,050 changes", () => resumed.changes().length >= 1050, 60_000);
      await new Promise((r) => setTimeout(r, 300));
      const changes = resumed.changes();
      assert.equal(changes.length, 1050, "every missed write once, and the later ones");
      assert.equal(changes[0].revision, Number(resumeFrom) + 1, "starts right after the resume point");
      assert.ok(contiguous(changes), "strictly consecutive revisions");
      assert.equal(new Set(changes.map((c: { revision: number }) => c.revision)).size, changes.length, "no duplicate");
      resumed.close();
    });

    it("?since= replays from a revision, then follows live", async () => {
      const a = await write("since/app", "k", 1);
      await cairn.sequencer.flush();
      const s0 = await watch({ namespace: "since" });
      await s0.waitFor("ready", (e) => e.some((x) => x.event === "ready"));
      const at = s0.events.find((e) => e.event === "ready")?.json.revision as number;
      s0.close();
      await write("since/app", "k", 2);
      await write("since/app", "k", 3);
      const s = await watch({ namespace: "since", since: at - 1 });
      await s.waitFor("3 changes", () => s.changes().length === 3);
      assert.deepEqual(
        s.changes().map((c) => c.version),
        [a.version, 2, 3],
      );
      assert.ok(contiguous(s.changes()));
      await write("since/app", "k", 4);
      await s.waitFor("live change", () => s.changes().length === 4);
      s.close();
    });

    it("never sends a value, secret or not (the whole stream is scanned)", async () => {
      const s = await watch({ namespace: "scan" });
      await s.waitFor("ready", (e) => e.some((x) => x.event === "ready"));
      await write("scan/app", "plain", "PLAIN-MARKER-7f3a");
      const secret = await cairn.call("PUT", `/api/v1/configs/${ns("scan/app")}/token`, { value: "SECRET-MARKER-91bc", secret: true });
      assert.equal(secret.status, 200);
      await write("scan/app", "obj", { nested: "NESTED-MARKER-55d0" });
      await cairn.call("DELETE", `/api/v1/configs/${ns("scan/app")}/plain`);
      await cairn.call("POST", `/api/v1/configs/${ns("scan/app")}/plain/rollback`, { version: 1 });
      await s.waitFor("5 changes", () => s.changes().length === 5);
      assert.deepEqual(
        s.changes().map((c) => c.changeType),
        ["create", "create", "create", "delete", "restore"],
      );
      for (const marker of ["PLAIN-MARKER", "SECRET-MARKER", "NESTED-MARKER", "value"]) {
        assert.ok(!s.raw().includes(marker), `the stream contains ${marker}`);
      }
      s.close();
    });

    it("filters: a namespace and its children only; an environment and what it inherits from", async () => {
      const byNs = await watch({ namespace: "team-a" });
      const byEnv = await watch({ namespace: "envs", environment: "development" });
      await Promise.all([byNs, byEnv].map((s) => s.waitFor("ready", (e) => e.some((x) => x.event === "ready"))));
      await write("team-a", "top", 1);
      await write("team-a/api", "child", 1);
      await write("team-ab", "sibling", 1);
      await write("team-b/api", "other", 1);
      await write("envs", "k", "base");
      await write("envs", "k", "dev", "?environment=development");
      await write("envs", "k", "staging", "?environment=staging");
      await write("envs", "k", "prod", "?environment=production");
      await write("team-a", "last", 1);
      await write("envs", "last", "base");
      await byNs.waitFor("team-a's last", () => byNs.changes().some((c) => c.key === "last"));
      await byEnv.waitFor("envs' last", () => byEnv.changes().some((c) => c.key === "last"));
      assert.deepEqual(
        byNs.changes().map((c) => `${c.namespace}:${c.key}`),
        ["team-a:top", "team-a/api:child", "team-a:last"],
      );
      assert.deepEqual(
        byEnv.changes().map((c) => `${c.key}@${c.environment}`),
        ["k@base", "k@development", "last@base"],
        "development sees its own writes and base's, not staging's or production's",
      );
    });

    it("permission filtering: a key limited to one namespace sees only that namespace", async () => {
      const created = await cairn.call("POST", "/api/v1/keys", {
        name: "watch-only-alpha",
        permissions: [{ effect: "allow", permission: "configs:alpha/**:read" }],
      });
      assert.equal(created.status, 201, created.text);
      const s = await watch({}, {}, created.json.key);
      await s.waitFor("ready", (e) => e.some((x) => x.event === "ready"));
      await write("alpha/svc", "visible", 1);
      await write("beta/svc", "hidden", 1);
      await write("alphabet", "hidden-too", 1);
      await write("alpha", "visible-too", 1);
      await s.waitFor("2 changes", () => s.changes().length === 2);
      await write("alpha/svc", "visible", 2);
      await s.waitFor("3 changes", () => s.changes().length === 3);
      assert.deepEqual(
        s.changes().map((c) => `${c.namespace}:${c.key}`),
        ["alpha/svc:visible", "alpha:visible-too", "alpha/svc:visible"],
      );
      assert.ok(!s.raw().includes("beta") && !s.raw().includes("hidden"), "nothing about other namespaces leaks");

      // A deny rule with an environment condition hides just that environment.
      const scoped = await cairn.call("POST", "/api/v1/keys", {
        name: "watch-no-prod",
        permissions: [
          { effect: "allow", permission: "configs:**:read" },
          { effect: "deny", permission: "configs:**:read", conditions: { environments: ["production"] } },
        ],
      });
      const t = await watch({ namespace: "gamma" }, {}, scoped.json.key);
      await t.waitFor("ready", (e) => e.some((x) => x.event === "ready"));
      await write("gamma", "k", "prod", "?environment=production");
      await write("gamma", "k", "base");
      await t.waitFor("base change", () => t.changes().length >= 1);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(
        t.changes().map((c) => c.environment),
        ["base"],
      );
    });

    it("a filtered stream still advances its resume point (`progress` with heartbeats)", async () => {
      const s = await watch({ namespace: "quiet" });
      await s.waitFor("ready", (e) => e.some((x) => x.event === "ready"));
      const start = Number(s.lastEventId());
      await write("noisy", "k", 1);
      await write("noisy", "k", 2);
      await s.waitFor("a heartbeat", () => s.raw().includes(": heartbeat"), 5_000);
      await s.waitFor("progress", (e) => e.some((x) => x.event === "progress"), 5_000);
      assert.ok(Number(s.lastEventId()) >= start + 2, "the resume point moved past the filtered writes");
      assert.equal(s.changes().length, 0);
      s.close();
    });

    it("bad input is a 400 problem; an unknown environment 404; no credential 401", async () => {
      const base = await listen(cairn);
      for (const [query, headers] of [
        [{ since: "abc" }, {}],
        [{ since: "-1" }, {}],
        [{ since: "1.5" }, {}],
        [{}, { "last-event-id": "abc" }],
        [{ namespace: "bad//ns" }, {}],
        [{ unknown: "x" }, {}],
      ] as [Record<string, string>, Record<string, string>][]) {
        const s = await openWatch(base, cairn.adminKey, query, headers);
        await s.ended;
        assert.equal(s.status, 400, `${JSON.stringify(query)} ${JSON.stringify(headers)}: ${s.raw()}`);
        assert.match(s.headers.get("content-type") ?? "", /application\/problem\+json/);
        assert.equal(JSON.parse(s.raw()).code, "bad_request");
      }
      const env = await openWatch(base, cairn.adminKey, { environment: "nope" });
      await env.ended;
      assert.equal(env.status, 404, env.raw());
      const anon = await openWatch(base, "cairn_AAAAAAAA_notavalidkeynotavalidkeynotavalid");
      await anon.ended;
      assert.equal(anon.status, 401);
    });

    it("a revoked key's stream ends with `reconnect` (credentials_changed)", async () => {
      const created = await cairn.call("POST", "/api/v1/keys", { name: "watch-revoked", roles: ["viewer"] });
      const s = await watch({}, {}, created.json.key);
      await s.waitFor("ready", (e) => e.some((x) => x.event === "ready"));
      assert.equal((await cairn.call("POST", `/api/v1/keys/${created.json.id}/revoke`)).status, 200);
      await s.ended;
      const last = s.events.at(-1);
      assert.equal(last?.event, "reconnect");
      assert.equal(last?.json.reason, "credentials_changed");
      const again = await openWatch(await listen(cairn), created.json.key, {}, { "last-event-id": String(last?.json.revision) });
      await again.ended;
      assert.equal(again.status, 401, "and it cannot come back");
    });
  });

  describe(`watch: compaction and 410 (${backend})`, () => {
    const cairn = useApp(backend, { CAIRN_WATCH_RETENTION: "10", ...busOf(backend) });

    it("since older than the retained horizon → 410 gone; within it resumes; ahead of the log → 410", async () => {
      const base = await listen(cairn);
      for (let i = 0; i < 30; i++) await cairn.call("PUT", `/api/v1/configs/${ns("compact/app")}/k${i % 3}`, { value: i });
      // Twice: a flush that finds a batch in flight can return before the batch after it (see the report).
      await cairn.sequencer.flush();
      await cairn.sequencer.flush();
      const deleted = await cairn.watch.compact();
      assert.ok((deleted ?? 0) >= 19, `compacted ${deleted}`);
      const ready = await openWatch(base, cairn.adminKey);
      await ready.waitFor("ready", (e) => e.some((x) => x.event === "ready"));
      const current = ready.events[0]?.json.revision as number;
      ready.close();

      const old = await openWatch(base, cairn.adminKey, { since: 1 });
      await old.ended;
      assert.equal(old.status, 410, old.raw());
      const problem = JSON.parse(old.raw());
      assert.equal(problem.code, "gone");
      assert.equal(problem.reason, "compacted");
      assert.equal(problem.compactedRevision, current - 10);
      assert.equal(problem.currentRevision, current);
      assert.match(problem.detail, /reload/);

      const edge = await openWatch(base, cairn.adminKey, { since: current - 10 });
      await edge.waitFor("10 changes and ready", (e) => e.some((x) => x.event === "ready"));
      assert.equal(edge.status, 200);
      assert.equal(edge.events.filter((e) => e.event === "change").length, 10);
      edge.close();

      const lastEvent = await openWatch(base, cairn.adminKey, {}, { "last-event-id": String(current - 11) });
      await lastEvent.ended;
      assert.equal(lastEvent.status, 410, "Last-Event-ID is checked the same way");

      const ahead = await openWatch(base, cairn.adminKey, { since: current + 100 });
      await ahead.ended;
      assert.equal(ahead.status, 410);
      assert.match(JSON.parse(ahead.raw()).detail, /ahead/);
    });
  });
}
