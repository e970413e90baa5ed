import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadSettings, SettingsError } from "../../src/settings.js";
import { build, serverUrl, withPg } from "../helper.js";

/**
 * On PostgreSQL the config write is a named prepared statement (planned once per connection); behind a pooler
 * that cannot keep them, CAIRN_DATABASE_PREPARED_STATEMENTS=false sends it as plain SQL. Both must write the
 * same rows: insert, update, tombstone, each with its version row and audit event.
 */
describe("prepared config writes", () => {
  it("CAIRN_DATABASE_PREPARED_STATEMENTS must be a boolean (on by default)", () => {
    assert.equal(loadSettings({}).databasePreparedStatements, true);
    assert.equal(loadSettings({ CAIRN_DATABASE_PREPARED_STATEMENTS: "false" }).databasePreparedStatements, false);
    assert.throws(() => loadSettings({ CAIRN_DATABASE_PREPARED_STATEMENTS: "maybe" }), SettingsError);
  });

  for (const prepared of ["true", "false"]) {
    it(`with prepared statements ${prepared === "true" ? "on" : "off"}: inserts, updates and deletes write heads, versions and audit rows`, {
      skip: serverUrl ? false : "needs PostgreSQL (DATABASE_URL)",
    }, async (t) => {
      const cairn = await build(t, "postgres", { CAIRN_DATABASE_PREPARED_STATEMENTS: prepared });
      // Many writes, so that every pooled connection runs the statements more than once.
      for (let i = 0; i < 40; i++) {
        const r = await cairn.call("PUT", `/api/v1/configs/prep%2Fapp/k${i % 4}`, { value: { n: i } });
        assert.equal(r.status, 200, r.text);
      }
      const gone = await cairn.call("DELETE", "/api/v1/configs/prep%2Fapp/k0");
      assert.equal(gone.status, 200, gone.text);
      const read = await cairn.call("GET", "/api/v1/configs/prep%2Fapp/k3");
      assert.deepEqual(read.json.value, { n: 39 });
      assert.equal(read.json.version, 10);
      const counts = await withPg(cairn.testStore.databaseUrl as string, async (pg) => ({
        versions: Number((await pg.query("select count(*) from config_versions")).rows[0].count),
        audits: Number((await pg.query("select count(*) from audit_events where event_type like 'config.%'")).rows[0].count),
      }));
      assert.equal(counts.versions, 41);
      assert.equal(counts.audits, 41);
    });
  }
});
