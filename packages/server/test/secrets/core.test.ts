import assert from "node:assert/strict";
import { createPrivateKey, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { sql } from "kysely";
import { parseOpenSshPrivateKey } from "../../src/secrets/openssh.js";
import { until } from "../fixtures/process.js";
import { backends, ns, type TestApp, useApp } from "../helper.js";
import { listen, openWatch } from "../watch/support.js";
import { has, makeCertificate } from "./core-support.js";

async function keyWith(cairn: TestApp, body: Record<string, unknown>): Promise<Record<string, string>> {
  const res = await cairn.call("POST", "/api/v1/keys", { name: `k-${randomBytes(4).toString("hex")}`, ...body });
  assert.equal(res.status, 201, res.text);
  return { authorization: `Bearer ${res.json.key}` };
}

async function events(cairn: TestApp, eventType: string, resourceId: string) {
  return cairn.store.db
    .selectFrom("audit_events")
    .selectAll()
    .where("event_type", "=", eventType)
    .where("resource_id", "=", resourceId)
    .orderBy("seq")
    .execute();
}

const url = (path: string, key?: string, q = "") => `/api/v1/secrets/${ns(path)}${key === undefined ? "" : `/${key}`}${q}`;

// Typed secrets over configs: masking and reveal permissions, validation, rotation with grace, audit,
// watch streams and the tables holding nothing in clear.
for (const backend of backends()) {
  describe(`secrets (${backend})`, () => {
    const cairn = useApp(backend);
    /** Every plaintext written or generated here: none may be found in any table. */
    const plaintexts: string[] = [];
    const marker = () => {
      const m = `S3CRET-${randomBytes(12).toString("hex")}`;
      plaintexts.push(m);
      return m;
    };

    it("masked unless revealed; reveal needs secrets:reveal and is audited first; 422 names the field", async () => {
      const password = marker();
      const creds = { host: "db.internal", port: 5432, database: "app", username: "app", password };
      const put = await cairn.call("PUT", url("core/db", "main"), { type: "database_credentials", value: creds, reason: "setup" });
      assert.equal(put.status, 200, put.text);
      assert.equal(put.json.value, "••••");
      assert.equal(put.json.type, "database_credentials");
      assert.deepEqual(put.json.warnings, []);
      assert.ok(!put.text.includes(password));

      const masked = await cairn.call("GET", url("core/db", "main"));
      assert.equal(masked.json.value, "••••");
      assert.equal(masked.json.version, 1);
      assert.equal((await cairn.call("GET", `/api/v1/configs/${ns("core/db")}/main`)).json.value, "••••", "the config API masks it too");
      const before = (await events(cairn, "secret.reveal", "core/db/main")).length;
      const revealed = await cairn.call("GET", url("core/db", "main", "?reveal=true"));
      assert.deepEqual(revealed.json.value, creds);
      const reveals = await events(cairn, "secret.reveal", "core/db/main");
      assert.equal(reveals.length, before + 1, "the reveal is an audit event");
      assert.ok(!JSON.stringify(reveals).includes(password), "the event names no value");

      // A developer reads and lists secrets masked, but may neither reveal nor write them.
      const dev = await keyWith(cairn, { roles: ["developer"] });
      assert.equal((await cairn.call("GET", url("core/db", "main"), undefined, dev)).json.value, "••••");
      const listed = await cairn.call("GET", url("core/db"), undefined, dev);
      assert.equal(listed.status, 200, listed.text);
      assert.deepEqual(
        listed.json.items.map((i: { key: string; value: unknown }) => [i.key, i.value]),
        [["main", "••••"]],
      );
      for (const q of ["?reveal=true", "?reveal=true&version=previous"]) {
        const denied = await cairn.call("GET", url("core/db", "main", q), undefined, dev);
        assert.equal(denied.status, 403, denied.text);
        assert.ok(!denied.text.includes(password));
      }
      assert.equal((await cairn.call("GET", url("core/db", undefined, "?reveal=true"), undefined, dev)).status, 403);
      assert.equal((await cairn.call("PUT", url("core/db", "main"), { value: { ...creds, password: "x" } }, dev)).status, 403);
      assert.equal((await cairn.call("POST", url("core/db", "main", "/rotate"), {}, dev)).status, 403);

      // A malformed typed value: 422 naming each field, and nothing written.
      const bad = await cairn.call("PUT", url("core/db", "main"), { value: { ...creds, port: "5432", username: "" } });
      assert.equal(bad.status, 422, bad.text);
      assert.deepEqual(bad.json.errors.map((e: { path: string }) => e.path).sort(), ["/value/port", "/value/username"]);
      assert.equal((await cairn.call("GET", url("core/db", "main"))).json.version, 1);
      assert.equal((await cairn.call("PUT", url("core/db", "fresh"), { type: "api_key", value: "no" })).status, 422);
      assert.equal((await cairn.call("GET", url("core/db", "fresh"))).status, 404);

      // A plain config is not a secret here.
      await cairn.call("PUT", `/api/v1/configs/${ns("core/db")}/plain`, { value: "p" });
      assert.equal((await cairn.call("GET", url("core/db", "plain"))).status, 409);
    });

    it("rotation: generated value, previous readable during the grace period, then retired; audited", async () => {
      const old = marker();
      await cairn.call("PUT", url("core/api", "stripe"), { type: "api_key", value: `sk_${old}` });
      const rotated = await cairn.call("POST", url("core/api", "stripe", "/rotate"), {
        gracePeriodSeconds: 1,
        reason: "quarterly",
        policy: { prefix: "sk_live_" },
      });
      assert.equal(rotated.status, 200, rotated.text);
      assert.equal(rotated.json.version, 2);
      assert.equal(rotated.json.value, "••••");
      assert.equal(rotated.json.previous.version, 1);
      assert.equal(rotated.json.previous.retired, false);
      const expiresAt = Date.parse(rotated.json.previous.expiresAt);
      assert.ok(Math.abs(expiresAt - (Date.parse(rotated.json.rotatedAt) + 1000)) < 5, "expires one grace period after the rotation");

      const current = await cairn.call("GET", url("core/api", "stripe", "?reveal=true"));
      assert.match(current.json.value, /^sk_live_[A-Za-z0-9_-]{43}$/);
      plaintexts.push(current.json.value);
      assert.equal(current.json.rotatedAt, rotated.json.rotatedAt);
      const previous = await cairn.call("GET", url("core/api", "stripe", "?reveal=true&version=previous"));
      assert.equal(previous.status, 200, previous.text);
      assert.equal(previous.json.value, `sk_${old}`);
      assert.equal(previous.json.version, 1);

      const [event] = await events(cairn, "secret.rotate", "core/api/stripe");
      assert.ok(event, "secret.rotate is recorded");
      const meta = typeof event.metadata === "string" ? JSON.parse(event.metadata) : event.metadata;
      assert.deepEqual(
        {
          version: meta.version,
          previousVersion: meta.previousVersion,
          generated: meta.generated,
          reason: meta.reason,
          graceSeconds: meta.graceSeconds,
        },
        { version: 2, previousVersion: 1, generated: true, reason: "quarterly", graceSeconds: 1 },
      );
      assert.ok(!JSON.stringify(event).includes(old) && !JSON.stringify(event).includes(current.json.value));

      // The grace period ends: the previous value is retired.
      await until("the grace period to end", () => Date.now() > expiresAt + 50, 5000);
      const retired = await cairn.call("GET", url("core/api", "stripe", "?reveal=true&version=previous"));
      assert.equal(retired.status, 404, retired.text);
      assert.match(retired.json.detail, /retired at \d{4}-\d\d-\d\dT/);
      assert.equal((await cairn.call("GET", url("core/api", "stripe"))).json.previous.retired, true);

      // A supplied value is validated by type; a failed rotation changes nothing.
      const refused = await cairn.call("POST", url("core/api", "stripe", "/rotate"), { value: "short" });
      assert.equal(refused.status, 422, refused.text);
      assert.equal((await cairn.call("GET", url("core/api", "stripe"))).json.version, 2);
      const supplied = marker();
      const next = await cairn.call("POST", url("core/api", "stripe", "/rotate"), { value: `sk_${supplied}`, gracePeriodSeconds: 0 });
      assert.equal(next.json.previous.retired, true, "grace 0 retires the previous value at once");
      assert.equal((await cairn.call("GET", url("core/api", "stripe", "?reveal=true&version=previous"))).status, 404);

      // Rotate creates a missing secret when told its type; certificates cannot be generated.
      assert.equal((await cairn.call("POST", url("core/api", "nothing", "/rotate"), {})).status, 404);
      const ssh = await cairn.call("POST", url("core/api", "deploy", "/rotate"), { type: "ssh_key" });
      assert.equal(ssh.status, 200, ssh.text);
      assert.equal(ssh.json.previous, null);
      assert.match(ssh.json.metadata.fingerprint, /^SHA256:/);
      const sshValue = (await cairn.call("GET", url("core/api", "deploy", "?reveal=true"))).json.value;
      assert.ok(parseOpenSshPrivateKey(sshValue.private_key).key);
      assert.equal(ssh.json.metadata.publicKey, sshValue.public_key);
      plaintexts.push(sshValue.private_key.split("\n")[2]);
      const jwt = await cairn.call("POST", url("core/api", "signing", "/rotate"), { type: "jwt_signing_key" });
      const jwtValue = (await cairn.call("GET", url("core/api", "signing", "?reveal=true"))).json.value;
      assert.equal(createPrivateKey(jwtValue.private_key_pem).asymmetricKeyType, "ed25519");
      assert.equal(jwt.json.metadata.kid, jwtValue.kid);
      plaintexts.push(jwtValue.private_jwk.d);
      const cert = await cairn.call("POST", url("core/api", "tls", "/rotate"), { type: "certificate" });
      assert.equal(cert.status, 422, cert.text);
      assert.match(cert.json.detail, /cannot be generated/);

      // The database credentials keep everything but the password.
      const db = await cairn.call("POST", url("core/db", "main", "/rotate"), { policy: { length: 40, charset: "hex" } });
      assert.equal(db.status, 200, db.text);
      const dbValue = (await cairn.call("GET", url("core/db", "main", "?reveal=true"))).json.value;
      assert.match(dbValue.password, /^[0-9a-f]{40}$/);
      assert.equal(dbValue.host, "db.internal");
      plaintexts.push(dbValue.password);
    });

    it("certificates: expiry and fingerprint kept in clear, a warning when it expires within 30 days", {
      skip: !has("openssl"),
    }, async () => {
      const cert = makeCertificate(10, "soon.example");
      const put = await cairn.call("PUT", url("core/web", "tls"), { type: "certificate", value: cert });
      assert.equal(put.status, 200, put.text);
      assert.deepEqual(
        put.json.warnings.map((w: { code: string; path: string }) => [w.code, w.path]),
        [["expires_soon", "/value/cert_pem"]],
      );
      const got = await cairn.call("GET", url("core/web", "tls"));
      assert.equal(got.json.metadata.subject, "CN=soon.example");
      assert.ok(Math.abs(Date.parse(got.json.metadata.notAfter) - (Date.now() + 10 * 86_400_000)) < 86_400_000);
      const mismatched = await cairn.call("PUT", url("core/web", "tls"), {
        value: { ...cert, private_key_pem: makeCertificate(10).private_key_pem },
      });
      assert.equal(mismatched.status, 422);
      assert.deepEqual(
        mismatched.json.errors.map((e: { path: string }) => e.path),
        ["/value/private_key_pem"],
      );
      plaintexts.push(cert.private_key_pem.split("\n")[1] as string);
    });

    it("watch streams carry changes to secrets, never their values", async () => {
      const stream = await openWatch(await listen(cairn), cairn.adminKey, { namespace: "core/watch" });
      try {
        const value = marker();
        assert.equal((await cairn.call("PUT", url("core/watch", "token"), { type: "generic", value })).status, 200);
        await cairn.call("POST", url("core/watch", "token", "/rotate"), { gracePeriodSeconds: 60 });
        const generated = (await cairn.call("GET", url("core/watch", "token", "?reveal=true"))).json.value;
        plaintexts.push(generated);
        await stream.waitFor("both writes", () => stream.changes().filter((c) => c.key === "token").length >= 2);
        const changes = stream.changes().filter((c) => c.key === "token");
        assert.deepEqual(
          changes.map((c) => [c.version, c.changeType]),
          [
            [1, "create"],
            [2, "update"],
          ],
        );
        for (const c of changes) assert.equal(c.value, undefined);
        assert.ok(!stream.raw().includes(value) && !stream.raw().includes(generated), "no value in the stream");
      } finally {
        stream.close();
      }
    });

    it("delete writes a tombstone and drops the type record", async () => {
      await cairn.call("PUT", url("core/del", "k"), { type: "generic", value: marker() });
      const del = await cairn.call("DELETE", url("core/del", "k"));
      assert.equal(del.status, 200, del.text);
      assert.equal(del.json.version, 2);
      assert.equal((await cairn.call("GET", url("core/del", "k"))).status, 404);
      assert.equal((await cairn.call("DELETE", url("core/del", "k"))).status, 404);
      const rows = await cairn.store.db.selectFrom("secret_meta").selectAll().where("key", "=", "k").execute();
      assert.equal(rows.length, 0);
    });

    it("no plaintext secret material in any table", async () => {
      assert.ok(plaintexts.length >= 8, `collected ${plaintexts.length}`);
      const tables = (
        await sql<{ t: string }>`select quote_ident(table_name) as t from information_schema.tables
          where table_schema = 'public' and table_type = 'BASE TABLE'`.execute(cairn.store.db)
      ).rows.map((r) => r.t);
      assert.ok(tables.includes("secret_meta") && tables.includes("config_versions"));
      let rows = 0;
      for (const table of tables) {
        const texts = (await sql<{ row: string }>`select t::text as row from ${sql.raw(table)} t`.execute(cairn.store.db)).rows;
        rows += texts.length;
        for (const { row } of texts) {
          for (const p of plaintexts) {
            for (const form of [p, Buffer.from(p).toString("hex")])
              assert.ok(!row.includes(form), `plaintext in ${table}: ${row.slice(0, 200)}`);
          }
        }
      }
      assert.ok(rows > 50);
      const meta = (await sql<{ row: string }>`select t::text as row from secret_meta t`.execute(cairn.store.db)).rows.map((r) => r.row);
      assert.ok(
        meta.some((r) => r.includes("SHA256:")),
        "control: the scan sees the metadata kept in clear",
      );
    });
  });
}
