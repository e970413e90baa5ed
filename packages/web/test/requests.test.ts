// The access requests page (issue 9 point 5, seed 003's dashboard): a requester asks in the UI, a second user
// (an approver) approves it in theirs, the requester reveals the issued PostgreSQL login once, a plain-words
// search shows how it was read, and the deny and revoke paths — against a real server, its workers and the
// machine's PostgreSQL (the `postgres` provider issues real, temporary logins there).
import assert from "node:assert/strict";
import path from "node:path";
import { describe, test } from "node:test";
import type { Page } from "playwright-core";
import { serverUrl, type TestApp, until } from "../../server/test/helper.js";
import { artifactsDir, openConsole, PHONE } from "./support/console.js";

const PASSWORD = "a long passphrase 42";

const statusOf = async (cairn: TestApp, id: string) => (await cairn.call("GET", `/api/v1/requests/${id}`)).json.status as string;

const rowOf = (page: Page, id: string) => page.locator(`tr[data-request="${id}"]`);

/**
 * At phone width the page's content fits its column: tables scroll inside their .table-wrap, nothing else
 * pokes out. Measured inside <main>: the shell around it (top bar, navigation) is console.test.ts's.
 */
async function fitsPhone(page: Page) {
  const { overflow, outside } = await page.evaluate(() => {
    const main = document.querySelector("main") as HTMLElement;
    const right = main.getBoundingClientRect().right;
    const outside = Array.from(main.querySelectorAll("*"))
      .filter((e) => !e.closest(".table-wrap") && e.getBoundingClientRect().right > right + 1)
      .map((e) => `${e.tagName.toLowerCase()}.${e.className}`)
      .slice(0, 5);
    return { overflow: main.scrollWidth - main.clientWidth, outside };
  });
  assert.ok(overflow <= 1 && outside.length === 0, `the page's content fits at phone width (by ${overflow}px: ${outside.join(", ")})`);
}

describe("web console: access requests", {
  skip: serverUrl ? false : "needs DATABASE_URL (the postgres provider issues real logins)",
}, () => {
  test("ask in the UI, a second user approves, credentials once, plain-words search, deny and revoke", async (t) => {
    const c = await openConsole(t, {
      env: { CAIRN_ACCESS_POSTGRES_URL: serverUrl as string, CAIRN_ACCESS_POLL_MS: "100", CAIRN_ACCESS_RETRY_BASE_MS: "20" },
    });
    const { cairn } = c;
    // Every PostgreSQL request needs one approval; approvers hold requests:**:approve (and admin, to revoke).
    const policy = await cairn.call("POST", "/api/v1/approval-policies", {
      name: "pg-needs-approval",
      kind: "access_request",
      match: { provider: "postgres" },
      requiredApprovals: 1,
    });
    assert.equal(policy.status, 201, policy.text);
    const role = await cairn.call("POST", "/api/v1/roles", {
      name: "access-approver",
      rules: ["read", "list", "approve", "admin"].map((a) => ({ effect: "allow", permission: `requests:**:${a}` })),
    });
    assert.equal(role.status, 201, role.text);
    await c.addUser("ana@example.com", PASSWORD, ["developer"]);
    await c.addUser("bo@example.com", PASSWORD, ["access-approver"]);

    // Ana asks for read access in the form.
    const ana = c.page;
    await c.signInWithPassword("ana@example.com", PASSWORD, "/requests");
    await ana.getByRole("heading", { level: 1, name: "Access requests" }).waitFor();
    await ana.getByText("No access requests yet").waitFor();
    await ana.getByRole("button", { name: "Request access" }).click();
    const form = ana.getByRole("dialog", { name: "Request access" });
    await form.getByLabel("Provider").selectOption("postgres");
    await form.getByLabel("Who gets access").fill("ana");
    await form.getByLabel("Role", { exact: true }).fill("pg_read_all_data");
    await form.getByLabel("Duration").selectOption({ label: "1 hour" });
    // The server's 400 lands on the field it is about.
    await form.getByLabel("Reason").fill("no");
    await form.getByRole("button", { name: "Send request" }).click();
    await form
      .getByRole("alert")
      .filter({ hasText: /justification|characters|fewer/i })
      .first()
      .waitFor();
    await form.getByLabel("Reason").fill("incident 42: read the orders table");
    await form.getByRole("button", { name: "Send request" }).click();
    await ana
      .getByRole("status")
      .filter({ hasText: /waits for an approver/ })
      .waitFor();

    const mine = await cairn.call("GET", "/api/v1/requests?principal=ana");
    assert.equal(mine.json.items.length, 1, "one request stored (the invalid one was not)");
    const asked = mine.json.items[0];
    assert.equal(asked.status, "AWAITING_APPROVAL");
    assert.equal(asked.role, "pg_read_all_data");
    assert.equal(asked.durationSeconds, 3600);
    assert.equal(asked.justification, "incident 42: read the orders table");
    assert.equal(asked.requestedByName, "ana@example.com");
    const anaRow = rowOf(ana, asked.correlationId);
    await anaRow.getByText("Awaiting approval").waitFor();
    assert.equal(await anaRow.getByRole("button", { name: /^Approve/ }).count(), 0, "no approving your own request");
    await anaRow.getByRole("button", { name: /^Revoke/ }).waitFor();
    const awaiting = ana.getByRole("button", { name: /Awaiting approval/ });
    assert.match((await awaiting.textContent()) ?? "", /^1/, "the counts say one request awaits approval");
    await c.shot("requests-requester");

    // A second request (through the API, by the admin key) for the deny path.
    const other = await cairn.call("POST", "/api/v1/requests", {
      provider: "postgres",
      principal: "ana_rw",
      role: "pg_write_all_data",
      durationSeconds: 900,
      justification: "bulk fix",
    });
    assert.equal(other.status, 202, other.text);
    const otherId = other.json.correlationId as string;

    // Bo, an approver, sees both waiting and approves Ana's with a comment.
    const bo = await c.newPage();
    await c.signInWithPassword("bo@example.com", PASSWORD, "/requests", bo);
    const boRow = rowOf(bo, asked.correlationId);
    await boRow.getByText("Awaiting approval").waitFor();
    await boRow.getByText("ana@example.com").waitFor();
    await boRow.getByRole("button", { name: /^Approve/ }).click();
    const approve = bo.getByRole("dialog", { name: "Approve access request" });
    await approve.getByText("incident 42: read the orders table").waitFor();
    await approve.getByLabel("Comment").fill("ok for incident 42");
    await approve.getByRole("button", { name: "Approve", exact: true }).click();
    await bo
      .getByRole("status")
      .filter({ hasText: /approved/ })
      .waitFor();
    await boRow.getByText("Active").waitFor({ timeout: 20_000 });
    assert.equal(await statusOf(cairn, asked.correlationId), "SUCCESS");
    const decided = await cairn.store.db
      .selectFrom("audit_events")
      .select(["event_type", "actor_id"])
      .where("resource_id", "=", asked.correlationId)
      .where("event_type", "=", "request.approved")
      .execute();
    assert.equal(decided.length, 1);
    assert.match(decided[0]?.actor_id ?? "", /^usr_/, "approved by Bo, a user");

    // …and denies the other one, saying why.
    const otherRow = rowOf(bo, otherId);
    await otherRow.getByRole("button", { name: /^Deny/ }).click();
    const deny = bo.getByRole("dialog", { name: "Deny access request" });
    await deny.getByLabel("Comment").fill("use the replica");
    await deny.getByRole("button", { name: "Deny", exact: true }).click();
    await otherRow.getByText("Denied").waitFor();
    assert.equal(await statusOf(cairn, otherId), "DENIED");
    assert.equal(await otherRow.getByRole("button").count(), 0, "nothing more to do with a denied request");

    // Ana's page shows the access active; she reveals the issued login once.
    await ana.getByRole("button", { name: "Refresh" }).click();
    await anaRow.getByText("Active").waitFor();
    await anaRow.getByRole("button", { name: /^Credentials/ }).click();
    const creds = ana.getByRole("dialog", { name: "Credentials" });
    await creds.getByRole("button", { name: "Reveal credentials now" }).click();
    const granted = (await cairn.call("GET", `/api/v1/requests/${asked.correlationId}`)).json;
    await creds.getByRole("cell", { name: granted.grant.roleName, exact: true }).waitFor();
    await creds.getByRole("button", { name: "Copy password" }).waitFor();
    await c.shot("requests-credentials");
    await creds.getByRole("button", { name: "Close dialog" }).click();
    await until("the credentials to be gone", async () =>
      (await anaRow.getByRole("button", { name: /^Credentials/ }).count()) === 0 ? true : undefined,
    );
    assert.equal((await cairn.call("GET", `/api/v1/requests/${asked.correlationId}`)).json.credentialsAvailable, false);
    assert.equal((await cairn.call("GET", `/api/v1/requests/${asked.correlationId}/credentials`)).status, 404, "no GET route");

    // A search in plain words: the chips say how it was read, the list what matched.
    await bo.getByLabel("Search in plain words").fill("active database requests from ana today zork");
    await bo.getByRole("button", { name: "Search", exact: true }).click();
    const understood = bo.getByRole("region", { name: /How Cairn read/ });
    const chips = understood.getByRole("list", { name: "Filters understood" });
    await chips.getByText("status = Active").waitFor();
    await chips.getByText("provider = PostgreSQL").waitFor();
    await chips.getByText("principal = ana").waitFor();
    await chips.getByText(/^since = \d{4}-\d\d-\d\d 00:00:00 UTC$/).waitFor();
    await understood.getByText(/Not understood \(ignored\): “zork”/).waitFor();
    await rowOf(bo, asked.correlationId).waitFor();
    await until("the list to show only the match", async () => ((await bo.locator("tbody tr").count()) === 1 ? true : undefined));
    await bo.screenshot({ path: path.join(artifactsDir, "requests-search.png"), fullPage: true });

    // Bo revokes Ana's access early; a worker takes it away.
    await bo.getByRole("button", { name: "Clear search" }).click();
    await rowOf(bo, otherId).waitFor();
    await boRow.getByRole("button", { name: /^Revoke/ }).click();
    const revoke = bo.getByRole("dialog", { name: "Revoke access request" });
    await revoke.getByText(/Access ends now/).waitFor();
    await revoke.getByLabel("Comment").fill("incident closed");
    await revoke.getByRole("button", { name: "Revoke", exact: true }).click();
    await boRow.getByText("Revoked").waitFor({ timeout: 20_000 });
    assert.equal(await statusOf(cairn, asked.correlationId), "REVOKED");
    const counts = (await cairn.call("GET", "/api/v1/requests/counts")).json;
    assert.equal(counts.counts.REVOKED, 1);
    assert.equal(counts.counts.DENIED, 1);
    const revokedCard = bo.getByRole("button", { name: /Revoked/ });
    assert.match((await revokedCard.textContent()) ?? "", /^1/);
    // A status card filters the list.
    await bo.getByRole("button", { name: /^\d+\s*Denied$/ }).click();
    await until("the list to show only denied", async () => ((await bo.locator("tbody tr").count()) === 1 ? true : undefined));
    await rowOf(bo, otherId).waitFor();
    await bo.screenshot({ path: path.join(artifactsDir, "requests-approver.png"), fullPage: true });

    // Phone width: the table scrolls inside its frame, the page does not.
    await bo.getByRole("button", { name: /^\d+\s*All$/ }).click();
    await bo.setViewportSize(PHONE);
    await rowOf(bo, asked.correlationId).waitFor();
    await fitsPhone(bo);
    await bo.screenshot({ path: path.join(artifactsDir, "requests-phone.png"), fullPage: true });
    await ana.setViewportSize(PHONE);
    await fitsPhone(ana);

    c.assertNoConsoleErrors();
  });
});
