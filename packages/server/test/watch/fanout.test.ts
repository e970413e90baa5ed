import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backends, ns, useApp } from "../helper.js";
import { listen } from "./support.js";

const WATCHERS = 1000;
const WRITES = 20;

/**
 * 1,000 SSE watchers of one tenant on one replica share one feed: a write costs at most one read of the
 * change log (none when the message carries the change), whatever the number of watchers. The latency
 * from a write's acknowledgement to each watcher's receipt is reported (client and server share 2 cores).
 */
// One backend is enough: the feed is the same code on both (stream.test.ts runs the queries on both).
for (const backend of backends().slice(0, 1)) {
  describe(`watch fan-out to ${WATCHERS} watchers (${backend})`, () => {
    const cairn = useApp(backend);

    it("every watcher gets every write; reads of the change log do not grow with watchers", async (t) => {
      const base = await listen(cairn);
      const received: number[][] = Array.from({ length: WATCHERS }, () => []);
      const arrivals: Map<number, number[]> = new Map();
      const controllers: AbortController[] = [];
      let ready = 0;
      const streams = Array.from({ length: WATCHERS }, async (_, i) => {
        const controller = new AbortController();
        controllers.push(controller);
        const res = await fetch(`${base}/api/v1/watch?namespace=fan`, {
          headers: { authorization: `Bearer ${cairn.adminKey}` },
          signal: controller.signal,
        });
        assert.equal(res.status, 200);
        const decoder = new TextDecoder();
        let pending = "";
        try {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            pending += decoder.decode(chunk, { stream: true });
            let end = pending.indexOf("\n\n");
            while (end >= 0) {
              const block = pending.slice(0, end);
              pending = pending.slice(end + 2);
              if (block.includes("event: ready")) ready++;
              const m = /event: change\ndata: (.*)/.exec(block);
              if (m) {
                const revision = JSON.parse(m[1] as string).revision as number;
                received[i]?.push(revision);
                const at = arrivals.get(revision) ?? [];
                at.push(performance.now());
                arrivals.set(revision, at);
              }
              end = pending.indexOf("\n\n");
            }
          }
        } catch {
          // aborted at the end
        }
      });
      t.after(() => {
        for (const c of controllers) c.abort();
      });
      const deadline = Date.now() + 60_000;
      while (ready < WATCHERS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(ready, WATCHERS, "all watchers connected and live");
      assert.equal(cairn.watch.stats().feeds, 1, "one feed for the tenant");

      const published = new Map<number, number>();
      const off = cairn.bus.subscribe("config.changes", (p) => published.set(p.revision as number, performance.now()));
      t.after(off);
      const readsBefore = cairn.watch.stats().reads;
      const acked = new Map<number, number>();
      for (let w = 0; w < WRITES; w++) {
        const res = await cairn.call("PUT", `/api/v1/configs/${ns("fan/app")}/k`, { value: w });
        assert.equal(res.status, 200);
        const at = performance.now();
        const seen = () => received.every((r) => r.length === w + 1);
        while (!seen()) {
          if (performance.now() - at > 20_000) assert.fail(`write ${w} did not reach every watcher`);
          await new Promise((r) => setImmediate(r));
        }
        acked.set(received[0]?.[w] as number, at);
      }
      const reads = cairn.watch.stats().reads - readsBefore;
      assert.ok(reads <= WRITES, `${reads} reads of the change log for ${WRITES} writes to ${WATCHERS} watchers`);

      const latencies: number[] = [];
      for (const [revision, times] of arrivals) {
        const at = acked.get(revision);
        if (at !== undefined) for (const time of times) latencies.push(Math.max(0, time - at));
      }
      latencies.sort((a, b) => a - b);
      const hops = [...acked].map(([revision, at]) => (published.get(revision) ?? at) - at).sort((a, b) => a - b);
      t.diagnostic(`acknowledgement → sequencer publish: p50 ${hops[hops.length >> 1]?.toFixed(1)} ms, max ${hops.at(-1)?.toFixed(1)} ms`);
      const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]?.toFixed(1);
      t.diagnostic(
        `${WATCHERS} watchers × ${WRITES} writes (${backend}): ${reads} change-log reads; acknowledgement → receipt p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${pct(1)} ms`,
      );
      for (const c of controllers) c.abort();
      await Promise.allSettled(streams);
    });
  });
}
