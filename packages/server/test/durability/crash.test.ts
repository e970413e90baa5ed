// A crash at any point loses no acknowledged write (DESIGN.md, security invariant 5).
// The real server runs in its own OS process; a burst of concurrent writers records every 200 it gets;
// the process is killed with SIGKILL mid-burst (no drain, no close, no flush); the server is started again
// on the same store and every acknowledged write must read back exactly.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, test } from "node:test";
import { adminKeyOf, httpClient, KEY_LINE, type ServerProcess, startOn, until } from "../fixtures/process.js";
import { backends, freshStore } from "../helper.js";

const WRITERS = 8;
const BURST_MS = 1_500;
const MIN_ACKS = 50;
const NS = "crash";

interface Ack {
  key: string;
  version: number;
  value: unknown;
}

for (const backend of backends()) {
  describe(`crash with SIGKILL (${backend})`, () => {
    test("every write acknowledged before kill -9 reads back after a restart", { timeout: 180_000 }, async (t) => {
      const store = await freshStore(backend);
      const servers: ServerProcess[] = [];
      t.after(async () => {
        for (const s of servers) await s.kill("SIGKILL");
        await store.drop();
      });

      const server = await startOn(store);
      servers.push(server);
      const adminKey = await adminKeyOf(server);
      const call = httpClient(server.url, adminKey);

      const acks: Ack[] = [];
      const unexpected: string[] = [];
      let connectionErrors = 0;
      let killed = false;

      const put = async (key: string, value: unknown) => {
        try {
          const r = await call("PUT", `/api/v1/configs/${NS}/${key}`, { value });
          if (r.status === 200) {
            assert.equal(r.json.key, key);
            acks.push({ key, version: r.json.version, value });
          } else {
            unexpected.push(`${key}: ${r.status} ${r.text}`);
          }
          return true;
        } catch {
          // The process is gone: this write was never acknowledged, and the writer stops.
          connectionErrors++;
          return false;
        }
      };

      // Each writer: increasing versions of its own key, and every third round a key of its own that is new.
      const writers = Array.from({ length: WRITERS }, async (_, w) => {
        for (let i = 0; !killed; i++) {
          const value = { writer: w, seq: i, nonce: randomBytes(24).toString("base64"), nested: { list: [i, `v${i}`, null] } };
          if (!(await put(`w${w}`, value))) return;
          if (i % 3 === 0 && !(await put(`w${w}-n${i}`, `distinct ${w}/${i} ${randomBytes(8).toString("hex")}`))) return;
        }
      });

      const burstStart = Date.now();
      try {
        await until(`${MIN_ACKS} acknowledged writes`, () => acks.length >= MIN_ACKS && Date.now() - burstStart >= BURST_MS, 60_000);
      } catch (e) {
        throw new Error(
          `${(e as Error).message}: ${acks.length} acknowledged, unexpected answers: ${unexpected.slice(0, 5).join("; ")}\n` +
            `server output (tail):\n${server.output().slice(-4000)}`,
        );
      }
      const pid = server.child.pid;
      const exited = server.kill("SIGKILL");
      killed = true;
      const code = await exited;
      await Promise.all(writers);
      assert.equal(code, null, "the process died of the signal");
      assert.equal(server.child.signalCode, "SIGKILL");
      assert.deepEqual(unexpected, [], "before the kill, every write of the burst was acknowledged");
      t.diagnostic(`${acks.length} acknowledged writes before SIGKILL; ${connectionErrors} writes cut off by it`);

      if (backend === "pglite") {
        // The killed process's lock is still on disk: the restart must take it over, not refuse to start.
        const lock = (await readFile(path.join(store.dataDir, "cairn.pid"), "utf8")).trim();
        assert.equal(lock, String(pid), "the lock file names the killed process");
      }

      const again = await startOn(store);
      servers.push(again);
      assert.doesNotMatch(again.output(), KEY_LINE, "a restart prints no new admin key");
      if (backend === "pglite") {
        const lock = (await readFile(path.join(store.dataDir, "cairn.pid"), "utf8")).trim();
        assert.equal(lock, String(again.child.pid), "the new process holds the lock");
      }
      const read = httpClient(again.url, adminKey);

      // Every acknowledged version reads back exactly.
      for (const ack of acks) {
        const r = await read("GET", `/api/v1/configs/${NS}/${ack.key}?version=${ack.version}`);
        assert.equal(r.status, 200, `${ack.key} v${ack.version} was acknowledged: ${r.text}`);
        assert.deepEqual(r.json.value, ack.value, `${ack.key} v${ack.version} holds the acknowledged value`);
      }

      // Per key: the current version is at least the latest acknowledged one, the history has no gaps,
      // and the current value is the value of the current version.
      const latest = new Map<string, Ack>();
      for (const ack of acks) if ((latest.get(ack.key)?.version ?? 0) < ack.version) latest.set(ack.key, ack);
      for (const [key, ack] of latest) {
        const head = await read("GET", `/api/v1/configs/${NS}/${key}`);
        assert.equal(head.status, 200, `${key}: ${head.text}`);
        assert.ok(head.json.version >= ack.version, `${key} is at v${head.json.version}, but v${ack.version} was acknowledged`);
        if (head.json.version === ack.version) assert.deepEqual(head.json.value, ack.value);
        const atHead = await read("GET", `/api/v1/configs/${NS}/${key}?version=${head.json.version}`);
        assert.deepEqual(atHead.json.value, head.json.value, `${key}: the current value is the value of its current version`);
        const history = await read("GET", `/api/v1/configs/${NS}/${key}/history?limit=1000`);
        assert.equal(history.status, 200, history.text);
        assert.deepEqual(
          history.json.items.map((i: { version: number }) => i.version),
          Array.from({ length: head.json.version }, (_, i) => head.json.version - i),
          `${key}: versions ${head.json.version}…1, no gaps`,
        );
      }
      // A writer's own key was written sequentially, so its acknowledged versions are exactly 1…n.
      for (let w = 0; w < WRITERS; w++) {
        const versions = acks.filter((a) => a.key === `w${w}`).map((a) => a.version);
        assert.deepEqual(
          versions,
          versions.map((_, i) => i + 1),
          `w${w}: one version per acknowledged write`,
        );
      }

      // The store is healthy: the next write continues the numbering.
      const w0 = await read("GET", `/api/v1/configs/${NS}/w0`);
      const next = await read("PUT", `/api/v1/configs/${NS}/w0`, { value: "after the crash" }, { "if-match": `"${w0.json.version}"` });
      assert.equal(next.status, 200, `${next.text}\nserver output (tail):\n${again.output().slice(-4000)}`);
      assert.equal(next.json.version, w0.json.version + 1);
    });
  });
}
