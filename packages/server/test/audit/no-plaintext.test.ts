// No value, API key or password in the audit log: every audit row (all columns, as text), every listed
// event and the whole export are scanned for the plaintext of everything written, issued or tried.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sql } from "kysely";
import { backends, ns, useApp } from "../helper.js";
import { settle } from "./support.js";

for (const backend of backends()) {
  describe(`no plaintext in the audit log (${backend})`, () => {
    const cairn = useApp(backend);

    it("config values, secret values, API keys and passwords appear in no audit row, listing or export", async () => {
      const needles: string[] = [];
      const url = (key: string) => `/api/v1/configs/${ns("scan/app")}/${key}`;
      const put = async (key: string, body: Record<string, unknown>, expect = 200) => {
        const r = await cairn.call("PUT", url(key), body);
        assert.equal(r.status, expect, r.text);
      };

      await put("db.url", { value: "postgres://scan-user:scan-db-pass-9182@db.internal:5432/app" });
      needles.push("scan-db-pass-9182", "db.internal:5432");
      await put("stripe", { value: "sk_live_scan_4242424242", secret: true });
      needles.push("sk_live_scan_4242424242");
      await put("nested", { value: { deep: { token: "nested-token-7777" }, list: ["list-item-8888"] } });
      needles.push("nested-token-7777", "list-item-8888");
      await put("stripe", { value: "sk_live_scan_rotated_5555", secret: true, reason: "rotation" });
      needles.push("sk_live_scan_rotated_5555");
      assert.equal((await cairn.call("POST", `${url("stripe")}/rollback`, { version: 1 })).status, 200);
      assert.equal((await cairn.call("GET", `${url("stripe")}?reveal=true`)).status, 200);
      const bulk = await cairn.call("POST", "/api/v1/configs/bulk", {
        operations: [{ op: "set", namespace: "scan/app", key: "bulk.secret", value: "bulk-value-6666" }],
      });
      assert.equal(bulk.status, 200, bulk.text);
      needles.push("bulk-value-6666");
      // A schema violation: the refused value must not be recorded either.
      assert.equal((await cairn.call("PUT", `/api/v1/schemas/${ns("scan/app")}/port`, { schema: { type: "integer" } })).status, 200);
      await put("port", { value: "refused-value-3333" }, 422);
      needles.push("refused-value-3333");

      const created = await cairn.call("POST", "/api/v1/keys", { name: "scan-key", roles: ["viewer"] });
      assert.equal(created.status, 201, created.text);
      needles.push(created.json.key, (created.json.key as string).split("_")[2] as string);
      const rotated = await cairn.call("POST", `/api/v1/keys/${created.json.id}/rotate`, { gracePeriodSeconds: 0 });
      needles.push(rotated.json.key, (rotated.json.key as string).split("_")[2] as string);
      needles.push(cairn.adminKey.split("_")[2] as string);
      // A wrong key and a wrong password are audited as failures, without themselves.
      const wrongKey = "cairn_AbCdEfGh_wrongsecretwrongsecretwrongsecret12";
      assert.equal((await cairn.call("GET", url("db.url"), undefined, { authorization: `Bearer ${wrongKey}` })).status, 401);
      needles.push("wrongsecretwrongsecretwrongsecret12");
      const password = "violet-harbour-cactus-42-scan";
      assert.equal((await cairn.call("POST", "/api/v1/users", { email: "auditor-x@example.com", password })).status, 201);
      assert.equal(
        (
          await cairn.call(
            "POST",
            "/api/v1/auth/login",
            { email: "auditor-x@example.com", password: "wrong-password-scan-1111" },
            { authorization: "" },
          )
        ).status,
        401,
      );
      const login = await cairn.call("POST", "/api/v1/auth/login", { email: "auditor-x@example.com", password }, { authorization: "" });
      assert.equal(login.status, 200, login.text);
      needles.push(password, "wrong-password-scan-1111", login.json.accessToken, login.json.refreshToken);
      assert.equal((await cairn.call("POST", "/api/v1/audit/hash", { value: "hashed-probe-2222" })).status, 200);
      needles.push("hashed-probe-2222");

      await settle(cairn);
      const rows = await sql<{ row: string }>`select to_jsonb(e)::text as row from audit_events e`.execute(cairn.store.db);
      assert.ok(rows.rows.length > 15);
      const listing = (await cairn.call("GET", "/api/v1/audit?limit=1000")).text;
      const exported = (await cairn.call("GET", "/api/v1/audit/export")).text;
      const checkpoints = (await sql<{ note: string }>`select note from audit_checkpoints`.execute(cairn.store.db)).rows;
      const haystacks: [string, string][] = [
        ["audit_events", rows.rows.map((r) => r.row).join("\n")],
        ["GET /audit", listing],
        ["GET /audit/export", exported],
        ["audit_checkpoints", checkpoints.map((c) => c.note).join("\n")],
      ];
      for (const [where, text] of haystacks) {
        for (const needle of needles) assert.ok(!text.includes(needle), `${where} contains "${needle}"`);
      }
      // …while the events are there, naming what happened and referring to values by HMAC only.
      assert.match(listing, /"eventType":"secret.reveal"/);
      assert.match(listing, /"eventType":"auth.login_failed"/);
      assert.match(
        rows.rows.map((r) => r.row).join("\n"),
        /"event_type": "auth.failed"/,
        "the wrong key was audited (in the instance log)",
      );
      assert.match(listing, /"valueHmac":"hmac-sha256:[0-9a-f]{64}"/);
    });
  });
}
