import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { sql } from "kysely";
import { backends, ns, useApp } from "../helper.js";

const NS = "integrity/app";

for (const backend of backends()) {
  describe(`integrity of stored ciphertexts (${backend})`, () => {
    // No L1 cache: it would keep answering the value decrypted before the row was damaged.
    const cairn = useApp(backend, { CAIRN_CACHE_MB: "0" });
    const put = async (key: string, value: unknown, secret = false) => {
      const res = await cairn.call("PUT", `/api/v1/configs/${ns(NS)}/${key}`, { value, secret });
      assert.equal(res.status, 200, res.text);
    };
    const integrityEvents = () =>
      cairn.store.db.selectFrom("audit_events").selectAll().where("event_type", "=", "integrity.failure").orderBy("seq").execute();

    before(async () => {
      await put("flipped", "alpha-plaintext", true);
      await put("flipped", "bravo-plaintext", true);
      await put("donor", "charlie-plaintext");
      await put("victim", "delta-plaintext");
      await put("healthy", "echo");
    });

    test("a flipped byte in a stored ciphertext: 500 integrity_failure naming where, an audit event, never the value", async () => {
      const flip = (table: "configs" | "config_versions") =>
        sql`update ${sql.table(table)} set value_sealed = set_byte(value_sealed, 40, get_byte(value_sealed, 40) # 1)
            where key = 'flipped' and version = 2`.execute(cairn.store.db);
      await flip("configs");
      // Versions are append-only: the attacker with the database turns the trigger off first.
      await sql`alter table config_versions disable trigger user`.execute(cairn.store.db);
      await flip("config_versions");
      await sql`alter table config_versions enable trigger user`.execute(cairn.store.db);

      const res = await cairn.call("GET", `/api/v1/configs/${ns(NS)}/flipped?reveal=true`);
      assert.equal(res.status, 500);
      assert.match(String(res.headers["content-type"]), /^application\/problem\+json/);
      assert.equal(res.json.code, "integrity_failure");
      assert.deepEqual(res.json.where, { namespace: NS, key: "flipped", environment: "base", version: 2, part: "value" });
      assert.match(res.json.detail, /failed its integrity check/);
      assert.doesNotMatch(res.text, /plaintext/);

      // Every read path opens through the same check: list, exports, history, one version.
      for (const url of [
        `/api/v1/configs/${ns(NS)}`,
        `/api/v1/configs/${ns(NS)}?format=dotenv`,
        `/api/v1/configs/${ns(NS)}?format=yaml`,
        `/api/v1/configs/${ns(NS)}/flipped/history`,
        `/api/v1/configs/${ns(NS)}/flipped?version=2`,
      ]) {
        const r = await cairn.call("GET", url);
        assert.equal(r.status, 500, `${url}: ${r.text}`);
        assert.equal(r.json.code, "integrity_failure", url);
      }
      // Version 1 was not touched, the server still answers everything else.
      assert.equal((await cairn.call("GET", `/api/v1/configs/${ns(NS)}/flipped?version=1&reveal=true`)).json.value, "alpha-plaintext");
      assert.equal((await cairn.call("GET", `/api/v1/configs/${ns(NS)}/healthy`)).json.value, "echo");

      const events = await integrityEvents();
      assert.ok(events.length >= 1);
      const e = events[0]!;
      assert.equal(e.result, "failure");
      assert.equal(e.resource_id, `${NS}/flipped`);
      assert.equal(e.namespace, NS);
      assert.equal((e.metadata as any).version, 2);
      assert.equal((e.metadata as any).part, "value");
      assert.doesNotMatch(JSON.stringify(events), /plaintext/);

      // Writing the value again heals the key.
      await put("flipped", "foxtrot", true);
      assert.equal((await cairn.call("GET", `/api/v1/configs/${ns(NS)}/flipped?reveal=true`)).json.value, "foxtrot");
    });

    test("a ciphertext copied from another row does not open there: 500 integrity_failure and an audit event", async () => {
      const before = (await integrityEvents()).length;
      await sql`update configs set value_sealed = d.value_sealed, data_key_id = d.data_key_id
                from configs d where d.key = 'donor' and configs.key = 'victim'`.execute(cairn.store.db);
      const res = await cairn.call("GET", `/api/v1/configs/${ns(NS)}/victim`);
      assert.equal(res.status, 500, res.text);
      assert.equal(res.json.code, "integrity_failure");
      assert.equal(res.json.where.key, "victim");
      assert.doesNotMatch(res.text, /charlie/);
      const events = await integrityEvents();
      assert.equal(events.length, before + 1);
      assert.equal(events.at(-1)?.resource_id, `${NS}/victim`);
      assert.equal((await cairn.call("GET", `/api/v1/configs/${ns(NS)}/donor`)).json.value, "charlie-plaintext");
    });
  });
}
