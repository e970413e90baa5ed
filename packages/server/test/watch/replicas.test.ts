import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { adminKeyOf, httpClient, type ServerProcess, startOn } from "../fixtures/process.js";
import { freshStore, ns, serverUrl } from "../helper.js";
import { contiguous, openWatch } from "./support.js";

const redisUrl = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL;

/**
 * Two real server processes on one PostgreSQL: a watcher on replica B sees the writes made on replica A,
 * with Redis pub/sub between them, and with PostgreSQL LISTEN/NOTIFY only (DATABASE_URL without REDIS_URL).
 */
const modes: { name: string; env: Record<string, string>; skip: string | false }[] = [
  {
    name: "Redis pub/sub",
    env: redisUrl ? { REDIS_URL: redisUrl } : {},
    skip: serverUrl ? (redisUrl ? false : "needs REDIS_URL") : "needs DATABASE_URL",
  },
  { name: "LISTEN/NOTIFY only", env: {}, skip: serverUrl ? false : "needs DATABASE_URL" },
];

for (const mode of modes) {
  describe(`watch across replicas (${mode.name})`, { skip: mode.skip }, () => {
    it("a watcher on B sees every write made on A, in order; SIGTERM ends B's streams promptly", async (t) => {
      const store = await freshStore("postgres");
      const servers: ServerProcess[] = [];
      t.after(async () => {
        for (const s of servers) await s.kill("SIGKILL");
        await store.drop();
      });
      const a = await startOn(store, mode.env);
      servers.push(a);
      const key = await adminKeyOf(a);
      const b = await startOn(store, mode.env);
      servers.push(b);

      const onA = httpClient(a.url, key);
      const stream = await openWatch(b.url, key, { namespace: "repl" });
      t.after(() => stream.close());
      assert.equal(stream.status, 200);
      await stream.waitFor("ready", (e) => e.some((x) => x.event === "ready"));

      // One at a time, timing each from A's acknowledgement to B's event.
      const latencies: number[] = [];
      for (let i = 0; i < 20; i++) {
        const res = await onA("PUT", `/api/v1/configs/${ns("repl/app")}/k${i}`, { value: i });
        assert.equal(res.status, 200, res.text);
        const acked = performance.now();
        await stream.waitFor(`change ${i}`, () => stream.changes().length === i + 1, 10_000);
        latencies.push(performance.now() - acked);
      }
      // Then a burst from A (concurrent writes and a bulk of 100).
      await Promise.all([
        onA("POST", "/api/v1/configs/bulk", {
          operations: Array.from({ length: 100 }, (_, i) => ({ op: "set", namespace: "repl/bulk", key: `b${i}`, value: i })),
        }),
        ...Array.from({ length: 30 }, (_, i) => onA("PUT", `/api/v1/configs/${ns("repl/app")}/c${i}`, { value: i })),
      ]);
      await stream.waitFor("150 changes", () => stream.changes().length === 150, 20_000);
      assert.ok(contiguous(stream.changes()), "contiguous revisions on the other replica");
      latencies.sort((x, y) => x - y);
      t.diagnostic(
        `A→B latency over ${mode.name}: p50 ${latencies[10]?.toFixed(1)} ms, max ${latencies.at(-1)?.toFixed(1)} ms (sequencer batch + bus hop)`,
      );

      // Drain: B ends its streams with `reconnect` and exits; the client resumes on A with no gap.
      const stopping = performance.now();
      const code = await b.kill("SIGTERM");
      const drainMs = performance.now() - stopping;
      await stream.ended;
      assert.equal(code, 0, b.output());
      assert.ok(drainMs < 5_000, `SIGTERM took ${drainMs.toFixed(0)} ms with a stream open`);
      t.diagnostic(`SIGTERM with an open stream: exited in ${drainMs.toFixed(0)} ms`);
      const last = stream.events.at(-1);
      assert.equal(last?.event, "reconnect");
      assert.equal(last?.json.reason, "shutdown");

      await onA("PUT", `/api/v1/configs/${ns("repl/app")}/after`, { value: 1 });
      const resumed = await openWatch(a.url, key, { namespace: "repl" }, { "last-event-id": String(stream.lastEventId()) });
      t.after(() => resumed.close());
      await resumed.waitFor("the write made while away", () => resumed.changes().length === 1);
      assert.equal(resumed.changes()[0].key, "after");
      assert.equal(resumed.changes()[0].revision, (stream.changes().at(-1)?.revision as number) + 1);
    });
  });
}
