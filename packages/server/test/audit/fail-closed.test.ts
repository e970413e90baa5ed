// Fail-closed: when the audit event of a change cannot be written, the change does not happen and the
// caller gets 503 audit_unavailable; a secret is not revealed unless its reveal was recorded first.
// The failure is forced in the database itself (a check constraint, then a trigger) on audit_events.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sql } from "kysely";
import { backends, ns, type TestApp, useApp } from "../helper.js";
import { settle } from "./support.js";

for (const backend of backends()) {
  describe(`audit fail-closed (${backend})`, () => {
    const cairn = useApp(backend);
    const url = (key: string, path = "fail/app") => `/api/v1/configs/${ns(path)}/${key}`;
    const run = (db: TestApp["store"]["db"], text: string) => sql.raw(text).execute(db);

    async function expect503(r: { status: number; json: any; headers: Record<string, unknown>; text: string }) {
      assert.equal(r.status, 503, r.text);
      assert.equal(r.json.code, "audit_unavailable");
      assert.equal(r.headers["retry-after"], "1");
      assert.match(r.json.detail, /nothing was changed/);
      assert.ok(!r.text.includes("audit_events"), "no database detail in the answer");
    }

    it("a write whose audit insert is rejected answers 503 and changes nothing (optimistic, locked, bulk)", async () => {
      assert.equal((await cairn.call("PUT", url("k"), { value: "one" })).status, 200);
      await settle(cairn);
      const eventsBefore = await cairn.call("GET", "/api/v1/audit?limit=1000");
      await run(
        cairn.store.db,
        "alter table audit_events add constraint test_no_config_events check (event_type not like 'config.%') not valid",
      );
      try {
        // The one-statement write of an existing namespace.
        await expect503(await cairn.call("PUT", url("k"), { value: "two" }));
        // A write that creates its namespace (a locking transaction with the namespace and its data key).
        await expect503(await cairn.call("PUT", url("k", "fail/new"), { value: "fresh" }));
        // Bulk: all or nothing.
        await expect503(
          await cairn.call("POST", "/api/v1/configs/bulk", {
            operations: [
              { op: "set", namespace: "fail/app", key: "b1", value: 1 },
              { op: "set", namespace: "fail/app", key: "b2", value: 2 },
            ],
          }),
        );
        await expect503(await cairn.call("DELETE", url("k")));
      } finally {
        await run(cairn.store.db, "alter table audit_events drop constraint test_no_config_events");
      }
      const k = await cairn.call("GET", url("k"));
      assert.equal(k.json.value, "one");
      assert.equal(k.json.version, 1);
      assert.equal((await cairn.call("GET", `${url("k")}/history`)).json.items.length, 1, "no version was added");
      assert.equal((await cairn.call("GET", url("k", "fail/new"))).status, 404, "the namespace was not created either");
      assert.equal((await cairn.call("GET", url("b1"))).status, 404);
      await settle(cairn);
      const eventsAfter = await cairn.call("GET", "/api/v1/audit?limit=1000&eventType=config.*");
      assert.equal(
        eventsAfter.json.items.length,
        eventsBefore.json.items.filter((e: { eventType: string }) => e.eventType.startsWith("config.")).length,
      );

      // Once the log accepts events again, so do writes.
      const ok = await cairn.call("PUT", url("k"), { value: "two" });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json.version, 2);
    });

    it("a secret is not revealed when its reveal cannot be recorded (a trigger refuses the insert)", async () => {
      assert.equal((await cairn.call("PUT", url("token"), { value: "sk_live_fail_closed", secret: true })).status, 200);
      await settle(cairn);
      await run(
        cairn.store.db,
        `create function test_refuse_reveal() returns trigger language plpgsql as $$
         begin
           if new.event_type = 'secret.reveal' then raise exception 'audit_events: refused by the test'; end if;
           return new;
         end $$`,
      );
      await run(
        cairn.store.db,
        "create trigger test_refuse_reveal before insert on audit_events for each row execute function test_refuse_reveal()",
      );
      try {
        const r = await cairn.call("GET", `${url("token")}?reveal=true`);
        await expect503(r);
        assert.ok(!r.text.includes("sk_live_fail_closed"));
        const masked = await cairn.call("GET", url("token"));
        assert.equal(masked.status, 200, "reads that reveal nothing still work");
        assert.ok(!masked.text.includes("sk_live_fail_closed"));
      } finally {
        await run(cairn.store.db, "drop trigger test_refuse_reveal on audit_events");
        await run(cairn.store.db, "drop function test_refuse_reveal()");
      }
      const revealed = await cairn.call("GET", `${url("token")}?reveal=true`);
      assert.equal(revealed.json.value, "sk_live_fail_closed");
    });
  });
}
