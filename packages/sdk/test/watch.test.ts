import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { freePort } from "../../cli/test/support/cairn.js";
import { adminKeyOf, type ServerProcess, startOn, until } from "../../server/test/fixtures/process.js";
import { freshStore, type TestStore } from "../../server/test/helper.js";
import { type CairnClient, createClient, isApiError, isGone, type LiveChange, type WatchEvent } from "../src/index.js";

/**
 * `watch()` and `live()` against a real server process that is stopped and started again on the same store
 * and port: the watch reconnects by itself and resumes with no gap and no duplicate; the live snapshot stays
 * current throughout.
 */
describe("SDK watch and live (real server, restarted)", () => {
  let store: TestStore;
  let server: ServerProcess;
  let port: number;
  let client: CairnClient;
  const env = () => ({ CAIRN_PORT: String(port), CAIRN_LOG_LEVEL: "warn", CAIRN_WATCH_HEARTBEAT_SECONDS: "1" });

  before(async () => {
    store = await freshStore("pglite");
    port = await freePort();
    server = await startOn(store, env());
    client = createClient({ url: server.url, token: await adminKeyOf(server), timeoutMs: 5_000 });
  });
  after(async () => {
    await server?.kill("SIGKILL");
    await store?.drop();
  });

  async function restart(whileDown?: () => Promise<void>) {
    assert.equal(await server.kill("SIGTERM"), 0, server.output());
    await whileDown?.();
    server = await startOn(store, env());
  }

  it("watch: changes in order; reconnects after a server restart and resumes without gaps", async () => {
    const controller = new AbortController();
    const events: WatchEvent[] = [];
    const reconnects: string[] = [];
    const stream = client.watch({
      namespace: "sdk",
      signal: controller.signal,
      reconnect: { minDelayMs: 50, maxDelayMs: 500 },
      onReconnect: (info) => reconnects.push(info.reason),
    });
    const consumed = (async () => {
      for await (const event of stream) events.push(event);
    })();
    await until("ready", () => events.some((e) => e.type === "ready"));
    for (let i = 0; i < 10; i++) await client.set("sdk/app", `k${i}`, i);
    await until("10 changes", () => events.filter((e) => e.type === "change").length === 10);

    await restart();
    // Writes right after the restart race the reconnect: some are replayed, some arrive live.
    for (let i = 10; i < 60; i++) await client.set("sdk/app", `k${i % 7}`, i);
    await until("60 changes", () => events.filter((e) => e.type === "change").length >= 60, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    const changes = events.flatMap((e) => (e.type === "change" ? [e] : []));
    assert.equal(changes.length, 60, "each write exactly once");
    assert.ok(
      changes.every((c, i) => i === 0 || c.revision === (changes[i - 1]?.revision ?? 0) + 1),
      "contiguous revisions across the restart",
    );
    assert.equal(stream.revision, changes.at(-1)?.revision);
    assert.ok(reconnects.includes("shutdown"), `reconnected after the server's shutdown notice: ${reconnects}`);
    assert.ok(!JSON.stringify(events).includes('"value"'), "no values in events");

    controller.abort();
    await consumed;
  });

  it("watch: refusals are typed errors, not reconnect loops (404 unknown environment, 410 gone)", async () => {
    await assert.rejects(
      async () => {
        for await (const _ of client.watch({ environment: "no-such-env" })) break;
      },
      (e) => isApiError(e, "not_found"),
    );
    await assert.rejects(
      async () => {
        for await (const _ of client.watch({ since: 1_000_000_000 })) break;
      },
      (e) => isGone(e) && e.status === 410 && typeof e.compactedRevision === "number",
    );
  });

  it("live(): loads, stays current (updates, deletes, inherited writes, bulk), survives a restart", async () => {
    await client.set("live/app", "url", "postgres://one");
    await client.set("live/app", "pool", 5);
    await client.set("live/app", "pool", 20, { environment: "production" });
    const live = client.live("live/app", "production", { watch: { reconnect: { minDelayMs: 50, maxDelayMs: 500 } } });
    const changes: LiveChange[] = [];
    live.on("change", (e) => changes.push(e.detail));
    await live.ready;
    assert.deepEqual(live.values(), { pool: 20, url: "postgres://one" });
    const start = live.revision;
    assert.ok(start > 0);

    await client.set("live/app", "url", "postgres://two");
    await until("url updated", () => live.get("url") === "postgres://two");
    assert.equal(live.entry("url")?.resolvedFrom, "base");
    assert.ok(live.revision > start);

    await client.set("live/app", "pool", 7); // base: production still overrides it
    await client.set("live/app", "flag", true, { environment: "staging" }); // production inherits staging
    await until("flag", () => live.get("flag") === true);
    assert.equal(live.get("pool"), 20, "an overridden base write does not change production's value");
    assert.ok(!changes.some((c) => c.key === "pool"), "and emits no change");

    await client.delete("live/app", "pool", { environment: "production" });
    await until("falls back to base", () => live.get("pool") === 7);
    await client.delete("live/app", "flag", { environment: "staging" });
    await until("flag gone", () => !live.has("flag"));

    await client.bulk(Array.from({ length: 40 }, (_, i) => ({ op: "set" as const, namespace: "live/app", key: `b${i}`, value: i })));
    await until("bulk", () => live.keys().length === 42);

    await restart(async () => {
      // Nothing to do while down; the snapshot keeps serving its last state.
      assert.equal(live.get("url"), "postgres://two");
    });
    await client.set("live/app", "url", "postgres://three");
    await until("after restart", () => live.get("url") === "postgres://three", 30_000);
    const last = changes.at(-1);
    assert.equal(last?.key, "url");
    assert.equal(last?.previous, "postgres://two");
    assert.equal(last?.value, "postgres://three");
    live.close();
  });
});
