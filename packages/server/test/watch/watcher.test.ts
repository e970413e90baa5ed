import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ConfigChange } from "../../src/audit/sequencer.js";
import { CONFIG_CHANGES } from "../../src/audit/sequencer.js";
import { createEventBus } from "../../src/events/bus.js";
import { createWatchHub } from "../../src/watch/hub.js";
import type { Sink } from "../../src/watch/sse.js";
import { Watcher } from "../../src/watch/watcher.js";
import { until } from "../fixtures/process.js";

/**
 * The stream machinery on its own, with an in-memory change log and a sink that records what it is given:
 * the races (replay against live deliveries), gaps, compaction under a stream, and slow clients.
 */
const change = (revision: number, namespace = "ns"): ConfigChange => ({
  revision,
  namespace,
  key: `k${revision}`,
  environment: "base",
  version: 1,
  changeType: "update",
  secret: false,
  actorId: "key_x",
  at: new Date(0).toISOString(),
});

function memorySink(options: { stuck?: boolean } = {}) {
  let text = "";
  let ended = false;
  let stuckBytes = 0;
  const handlers: (() => void)[] = [];
  const sink: Sink & { text(): string; ended: boolean; changes(): number[]; events(): string[] } = {
    write(t) {
      if (ended) return;
      text += t;
      if (options.stuck) stuckBytes += t.length;
    },
    buffered: () => stuckBytes,
    end(last) {
      if (ended) return;
      if (last) text += last;
      ended = true;
      for (const h of handlers.splice(0)) h();
    },
    get closed() {
      return ended;
    },
    get ended() {
      return ended;
    },
    onClose(h) {
      handlers.push(h);
    },
    text: () => text,
    changes: () => [...text.matchAll(/^event: change\ndata: (.*)$/gm)].map((m) => JSON.parse(m[1] as string).revision as number),
    events: () => [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1] as string),
  };
  return sink;
}

/** A change log whose reads can be held back, to interleave them with live deliveries. */
function memoryLog() {
  const rows: ConfigChange[] = [];
  let gate: Promise<void> | undefined;
  return {
    rows,
    add(n: number) {
      const start = (rows.at(-1)?.revision ?? 0) + 1;
      const added = Array.from({ length: n }, (_, i) => change(start + i));
      rows.push(...added);
      return added;
    },
    hold() {
      let release!: () => void;
      gate = new Promise((r) => {
        release = r;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
    async replay(after: number, limit: number) {
      if (gate) await gate;
      return rows.filter((r) => r.revision > after).slice(0, limit);
    },
  };
}

const allow = async () => true;

describe("watch stream machinery", () => {
  it("changes delivered live during the replay are held, de-duplicated and released in order", async () => {
    const log = memoryLog();
    log.add(50);
    const sink = memorySink();
    const w = new Watcher({
      tenantId: "t",
      from: 10,
      filter: {},
      mayRead: allow,
      replay: log.replay,
      sink,
      maxBufferBytes: 1e9,
      pageSize: 7,
    });
    const release = log.hold();
    w.start();
    // While the first read is held: the feed delivers 45..55 (overlapping the replay) and 56..60.
    const live = log.add(10);
    w.deliver([...log.rows.slice(44, 50), ...live.slice(0, 5)]);
    w.deliver(live.slice(5));
    release();
    await until("caught up", () => sink.changes().length === 50);
    assert.deepEqual(
      sink.changes(),
      Array.from({ length: 50 }, (_, i) => 11 + i),
    );
    assert.ok(w.live);
    assert.equal(sink.events().at(-1), "ready");
    w.deliver([change(60), change(61)]);
    await until("live", () => sink.changes().length === 51);
    assert.equal(sink.changes().at(-1), 61, "a repeated revision is dropped");
  });

  it("a gap in live deliveries sends the stream back to the table", async () => {
    const log = memoryLog();
    log.add(5);
    const sink = memorySink();
    const w = new Watcher({ tenantId: "t", from: 5, filter: {}, mayRead: allow, replay: log.replay, sink, maxBufferBytes: 1e9 });
    w.start();
    await until("live", () => w.live);
    const added = log.add(3);
    w.deliver([added[2] as ConfigChange]); // 8 without 6 and 7
    await until("re-read", () => sink.changes().length === 3);
    assert.deepEqual(sink.changes(), [6, 7, 8]);
  });

  it("revisions compacted under a stream end it with `resync`", async () => {
    const log = memoryLog();
    log.add(20);
    log.rows.splice(0, 12); // compacted: 1..12 gone
    const sink = memorySink();
    const w = new Watcher({ tenantId: "t", from: 3, filter: {}, mayRead: allow, replay: log.replay, sink, maxBufferBytes: 1e9 });
    w.start();
    await until("ended", () => sink.ended);
    assert.deepEqual(sink.events(), ["resync"]);
    assert.match(sink.text(), /"compactedRevision":12/);
    assert.ok(w.ended);
  });

  it("a slow client is dropped with `reconnect` naming where to resume; memory stays bounded", async () => {
    const log = memoryLog();
    const sink = memorySink({ stuck: true });
    let ended = 0;
    const w = new Watcher({
      tenantId: "t",
      from: 0,
      filter: {},
      mayRead: allow,
      replay: log.replay,
      sink,
      maxBufferBytes: 4096,
      onEnd: () => ended++,
    });
    w.start();
    await until("live", () => w.live);
    for (let i = 0; i < 200 && !w.ended; i++) {
      w.deliver(log.add(1));
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(w.ended, "dropped");
    assert.equal(ended, 1);
    assert.ok(sink.text().length < 4096 + 2000, `bounded: ${sink.text().length} bytes`);
    const last = /event: reconnect\ndata: (.*)\n/.exec(sink.text());
    assert.ok(last);
    const data = JSON.parse(last[1] as string);
    assert.equal(data.reason, "slow_consumer");
    assert.equal(data.revision, sink.changes().at(-1), "resume right after the last change it was sent");
    assert.match(sink.text(), new RegExp(`id: ${data.revision}\nevent: reconnect`));
  });

  it("too many changes waiting (a filter that cannot keep up) also drops the client", async () => {
    const log = memoryLog();
    const sink = memorySink();
    let release!: () => void;
    const slowCheck = new Promise<boolean>((r) => {
      release = () => r(true);
    });
    const w = new Watcher({
      tenantId: "t",
      from: 0,
      filter: {},
      mayRead: () => slowCheck,
      replay: log.replay,
      sink,
      maxBufferBytes: 1e9,
      maxQueued: 100,
    });
    w.start();
    await until("live", () => w.live);
    for (let i = 0; i < 150; i++) w.deliver(log.add(1));
    assert.ok(w.ended);
    release();
    assert.match(sink.text(), /"reason":"slow_consumer"/);
  });

  it("filters by namespace subtree and asks the authorizer once per namespace and environment in a batch", async () => {
    const log = memoryLog();
    const sink = memorySink();
    const asked: string[] = [];
    const w = new Watcher({
      tenantId: "t",
      from: 0,
      filter: { namespace: "a" },
      mayRead: async (namespace) => {
        asked.push(namespace);
        return namespace !== "a/private";
      },
      replay: log.replay,
      sink,
      maxBufferBytes: 1e9,
    });
    w.start();
    await until("live", () => w.live);
    w.deliver([change(1, "a"), change(2, "ab"), change(3, "a/b"), change(4, "a"), change(5, "a/private"), change(6, "b")]);
    await until("written", () => w.revision === 6);
    assert.deepEqual(sink.changes(), [1, 3, 4]);
    assert.deepEqual(asked.sort(), ["a", "a/b", "a/private"]);
  });

  it("the hub: one read per notification for many listeners; inline changes need none; lost messages are recovered", async () => {
    const log = memoryLog();
    let reads = 0;
    const bus = await createEventBus({});
    const hub = createWatchHub({
      repo: {
        changesAfter: async (_t, after, limit) => {
          reads++;
          return log.replay(after, limit);
        },
        currentRevisions: async () => new Map([["t", log.rows.at(-1)?.revision ?? 0]]),
      },
      bus,
      pollMs: 50,
    });
    const got: number[][] = [];
    const listeners = Array.from({ length: 1000 }, (_, i) => {
      got[i] = [];
      return { deliver: (cs: readonly ConfigChange[]) => got[i]?.push(...cs.map((c) => c.revision)) };
    });
    for (const l of listeners) await hub.subscribe("t", l);
    await until("initial read", () => !hub.stats().feeds || reads >= 1);
    const before = reads;

    // Inline: the message carries the changes, no read at all.
    const inline = log.add(2);
    await bus.publish(CONFIG_CHANGES, { tenantId: "t", revision: 2, changes: inline });
    assert.equal(reads, before);
    // Too many to carry inline: one read for all 1000 listeners.
    log.add(50);
    await bus.publish(CONFIG_CHANGES, { tenantId: "t", revision: 52 });
    await until("delivered", () => got.every((g) => g.length === 52));
    assert.equal(reads - before, 1, "one query, not one per watcher");
    // A lost message: the safety poll finds it.
    log.add(1);
    await until("poll", () => got.every((g) => g.length === 53), 2_000);
    // Late and repeated messages change nothing.
    await bus.publish(CONFIG_CHANGES, { tenantId: "t", revision: 2, changes: inline });
    assert.ok(got.every((g) => g.length === 53 && g.every((r, i) => r === i + 1)));
    hub.close();
    await bus.close();
  });
});
