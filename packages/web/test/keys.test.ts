// The API keys page: create (the key shown once), list with status, prefix, last use and usage, rotate with a
// grace period (old and new key both work, the old one `rotating`), revoke (the key gets 401), phone width.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { TestApp } from "../../server/test/helper.js";
import { openConsole, PHONE } from "./support/console.js";

const whoami = (cairn: TestApp, key: string) => cairn.call("GET", "/api/v1/auth/whoami", undefined, { authorization: `Bearer ${key}` });

/** Revocation reaches every replica within a second: ask until the key is refused (or give up after 5 s). */
async function statusSoon(cairn: TestApp, key: string, expected: number) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const res = await whoami(cairn, key);
    if (res.status === expected || Date.now() > deadline) return res.status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("web console: API keys", () => {
  test("create (shown once, works), rotate with grace (both work, old one rotating), revoke (401), phone width", async (t) => {
    const c = await openConsole(t);
    await c.signInWithKey("/keys");
    await c.page.getByRole("heading", { level: 1, name: "API keys" }).waitFor();
    await c.page.getByRole("row").filter({ hasText: "this session" }).getByText("active", { exact: true }).waitFor();

    // Create: name, a role, expiry and a rate limit.
    await c.page.getByRole("button", { name: "New API key" }).click();
    const form = c.page.getByRole("dialog", { name: "New API key" });
    await form.getByLabel("Name").fill("ci-deploy");
    await form.getByRole("checkbox", { name: "viewer" }).check();
    await form.getByLabel("Expires").selectOption({ label: "In 30 days" });
    await form.getByLabel("Rate limit (requests)").fill("100");
    await form.getByLabel("Per window (seconds)").fill("60");
    await form.getByRole("button", { name: "Create key" }).click();
    const once = c.page.getByRole("dialog", { name: "Your new API key" });
    await once.getByText("it will not be shown again").waitFor();
    await once.getByRole("button", { name: "Copy key" }).waitFor();
    const key = await once.getByLabel("API key for ci-deploy").inputValue();
    assert.match(key, /^cairn_[A-Za-z0-9]+_[A-Za-z0-9_-]+$/);
    await c.shot("keys-created");

    const me = await whoami(c.cairn, key);
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.name, "ci-deploy");
    assert.deepEqual(me.json.roles, ["viewer"]);
    const listed = (await c.cairn.call("GET", "/api/v1/keys")).json.items as any[];
    const created = listed.find((k) => k.name === "ci-deploy");
    assert.ok(created, "the key is in the tenant's list");
    assert.deepEqual(created.rateLimit, { limit: 100, windowSeconds: 60 });
    assert.ok(created.expiresAt && Date.parse(created.expiresAt) > Date.now() + 29 * 86_400_000, "expires in 30 days");
    assert.ok(key.startsWith(`cairn_${created.prefix}_`), "the list shows the key's public prefix");

    await once.getByRole("button", { name: "I have saved it" }).click();
    await once.waitFor({ state: "hidden" });
    assert.ok(!(await c.page.content()).includes(key), "once the dialog is closed the key is nowhere in the page");
    const oldRow = c.page.getByRole("row").filter({ hasText: created.id });
    await oldRow.getByText("active", { exact: true }).waitFor();
    await oldRow.getByText(`cairn_${created.prefix}_…`).waitFor();
    // The key was used (whoami above): after a refresh the row says so, and the sparkline counts it.
    await c.page.getByRole("button", { name: "Refresh" }).click();
    await oldRow.getByRole("img", { name: /Uses of ci-deploy per hour, last 24 hours: [1-9]\d* in all/ }).waitFor();
    await oldRow.getByText(/[1-9]\d* uses? in all/).waitFor();

    // Rotate with a one-hour grace: a new key, shown once; the old one keeps working, status rotating.
    await oldRow.getByRole("button", { name: "Rotate ci-deploy" }).click();
    const rotate = c.page.getByRole("dialog", { name: "Rotate ci-deploy" });
    await rotate.getByLabel("Grace period (seconds)").fill("3600");
    await rotate.getByRole("button", { name: "Rotate key" }).click();
    const rotatedDialog = c.page.getByRole("dialog", { name: "Your rotated API key" });
    const newKey = await rotatedDialog.getByLabel("API key for ci-deploy").inputValue();
    assert.notEqual(newKey, key);
    await rotatedDialog.getByText(/keeps working until/).waitFor();
    await rotatedDialog.getByRole("button", { name: "I have saved it" }).click();
    await oldRow.getByText("rotating", { exact: true }).waitFor();
    await oldRow.getByText(/stops working in 1 h/).waitFor();
    assert.equal((await whoami(c.cairn, key)).status, 200, "the old key works during the grace period");
    assert.equal((await whoami(c.cairn, newKey)).status, 200, "the new key works");
    const rotatedView = await c.cairn.call("GET", `/api/v1/keys/${created.id}`);
    assert.equal(rotatedView.json.status, "rotating");
    const newId = rotatedView.json.rotatedTo as string;
    const newRow = c.page.getByRole("row").filter({ hasText: newId });
    await newRow.getByText("active", { exact: true }).waitFor();
    await c.shot("keys-rotating");

    // Revoke the new key, after the confirmation: refused by the API from then on.
    await newRow.getByRole("button", { name: "Revoke ci-deploy" }).click();
    const confirm = c.page.getByRole("dialog", { name: "Revoke ci-deploy?" });
    await confirm.getByText(/refused \(401\) within a second/).waitFor();
    await confirm.getByRole("button", { name: "Revoke key" }).click();
    await c.page.getByRole("status").filter({ hasText: "Revoked ci-deploy" }).waitFor();
    await newRow.getByText("revoked", { exact: true }).waitFor();
    assert.equal(await newRow.getByRole("button").count(), 0, "a revoked key has no actions left");
    assert.equal(await statusSoon(c.cairn, newKey, 401), 401, "the revoked key is refused");
    assert.equal((await c.cairn.call("GET", `/api/v1/keys/${newId}`)).json.status, "revoked");

    await c.page.setViewportSize(PHONE);
    const overflow = await c.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `no sideways scroll of the page at phone width (by ${overflow}px)`);
    await c.shot("keys-phone");
    c.assertNoConsoleErrors();
  });

  test("errors are shown in words: an invalid rate limit window is refused by the API", async (t) => {
    const c = await openConsole(t);
    await c.signInWithKey("/keys");
    await c.page.getByRole("button", { name: "New API key" }).click();
    const form = c.page.getByRole("dialog", { name: "New API key" });
    await form.getByLabel("Name").fill("too-wide");
    await form.getByLabel("Rate limit (requests)").fill("10");
    // 2 days: past the field's max (taken off here, as an old browser would ignore it), so the API answers 422.
    await form.getByLabel("Per window (seconds)").evaluate((el) => el.removeAttribute("max"));
    await form.getByLabel("Per window (seconds)").fill("172800");
    await form.getByRole("button", { name: "Create key" }).click();
    await form
      .getByRole("alert")
      .filter({ hasText: /windowSeconds|valid/i })
      .waitFor();
    const listed = (await c.cairn.call("GET", "/api/v1/keys")).json.items as any[];
    assert.ok(!listed.some((k) => k.name === "too-wide"), "nothing was created");
    c.assertNoConsoleErrors();
  });
});
