import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { backends, ns } from "../helper.js";
import { type Running, session, waitForRotation } from "./support.js";

const keyA = randomBytes(32).toString("base64");
const keyB = randomBytes(32).toString("base64");

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

/** A writer and a reader running against the app until stopped; every non-2xx answer is a failure. */
function load(app: () => Running, namespaces: string[], stable: Map<string, unknown>) {
  const failures: string[] = [];
  const written = new Map<string, unknown>();
  let running = true;
  let writes = 0;
  let reads = 0;
  const writer = (async () => {
    for (let i = 0; running && failures.length < 20; i++) {
      const namespace = namespaces[i % namespaces.length] as string;
      const key = `live.${i % 7}`;
      const value = { i, at: namespace };
      const res = await app().call("PUT", `/api/v1/configs/${ns(namespace)}/${key}`, { value, secret: i % 2 === 0 });
      if (res.status !== 200) failures.push(`PUT ${namespace}/${key}: ${res.status} ${res.text}`);
      else written.set(`${namespace}/${key}`, value);
      writes++;
      // In-process requests are promise chains: give timers (and the rotation's batches) their turn.
      await tick();
    }
  })();
  const entries = [...stable.entries()];
  const reader = (async () => {
    for (let i = 0; running && failures.length < 20; i++) {
      const [path, value] = entries[i % entries.length] as [string, unknown];
      const [namespace, key] = [path.slice(0, path.lastIndexOf("/")), path.slice(path.lastIndexOf("/") + 1)];
      const res = await app().call("GET", `/api/v1/configs/${ns(namespace)}/${key}?reveal=true`);
      if (res.status !== 200 || JSON.stringify(res.json.value) !== JSON.stringify(value))
        failures.push(`GET ${path}: ${res.status} ${res.text}`);
      reads++;
      await tick();
    }
  })();
  return {
    failures,
    written,
    async stop() {
      running = false;
      await Promise.all([writer, reader]);
      return { writes, reads };
    },
  };
}

async function seed(app: Running, namespaces: string[], perNamespace: number): Promise<Map<string, unknown>> {
  const values = new Map<string, unknown>();
  for (const namespace of namespaces) {
    for (let i = 0; i < perNamespace; i++) {
      const value = { seeded: i, ns: namespace, secret: `s-${randomBytes(4).toString("hex")}` };
      const res = await app.call("PUT", `/api/v1/configs/${ns(namespace)}/seed.${i}`, { value, secret: i === 0 });
      assert.equal(res.status, 200, res.text);
      values.set(`${namespace}/seed.${i}`, value);
    }
  }
  return values;
}

async function expectAll(app: Running, values: Map<string, unknown>) {
  for (const [path, value] of values) {
    const [namespace, key] = [path.slice(0, path.lastIndexOf("/")), path.slice(path.lastIndexOf("/") + 1)];
    const res = await app.call("GET", `/api/v1/configs/${ns(namespace)}/${key}?reveal=true`);
    assert.equal(res.status, 200, `${path}: ${res.text}`);
    assert.deepEqual(res.json.value, value, path);
  }
}

for (const backend of backends()) {
  describe(`key rotation under load (${backend})`, () => {
    const NAMESPACES = ["rot/one", "rot/two"];
    let s: Awaited<ReturnType<typeof session>>;
    let stable: Map<string, unknown>;
    before(async () => {
      s = await session(backend, { CAIRN_MASTER_KEY: keyA, CAIRN_KEY_ROTATION_BATCH_SIZE: "3", CAIRN_CACHE_MB: "0" });
      stable = await seed(s.app, NAMESPACES, 6);
    });
    after(() => s?.end());

    test("master key: restart with the new key (old one as previous), rotate while a writer and a reader run — zero failures", async () => {
      await s.restart({
        CAIRN_MASTER_KEY: keyB,
        CAIRN_MASTER_KEYS_PREVIOUS: keyA,
        CAIRN_KEY_ROTATION_BATCH_SIZE: "3",
        CAIRN_CACHE_MB: "0",
      });
      const traffic = load(() => s.app, NAMESPACES, stable);
      const started = await s.app.call("POST", "/api/v1/admin/key-rotations", { kind: "master", reason: "yearly" });
      assert.equal(started.status, 202, started.text);
      assert.equal(started.headers.location, `/api/v1/admin/key-rotations/${started.json.id}`);
      assert.equal(
        (await s.app.call("POST", "/api/v1/admin/key-rotations", { kind: "master" })).status,
        409,
        "one master rotation at a time",
      );
      const done = await waitForRotation(s.app, started.json.id).finally(() => traffic.stop());
      const { writes, reads } = await traffic.stop();
      assert.deepEqual(traffic.failures, []);
      assert.ok(writes > 0 && reads > 0);
      assert.equal(done.status, "completed");
      assert.equal(done.done, done.total);
      assert.ok(done.total >= 4, `data keys of 2 namespaces and their parent, audit keys: ${done.total}`);
      assert.ok(done.startedAt && done.finishedAt);

      // Without the old key at all: everything (data keys, audit and session keys) opens under the new one.
      await s.restart({ CAIRN_MASTER_KEY: keyB, CAIRN_CACHE_MB: "0" });
      await expectAll(s.app, stable);
      await expectAll(s.app, traffic.written);
      assert.equal((await s.app.call("PUT", `/api/v1/configs/${ns("rot/one")}/after`, { value: 1 })).status, 200);
      const audit = await s.app.store.db
        .selectFrom("audit_events")
        .select(["event_type"])
        .where("event_type", "like", "key_rotation.%")
        .execute();
      assert.deepEqual(audit.map((a) => a.event_type).sort(), ["key_rotation.completed", "key_rotation.started"]);
    });

    test("data key: a namespace gets a new key at once and its values are re-encrypted while traffic runs; the old key retires", async () => {
      const target = NAMESPACES[0] as string;
      const before = await s.app.store.db
        .selectFrom("namespaces")
        .select(["id", "active_data_key_id"])
        .where("path", "=", target)
        .executeTakeFirstOrThrow();
      const traffic = load(() => s.app, NAMESPACES, stable);
      const started = await s.app.call("POST", "/api/v1/admin/key-rotations", { kind: "data", namespace: target });
      assert.equal(started.status, 202, started.text);
      assert.equal(started.json.namespace, target);
      const done = await waitForRotation(s.app, started.json.id).finally(() => traffic.stop());
      const { writes } = await traffic.stop();
      assert.deepEqual(traffic.failures, []);
      assert.ok(writes > 0);
      assert.equal(done.status, "completed");
      assert.notEqual(done.newDataKeyId, before.active_data_key_id);
      const db = s.app.store.db;
      const keys = await db
        .selectFrom("configs")
        .select("data_key_id")
        .distinct()
        .where("namespace_id", "=", before.id)
        .where("value_sealed", "is not", null)
        .execute();
      const versionKeys = await db
        .selectFrom("config_versions")
        .select("data_key_id")
        .distinct()
        .where("namespace_id", "=", before.id)
        .where("value_sealed", "is not", null)
        .execute();
      assert.deepEqual(
        [...keys, ...versionKeys].map((k) => k.data_key_id),
        [done.newDataKeyId, done.newDataKeyId],
      );
      const old = await db
        .selectFrom("data_keys")
        .select(["retired_at", "rotated_at"])
        .where("id", "=", before.active_data_key_id as string)
        .executeTakeFirstOrThrow();
      assert.ok(old.rotated_at && old.retired_at, "the old key is marked retired once nothing uses it");
      await expectAll(s.app, stable);
      await expectAll(s.app, traffic.written);
      // Bad input changes nothing.
      assert.equal((await s.app.call("POST", "/api/v1/admin/key-rotations", { kind: "data" })).status, 400);
      assert.equal((await s.app.call("POST", "/api/v1/admin/key-rotations", { kind: "data", namespace: "no/such" })).status, 404);
      assert.equal((await s.app.call("GET", "/api/v1/admin/key-rotations/krot_nope")).status, 404);
    });
  });

  describe(`data key limits and restarts (${backend})`, () => {
    let s: Awaited<ReturnType<typeof session>>;
    before(async () => {
      s = await session(backend, { CAIRN_DATA_KEY_MAX_ENCRYPTIONS: "5" });
    });
    after(() => s?.end());

    test("a data key is rotated automatically at CAIRN_DATA_KEY_MAX_ENCRYPTIONS, and its count is never below its use", async () => {
      const first = async () =>
        await s.app.store.db
          .selectFrom("namespaces")
          .select(["id", "active_data_key_id"])
          .where("path", "=", "auto")
          .executeTakeFirstOrThrow();
      for (let i = 0; i < 4; i++) assert.equal((await s.app.call("PUT", `/api/v1/configs/auto/k${i}`, { value: i })).status, 200);
      const original = await first();
      for (let i = 4; i < 7; i++) assert.equal((await s.app.call("PUT", `/api/v1/configs/auto/k${i}`, { value: i })).status, 200);
      let rotation: { id: string; reason: string } | undefined;
      for (let tries = 0; !rotation && tries < 500; tries++) {
        rotation = await s.app.store.db
          .selectFrom("key_rotations")
          .select(["id", "reason"])
          .where("namespace_id", "=", original.id)
          .executeTakeFirst();
        if (!rotation) await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(rotation, "a rotation was started");
      assert.match(rotation.reason, /^automatic: data key .* sealed \d+ values/);
      const done = await waitForRotation(s.app, rotation.id);
      assert.equal(done.status, "completed");
      assert.notEqual((await first()).active_data_key_id, original.active_data_key_id);
      const used = await s.app.store.db
        .selectFrom("config_versions")
        .select((eb) => eb.fn.countAll<string>().as("n"))
        .where("namespace_id", "=", original.id)
        .executeTakeFirstOrThrow();
      const counted = await s.app.store.db
        .selectFrom("data_keys")
        .select((eb) => eb.fn.sum<string>("encryptions").as("n"))
        .where("namespace_id", "=", original.id)
        .executeTakeFirstOrThrow();
      // Every version (and its re-encryption, and each head) was one encryption: the counters cover at least that.
      assert.ok(Number(counted.n) >= Number(used.n) * 2, `counted ${counted.n}, versions ${used.n}`);
      for (let i = 0; i < 7; i++) assert.equal((await s.app.call("GET", `/api/v1/configs/auto/k${i}`)).json.value, i);
    });

    test("a rotation interrupted by a restart resumes from its stored progress", async () => {
      const env = { CAIRN_KEY_ROTATION_BATCH_SIZE: "1" };
      await s.restart(env);
      const values = new Map<string, unknown>();
      const ops = Array.from({ length: 40 }, (_, i) => ({ op: "set", namespace: "resume", key: `k${i}`, value: `v${i}` }));
      assert.equal((await s.app.call("POST", "/api/v1/configs/bulk", { operations: ops })).status, 200);
      for (const o of ops) values.set(`resume/${o.key}`, o.value);
      const started = await s.app.call("POST", "/api/v1/admin/key-rotations", { kind: "data", namespace: "resume" });
      assert.equal(started.status, 202);
      await s.app.close();
      const mid = await (await import("../../src/db/database.js")).openStore(
        (await import("../../src/settings.js")).loadSettings(s.store.env),
      );
      const stored = await mid.db
        .selectFrom("key_rotations")
        .select(["status", "done", "total"])
        .where("id", "=", started.json.id)
        .executeTakeFirstOrThrow();
      await mid.close();
      assert.ok(Number(stored.done) < Number(stored.total), `stopped mid-way: ${stored.done}/${stored.total}`);
      const app = await s.restart(env).catch(async () => s.restart(env));
      const done = await waitForRotation(app, started.json.id);
      assert.equal(done.status, "completed");
      assert.equal(done.done, done.total);
      assert.equal(done.total, 80, "40 heads and 40 versions");
      await expectAll(app, values);
    });
  });
}
