import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { verifyConsistency, verifyInclusion } from "../../src/audit/proofs.js";
import { openNote, parseCheckpoint, parseVerifierKey } from "../../src/audit/signing.js";
import { type AuditEventDocument, canonicalJson, leafHash } from "../../src/audit/tree.js";
import { verifyAuditExport } from "../../src/audit/verify.js";
import { backends, inject, ns, secondTenant, type TestApp, useApp } from "../helper.js";
import { settle } from "./support.js";

const b64 = (s: string) => Buffer.from(s, "base64");

async function keyWithRole(cairn: TestApp, role: string): Promise<string> {
  const r = await cairn.call("POST", "/api/v1/keys", { name: `${role}-${Math.random()}`, roles: [role] });
  assert.equal(r.status, 201, r.text);
  return r.json.key as string;
}

/** Writes are sequenced after commit: wait for the log to hold them (in-process: flush). */
async function settled(cairn: TestApp) {
  await settle(cairn);
}

async function allEvents(cairn: TestApp, query = "", key?: string): Promise<AuditEventDocument[]> {
  const out: AuditEventDocument[] = [];
  let cursor: string | undefined;
  do {
    const sep = query ? "&" : "";
    const r = await cairn.call(
      "GET",
      `/api/v1/audit?${query}${sep}limit=7${cursor ? `&cursor=${cursor}` : ""}`,
      undefined,
      key ? { authorization: `Bearer ${key}` } : {},
    );
    assert.equal(r.status, 200, r.text);
    out.push(...r.json.items);
    cursor = r.json.nextCursor;
  } while (cursor);
  return out;
}

for (const backend of backends()) {
  describe(`audit API (${backend})`, () => {
    const cairn = useApp(backend);
    const url = (key: string, path = "audit/app") => `/api/v1/configs/${ns(path)}/${key}`;

    it("lists every event of the tenant newest first, in gapless pages, with filters", async () => {
      for (let i = 0; i < 6; i++) assert.equal((await cairn.call("PUT", url(`k${i % 3}`), { value: { n: i } })).status, 200);
      assert.equal((await cairn.call("PUT", url("other", "audit/app/deep"), { value: "x" })).status, 200);
      assert.equal((await cairn.call("PUT", url("elsewhere", "elsewhere"), { value: 1 })).status, 200);
      assert.equal((await cairn.call("DELETE", url("k0"))).status, 200);
      const viewer = await keyWithRole(cairn, "viewer");
      assert.equal((await cairn.call("PUT", url("k1"), { value: 1 }, { authorization: `Bearer ${viewer}` })).status, 403);
      await settled(cairn);

      const all = await allEvents(cairn);
      assert.ok(all.length >= 11);
      assert.deepEqual(
        all.map((e) => e.index),
        all.map((_, i) => all.length - 1 - i),
        "newest first, every index once, across pages",
      );
      const asc = (await cairn.call("GET", "/api/v1/audit?order=asc&limit=3")).json;
      assert.deepEqual(
        asc.items.map((e: AuditEventDocument) => e.index),
        [0, 1, 2],
      );
      const next = (await cairn.call("GET", `/api/v1/audit?order=asc&limit=3&cursor=${asc.nextCursor}`)).json;
      assert.deepEqual(
        next.items.map((e: AuditEventDocument) => e.index),
        [3, 4, 5],
      );

      const updates = await allEvents(cairn, "eventType=config.update");
      assert.equal(updates.length, 3);
      assert.ok(updates.every((e) => e.eventType === "config.update"));
      const configEvents = await allEvents(cairn, "eventType=config.*");
      assert.deepEqual(new Set(configEvents.map((e) => e.eventType)), new Set(["config.create", "config.update", "config.delete"]));
      assert.equal(configEvents.length, 9);

      assert.equal(
        (await allEvents(cairn, `namespace=${encodeURIComponent("audit/app")}`)).length,
        7 + 1,
        "exact namespace (the denial is in it too)",
      );
      assert.equal((await allEvents(cairn, `namespace=${encodeURIComponent("audit/app/**")}`)).length, 9, "the namespace and below");
      const denied = await allEvents(cairn, "result=denied");
      assert.equal(denied.length, 1);
      assert.equal(denied[0]?.eventType, "authz.denied");
      const byAdmin = await allEvents(cairn, `actor=${all.find((e) => e.eventType === "config.create")?.actor.id}`);
      assert.ok(byAdmin.length >= 9);

      const newest = all[0] as AuditEventDocument;
      const inWindow = await allEvents(cairn, `from=${encodeURIComponent(newest.timestamp)}`);
      assert.ok(inWindow.some((e) => e.id === newest.id));
      const before = await allEvents(cairn, `to=${encodeURIComponent(newest.timestamp)}`);
      assert.ok(!before.some((e) => e.id === newest.id), "to is exclusive");
    });

    it("config write events carry the value's HMAC, never the value; POST /audit/hash gives the same HMAC", async () => {
      const value = { url: "postgres://db.internal/payments", pool: 7 };
      assert.equal((await cairn.call("PUT", url("hmac.me"), { value })).status, 200);
      assert.equal((await cairn.call("PUT", url("hmac.secret"), { value: "sk_live_hmac_secret", secret: true })).status, 200);
      assert.equal((await cairn.call("DELETE", url("hmac.me"))).status, 200);
      await settled(cairn);
      const events = await allEvents(cairn, `namespace=${encodeURIComponent("audit/app")}`);
      const create = events.find((e) => e.resource.id === "audit/app/hmac.me" && e.eventType === "config.create") as AuditEventDocument;
      const del = events.find((e) => e.resource.id === "audit/app/hmac.me" && e.eventType === "config.delete") as AuditEventDocument;
      const secret = events.find((e) => e.resource.id === "audit/app/hmac.secret") as AuditEventDocument;
      assert.match(String(create.metadata.valueHmac), /^hmac-sha256:[0-9a-f]{64}$/);
      assert.equal(del.metadata.valueHmac, undefined, "a deletion has no value");
      assert.ok(!JSON.stringify(events).includes("db.internal"));
      assert.ok(!JSON.stringify(events).includes("sk_live_hmac_secret"));

      const same = await cairn.call("POST", "/api/v1/audit/hash", { value: { pool: 7, url: "postgres://db.internal/payments" } });
      assert.equal(same.status, 200, same.text);
      assert.equal(same.json.hash, create.metadata.valueHmac, "same value (key order aside) → same HMAC");
      assert.equal((await cairn.call("POST", "/api/v1/audit/hash", { value: "sk_live_hmac_secret" })).json.hash, secret.metadata.valueHmac);
      assert.notEqual((await cairn.call("POST", "/api/v1/audit/hash", { value: "sk_live_other" })).json.hash, secret.metadata.valueHmac);
      assert.equal((await cairn.call("POST", "/api/v1/audit/hash", { value: null })).status, 200, "null is a value");

      // Hashing is audit:reveal: the operator (audit read and list) may not; the attempt is refused and audited.
      const operator = await keyWithRole(cairn, "operator");
      const refused = await cairn.call("POST", "/api/v1/audit/hash", { value: "x" }, { authorization: `Bearer ${operator}` });
      assert.equal(refused.status, 403, refused.text);
      assert.equal((await cairn.call("GET", "/api/v1/audit?limit=1", undefined, { authorization: `Bearer ${operator}` })).status, 200);
    });

    it("signs checkpoints; inclusion and consistency proofs verify against their signed roots", async () => {
      await settled(cairn);
      await cairn.checkpointer.checkpointNow(cairn.bootstrap.tenantId);
      const first = await cairn.call("GET", "/api/v1/audit/checkpoints/latest");
      assert.equal(first.status, 200, first.text);
      for (let i = 0; i < 5; i++) assert.equal((await cairn.call("PUT", url(`more${i}`), { value: i })).status, 200);
      await settled(cairn);
      await cairn.checkpointer.checkpointNow(cairn.bootstrap.tenantId);

      const pk = await cairn.call("GET", "/api/v1/audit/public-key");
      assert.equal(pk.status, 200, pk.text);
      assert.equal(pk.json.origin, `cairn.local/cairn/audit/${cairn.bootstrap.tenantId}`);
      assert.equal(pk.json.keyName, pk.json.origin);
      const verifier = parseVerifierKey(pk.json.verifierKey);
      assert.equal(verifier.keyId.toString("hex"), pk.json.keyId);

      const list = await cairn.call("GET", "/api/v1/audit/checkpoints?limit=1");
      assert.equal(list.status, 200, list.text);
      assert.equal(list.json.items.length, 1);
      const older = await cairn.call("GET", `/api/v1/audit/checkpoints?cursor=${list.json.nextCursor}`);
      assert.ok(older.json.items.some((c: { treeSize: number }) => c.treeSize === first.json.treeSize));
      const latest = list.json.items[0];
      const cp = parseCheckpoint(openNote(latest.note, verifier));
      assert.equal(cp.size, latest.treeSize);
      assert.equal(cp.root.toString("base64"), latest.rootHash);

      const events = (await allEvents(cairn)).reverse();
      for (const e of events.filter((x) => x.index < cp.size)) {
        const p = await cairn.call("GET", `/api/v1/audit/proofs/inclusion?index=${e.index}`);
        assert.equal(p.status, 200, p.text);
        assert.equal(p.json.treeSize, cp.size, "default tree size: the latest checkpoint");
        assert.equal(p.json.leafHash, leafHash(e).toString("base64"), "the listed event is the hashed document");
        assert.equal(p.json.checkpoint, latest.note);
        assert.ok(verifyInclusion(e.index, cp.size, leafHash(e), p.json.proof.map(b64), cp.root), `inclusion of ${e.index}`);
      }
      const c = await cairn.call("GET", `/api/v1/audit/proofs/consistency?first=${first.json.treeSize}&second=${cp.size}`);
      assert.equal(c.status, 200, c.text);
      assert.equal(c.json.firstCheckpoint, first.json.note);
      assert.ok(verifyConsistency(first.json.treeSize, cp.size, c.json.proof.map(b64), b64(first.json.rootHash), cp.root));
      const zero = await cairn.call("GET", `/api/v1/audit/proofs/consistency?first=0&second=${cp.size}`);
      assert.deepEqual(zero.json.proof, []);
    });

    it("exports NDJSON that verifies offline, whole or from an index or time on", async () => {
      for (let i = 0; i < 40; i++) assert.equal((await cairn.call("PUT", url(`bulk${i % 9}`), { value: i })).status, 200);
      await settled(cairn);
      const pk = (await cairn.call("GET", "/api/v1/audit/public-key")).json;
      const whole = await cairn.call("GET", "/api/v1/audit/export");
      assert.equal(whole.status, 200, whole.text);
      assert.match(String(whole.headers["content-type"]), /application\/x-ndjson/);
      const lines = whole.text.trimEnd().split("\n");
      const result = await verifyAuditExport(lines, { publicKey: pk.verifierKey });
      assert.equal(result.ok, true, JSON.stringify(result.failure));
      const size = Number(
        (
          await cairn.store.db
            .selectFrom("audit_logs")
            .select("size")
            .where("log_id", "=", cairn.bootstrap.tenantId)
            .executeTakeFirstOrThrow()
        ).size,
      );
      assert.ok(result.events >= 40 && result.events <= size);
      assert.equal(result.signedSize, result.treeSize, "the export forces a checkpoint: everything exported is signed");
      // Each event line is exactly what was hashed: canonical JSON.
      const eventLine = lines.find((l) => l.includes('"eventType"')) as string;
      assert.equal(eventLine, canonicalJson(JSON.parse(eventLine)));

      // Also with the raw base64 key or the public-key JSON, and from the middle (the header carries the frontier).
      assert.ok((await verifyAuditExport(lines, { publicKey: pk.publicKey })).ok);
      assert.ok((await verifyAuditExport(lines, { publicKey: JSON.stringify(pk) })).ok);
      const mid = await cairn.call("GET", "/api/v1/audit/export?fromIndex=13&toIndex=31");
      const midResult = await verifyAuditExport(mid.text.trimEnd().split("\n"), { publicKey: pk.verifierKey });
      assert.equal(midResult.ok, true, JSON.stringify(midResult.failure));
      assert.equal(midResult.events, 18);
      assert.equal(midResult.signedSize, 31, "a slice is covered by the next checkpoint after it, through its tail line");
      const events = (await allEvents(cairn, "order=asc")) as AuditEventDocument[];
      const from = (events[20] as AuditEventDocument).timestamp;
      const byTime = await cairn.call("GET", `/api/v1/audit/export?from=${encodeURIComponent(from)}`);
      const byTimeResult = await verifyAuditExport(byTime.text.trimEnd().split("\n"), { publicKey: pk.verifierKey });
      assert.equal(byTimeResult.ok, true, JSON.stringify(byTimeResult.failure));
      const early = await cairn.call("GET", `/api/v1/audit/export?to=${encodeURIComponent(from)}`);
      const earlyResult = await verifyAuditExport(early.text.trimEnd().split("\n"), { publicKey: pk.verifierKey });
      assert.equal(earlyResult.ok, true, JSON.stringify(earlyResult.failure));
      assert.equal(earlyResult.treeSize, 20);
      assert.equal(earlyResult.signedSize, 20);

      // Another key, or a cut file, do not verify.
      const foreign = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
      assert.equal((await verifyAuditExport(lines, { publicKey: foreign })).ok, false);
      const cut = await verifyAuditExport(lines.slice(0, -5), { publicKey: pk.verifierKey });
      assert.equal(cut.ok, false);
      assert.match(cut.failure?.reason ?? "", /cut short|missing/);
    });

    it("answers bad input with a clear 4xx and keeps tenants apart", async () => {
      await settled(cairn);
      const bad: [string, string, unknown?][] = [
        ["GET", "/api/v1/audit?limit=0"],
        ["GET", "/api/v1/audit?limit=5000"],
        ["GET", "/api/v1/audit?cursor=abc"],
        ["GET", "/api/v1/audit?order=sideways"],
        ["GET", "/api/v1/audit?result=maybe"],
        ["GET", "/api/v1/audit?from=yesterday"],
        ["GET", "/api/v1/audit?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"],
        ["GET", "/api/v1/audit?eventType=con%20fig"],
        ["GET", "/api/v1/audit?namespace=a%2F*%2Fb"],
        ["GET", "/api/v1/audit?colour=blue"],
        ["GET", "/api/v1/audit/proofs/inclusion"],
        ["GET", "/api/v1/audit/proofs/inclusion?index=-1&treeSize=2"],
        ["GET", "/api/v1/audit/proofs/inclusion?index=5&treeSize=5"],
        ["GET", "/api/v1/audit/proofs/inclusion?index=0&treeSize=99999999"],
        ["GET", "/api/v1/audit/proofs/inclusion?index=x"],
        ["GET", "/api/v1/audit/proofs/consistency?first=9&second=3"],
        ["GET", "/api/v1/audit/proofs/consistency?first=1&second=99999999"],
        ["GET", "/api/v1/audit/proofs/consistency"],
        ["GET", "/api/v1/audit/export?fromIndex=99999999"],
        ["GET", "/api/v1/audit/export?fromIndex=5&toIndex=2"],
        ["GET", "/api/v1/audit/export?from=2026-01-01T00:00:00Z&fromIndex=1"],
        ["GET", "/api/v1/audit/checkpoints?cursor=-1"],
        ["POST", "/api/v1/audit/hash", {}],
        ["POST", "/api/v1/audit/hash", { value: 1, extra: true }],
        ["POST", "/api/v1/audit/hash", "not json"],
      ];
      for (const [method, path, body] of bad) {
        const r = await cairn.call(method, path, body, typeof body === "string" ? { "content-type": "application/json" } : {});
        assert.equal(r.status, 400, `${method} ${path}: ${r.status} ${r.text}`);
        assert.equal(r.json.code, "bad_request");
        assert.ok(r.json.detail.length > 10, r.text);
      }
      assert.equal((await cairn.call("GET", "/api/v1/audit", undefined, { authorization: "Bearer cairn_nope_nope" })).status, 401);
      const viewer = await keyWithRole(cairn, "viewer");
      for (const path of ["/api/v1/audit", "/api/v1/audit/checkpoints", "/api/v1/audit/public-key", "/api/v1/audit/export"]) {
        assert.equal((await cairn.call("GET", path, undefined, { authorization: `Bearer ${viewer}` })).status, 403, path);
      }

      // Another tenant: its own log, key and origin; none of this tenant's events.
      const other = await secondTenant(cairn);
      const asOther = (method: string, path: string, body?: unknown) => inject(cairn, other.adminKey, method, path, body);
      assert.equal((await asOther("PUT", url("mine", "other/app"), { value: 1 })).status, 200);
      await settled(cairn);
      const theirs = await asOther("GET", "/api/v1/audit?limit=1000");
      assert.ok(theirs.json.items.length >= 1);
      assert.ok(theirs.json.items.every((e: AuditEventDocument) => e.tenant === other.tenantId));
      assert.deepEqual(
        theirs.json.items.map((e: AuditEventDocument) => e.index).sort((a: number, b: number) => a - b),
        theirs.json.items.map((_: unknown, i: number) => i),
      );
      const theirKey = (await asOther("GET", "/api/v1/audit/public-key")).json;
      const ourKey = (await cairn.call("GET", "/api/v1/audit/public-key")).json;
      assert.notEqual(theirKey.publicKey, ourKey.publicKey);
      assert.equal(theirKey.origin, `cairn.local/cairn/audit/${other.tenantId}`);
      const theirExport = await asOther("GET", "/api/v1/audit/export");
      assert.ok((await verifyAuditExport(theirExport.text.trimEnd().split("\n"), { publicKey: theirKey.verifierKey })).ok);
      assert.equal((await verifyAuditExport(theirExport.text.trimEnd().split("\n"), { publicKey: ourKey.verifierKey })).ok, false);
      // Hashes are per tenant: the same value HMACs differently.
      const h1 = (await cairn.call("POST", "/api/v1/audit/hash", { value: "same" })).json.hash;
      const h2 = (await asOther("POST", "/api/v1/audit/hash", { value: "same" })).json.hash;
      assert.notEqual(h1, h2);
    });
  });

  describe(`audit checkpoints on their own (${backend})`, () => {
    const cairn = useApp(backend, { CAIRN_AUDIT_CHECKPOINT_EVENTS: "10", CAIRN_AUDIT_CHECKPOINT_SECONDS: "3600" });

    it("signs a checkpoint once the log grew by CAIRN_AUDIT_CHECKPOINT_EVENTS, without being asked", async () => {
      for (let i = 0; i < 25; i++) assert.equal((await cairn.call("PUT", `/api/v1/configs/${ns("cp/app")}/k`, { value: i })).status, 200);
      await settled(cairn);
      const size = async () =>
        Number(
          (
            await cairn.store.db
              .selectFrom("audit_logs")
              .select("size")
              .where("log_id", "=", cairn.bootstrap.tenantId)
              .executeTakeFirstOrThrow()
          ).size,
        );
      // Signed whenever the log grew by 10 since the last checkpoint: once settled, fewer than 10 are unsigned.
      const deadline = Date.now() + 20_000;
      let sizes: number[] = [];
      while (Date.now() < deadline) {
        sizes = (await cairn.call("GET", "/api/v1/audit/checkpoints")).json.items.map((c: { treeSize: number }) => c.treeSize);
        if ((await size()) - (sizes[0] ?? 0) < 10) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const total = await size();
      assert.ok(total >= 26, `${total} events`);
      assert.ok(total - (sizes[0] ?? 0) < 10, `${total} events, checkpoints at ${sizes.join(", ")}`);
      assert.ok(sizes.length >= 2, `checkpoints at ${sizes.join(", ")}`);
      assert.ok(
        sizes.every((s, i) => i === 0 || (sizes[i - 1] as number) - s >= 10),
        `at least 10 events apart: ${sizes.join(", ")}`,
      );
    });
  });
}
