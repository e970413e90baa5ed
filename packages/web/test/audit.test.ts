// The Audit page: changes made through the API show up as events, filtered by type in the UI (the filter lives
// in the URL), with their metadata (an HMAC, never the value) and "Load more"; the latest signed checkpoint
// and the public key; "Verify now" verifies the log — and names the first bad index once a row was changed
// with SQL, as tamper.test.ts does it (psql on PostgreSQL; the app's own connection on PGlite).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { sql } from "kysely";
import { settle } from "../../server/test/audit/support.js";
import { ns, withPg } from "../../server/test/helper.js";
import { openConsole, PHONE } from "./support/console.js";

describe("audit page", () => {
  test("filter by event type, load more, see the checkpoint and key, verify now; a tampered row is named by its index", {
    timeout: 90_000,
  }, async (t) => {
    const c = await openConsole(t, { env: { CAIRN_AUDIT_CHECKPOINT_EVENTS: "8", CAIRN_AUDIT_CHECKPOINT_SECONDS: "1" } });
    const { cairn, page } = c;
    // 3 creates and 57 updates: more config.update events than one page (50) of the list.
    for (let i = 0; i < 60; i++) {
      const r = await cairn.call("PUT", `/api/v1/configs/${ns("shop/api")}/k${i % 3}`, { value: `plain-value-${i}` });
      assert.equal(r.status, 200, r.text);
    }
    const viewer = await cairn.call("POST", "/api/v1/keys", { name: "audit-viewer", roles: ["viewer"] });
    assert.equal(viewer.status, 201, viewer.text);
    const denied = await cairn.call(
      "PUT",
      `/api/v1/configs/${ns("shop/api")}/k0`,
      { value: 1 },
      { authorization: `Bearer ${viewer.json.key}` },
    );
    assert.equal(denied.status, 403);
    await settle(cairn);
    const updates = (await cairn.call("GET", "/api/v1/audit?eventType=config.update&limit=1000")).json.items as { index: number }[];
    assert.equal(updates.length, 57);

    await c.signInWithKey("/audit");
    await page.getByRole("heading", { level: 1, name: "Audit" }).waitFor();
    const integrity = page.getByRole("region", { name: "Integrity" });
    await integrity.getByText(/^\d+ events$/).waitFor();
    const root = await integrity.locator("dd code.audit-hash").first().textContent();
    assert.match(root ?? "", /^[A-Za-z0-9+/]{43}=$/, "the checkpoint's root hash is shown");
    const key = (await cairn.call("GET", "/api/v1/audit/public-key")).json;
    await integrity.getByText(key.verifierKey).waitFor();
    await integrity.getByText(/cairn audit verify --file/).waitFor();

    // Filter by event type: only config.update rows, one page, then the rest with "Load more".
    const events = page.getByRole("region", { name: "Events" });
    await events.getByLabel("Event type").fill("config.update");
    await events.getByRole("button", { name: "Apply filters" }).click();
    await page.waitForURL(/[?&]eventType=config.update/);
    const rows = events.locator("tbody tr[data-event-type]");
    await events.getByText("50 events shown (filtered), more available.").waitFor();
    const types = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-event-type")));
    assert.equal(types.length, 50);
    assert.ok(
      types.every((x) => x === "config.update"),
      `only config.update rows: ${types.join(",")}`,
    );
    await events.getByRole("button", { name: "Load more" }).click();
    await events.getByText("57 events shown (filtered).").waitFor();
    assert.equal(await events.getByRole("button", { name: "Load more" }).count(), 0);
    const indexes = (await rows.locator("td:first-child").allTextContents()).map(Number);
    assert.deepEqual(
      indexes,
      updates.map((u) => u.index),
      "the same events as the API, newest first",
    );

    // A row opens to its metadata: the value's HMAC, never the value.
    const newest = updates[0]?.index as number;
    await events.getByRole("button", { name: `Show details of event ${newest}` }).click();
    const details = events.locator("tr.audit-details pre");
    await details.waitFor();
    const metadata = (await details.textContent()) ?? "";
    assert.match(metadata, /"valueHmac": "hmac-sha256:[0-9a-f]{64}"/);
    assert.doesNotMatch(metadata, /plain-value/);
    await c.shot("audit-filtered");

    // Denied requests are there too, by result.
    await events.getByLabel("Event type").fill("");
    await events.getByLabel("Result").selectOption("denied");
    await events.getByRole("button", { name: "Apply filters" }).click();
    await events.locator('tbody tr[data-event-type="authz.denied"]').first().waitFor();

    // Verify now.
    await integrity.getByRole("button", { name: "Verify now" }).click();
    const ok = integrity.getByRole("status").filter({ hasText: /Verified \d+ events/ });
    await ok.waitFor();
    const verified = Number((await ok.textContent())?.match(/Verified (\d+) events/)?.[1]);
    assert.ok(verified >= 61, `verified ${verified} events`);
    await settle(cairn);
    const recorded = (await cairn.call("GET", "/api/v1/audit?eventType=audit.verify&limit=5")).json.items;
    assert.equal(recorded.length, 1, "the verification is itself an audit event");
    assert.equal(recorded[0].metadata.events, verified);
    await c.shot("audit-verified");

    // Phone width: no sideways scroll of the page (the table scrolls in its own box).
    await page.setViewportSize(PHONE);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `no page-level horizontal scroll at phone width (${overflow}px)`);
    await c.shot("audit-phone");
    await page.setViewportSize({ width: 1280, height: 800 });

    // Tamper: change one field of the event at index `bad` straight in the table, as an attacker with psql would.
    const bad = updates.at(-1)?.index as number;
    const tenant = (await cairn.call("GET", "/api/v1/audit?limit=1")).json.items[0].tenant as string;
    const statements = [
      "alter table audit_events disable trigger user",
      `update audit_events set action = 'read' where coalesce(tenant_id, '') = '${tenant}' and leaf_index = ${bad}`,
      "alter table audit_events enable trigger user",
    ];
    if (cairn.testStore.backend === "postgres") {
      await withPg(cairn.testStore.databaseUrl as string, async (pg) => {
        for (const s of statements) await pg.query(s);
      });
    } else {
      for (const s of statements) await sql.raw(s).execute(cairn.store.db);
    }
    await integrity.getByRole("button", { name: "Verify now" }).click();
    const failure = integrity.getByRole("alert").filter({ hasText: `Verification failed at index ${bad}` });
    await failure.waitFor();
    assert.match((await failure.textContent()) ?? "", /the event differs from what the log committed and signed/);
    const api = (await cairn.call("POST", "/api/v1/audit/verify")).json;
    assert.equal(api.verified, false);
    assert.equal(api.firstBadIndex, bad);
    await c.shot("audit-tampered");
    c.assertNoConsoleErrors();
  });
});
