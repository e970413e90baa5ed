// Tampering with the audit log straight in the database — as an operator (or attacker) with psql could —
// and `cairn audit verify` (the built CLI binary, against the real server process, with the log's public
// key pinned in a file) must name the first bad index and exit 1. The cases pile up from the end of the log
// towards its start, so each one's first bad index comes before the previous one's:
//   truncate the tail → delete a row → swap two rows → change one field → forge a checkpoint.

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { adminKeyOf, httpClient, type ServerProcess, startOn } from "../fixtures/process.js";
import { backends, freshStore, ns, type TestStore, withPg } from "../helper.js";
import { cairnCli, eventually } from "./support.js";

/** Runs SQL on the store from outside the server: psql on PostgreSQL; on PGlite the server must let go of its files first. */
async function sqlOutside(store: TestStore, statements: string[], restart: () => Promise<void>, stop: () => Promise<void>) {
  if (store.backend === "postgres") {
    await withPg(store.databaseUrl as string, async (c) => {
      for (const s of statements) await c.query(s);
    });
    return;
  }
  await stop();
  const { PGlite } = await import("@electric-sql/pglite");
  const db = new PGlite(path.join(store.dataDir, "pg"));
  try {
    for (const s of statements) await db.exec(s);
  } finally {
    await db.close();
  }
  await restart();
}

/** Runs SQL with the append-only triggers off, as the brief's attacker would. */
const untriggered = (table: string, ...statements: string[]) => [
  `alter table ${table} disable trigger user`,
  ...statements,
  `alter table ${table} enable trigger user`,
];

for (const backend of backends()) {
  describe(`audit tampering is detected by cairn audit verify (${backend})`, () => {
    test("truncated tail, deleted row, swapped rows, changed field, forged checkpoint: each names its first bad index", {
      timeout: 300_000,
    }, async (t) => {
      const store = await freshStore(backend);
      const dir = await mkdtemp(path.join(tmpdir(), "cairn-tamper-"));
      const env = { CAIRN_AUDIT_CHECKPOINT_EVENTS: "4", CAIRN_AUDIT_CHECKPOINT_SECONDS: "1", CAIRN_LOG_LEVEL: "warn" };
      let server: ServerProcess = await startOn(store, env);
      t.after(async () => {
        await server.kill("SIGKILL");
        await store.drop();
        await rm(dir, { recursive: true, force: true });
      });
      const adminKey = await adminKeyOf(server);
      const call = () => httpClient(server.url, adminKey);
      const stop = async () => {
        await server.kill("SIGTERM");
      };
      const restart = async () => {
        server = await startOn(store, env);
      };
      const tamper = (statements: string[]) => sqlOutside(store, statements, restart, stop);

      for (let i = 0; i < 30; i++) {
        const r = await call()("PUT", `/api/v1/configs/${ns("tamper/app")}/k${i % 5}`, { value: { n: i, secret: `s3cr3t-${i}` } });
        assert.equal(r.status, 200, r.text);
      }
      await eventually(
        "the 30 writes to be in the log",
        async () => ((await call()("GET", "/api/v1/audit?limit=1")).json.items[0]?.index ?? 0) >= 30,
      );
      const keyFile = path.join(dir, "audit.pub");
      await writeFile(keyFile, (await call()("GET", "/api/v1/audit/public-key")).json.verifierKey);
      const verify = () => cairnCli(["audit", "verify", "--public-key", keyFile], { CAIRN_URL: server.url, CAIRN_TOKEN: adminKey }, dir);

      const clean = await verify();
      assert.equal(clean.code, 0, `${clean.stdout}${clean.stderr}`);
      assert.match(clean.stdout, /^verified \d+ events, root [A-Za-z0-9+/]{43}=\n$/);

      const checkpoints = (await call()("GET", "/api/v1/audit/checkpoints?limit=1000")).json.items as { treeSize: number; note: string }[];
      const firstCheckpoint = checkpoints.at(-1) as { treeSize: number; note: string };
      // Early in the log, before the rows tampered with below (under load the sequencer may batch a few
      // more events than CAIRN_AUDIT_CHECKPOINT_EVENTS into the first checkpoint).
      assert.ok(firstCheckpoint.treeSize <= 9, `the first checkpoint is early in the log (size ${firstCheckpoint.treeSize})`);
      // The changed field (step 4) lies after the first checkpoint, so forging that checkpoint (step 5) is found first.
      const changed = Math.max(6, firstCheckpoint.treeSize);
      const tenant = (await call()("GET", "/api/v1/audit?limit=1")).json.items[0].tenant as string;
      const inLog = `coalesce(tenant_id, '') = '${tenant}'`;

      // 1. Truncate the tail: the last three events of the log disappear.
      const top = (await call()("GET", "/api/v1/audit?limit=1")).json.items[0].index as number;
      await tamper(untriggered("audit_events", `delete from audit_events where ${inLog} and leaf_index > ${top - 3}`));
      let r = await verify();
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`^FAILED at index ${top - 2}: event missing`), r.stdout);

      // 2. Delete one row in the middle.
      await tamper(untriggered("audit_events", `delete from audit_events where ${inLog} and leaf_index = 20`));
      r = await verify();
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^FAILED at index 20: event missing/, r.stdout);

      // 3. Swap two rows (their places in the log).
      await tamper(
        untriggered(
          "audit_events",
          `update audit_events set leaf_index = -1 where ${inLog} and leaf_index = 10`,
          `update audit_events set leaf_index = 10 where ${inLog} and leaf_index = 12`,
          `update audit_events set leaf_index = 12 where ${inLog} and leaf_index = -1`,
        ),
      );
      r = await verify();
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^FAILED at index 10: the event differs from what the log committed and signed/, r.stdout);

      // 4. Change one field of one event.
      await tamper(untriggered("audit_events", `update audit_events set action = 'read' where ${inLog} and leaf_index = ${changed}`));
      r = await verify();
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`^FAILED at index ${changed}: the event differs from what the log committed and signed`), r.stdout);

      // The same verdict offline, from an exported file.
      const file = path.join(dir, "export.ndjson");
      const exported = await cairnCli(["audit", "export", "-o", file], { CAIRN_URL: server.url, CAIRN_TOKEN: adminKey }, dir);
      assert.equal(exported.code, 0, exported.stderr);
      const offline = await cairnCli(["audit", "verify", "--file", file, "--public-key", keyFile], {}, dir);
      assert.equal(offline.code, 1);
      assert.match(offline.stdout, new RegExp(`^FAILED at index ${changed}: `), offline.stdout);

      // 5. Forge a checkpoint: the first one now claims another root (the signature is left as it was).
      const [body, signature] = firstCheckpoint.note.split("\n\n") as [string, string];
      const lines = body.split("\n");
      const otherRoot = Buffer.alloc(32, 7).toString("base64");
      const forged = `${lines[0]}\n${lines[1]}\n${otherRoot}\n\n${signature}`;
      await tamper(
        untriggered(
          "audit_checkpoints",
          `update audit_checkpoints set note = '${forged}', root = decode('${Buffer.alloc(32, 7).toString("hex")}', 'hex')
             where log_id = '${tenant}' and tree_size = ${firstCheckpoint.treeSize}`,
        ),
      );
      r = await verify();
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(
        r.stdout,
        new RegExp(
          `^FAILED at checkpoint ${firstCheckpoint.treeSize}: checkpoint at tree size ${firstCheckpoint.treeSize}: the signature .* does not verify`,
        ),
        r.stdout,
      );
      assert.equal(r.stderr, "");
    });
  });
}
