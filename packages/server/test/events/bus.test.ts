import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { createEventBus, type EventBus, type EventPayload } from "../../src/events/bus.js";
import type { Log } from "../../src/events/redis.js";
import { freshStore, serverUrl, withPg } from "../helper.js";
import { redisUrl, sleep, until } from "../keys/support.js";

/** Records what a bus delivers on `test.channel` and its gaps. */
function listen(bus: EventBus) {
  const got: EventPayload[] = [];
  let gaps = 0;
  bus.subscribe("test.channel", (p) => got.push(p));
  bus.onGap(() => gaps++);
  return { got, gaps: () => gaps };
}

function recordingLog() {
  const lines: string[] = [];
  const log: Log = { warn: (_o, m) => lines.push(`warn ${m}`), info: (_o, m) => lines.push(`info ${m}`) };
  return { log, lines };
}

describe("event bus: in-process", () => {
  it("delivers to this process's subscribers, including the publisher's own; unsubscribe stops it", async () => {
    const bus = await createEventBus({});
    assert.equal(bus.kind, "memory");
    const got: EventPayload[] = [];
    const stop = bus.subscribe("keys.changed", (p) => got.push(p));
    bus.subscribe("other", () => assert.fail("wrong channel"));
    await bus.publish("keys.changed", { keyId: "key_1" });
    assert.deepEqual(got, [{ keyId: "key_1" }]);
    stop();
    await bus.publish("keys.changed", { keyId: "key_2" });
    assert.equal(got.length, 1);
    await bus.close();
  });

  it("a failing handler does not stop the others", async () => {
    const bus = await createEventBus({});
    const got: string[] = [];
    bus.subscribe("c", () => {
      throw new Error("boom");
    });
    bus.subscribe("c", () => got.push("second"));
    await bus.publish("c", {});
    assert.deepEqual(got, ["second"]);
    await bus.close();
  });
});

/** Two buses stand for two replicas: each message reaches both, once. */
async function crossDelivery(a: EventBus, b: EventBus) {
  const la = listen(a);
  const lb = listen(b);
  await a.publish("test.channel", { n: 1 });
  await b.publish("test.channel", { n: 2 });
  await until("both messages reach both buses", () => la.got.length >= 2 && lb.got.length >= 2, 5_000);
  await sleep(100); // nothing arrives twice
  assert.deepEqual(
    la.got.map((p) => p.n),
    [1, 2],
  );
  assert.deepEqual(lb.got.map((p) => p.n).sort(), [1, 2]);
  return { la, lb };
}

describe("event bus: Redis pub/sub", { skip: redisUrl ? false : "needs REDIS_URL" }, () => {
  it("reaches every bus once; the publisher hears itself once", async () => {
    const a = await createEventBus({ redisUrl });
    const b = await createEventBus({ redisUrl });
    try {
      assert.equal(a.kind, "redis");
      await crossDelivery(a, b);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("after a lost connection it resubscribes, reports the gap, logs a warning, and delivers again", async () => {
    const name = `cairn-test-${randomBytes(4).toString("hex")}`;
    const { log, lines } = recordingLog();
    const a = await createEventBus({ redisUrl }, { name, log });
    const b = await createEventBus({ redisUrl });
    const admin = new Redis(redisUrl as string);
    try {
      const la = listen(a);
      const clients = String(await admin.call("CLIENT", "LIST"))
        .split("\n")
        .filter((l) => l.includes(` name=${name}-sub `));
      assert.equal(clients.length, 1);
      const id = /\bid=(\d+)/.exec(clients[0] as string)?.[1] as string;
      await admin.call("CLIENT", "KILL", "ID", id);
      await until("the gap is reported", () => la.gaps() === 1, 10_000);
      assert.ok(lines.some((l) => l.startsWith("warn")));
      await b.publish("test.channel", { after: "reconnect" });
      await until("delivery after the reconnect", () => la.got.some((p) => p.after === "reconnect"), 5_000);
    } finally {
      admin.disconnect();
      await a.close();
      await b.close();
    }
  });

  it("refuses to start when Redis is unreachable, naming REDIS_URL and hiding the password", async () => {
    await assert.rejects(createEventBus({ redisUrl: "redis://user:hunter2@127.0.0.1:1" }), (e: Error) => {
      assert.match(e.message, /cannot connect to Redis at redis:\/\/user:\*\*\*@127\.0\.0\.1:1.*REDIS_URL/);
      assert.ok(!e.message.includes("hunter2"));
      return true;
    });
  });
});

describe("event bus: PostgreSQL LISTEN/NOTIFY", { skip: serverUrl ? false : "needs DATABASE_URL" }, () => {
  it("reaches every bus once; survives a killed connection with a gap report", async (t) => {
    const store = await freshStore("postgres");
    t.after(() => store.drop());
    const databaseUrl = store.databaseUrl as string;
    const name = `cairn-test-${randomBytes(4).toString("hex")}`;
    const { log, lines } = recordingLog();
    const a = await createEventBus({ databaseUrl }, { name, log });
    const b = await createEventBus({ databaseUrl });
    try {
      assert.equal(a.kind, "postgres");
      const { la } = await crossDelivery(a, b);
      await withPg(databaseUrl, (c) =>
        c.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1", [name]),
      );
      await until("the gap is reported", () => la.gaps() === 1, 10_000);
      assert.ok(lines.some((l) => l.startsWith("warn") && /LISTEN/.test(l)));
      await b.publish("test.channel", { after: "reconnect" });
      await until("delivery after the reconnect", () => la.got.some((p) => p.after === "reconnect"), 5_000);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("refuses to start when PostgreSQL is unreachable", async () => {
    await assert.rejects(
      createEventBus({ databaseUrl: "postgres://postgres:pw@127.0.0.1:1/x" }),
      /cannot open the event connection to PostgreSQL/,
    );
  });
});
